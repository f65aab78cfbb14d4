//! Arbitrary bytes or JSON given as a `tokenizer.json` never panic; errors are typed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toktool_core::{Error, Tokenizer};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Tokenizer::from_json_str(text) {
        Ok(tok) => {
            // A file that loads must also encode and decode without panicking.
            if let Ok(ids) = tok.encode(text) {
                let _ = tok.decode_bytes(&ids);
            }
        }
        Err(Error::Internal(message)) => panic!("internal error on load: {message}"),
        Err(_) => {}
    }
});
