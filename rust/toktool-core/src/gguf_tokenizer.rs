//! A GGUF vocabulary (`tokenizer.ggml.*`) as the `tokenizer.json` its model's original tokenizer has.
//!
//! The result is an ordinary `tokenizer.json` value, loaded by the one engine
//! ([`crate::Tokenizer::from_json_value`]) and writable for HF `tokenizers`.
//!
//! * `tokenizer.ggml.model = "gpt2"`: byte-level BPE, vocab = `tokens` (id = index), merges in
//!   file order, the pre-tokenizer chosen by `tokenizer.ggml.pre` from [`PRE_TOKENIZERS`].
//! * `"llama"`: `SentencePiece` BPE as transformers' `LlamaConverter` writes it: merges = every split
//!   of a normal piece into two normal pieces, best merged-piece score first (what `SentencePiece` and
//!   llama.cpp's SPM tokenizer apply), byte fallback over the `<0xXX>` pieces, unk, and
//!   `add_space_prefix` as Llama's `Prepend` + `Replace` normalizers (a space before each run of
//!   text, as llama.cpp's SPM tokenizer and its reference ids have it).
//! * Token types: control and unknown → special added tokens, user-defined → added tokens; normal,
//!   unused and byte stay plain vocabulary entries.
//! * Anything else (`WordPiece` `bert`, Unigram `t5`, `rwkv`, ...) and pre-tokenizer names not in the
//!   table are refused with [`Error::Unsupported`] naming them.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::gguf::{GgufMetadata, GgufValue};

/// GGUF token types (llama.cpp `llama_token_type`).
const NORMAL: i128 = 1;
const UNKNOWN: i128 = 2;
const CONTROL: i128 = 3;
const USER_DEFINED: i128 = 4;

/// One step of an HF pre-tokenizer `Sequence`.
#[derive(Debug, Clone, Copy)]
pub enum PreStep {
    /// `Split(Regex(pattern), behavior, invert=false)`.
    Split(&'static str, &'static str),
    /// `Digits(individual_digits)`.
    Digits(bool),
    /// `ByteLevel(add_prefix_space=false, trim_offsets=true, use_regex=true)`: GPT-2's own regex.
    ByteLevelRegex,
}

/// A `tokenizer.ggml.pre` family: the names llama.cpp maps to it and the pre-tokenizer of the
/// family's original `tokenizer.json`. Unless a step is [`PreStep::ByteLevelRegex`], the sequence
/// ends with `ByteLevel(add_prefix_space=false, trim_offsets=true, use_regex=false)`.
#[derive(Debug, Clone, Copy)]
pub struct PreFamily {
    pub names: &'static [&'static str],
    pub steps: &'static [PreStep],
    /// The BPE model's `ignore_merges` (llama.cpp's `ignore_merges`, as in the original files).
    pub ignore_merges: bool,
    /// llama.cpp's default `add_bos` for the family (before `tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
}

const GPT2_SPLIT: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const TINY_AYA: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const BLOOM: &str = r" ?[^(\s|[.,!?…。，、।۔،])]+";
const DEEPSEEK_V3_WORDS: &str = r"[!\x22#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
// Cased letters (Lu, Ll, Lt), as in DeepSeek LLM's tokenizer.json; escapes keep canonical
// singletons (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A) from being normalized away.
const DEEPSEEK_LLM_LETTERS: &str = "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u{1F7D}ᾀ-ᾴᾶ-ᾼ\u{1FBE}ῂ-ῄῆ-ῌῐ-\u{1FD3}ῖ-\u{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u{2126}ℨ\u{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";

use PreStep::{ByteLevelRegex, Digits, Split};

const ISO: &str = "Isolated";

