//! Single-thread encode of text the pre-token cache has not seen, in 4 KB calls: the first
//! `WARM` bytes of the corpus are encoded once (the cache fills as in a long-running process),
//! then each following slice of `SLICE` bytes is timed on its first and only pass.
//!
//! ```text
//! cargo run --release --example encode_unseen -- TOKENIZER.json CORPUS.txt [WARM_MB] [SLICE_MB]
//! ```
//!
//! `examples/encode_chunks.rs` times repeated passes over one text (a warm cache, steady-state
//! hits); this times what `bench/bench_peers.py` times: fresh text after a warm-up. Prints
//! MB/s per slice, their median and a checksum of all ids.

use std::time::Instant;

use toktool_core::Tokenizer;

#[path = "support/chunks.rs"]
mod support;
use support::chunks_of;

fn cut(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, tokenizer, corpus, rest @ ..] = args.as_slice() else {
        eprintln!("usage: encode_unseen TOKENIZER.json CORPUS.txt [WARM_MB] [SLICE_MB]");
        std::process::exit(2);
    };
    let mb = |i: usize, default: f64| {
        rest.get(i)
            .and_then(|r| r.parse::<f64>().ok())
            .unwrap_or(default)
            * 1e6
    };
    let (warm, slice) = (mb(0, 2.0) as usize, mb(1, 1.0) as usize);
    let json = std::fs::read_to_string(tokenizer).expect("tokenizer file");
    let tok = Tokenizer::from_json_str(&json).expect("tokenizer loads");
    let text = std::fs::read_to_string(corpus).expect("corpus file");
    let mut checksum = 0u64;
    let mut encode = |part: &str| {
        for chunk in chunks_of(part) {
            for id in tok.encode(chunk).expect("encodes") {
                checksum = checksum.wrapping_mul(31).wrapping_add(u64::from(id));
            }
        }
    };
    let warm_end = cut(&text, warm);
    encode(&text[..warm_end]);
    let mut speeds = Vec::new();
    let mut start = warm_end;
    while start + slice <= text.len() {
        let end = cut(&text, start + slice);
        let started = Instant::now();
        encode(&text[start..end]);
        speeds.push((end - start) as f64 / started.elapsed().as_secs_f64() / 1e6);
        start = end;
    }
    let mut sorted = speeds.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let each: Vec<String> = speeds.iter().map(|s| format!("{s:.0}")).collect();
    println!(
        "median {median:.1} MB/s over {} unseen slices [{}], checksum {checksum:016x}",
        speeds.len(),
        each.join(" ")
    );
}
