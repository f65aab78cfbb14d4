"""Split patterns read as Oniguruma reads them: differential tests against HF ``tokenizers``.

Each case builds a ``tokenizer.json`` from SmolLM2's byte-level vocabulary with its pre-tokenizer
swapped for ``Split`` steps (the pattern under test) followed by a non-splitting ``ByteLevel``, then
compares toktool with ``tokenizers`` on the same file: ids, and the pre-token pieces. Patterns come
from the tokenizers the project ships, tiktoken's own strings, public models' files and
llama.cpp's ``src/llama-vocab.cpp`` (``regex_exprs`` per ``LLAMA_VOCAB_PRE_TYPE_*``), plus
generated mutations using the constructs whose meaning differs between regex dialects.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import pathlib
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

import toktool
from toktool import artifacts
from toktool.byte_level import bytes_to_unicode

EXAMPLES = int(os.environ.get("TOKTOOL_EXAMPLES", "60"))
CORPUS_BYTES = int(os.environ.get("TOKTOOL_ONIG_CORPUS_BYTES", str(120_000)))
CHUNK = 4096

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# tiktoken_ext/openai_public.py, verbatim (what convert_tiktoken_to_fast writes).
CL100K_TIKTOKEN = artifacts.CL100K_PATTERN
O200K_TIKTOKEN = artifacts.O200K_PATTERN
# Meta-Llama-3 tokenizer.json (also llama.cpp LLAMA3).
LLAMA3 = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# Qwen2 / Qwen2.5 / Qwen3 tokenizer.json.
QWEN2 = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# llama.cpp DBRX / SMAUG: Llama 3 with the case folding spelled out.
DBRX = (
    r"""(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"""
    r"""|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# llama.cpp DEEPSEEK_LLM (deepseek-llm tokenizer.json: a Sequence of Splits); code points that
# NFC would change are escaped.
DEEPSEEK_LLM = [
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1f7dᾀ-ᾴᾶ-ᾼ\u1fbeῂ-ῄῆ-ῌῐ-\u1fd3ῖ-\u1fdbῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212a-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
]
# llama.cpp DEEPSEEK_CODER.
DEEPSEEK_CODER = ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"]
# llama.cpp DEEPSEEK3_LLM (DeepSeek-V3 tokenizer.json).
DEEPSEEK_V3 = [
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
]
# llama.cpp FALCON.
FALCON = ["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2.replace(r"|\s+(?!\S)|\s+", r"|\s+(?!\S)"), "[0-9][0-9][0-9]"]
# llama.cpp STARCODER / REFACT / COMMAND_R / SMOLLM / CODESHELL / EXAONE / MINERVA.
STARCODER = ["\\p{N}", GPT2.replace(r"|\s+(?!\S)|\s+", r"|\s+(?!\S)")]
# llama.cpp CHATGLM4 (GLM-4 tokenizer.json).
GLM4 = [
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
]
# llama.cpp KIMI_K2 (Kimi-K2's tiktoken pattern, Han runs first).
KIMI_K2 = [
    r"""[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*"""
    r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
    r"""|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+"""
    r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
    r"""|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
]

# Constructs read differently by other dialects, each put in front of GPT-2's alternatives.
MUTATION_HEADS = [
    r"\p{N}{1,3}+", r"\p{N}{2,}+", r"\p{N}{2}+", r"\p{N}{1,3}?", r"\p{L}{2,4}+",
    r"\s+$", r"^\s+", r"^\p{L}+$", r"\A\s+", r"\s+\z", r"\s+\Z", r"\p{L}+\Z",
    r"\h+", r"\R", r"\R+", r"\X", r"\d+", r"\w+", r"\b\w", r"\B.",
    r"(?i)'s|'t|'re|'ve", r"(?i:ss|k|ǆ|σ)", r"(?i)[a-z]+",
    r"[[:alpha:]]+", r"[[:digit:]]+", r"[[:space:]]+", r"[[:punct:]]+", r"[[:upper:]][[:lower:]]*",
    r"[^[:alnum:]\s]+", r"\p{Letter}+", r"\p{Nd}+", r"\p{Decimal_Number}+", r"\p{Alpha}+",
    r"\p{Greek}+", r"\p{Hiragana}+|\p{Katakana}+", r"\p{Cyrillic}+", r"\p{^L}+", r"\P{L}\p{L}",
    r"\p{Lu}\p{Ll}+", r"\p{Zs}+", r"\p{Cc}+", r"\p{Emoji}+",
    r"\p{L}++\p{L}", r"(?>\p{L}+)", r"(?>a|ab)c", r"[^\s]*+", r"\s?+\p{L}+",
    r"(?<=\s)\p{L}+", r"(?<!\p{L})\p{N}+", r"(?<=[\r\n])\s+", r"(?=\p{N})", r"(?!\p{L})\s",
    r"\p{L}*", r"", r"$", r"^", r"\r\n|\n|\r", r".+", r"(?m).+", r"[\x00-\x1f\x7f]+",
    r"\u00e9|\x{1F600}", r"[\u2028\u2029\x85]", r"\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))",
]

CASES: dict[str, list[str]] = {
    "gpt2": [GPT2],
    "cl100k-tiktoken": [CL100K_TIKTOKEN],
    "o200k-tiktoken": [O200K_TIKTOKEN],
    "llama3": [LLAMA3],
    "qwen2": [QWEN2],
    "dbrx": [DBRX],
    "deepseek-llm": DEEPSEEK_LLM,
    "deepseek-coder": DEEPSEEK_CODER,
    "deepseek-v3": DEEPSEEK_V3,
    "falcon": FALCON,
    "starcoder": STARCODER,
    "glm4": GLM4,
    "kimi-k2": KIMI_K2,
}
for _i, _head in enumerate(MUTATION_HEADS):
    CASES[f"mut{_i:02d}:{_head}"] = [_head + "|" + GPT2]


def _project_patterns() -> dict[str, list[str]]:
    """The Split regexes of the tokenizers the project ships, as their files spell them."""
    out: dict[str, list[str]] = {}
    for name in ("cl100k", "o200k", "llama3", "claude", "tekken"):
        doc = json.loads(artifacts.tokenizer_json(name).read_text())
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") == "Split" and "Regex" in node.get("pattern", {}):
                    found.append(node["pattern"]["Regex"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(doc.get("pre_tokenizer"))
        if found:
            out[f"file-{name}"] = found
    return out



@functools.lru_cache(maxsize=1)
def _base() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(artifacts.tokenizer_json("smollm2").read_text())
    doc["added_tokens"] = []
    doc["post_processor"] = None
    doc["normalizer"] = None
    # SmolLM2 lacks a few byte tokens (0xF1 ...); add them so every piece decodes to its text.
    vocab = doc["model"]["vocab"]
    for ch in _byte_chars():
        vocab.setdefault(ch, len(vocab))
    return doc


def _byte_chars() -> list[str]:
    """GPT-2's byte-to-char table (the alphabet of ByteLevel vocabularies), in byte-table order."""
    return list(bytes_to_unicode().values())


def build(patterns: list[str], behavior: str = "Isolated") -> str:
    doc = dict(_base())
    steps: list[dict[str, Any]] = [
        {"type": "Split", "pattern": {"Regex": p}, "behavior": behavior, "invert": False}
        for p in patterns
    ]
    steps.append({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": False})
    doc["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": steps}
    return json.dumps(doc)


@functools.lru_cache(maxsize=None)
def pair(key: tuple[str, ...]) -> tuple[toktool.Tokenizer, HFTokenizer]:
    text = build(list(key))
    return toktool.Tokenizer.from_str(text), HFTokenizer.from_str(text)


def mismatch(tk: toktool.Tokenizer, hf: HFTokenizer, text: str) -> str | None:
    """Why toktool and HF disagree on `text` (ids or pre-token pieces), or None."""
    want_pieces = [text[s:e].encode() for _, (s, e) in hf.pre_tokenizer.pre_tokenize_str(text)
                   if e > s]
    ids, words = tk.encode_with_pretokens(text)
    got_pieces: list[bytes] = []
    last = -1
    for i, w in zip(ids, words):
        if w != last:
            got_pieces.append(b"")
            last = w
        got_pieces[-1] += tk.token_bytes(i)
    if got_pieces != want_pieces:
        return f"pieces differ: toktool {got_pieces[:40]!r} HF {want_pieces[:40]!r}"
    want = hf.encode(text, add_special_tokens=False).ids
    if ids != want:
        return f"ids differ: toktool {ids[:40]} HF {want[:40]}"
    return None


LINE_BREAKS = ["\r\n", "\r", "\n", "\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\n\n", " \n", "\t"]
DIGITS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "۰۱۲", "०१२३", "০১২", "๐๑๒", "០១២", "０１２３", "𝟎𝟏𝟐",
          "²³", "½", "ⅫⅣ", "①②", "〇", "12345678", "1,234.56"]
WORDS = ["The", "the", "x", "é", "Ünï", "ΣΑΣ", "σς", "中文", "日本語", "カタカナ", "ひらがな", "한국어",
         "Привет", "مرحبا", "שלום", "ß", "ſ", "K", "ǅ", "ﬁ", "e\u0301", "😀", "👩\u200d👧", "'s", "'LL",
         "'Re", "don't", "_", "__init__", "()", "{}", "->", "//", "/*", "...", "!!", "$x", "^", "`",
         "\u00a0", "\u3000", "\u200b", "\x00", "\x7f", "abc", "ABC", "0x1F", "  ", "   ", "a\u0300"]
TRICKY = [
    "", " ", "\n", "   \n", "a\r\nb\rc\x85d\u2028e\u2029f\x0bg\x0ch", "x  \n\n  ", "x \u2028",
    "1234567890123 ١٢٣٤٥٦ १२३४५ 𝟎𝟏𝟐𝟑𝟒", "it's I'M we'LL they'Re ſ'ſ K's", "ǅungla ǅ", "ΣΑΣ σας",
    "  \n\t\n  x\n  ", "line\nline\r\nline\rline\n", "€100 £5 ¥3 $7.50", "\u3000\u3000中文\u3000",
    "x" * 600 + " " * 300 + "9" * 300 + "\n" * 50,
]

adversarial = st.lists(
    st.one_of(st.sampled_from(LINE_BREAKS), st.sampled_from(DIGITS), st.sampled_from(WORDS),
              st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)),
    max_size=30,
).map("".join)


@functools.lru_cache(maxsize=1)
def real_chunks() -> tuple[str, ...]:
    texts = artifacts.stdlib_corpus(max_bytes=CORPUS_BYTES)
    for path in sorted(pathlib.Path("/usr/share/doc").glob("debian-reference-*/*.gz")):
        texts.append(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
    chunks = []
    for t in texts:
        chunks.extend(t[i:i + CHUNK] for i in range(0, len(t), CHUNK))
    return tuple(chunks)


ALL_CASES = {**_project_patterns(), **CASES}


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_tricky_and_real_text_match_hf(name: str) -> None:
    tk, hf = pair(tuple(ALL_CASES[name]))
    bad = [(t[:80], why) for t in (*TRICKY, *real_chunks()) if (why := mismatch(tk, hf, t))]
    assert not bad, f"{len(bad)} mismatches; first: {bad[0]}"


@pytest.mark.parametrize("name", sorted(ALL_CASES))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=adversarial)
def test_adversarial_text_matches_hf(name: str, text: str) -> None:
    tk, hf = pair(tuple(ALL_CASES[name]))
    assert mismatch(tk, hf, text) is None


@pytest.mark.parametrize("cls", [r"\p{L}", r"\p{N}", r"\s", r"\h", r"(?i:k)"])
def test_classes_match_hf_on_planes_0_to_2(cls: str) -> None:
    # Runs of the class: a char classified differently moves a piece boundary. (The Rust test
    # checks every code point against the onig crate; this checks HF's build on planes 0-2.)
    text = "".join(chr(c) for c in range(0x32000) if not 0xD800 <= c < 0xE000)
    tk, hf = pair((cls + "+",))
    assert mismatch(tk, hf, text) is None


@pytest.mark.parametrize("behavior", ["Removed", "MergedWithPrevious", "MergedWithNext",
                                      "Contiguous"])
def test_behaviors_on_the_onig_path(behavior: str) -> None:
    text = build([CL100K_TIKTOKEN, r"\s+$"], behavior)
    tk, hf = toktool.Tokenizer.from_str(text), HFTokenizer.from_str(text)
    for t in (*TRICKY, *real_chunks()[:20]):
        assert mismatch(tk, hf, t) is None, t[:80]


def test_replace_normalizer_uses_oniguruma() -> None:
    doc = json.loads(build([GPT2]))
    doc["normalizer"] = {"type": "Replace", "pattern": {"Regex": r"\p{N}{1,2}+|\h+|\s+$"},
                         "content": "#"}
    text = json.dumps(doc)
    tk, hf = toktool.Tokenizer.from_str(text), HFTokenizer.from_str(text)
    for t in TRICKY:
        assert tk.encode(t) == hf.encode(t, add_special_tokens=False).ids, t[:80]


def test_info_says_which_path() -> None:
    tk, _ = pair((CL100K_TIKTOKEN,))
    assert "cl100k-family scanner" in tk.info()["pre_tokenizer_path"]
    tk, _ = pair((LLAMA3,))
    assert "cl100k-family scanner" in tk.info()["pre_tokenizer_path"]
    tk, _ = pair((r"\h+|" + GPT2,))
    assert "Oniguruma" in tk.info()["pre_tokenizer_path"]


def test_invalid_regex_is_refused_with_its_path() -> None:
    text = build([GPT2, r"(?<open"])
    with pytest.raises(Exception):
        HFTokenizer.from_str(text)
    with pytest.raises(toktool.TokenizerRegexError, match=r"pretokenizers\[1\]|pretokenizers.1"):
        toktool.Tokenizer.from_str(text)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
