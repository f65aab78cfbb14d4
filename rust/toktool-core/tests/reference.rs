//! The fast encoder agrees with the slow readable reference (`Tokenizer::encode_reference`) on
//! random tiny vocabularies and random text; the `encode_matches_reference` fuzz target runs the
//! same property on real vocabularies for longer.

use proptest::prelude::*;
use serde_json::json;
use toktool_core::byte_level::byte_to_char_table;
use toktool_core::scanner::{CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN};
use toktool_core::Tokenizer;

const ALPHABET: &[u8] = b"abs1 \n'lA.";

/// All 256 bytes plus the merges `picks` selects among tokens made of alphabet chars.
fn tokenizer(pre_tokenizer: &serde_json::Value, picks: &[(u8, u8)]) -> Tokenizer {
    let table = byte_to_char_table();
    let spell = |bytes: &[u8]| -> String { bytes.iter().map(|&b| table[b as usize]).collect() };
    let mut vocab: serde_json::Map<String, serde_json::Value> =
        (0..=255u8).map(|b| (spell(&[b]), json!(b))).collect();
    let mut pieces: Vec<Vec<u8>> = ALPHABET.iter().map(|&b| vec![b]).collect();
    let mut merges = Vec::new();
    for &(l, r) in picks {
        let (left, right) = (
            &pieces[l as usize % pieces.len()],
            &pieces[r as usize % pieces.len()],
        );
        let joined = [left.as_slice(), right].concat();
        if joined.len() > 8 || vocab.contains_key(&spell(&joined)) {
            continue;
        }
        vocab.insert(spell(&joined), json!(vocab.len()));
        merges.push(json!([spell(left), spell(right)]));
        pieces.push(joined);
    }
    let doc = json!({"pre_tokenizer": pre_tokenizer,
                     "model": {"type": "BPE", "vocab": vocab, "merges": merges}});
    Tokenizer::from_json_str(&doc.to_string()).expect("tiny tokenizer loads")
}

fn shapes() -> Vec<serde_json::Value> {
    let no_regex = json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false});
    vec![
        json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}),
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": CL100K_PATTERN}, "behavior": "Isolated",
             "invert": false},
            no_regex.clone()]}),
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": GPT2_PATTERN}, "behavior": "Isolated",
             "invert": false},
            no_regex.clone()]}),
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": O200K_PATTERN}, "behavior": "Isolated",
             "invert": false},
            no_regex.clone()]}),
        // SmolLM2's chain: every digit its own piece, then GPT-2's pattern.
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]}),
        no_regex,
    ]
}

proptest! {
    #[test]
    fn encode_matches_reference(
        shape in 0usize..6,
        picks in prop::collection::vec((any::<u8>(), any::<u8>()), 0..40),
        // Long runs reach the heap-based merge loop (more than 48 units in one piece).
        text in prop::collection::vec(prop::sample::select(ALPHABET), 0..120),
    ) {
        let tok = tokenizer(&shapes()[shape], &picks);
        let text = String::from_utf8(text).expect("ASCII");
        prop_assert_eq!(tok.encode(&text)?, tok.encode_reference(&text)?);
    }
}

#[test]
fn reference_handles_unicode_and_long_pieces() {
    for shape in shapes() {
        let tok = tokenizer(&shape, &[(0, 1), (6, 6), (7, 7), (3, 0), (8, 8)]);
        for text in [
            "",
            "ab ab  ab\n\n'",
            "é中😀 x",
            "a½1٣ 22x²\u{85}9",
            &"ab".repeat(200),
            &" ".repeat(300),
        ] {
            assert_eq!(tok.encode(text), tok.encode_reference(text), "{text:?}");
        }
    }
}