/// Every `tokenizer.ggml.pre` name toktool knows, by family.
///
/// Source: llama.cpp `src/llama-vocab.cpp` (ggml-org/llama.cpp, read at commit 00ad355e):
/// `llama_vocab::impl::load` maps the names to `LLAMA_VOCAB_PRE_TYPE_*`, and
/// `llm_tokenizer_bpe` gives each type's regexes. Where llama.cpp rewrote a pattern for its own
/// regex engine it quotes the "original regex from tokenizer.json"; that original is used here
/// (e.g. `(?i:'s|...)` instead of `'[sS]|...`, GPT-2's own `ByteLevel` regex for the GPT-2 family,
/// `Digits` for llama.cpp's `\p{N}` step). Families whose llama.cpp list is a sequence of
/// regexes become a sequence of `Split(..., Isolated)`, as in their original files (`DeepSeek`,
/// Chameleon); Falcon's `Punctuation(Contiguous)` is the equivalent `Split(.., Contiguous)` on
/// HF's punctuation set (ASCII punctuation and `\p{P}`).
pub const PRE_TOKENIZERS: &[PreFamily] = &[
    PreFamily {
        names: &[
            "llama-bpe",
            "llama3",
            "llama-v3",
            "falcon3",
            "falcon-h1",
            "pixtral",
            "midm-2.0",
            "lfm2",
            "jina-v5-nano",
        ],
        steps: &[Split(LLAMA3, ISO)],
        ignore_merges: true,
        add_bos: true,
    },
    PreFamily {
        names: &["dbrx", "smaug-bpe", "chatglm-bpe", "glm4"],
        steps: &[Split(LLAMA3, ISO)],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &[
            "qwen2",
            "deepseek-r1-qwen",
            "kormo",
            "f2llmv2",
            "megrez",
            "stablelm2",
            "hunyuan",
            "solar-open",
            "grok-2",
        ],
        steps: &[Split(QWEN2, ISO)],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["qwen35"],
        steps: &[Split(QWEN35, ISO)],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["deepseek-llm"],
        steps: &[
            Split(r"[\r\n]", ISO),
            Split(DEEPSEEK_LLM_LETTERS, ISO),
            Split(r"\s?[!-/:-~！-／：-～‘-‟　-。]+", ISO),
            Split(r"\s+$", ISO),
            Split(r"[一-龥ࠀ-一가-퟿]+", ISO),
            Split(r"\p{N}+", ISO),
        ],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["deepseek-coder"],
        steps: &[
            Split(r"[\r\n]", ISO),
            Split(r"\s?\p{L}+", ISO),
            Split(r"\s?\p{P}+", ISO),
            Split(r"[一-龥ࠀ-一가-퟿]+", ISO),
            Split(r"\p{N}", ISO),
        ],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"],
        steps: &[
            Split(r"\p{N}{1,3}", ISO),
            Split(r"[一-龥぀-ゟ゠-ヿ]+", ISO),
            Split(DEEPSEEK_V3_WORDS, ISO),
        ],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        // llama.cpp's own three regexes on the raw text (its reference ids are the check):
        // Falcon's original file runs `Digits` and the 3-digit split after ByteLevel, which the
        // engine cannot do; on ASCII digits the two orders agree.
        names: &["falcon"],
        steps: &[
            Split(r"[\p{P}\$\+<=>\^~\|`]+", ISO),
            Split(GPT2_SPLIT, ISO),
            Split(r"[0-9][0-9][0-9]", ISO),
        ],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &[
            "starcoder",
            "refact",
            "command-r",
            "smollm",
            "codeshell",
            "exaone",
            "minerva-7b",
            "mellum2",
        ],
        steps: &[Digits(true), ByteLevelRegex],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &[
            "gpt-2",
            "phi-2",
            "jina-es",
            "jina-de",
            "gigachat",
            "jina-v2-es",
            "jina-v2-de",
            "a.x-4.0",
            "mellum",
            "modern-bert",
            "jina-v1-en",
            "jina-v2-code",
            "roberta-bpe",
            "exaone4",
            "mpt",
            "olmo",
            "jais",
            "trillion",
            "granite-docling",
        ],
        steps: &[ByteLevelRegex],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["poro-chat", "bloom", "gpt3-finnish"],
        steps: &[Split(BLOOM, ISO)],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["viking"],
        steps: &[Split(BLOOM, ISO), Digits(true)],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["tekken"],
        steps: &[Split(TEKKEN, ISO)],
        ignore_merges: true,
        add_bos: true,
    },
    PreFamily {
        names: &["chameleon"],
        steps: &[
            Split(r"<sentinel:[0-9]+>", ISO),
            Split(r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", ISO),
            Split(r"([\t\n]|    |  )", ISO),
            Split(r"\p{N}", ISO),
            Split(r"[\p{P}!-/:-@\[-`{-~]", ISO),
            ByteLevelRegex,
        ],
        ignore_merges: false,
        add_bos: true,
    },
    PreFamily {
        names: &["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"],
        steps: &[Split(GPT4O, ISO)],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["tiny_aya", "cohere2moe"],
        steps: &[Split(r"\d{1,3}(?=(?:\d{3})*\b)", ISO), Split(TINY_AYA, ISO)],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["superbpe"],
        steps: &[Split(r"\p{N}+", ISO), Split(r"(?=(\d{3})+(?!\d))", ISO)],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["bailingmoe", "bailingmoe2", "llada-moe"],
        steps: &[Split(
            r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
            ISO,
        )],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["seed-coder"],
        steps: &[Split(
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+",
            ISO,
        )],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        names: &["kimi-k2"],
        steps: &[Split(
            r"[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
            ISO,
        )],
        ignore_merges: false,
        add_bos: false,
    },
    PreFamily {
        // llama.cpp's fallback for files without a name; it has no original tokenizer.json.
        names: &["default"],
        steps: &[
            Split(r"[\p{P}\$\+<=>\^~\|]+", ISO),
            Split(GPT2_SPLIT, ISO),
            Split(r"\p{N}+", ISO),
            Split(r"[0-9][0-9][0-9]", ISO),
        ],
        ignore_merges: false,
        add_bos: false,
    },
];

/// Names llama.cpp knows that toktool refuses, with the reason.
const REFUSED_PRE: &[(&str, &str)] = &[
    (
        "gemma4",
        "llama.cpp runs it as SentencePiece-style BPE on raw UTF-8 (no byte-level mapping)",
    ),
    ("granite-embed-multi-311m", "a Gemma4-style raw UTF-8 BPE"),
    ("sarvam-moe", "a Gemma4-style raw UTF-8 BPE"),
    ("whitespace", "a raw UTF-8 whitespace-split BPE"),
    (
        "afmoe",
        "its digit grouping is custom code in llama.cpp, not a regex",
    ),
];

/// The family of a pre-tokenizer name.
pub fn pre_family(name: &str) -> Option<&'static PreFamily> {
    PRE_TOKENIZERS.iter().find(|f| f.names.contains(&name))
}

