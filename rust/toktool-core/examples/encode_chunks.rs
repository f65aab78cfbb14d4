//! Single-thread encode of a text in 4 KB calls, for profiling (`perf record`, callgrind).
//!
//! ```text
//! cargo run --release --example encode_chunks -- TOKENIZER.json CORPUS.txt [ROUNDS]
//! ```
//!
//! Chunks are 4096 chars (as `bench/bench_single.py` slices Python strings). Prints MB/s of the
//! best round and a checksum of the ids, so two builds can be compared for identical output.

use std::time::Instant;

use toktool_core::Tokenizer;

#[path = "support/chunks.rs"]
mod support;
use support::chunks_of;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, tokenizer, corpus, rest @ ..] = args.as_slice() else {
        eprintln!("usage: encode_chunks TOKENIZER.json CORPUS.txt [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(5);
    let json = std::fs::read_to_string(tokenizer).expect("tokenizer file");
    let tok = Tokenizer::from_json_str(&json).expect("tokenizer loads");
    let text = std::fs::read_to_string(corpus).expect("corpus file");
    let chunks = chunks_of(&text);
    let mut best = f64::INFINITY;
    let mut checksum = 0u64;
    for _ in 0..rounds {
        let started = Instant::now();
        checksum = 0;
        for chunk in &chunks {
            let ids = tok.encode(chunk).expect("encodes");
            for &id in &ids {
                checksum = checksum.wrapping_mul(31).wrapping_add(u64::from(id));
            }
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "{:.1} MB/s best of {rounds}, {} chunks, checksum {checksum:016x}",
        f64::from(u32::try_from(text.len()).unwrap_or(u32::MAX)) / best / 1e6,
        chunks.len()
    );
}