/// `tokenizer`, with the merge list reversed when `reversed` (ranks no longer in training
/// order, so the cover search's pair check must stand aside).
fn tokenizer_ordered(
    pre_tokenizer: &serde_json::Value,
    picks: &[(u8, u8)],
    reversed: bool,
) -> Tokenizer {
    if !reversed {
        return tokenizer(pre_tokenizer, picks);
    }
    let tok = tokenizer(pre_tokenizer, picks);
    let table = byte_to_char_table();
    let spell = |bytes: &[u8]| -> String { bytes.iter().map(|&b| table[b as usize]).collect() };
    let vocab: serde_json::Map<String, serde_json::Value> = (0..tok.vocab_size() as u32)
        .map(|id| (spell(tok.token_bytes(id).expect("id")), json!(id)))
        .collect();
    let doc: serde_json::Value = {
        // Rebuild the same merges from the forward file, then reverse their order.
        let forward = tokenizer_json(pre_tokenizer, picks);
        let mut merges = forward["model"]["merges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        merges.reverse();
        json!({"pre_tokenizer": pre_tokenizer,
               "model": {"type": "BPE", "vocab": vocab, "merges": merges}})
    };
    Tokenizer::from_json_str(&doc.to_string()).expect("tiny tokenizer loads")
}

/// The JSON document `tokenizer` loads.
fn tokenizer_json(pre_tokenizer: &serde_json::Value, picks: &[(u8, u8)]) -> serde_json::Value {
    let table = byte_to_char_table();
    let spell = |bytes: &[u8]| -> String { bytes.iter().map(|&b| table[b as usize]).collect() };
    let mut pieces: Vec<Vec<u8>> = ALPHABET.iter().map(|&b| vec![b]).collect();
    let mut seen: std::collections::HashSet<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut merges = Vec::new();
    for &(l, r) in picks {
        let (left, right) = (
            pieces[l as usize % pieces.len()].clone(),
            pieces[r as usize % pieces.len()].clone(),
        );
        let joined = [left.as_slice(), &right].concat();
        if joined.len() > 8 || !seen.insert(joined.clone()) {
            continue;
        }
        merges.push(json!([spell(&left), spell(&right)]));
        pieces.push(joined);
    }
    json!({"pre_tokenizer": pre_tokenizer, "model": {"type": "BPE", "merges": merges}})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    /// The cover search's fast canonicity check (pre-tokenizer pieces, pairwise merge check,
    /// localization, memo) gives the answers of the slow reference that encodes every probe.
    #[test]
    fn valid_among_matches_valid_next(
        shape in 0usize..6,
        reversed in any::<bool>(),
        picks in prop::collection::vec((any::<u8>(), any::<u8>()), 0..60),
        text in prop::collection::vec(prop::sample::select(ALPHABET), 0..10),
    ) {
        let tok = std::sync::Arc::new(tokenizer_ordered(&shapes()[shape], &picks, reversed));
        let search = toktool_core::covers::CoverSearch::new(std::sync::Arc::clone(&tok));
        let y = text;
        let covers = search.covers_with(&y, false)?;
        let tail = &y[covers.boundary..];
        let at_start = covers.boundary == 0;
        let everything: Vec<u32> = (0..tok.vocab_size() as u32).collect();
        // A few candidates (answered directly) and all of them (localized, remembered).
        let few: Vec<u32> = everything.iter().copied().filter(|id| id % 7 == 3).take(60).collect();
        for ids in &covers.exact {
            let reference = search.valid_next(tail, ids, at_start)?;
            let expected: Vec<bool> = few.iter().map(|&id| reference[id as usize]).collect();
            prop_assert_eq!(search.valid_among(tail, ids, at_start, &few)?, expected);
            for _ in 0..2 {
                prop_assert_eq!(&search.valid_among(tail, ids, at_start, &everything)?, &reference);
            }
        }
        for group in &covers.groups {
            let before = &tail[..group.start];
            let reference = search.valid_next(before, &group.prefix, at_start)?;
            prop_assert_eq!(&search.valid_among(before, &group.prefix, at_start, &everything)?, &reference);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Certain boundaries decided on a settled suffix of the text (`settled_start`) agree with
    /// the reference that encodes every text from the start.
    #[test]
    fn local_certain_boundaries_match_the_reference(
        shape in 0usize..6,
        picks in prop::collection::vec((any::<u8>(), any::<u8>()), 0..60),
        text in prop::collection::vec(prop::sample::select(ALPHABET), 0..40),
    ) {
        let tok = std::sync::Arc::new(tokenizer(&shapes()[shape], &picks));
        let search = toktool_core::covers::CoverSearch::new(std::sync::Arc::clone(&tok));
        let y = text;
        let ids = tok.encode(std::str::from_utf8(&y).expect("ASCII"))?;
        let mut b = 0;
        for k in 0..ids.len() {
            prop_assert_eq!(
                search.boundary_is_certain_fast(&y, b, &ids[..k]),
                search.boundary_is_certain_reference(&y, b, &ids[..k]),
                "boundary {} of {:?}", b, String::from_utf8_lossy(&y)
            );
            b += tok.token_bytes(ids[k])?.len();
        }
    }
}