/// The HF `pre_tokenizer` JSON of a family.
pub fn pre_tokenizer_json(family: &PreFamily) -> Value {
    let mut steps: Vec<Value> = family
        .steps
        .iter()
        .map(|step| match *step {
            Split(pattern, behavior) => json!({
                "type": "Split", "pattern": {"Regex": pattern}, "behavior": behavior, "invert": false
            }),
            Digits(individual) => json!({"type": "Digits", "individual_digits": individual}),
            ByteLevelRegex => byte_level(true),
        })
        .collect();
    if !family.steps.iter().any(|s| matches!(s, ByteLevelRegex)) {
        steps.push(byte_level(false));
    }
    if steps.len() == 1 {
        return steps.remove(0);
    }
    json!({"type": "Sequence", "pretokenizers": steps})
}

fn byte_level(use_regex: bool) -> Value {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
}

/// What a GGUF file says about its tokenizer beyond the `tokenizer.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GgufTokenizerInfo {
    /// `tokenizer.ggml.model` (`gpt2` or `llama`).
    pub model: String,
    /// `tokenizer.ggml.pre`, or `default` where a gpt2 file has none (as llama.cpp).
    pub pre: Option<String>,
    pub vocab_size: usize,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub eot_id: Option<u32>,
    pub eom_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub unk_id: Option<u32>,
    pub sep_id: Option<u32>,
    /// llama.cpp's `add_bos` / `add_eos`: the family default, overridden by `add_bos_token` /
    /// `add_eos_token`.
    pub add_bos: bool,
    pub add_eos: bool,
}

