//! `CoverSearch::covers(y)` is exactly the set of covers found by encoding every continuation.
#![no_main]

use std::collections::BTreeSet;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use toktool_core::covers::CoverSearch;
use toktool_core::Tokenizer;
use toktool_fuzz::tiny_byte_level_tokenizer;

/// The alphabet of the tiny vocabularies' merges and of `y` (letters, a space, a digit).
const ALPHABET: &[u8] = b"ab 1";
/// One char of each other class ends some continuations: text outside the alphabet exists too.
const ENDINGS: &[&str] = &["", ".", "é", "\n", "A", "-"];

/// Covers by definition: for every continuation `c` (all strings over the alphabet up to
/// `max_extra` chars, then one ending), the first ids of `encode(y + c)` up to the token that
/// reaches or straddles the end of `y`.
fn brute_force_covers(tok: &Tokenizer, y: &[u8], max_extra: usize) -> BTreeSet<Vec<u32>> {
    let mut found = BTreeSet::new();
    let mut continuations: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..max_extra {
        let longer: Vec<Vec<u8>> = continuations
            .iter()
            .filter(|c| c.len() == continuations.last().map_or(0, Vec::len))
            .flat_map(|c| ALPHABET.iter().map(move |&a| [c.as_slice(), &[a]].concat()))
            .collect();
        continuations.extend(longer);
    }
    for c in &continuations {
        for ending in ENDINGS {
            let text = [y, c.as_slice(), ending.as_bytes()].concat();
            let text = std::str::from_utf8(&text).expect("ASCII and whole chars");
            let ids = tok.encode(text).expect("byte-level files always encode");
            let mut pos = 0;
            for (k, &id) in ids.iter().enumerate() {
                let n = tok.token_bytes(id).expect("encode gives valid ids").len();
                if pos < y.len() && y.len() <= pos + n {
                    found.insert(ids[..=k].to_vec());
                    break;
                }
                pos += n;
            }
        }
    }
    found
}

fuzz_target!(|data: &[u8]| {
    // Layout: pre-tokenizer choice, merge count, two bytes per merge, then y.
    let [shape, n_merges, rest @ ..] = data else {
        return;
    };
    let n_merges = usize::from(n_merges % 8);
    if rest.len() < 2 * n_merges + 1 {
        return;
    }
    let (merge_bytes, y_bytes) = rest.split_at(2 * n_merges);
    let json = tiny_byte_level_tokenizer(*shape, ALPHABET, merge_bytes, 4);
    let tok = Tokenizer::from_json_str(&json).expect("tiny tokenizers load");
    let y: Vec<u8> = y_bytes
        .iter()
        .take(4)
        .map(|&b| ALPHABET[usize::from(b) % ALPHABET.len()])
        .collect();

    let search = CoverSearch::new(Arc::new(tok));
    let covers = search.covers(&y).expect("covers of ASCII text");
    let mut ours = BTreeSet::new();
    for group in &covers.groups {
        for &t in &group.last {
            ours.insert([covers.head.as_slice(), &group.prefix, &[t]].concat());
        }
    }
    for exact in &covers.exact {
        ours.insert([covers.head.as_slice(), exact].concat());
    }
    let tok = search.tokenizer();
    let longest = tok
        .all_token_bytes()
        .iter()
        .flatten()
        .map(|b| b.len())
        .max();
    let truth = brute_force_covers(tok, &y, longest.unwrap_or(1));
    assert!(
        ours == truth,
        "covers of {:?} ({json})\n  only ours:  {:?}\n  only truth: {:?}",
        String::from_utf8_lossy(&y),
        ours.difference(&truth).collect::<Vec<_>>(),
        truth.difference(&ours).collect::<Vec<_>>(),
    );
});
