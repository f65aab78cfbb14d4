"""Split patterns read with Oniguruma's meaning: toktool's ids equal HF tokenizers' ids."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer as HFTokenizer

import toktool
from toktool import artifacts

# tiktoken_ext/openai_public.py (cl100k_base, r50k_base pat_str, verbatim).
PATTERNS = [
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s",
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s",
    r"\p{N}{2}+|\h+|$|^ |\R|\X",
    r"(?i)[[:alpha:]]+|\p{Greek}+|(?<=a)b|(?>\s+)",
]
TEXTS = ["1234567 x", "a\nb \n", "ab\r\n\x85\u2028 ff 0x1F", "ΣΑΣ ab ba  \n", "١٢٣٤٥ 𝟎𝟏𝟐 x  "]


def _with_split(pattern: str) -> str:
    doc = json.loads(artifacts.tokenizer_json("smollm2").read_text(encoding="utf-8"))
    doc["normalizer"] = None
    doc["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
    ]}
    return json.dumps(doc)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_ids_equal_hf(pattern: str) -> None:
    text = _with_split(pattern)
    ours, theirs = toktool.Tokenizer.from_str(text), HFTokenizer.from_str(text)
    for t in TEXTS:
        assert ours.encode(t) == theirs.encode(t, add_special_tokens=False).ids, (pattern, t)


def test_info_names_the_path() -> None:
    assert "Oniguruma" in toktool.Tokenizer.from_str(_with_split(PATTERNS[2])).info()["pre_tokenizer_path"]
    assert "cl100k-family scanner" in toktool.Tokenizer.from_str(_with_split(PATTERNS[0])).info()["pre_tokenizer_path"]