/// The `tokenizer.json` value and the extra information of a GGUF vocabulary.
pub fn tokenizer_from_gguf(md: &GgufMetadata) -> Result<(Value, GgufTokenizerInfo)> {
    let model =
        string(md, "tokenizer.ggml.model")?.ok_or_else(|| missing(md, "tokenizer.ggml.model"))?;
    let tokens = string_array(md, "tokenizer.ggml.tokens")?
        .ok_or_else(|| missing(md, "tokenizer.ggml.tokens"))?;
    let types = match int_array(md, "tokenizer.ggml.token_type")? {
        Some(t) if t.len() < tokens.len() => {
            return Err(Error::json(
                key_path(md, "tokenizer.ggml.token_type"),
                format!("{} token types for {} tokens", t.len(), tokens.len()),
            ))
        }
        Some(t) => t,
        None => vec![NORMAL; tokens.len()],
    };
    let mut vocab = Map::new();
    for (id, token) in tokens.iter().enumerate() {
        if let Some(first) = vocab.insert(token.clone(), json!(id)) {
            return Err(Error::json(
                key_path(md, "tokenizer.ggml.tokens"),
                format!("token {token:?} appears twice (ids {first} and {id})"),
            ));
        }
    }
    let mut info = GgufTokenizerInfo {
        model: model.clone(),
        vocab_size: tokens.len(),
        ..GgufTokenizerInfo::default()
    };
    let (add_bos_default, doc) = match model.as_str() {
        "gpt2" => gpt2(md, vocab, &mut info)?,
        "llama" => llama(md, &tokens, &types, vocab)?,
        other => {
            let kind = match other {
                "bert" => "a WordPiece vocabulary",
                "t5" => "a Unigram vocabulary",
                "rwkv" => "an RWKV trie vocabulary",
                "plamo2" => "a PLaMo-2 Unigram-like vocabulary",
                "no_vocab" | "none" => "no vocabulary",
                _ => "a tokenizer model toktool does not know",
            };
            return Err(Error::unsupported(
                format!("GGUF tokenizer model {other:?}"),
                key_path(md, "tokenizer.ggml.model"),
                format!("{other:?} is {kind}; toktool reads \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece BPE)"),
            ));
        }
    };
    read_special_ids(md, &mut info, &model)?;
    info.add_bos = bool_key(md, "tokenizer.ggml.add_bos_token")?.unwrap_or(add_bos_default);
    info.add_eos = bool_key(md, "tokenizer.ggml.add_eos_token")?.unwrap_or(false);
    let mut doc = doc;
    doc["added_tokens"] = added_tokens(&tokens, &types);
    doc["post_processor"] = post_processor(&info, &tokens, &model);
    Ok((doc, info))
}

fn gpt2(
    md: &GgufMetadata,
    vocab: Map<String, Value>,
    info: &mut GgufTokenizerInfo,
) -> Result<(bool, Value)> {
    let pre = string(md, "tokenizer.ggml.pre")?.unwrap_or_else(|| "default".to_owned());
    if let Some((_, why)) = REFUSED_PRE.iter().find(|(n, _)| *n == pre) {
        return Err(Error::unsupported(
            format!("GGUF pre-tokenizer {pre:?}"),
            key_path(md, "tokenizer.ggml.pre"),
            (*why).to_owned(),
        ));
    }
    let family = pre_family(&pre).ok_or_else(|| {
        let known: Vec<&str> = PRE_TOKENIZERS
            .iter()
            .flat_map(|f| f.names.iter().copied())
            .collect();
        Error::unsupported(
            format!("GGUF pre-tokenizer {pre:?}"),
            key_path(md, "tokenizer.ggml.pre"),
            format!(
                "not a pre-tokenizer toktool knows; known: {}",
                known.join(", ")
            ),
        )
    })?;
    let merges = string_array(md, "tokenizer.ggml.merges")?.ok_or_else(|| {
        Error::unsupported(
            "GGUF BPE vocabulary without merges",
            key_path(md, "tokenizer.ggml.merges"),
            format!("pre-tokenizer {pre:?}: toktool needs tokenizer.ggml.merges"),
        )
    })?;
    let merges: Vec<Value> = merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            // llama.cpp splits at the first space after the first character.
            let first = m.chars().next().map_or(0, char::len_utf8);
            match m[first..].find(' ').map(|p| p + first) {
                Some(p) => Ok(json!([&m[..p], &m[p + 1..]])),
                None => Err(Error::json(
                    format!("{}[{i}]", key_path(md, "tokenizer.ggml.merges")),
                    format!("merge {m:?} is not \"left right\""),
                )),
            }
        })
        .collect::<Result<_>>()?;
    info.pre = Some(pre);
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer_json(family),
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": family.ignore_merges, "vocab": Value::Object(vocab), "merges": merges,
        },
    });
    Ok((family.add_bos, doc))
}

