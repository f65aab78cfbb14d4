//! `decode_bytes(encode(x)) == x` for any valid UTF-8 `x`, on real and synthetic vocabularies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toktool_core::Error;
use toktool_fuzz::{pick, text_of};

fuzz_target!(|data: &[u8]| {
    let Some((named, rest)) = pick(data) else {
        return;
    };
    let (tok, text) = (&named.tokenizer, text_of(rest));
    let ids = match tok.encode(text) {
        Ok(ids) => ids,
        // Only a fallback regex engine may give up, and these files have none.
        Err(Error::InvalidInput(message)) => panic!("{}: encode refused: {message}", named.name),
        Err(e) => panic!("{}: encode failed: {e}", named.name),
    };
    let back = tok
        .decode_bytes(&ids)
        .unwrap_or_else(|e| panic!("{}: encode gave an id decode refuses: {e}", named.name));
    if named.roundtrip_holds(text) {
        assert!(
            back == text.as_bytes(),
            "{}: {text:?} -> {ids:?} -> {:?}",
            named.name,
            String::from_utf8_lossy(&back)
        );
    }
});
