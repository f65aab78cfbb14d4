//! Long single pre-tokens (the heap merge loop's worst cases), for A/B timing of two builds.
//!
//! ```text
//! cargo run --release --example worst_cases -- TOKENIZER.json [ROUNDS]
//! ```
//!
//! Each input at four sizes, 10x apart: prints µs per KB (best of the rounds) and the number of
//! ids, so the growth with the input size and the output of two builds can be compared.

use std::time::Instant;

use toktool_core::Tokenizer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, tokenizer, rest @ ..] = args.as_slice() else {
        eprintln!("usage: worst_cases TOKENIZER.json [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(5);
    let json = std::fs::read_to_string(tokenizer).expect("tokenizer file");
    let tok = Tokenizer::from_json_str(&json).expect("tokenizer loads");
    let cases = [
        ("repeated 'a'", "a", ""),
        ("spaces then x", " ", "x"),
        ("alternating 'ab'", "ab", ""),
        ("CJK, no spaces", "", ""),
    ];
    for (name, unit, tail) in cases {
        for size in [1_000, 10_000, 100_000, 1_000_000] {
            let text = if unit.is_empty() {
                cjk(size)
            } else {
                unit.repeat(size / unit.len()) + tail
            };
            let rounds = rounds * (1_000_000 / size).clamp(1, 100);
            let mut best = f64::INFINITY;
            let mut ids = 0;
            for _ in 0..rounds {
                let started = Instant::now();
                ids = tok.encode(&text).expect("encodes").len();
                best = best.min(started.elapsed().as_secs_f64());
            }
            let kb = f64::from(u32::try_from(text.len()).unwrap_or(u32::MAX)) / 1e3;
            println!(
                "{name:18} {:>9} bytes {:8.1} µs/KB {ids:>7} ids",
                text.len(),
                best * 1e6 / kb
            );
        }
    }
}

/// `bytes` bytes of pseudo-random common CJK characters (one pre-token: no spaces).
fn cjk(bytes: usize) -> String {
    let mut state: u32 = 0x2545_f491;
    let mut text = String::with_capacity(bytes + 3);
    while text.len() + 3 <= bytes {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        // the 3,000 most common code points of the CJK block start at U+4E00
        text.push(char::from_u32(0x4E00 + state % 3000).unwrap_or('\u{4E00}'));
    }
    text
}