fn llama(
    md: &GgufMetadata,
    tokens: &[String],
    types: &[i128],
    vocab: Map<String, Value>,
) -> Result<(bool, Value)> {
    let scores = float_array(md, "tokenizer.ggml.scores")?.ok_or_else(|| {
        Error::unsupported(
            "GGUF SentencePiece vocabulary without scores",
            key_path(md, "tokenizer.ggml.scores"),
            "the merge order of a \"llama\" vocabulary comes from its scores",
        )
    })?;
    if scores.len() < tokens.len() {
        return Err(Error::json(
            key_path(md, "tokenizer.ggml.scores"),
            format!("{} scores for {} tokens", scores.len(), tokens.len()),
        ));
    }
    let unk_id = id_key(md, "tokenizer.ggml.unknown_token_id")?.unwrap_or(0);
    let unk = tokens.get(unk_id as usize).cloned();
    let byte_fallback = types.contains(&6);
    let add_space_prefix = bool_key(md, "tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
    // llama.cpp's SPM tokenizer puts one space before every run of text that starts the input or
    // follows a special token, then spells spaces as U+2581: Llama's own (legacy) tokenizer.json,
    // `Prepend("\u{2581}")` + `Replace(" ", "\u{2581}")` normalizers, which HF applies to each piece
    // between added tokens. (transformers' non-legacy Metaspace form skips the prefix when the text
    // already starts with a space; llama.cpp's reference ids for llama-spm and phi-3 keep it.)
    let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    let normalizer = if add_space_prefix {
        json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u{2581}"}, replace]})
    } else {
        replace
    };
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "normalizer": normalizer,
        "pre_tokenizer": null,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": byte_fallback,
            "ignore_merges": false, "vocab": Value::Object(vocab), "merges": spm_merges(tokens, types, &scores),
        },
    });
    Ok((true, doc))
}

