//! Dynamic merging (`merge::merge_units`) equals the recount-every-round reference loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toktool_core::merge::{
    apply_unit_merges, merge_units, merge_units_reference, MergeOptions, NO_UNIT,
};

/// Ids of the batch are below this; merges create ids from here on.
const FIRST_NEW_ID: u32 = 16;

fuzz_target!(|data: &[u8]| {
    // Layout: options (2 bytes), then per token one byte: low nibble id, high nibble unit
    // (unit 15 = never merged, a sequence break at 14).
    let [budget, min_count, tokens @ ..] = data else {
        return;
    };
    let options = MergeOptions {
        max_merges: if *budget == 255 {
            usize::MAX
        } else {
            usize::from(*budget % 64)
        },
        min_count: u32::from(min_count % 4).max(1),
        whole_chars: false,
    };
    let mut ids: Vec<Vec<u32>> = vec![Vec::new()];
    let mut units: Vec<Vec<u32>> = vec![Vec::new()];
    for &b in tokens {
        let (id, unit) = (u32::from(b & 0x0F), u32::from(b >> 4));
        if unit == 14 {
            ids.push(Vec::new());
            units.push(Vec::new());
            continue;
        }
        let unit = if unit == 15 { NO_UNIT } else { unit % 4 };
        if let (Some(seq), Some(seq_units)) = (ids.last_mut(), units.last_mut()) {
            seq.push(id % FIRST_NEW_ID);
            seq_units.push(unit);
        }
    }
    let fast = merge_units(&ids, &units, FIRST_NEW_ID, options).expect("a valid batch");
    let slow = merge_units_reference(&ids, &units, FIRST_NEW_ID, options);
    assert_eq!(fast, slow, "batch {ids:?} units {units:?} {options:?}");
    // Replaying the learned merges on the same batch gives the same result.
    let pairs: Vec<(u32, u32)> = fast.merges.iter().map(|m| (m.left, m.right)).collect();
    let replayed = apply_unit_merges(&ids, &units, &pairs, FIRST_NEW_ID).expect("its own merges");
    assert_eq!(
        replayed.ids, fast.ids,
        "apply_unit_merges of the batch's own merges"
    );
    assert_eq!(replayed.starts, fast.starts);
});
