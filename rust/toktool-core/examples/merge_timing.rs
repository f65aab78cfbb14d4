//! Time the dynamic merger alone (no Python): saturation of a 32 × 512 batch.
//!
//! cargo run --release -p toktool-core --example merge_timing -- TOKENIZER_JSON TEXT_FILE
//!
//! The text is tokenized, cut into 32 windows of 512 tokens from its second tenth on (as
//! bench/bench_merge.py does), its pre-tokens are recovered once, and the merge is timed.

use std::time::Instant;

use toktool_core::boundary::{batch_units, Boundary};
use toktool_core::merge::{merge_units, MergeOptions};
use toktool_core::Tokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, tokenizer, text] = args.as_slice() else {
        return Err("usage: merge_timing TOKENIZER_JSON TEXT_FILE".into());
    };
    let tok = Tokenizer::from_json_str(&std::fs::read_to_string(tokenizer)?)?;
    let text = std::fs::read_to_string(text)?;
    let mut start = text.len() / 10;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let ids = tok.encode(&text[start..])?;
    let batch: Vec<Vec<u32>> = ids
        .chunks_exact(512)
        .take(32)
        .map(<[u32]>::to_vec)
        .collect();
    let units = batch_units(&tok, &batch, None, Boundary::Pretoken)?;
    let units: Vec<&[u32]> = units.iter().map(|u| u.units.as_slice()).collect();
    let first_new_id = u32::try_from(tok.vocab_size())?;
    for (label, max_merges) in [("100 merges", 100), ("saturation", usize::MAX)] {
        let options = MergeOptions {
            max_merges,
            ..MergeOptions::default()
        };
        let mut best = f64::MAX;
        let mut merges = 0;
        for _ in 0..50 {
            let t0 = Instant::now();
            let merged = merge_units(&batch, &units, first_new_id, options)?;
            best = best.min(t0.elapsed().as_secs_f64());
            merges = merged.merges.len();
        }
        println!(
            "{label}: {merges} merges in {:.3} ms (best of 50)",
            best * 1e3
        );
    }
    Ok(())
}