/// `SentencePiece` BPE as ranked merges: every split of a normal piece into two normal pieces,
/// ordered by the merged piece's score (best first), then by the ids of the piece, left and right.
/// `SentencePiece` (and llama.cpp's SPM tokenizer) merge the adjacent pair whose concatenation is
/// the best-scoring piece; this order gives HF's BPE the same choice. It is the order of
/// transformers' `LlamaConverter` result for Llama/Mistral, and of the `SentencePiece` converter in
/// `toktool.artifacts`.
pub fn spm_merges(tokens: &[String], types: &[i128], scores: &[f32]) -> Vec<Value> {
    let normal: rustc_hash::FxHashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .filter(|&(i, _)| types[i] == NORMAL)
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut ranked: Vec<(f32, usize, usize, usize)> = Vec::new();
    for (piece, &id) in &normal {
        for (at, _) in piece.char_indices().skip(1) {
            if let (Some(&l), Some(&r)) = (normal.get(&piece[..at]), normal.get(&piece[at..])) {
                ranked.push((scores[id], id, l, r));
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    ranked
        .into_iter()
        .map(|(_, _, l, r)| json!([tokens[l], tokens[r]]))
        .collect()
}

fn added_tokens(tokens: &[String], types: &[i128]) -> Value {
    let added: Vec<Value> = tokens
        .iter()
        .enumerate()
        .filter_map(|(id, token)| {
            let special = match types[id] {
                UNKNOWN | CONTROL => true,
                USER_DEFINED => false,
                _ => return None,
            };
            Some(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": special,
            }))
        })
        .collect();
    Value::Array(added)
}

fn post_processor(info: &GgufTokenizerInfo, tokens: &[String], model: &str) -> Value {
    let special = |id: Option<u32>, on: bool| {
        id.filter(|_| on)
            .and_then(|id| tokens.get(id as usize).map(|t| (t.clone(), id)))
    };
    let bos = special(info.bos_id, info.add_bos);
    let eos = special(info.eos_id, info.add_eos);
    if bos.is_none() && eos.is_none() {
        return if model == "gpt2" {
            byte_level(true)
        } else {
            Value::Null
        };
    }
    let piece =
        |t: &(String, u32), type_id: u32| json!({"SpecialToken": {"id": t.0, "type_id": type_id}});
    let mut single = Vec::new();
    let mut pair = Vec::new();
    let mut specials = Map::new();
    for (seq, type_id) in [("A", 0u32), ("B", 1)] {
        let part = |v: &mut Vec<Value>| {
            if let Some(b) = &bos {
                v.push(piece(b, type_id));
            }
            v.push(json!({"Sequence": {"id": seq, "type_id": type_id}}));
            if let Some(e) = &eos {
                v.push(piece(e, type_id));
            }
        };
        if seq == "A" {
            part(&mut single);
        }
        part(&mut pair);
    }
    for t in bos.iter().chain(eos.iter()) {
        specials.insert(
            t.0.clone(),
            json!({"id": t.0, "ids": [t.1], "tokens": [t.0]}),
        );
    }
    json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
}

fn read_special_ids(md: &GgufMetadata, info: &mut GgufTokenizerInfo, model: &str) -> Result<()> {
    // llama.cpp's defaults for SentencePiece files without the keys.
    if model == "llama" {
        info.bos_id = Some(1);
        info.eos_id = Some(2);
        info.unk_id = Some(0);
    }
    let n = info.vocab_size;
    for (key, slot) in [
        ("bos_token_id", &mut info.bos_id),
        ("eos_token_id", &mut info.eos_id),
        ("eot_token_id", &mut info.eot_id),
        ("eom_token_id", &mut info.eom_id),
        ("padding_token_id", &mut info.pad_id),
        ("unknown_token_id", &mut info.unk_id),
        ("seperator_token_id", &mut info.sep_id),
    ] {
        if let Some(id) = id_key(md, &format!("tokenizer.ggml.{key}"))? {
            *slot = Some(id);
        }
        if slot.is_some_and(|id| id as usize >= n) {
            *slot = None; // llama.cpp disables an out-of-range special id too
        }
    }
    Ok(())
}

fn key_path(md: &GgufMetadata, key: &str) -> String {
    format!("{} metadata {key}", md.path)
}

fn missing(md: &GgufMetadata, key: &str) -> Error {
    Error::json(key_path(md, key), "missing")
}

fn wrong_type(md: &GgufMetadata, key: &str, want: &str, got: &GgufValue) -> Error {
    Error::json(
        key_path(md, key),
        format!("expected {want}, found {}", got.type_name()),
    )
}

fn string(md: &GgufMetadata, key: &str) -> Result<Option<String>> {
    match md.get(key) {
        None => Ok(None),
        Some(GgufValue::Str(s)) => Ok(Some(s.clone())),
        Some(v) => Err(wrong_type(md, key, "a string", v)),
    }
}

fn bool_key(md: &GgufMetadata, key: &str) -> Result<Option<bool>> {
    match md.get(key) {
        None => Ok(None),
        Some(GgufValue::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(wrong_type(md, key, "a bool", v)),
    }
}

fn id_key(md: &GgufMetadata, key: &str) -> Result<Option<u32>> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => match v.as_i128().map(u32::try_from) {
            Some(Ok(id)) => Ok(Some(id)),
            Some(Err(_)) => Err(Error::json(key_path(md, key), "token id out of range")),
            None => Err(wrong_type(md, key, "an integer", v)),
        },
    }
}

fn array<'a>(md: &'a GgufMetadata, key: &str) -> Result<Option<&'a [GgufValue]>> {
    match md.get(key) {
        None => Ok(None),
        Some(GgufValue::Array(items)) => Ok(Some(items)),
        Some(v) => Err(wrong_type(md, key, "an array", v)),
    }
}

