//! `is_canonical(ids)` is true exactly when re-encoding the decoded bytes gives back `ids`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toktool_core::{Error, Tokenizer};
use toktool_fuzz::{pick, text_of};

/// The definition, spelled out: decode, and encode the text again if it is text.
fn canonical_by_reencoding(tok: &Tokenizer, ids: &[u32]) -> Result<bool, Error> {
    let bytes = tok.decode_bytes(ids)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => tok.encode(&text)? == ids,
        Err(_) => false,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((named, rest)) = pick(data) else {
        return;
    };
    let tok = &named.tokenizer;
    let Some((&mode, rest)) = rest.split_first() else {
        return;
    };
    let ids: Vec<u32> = if mode % 2 == 0 {
        // Arbitrary ids, a few of them past the end of the vocabulary.
        let bound = tok.vocab_size() as u32 + 2;
        rest.chunks(3)
            .map(|c| c.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) % bound)
            .collect()
    } else {
        // The encoding of a text, with one id replaced when `mode` says so.
        let text = text_of(rest);
        let mut ids = tok.encode(text).unwrap_or_default();
        if named.roundtrip_holds(text) {
            assert_eq!(tok.is_canonical(&ids), Ok(true), "{}: {text:?}", named.name);
        }
        if mode > 128 && !ids.is_empty() {
            let at = usize::from(mode) % ids.len();
            ids[at] = u32::from(mode) * 97 % tok.vocab_size() as u32;
        }
        ids
    };
    let claimed = tok.is_canonical(&ids);
    let expected = canonical_by_reencoding(tok, &ids);
    assert_eq!(claimed, expected, "{}: ids {ids:?}", named.name);
});
