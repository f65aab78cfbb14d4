//! What the timing examples share: a text cut as `bench/bench_single.py` slices Python strings.

/// `text` in pieces of 4096 chars (the last one shorter).
pub fn chunks_of(text: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut start = 0;
    for (n, (i, _)) in text.char_indices().enumerate() {
        if n > 0 && n % 4096 == 0 {
            chunks.push(&text[start..i]);
            start = i;
        }
    }
    chunks.push(&text[start..]);
    chunks
}
