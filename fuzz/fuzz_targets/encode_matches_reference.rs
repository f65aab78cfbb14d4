//! `encode` (scanners, merge fast paths) gives the ids of the slow readable `encode_reference`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toktool_core::Error;
use toktool_fuzz::{pick, text_of};

fuzz_target!(|data: &[u8]| {
    let Some((named, rest)) = pick(data) else {
        return;
    };
    let (tok, text) = (&named.tokenizer, text_of(rest));
    let fast = tok.encode(text);
    match (&fast, tok.encode_reference(text)) {
        (Ok(fast), Ok(slow)) => assert!(
            *fast == slow,
            "{}: {text:?}\n  encode:           {fast:?}\n  encode_reference: {slow:?}",
            named.name
        ),
        // The backtracking engine of the reference gave up; the fast path must not.
        (Ok(_), Err(Error::InvalidInput(_))) => {}
        (fast, slow) => panic!("{}: {text:?}: {fast:?} vs {slow:?}", named.name),
    }
    // The other entry points share the pipeline: same ids.
    let fast = fast.unwrap_or_default();
    let (ids, words) = tok
        .encode_with_pretokens(text)
        .unwrap_or_else(|e| panic!("{}: encode_with_pretokens: {e}", named.name));
    assert_eq!(ids, fast, "{}: encode_with_pretokens", named.name);
    assert_eq!(words.len(), ids.len());
    assert!(
        words.windows(2).all(|w| w[0] <= w[1]),
        "pre-token indices go down"
    );
    let batch = tok
        .encode_batch(&[text, text])
        .unwrap_or_else(|e| panic!("{}: encode_batch: {e}", named.name));
    assert!(
        batch.iter().all(|b| *b == fast),
        "{}: encode_batch",
        named.name
    );
});
