//! Digit-split tokenizers (the `toktool convert --digits` layout) decode their encoding to the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toktool_core::digits::{DigitSplitter, Order, OtherNumeric};
use toktool_core::Error;
use toktool_fuzz::{digit_split_tokenizers, text_of};

fuzz_target!(|data: &[u8]| {
    // Layout: splitter (order, group, other numerics), base tokenizer and step behavior, text.
    let [splitter_byte, base_byte, rest @ ..] = data else {
        return;
    };
    let order = if splitter_byte & 1 == 0 {
        Order::LeftToRight
    } else {
        Order::RightToLeft
    };
    let group = usize::from(splitter_byte >> 1 & 0x07) + 1;
    let other = [
        OtherNumeric::Ignore,
        OtherNumeric::Single,
        OtherNumeric::Run,
    ][usize::from(splitter_byte >> 4) % 3];
    let splitter = DigitSplitter::new(order, group, other).expect("group size 1 to 8");
    let text = text_of(rest);

    // The splitter itself finds what its regex finds.
    let mut fast = Vec::new();
    splitter.for_each_match(text, |s, e| fast.push((s, e)));
    // The reference: Oniguruma, as HF runs the pattern (it may give up on long digit runs).
    let re = toktool_core::regex::Regex::new(&splitter.pattern(), "fuzz")
        .expect("canonical patterns compile");
    if let Ok(slow) = re.find_all(text) {
        assert_eq!(fast, slow, "{:?} on {text:?}", splitter.pattern());
    }

    let tokenizers = digit_split_tokenizers(&splitter.pattern());
    let named = &tokenizers[usize::from(*base_byte) % tokenizers.len()];
    let (name, tok) = (&named.name, &named.tokenizer);
    let ids = tok.encode(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = tok.decode_bytes(&ids).expect("encode gives valid ids");
    // (Not for the NFC variant: normalizing changes text, digit groups or not.)
    if named.roundtrip_holds(text) {
        assert!(
            back == text.as_bytes(),
            "{name}: {text:?} -> {:?}",
            String::from_utf8_lossy(&back)
        );
    }
    match tok.encode_reference(text) {
        Ok(reference) => assert_eq!(ids, reference, "{name}: {text:?}"),
        // The quadratic right-to-left regex may give up on long digit runs; the splitter not.
        Err(Error::InvalidInput(_)) => {}
        Err(e) => panic!("{name}: reference failed: {e}"),
    }
});