fn string_array(md: &GgufMetadata, key: &str) -> Result<Option<Vec<String>>> {
    let Some(items) = array(md, key)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|v| match v {
            GgufValue::Str(s) => Ok(s.clone()),
            other => Err(wrong_type(md, key, "an array of strings", other)),
        })
        .collect::<Result<_>>()
        .map(Some)
}

fn int_array(md: &GgufMetadata, key: &str) -> Result<Option<Vec<i128>>> {
    let Some(items) = array(md, key)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|v| {
            v.as_i128()
                .ok_or_else(|| wrong_type(md, key, "an array of integers", v))
        })
        .collect::<Result<_>>()
        .map(Some)
}

fn float_array(md: &GgufMetadata, key: &str) -> Result<Option<Vec<f32>>> {
    let Some(items) = array(md, key)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|v| {
            v.as_f32()
                .ok_or_else(|| wrong_type(md, key, "an array of numbers", v))
        })
        .collect::<Result<_>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::read_metadata_from;
    use crate::gguf::tests::{encode, str_array, string};
    use crate::Tokenizer;

    fn metadata(entries: &[(&str, u32, Vec<u8>)]) -> GgufMetadata {
        let bytes = encode(3, entries);
        read_metadata_from(&bytes[..], bytes.len() as u64, "t.gguf").unwrap()
    }

    #[test]
    fn every_family_builds_a_loadable_pre_tokenizer() {
        for family in PRE_TOKENIZERS {
            let doc = json!({
                "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                "pre_tokenizer": pre_tokenizer_json(family),
            });
            if let Err(e) = Tokenizer::from_json_value(&doc) {
                // Known engine limit, refused by name: kimi-k2's class intersection (Oniguruma
                // syntax, the regex engine's job).
                let known = family.names.contains(&"kimi-k2") && e.to_string().contains("regex");
                assert!(known, "{:?}: {e}", family.names);
            }
        }
    }

    #[test]
    fn gpt2_vocabulary_with_specials_and_merges() {
        let types = {
            let mut v = 5u32.to_le_bytes().to_vec();
            v.extend(4u64.to_le_bytes());
            for t in [1i32, 1, 1, 3] {
                v.extend(t.to_le_bytes());
            }
            v
        };
        let md = metadata(&[
            ("tokenizer.ggml.model", 8, string("gpt2")),
            ("tokenizer.ggml.pre", 8, string("gpt-2")),
            (
                "tokenizer.ggml.tokens",
                9,
                str_array(&["a", "b", "ab", "<|end|>"]),
            ),
            ("tokenizer.ggml.token_type", 9, types),
            ("tokenizer.ggml.merges", 9, str_array(&["a b"])),
            (
                "tokenizer.ggml.eos_token_id",
                4,
                3u32.to_le_bytes().to_vec(),
            ),
        ]);
        let (doc, info) = tokenizer_from_gguf(&md).unwrap();
        assert_eq!(info.eos_id, Some(3));
        assert!(!info.add_bos);
        let tok = Tokenizer::from_json_value(&doc).unwrap();
        assert_eq!(tok.encode("ab<|end|>a").unwrap(), vec![2, 3, 0]);
    }

    #[test]
    fn unknown_models_and_pre_names_are_refused_by_name() {
        let bert = metadata(&[
            ("tokenizer.ggml.model", 8, string("bert")),
            ("tokenizer.ggml.tokens", 9, str_array(&["a"])),
        ]);
        let err = tokenizer_from_gguf(&bert).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }) && err.to_string().contains("\"bert\""));
        let pre = metadata(&[
            ("tokenizer.ggml.model", 8, string("gpt2")),
            ("tokenizer.ggml.pre", 8, string("no-such-pre")),
            ("tokenizer.ggml.tokens", 9, str_array(&["a"])),
            ("tokenizer.ggml.merges", 9, str_array(&[])),
        ]);
        let err = tokenizer_from_gguf(&pre).unwrap_err();
        assert!(err.to_string().contains("\"no-such-pre\""), "{err}");
    }
}
