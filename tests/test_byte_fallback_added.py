"""Byte-fallback tokens are one byte wherever they are listed (model vocabulary or added_tokens).

Checked against HF ``tokenizers``' decoder: on SentencePiece files whose ``<0x00>``..``<0xFF>``
tokens are also listed in ``added_tokens`` (special and not), and on every real tokenizer, for
every id whose HF decode is valid UTF-8 text.
"""

from __future__ import annotations

import functools
import json

import pytest
from tokenizers import Tokenizer as HFTokenizer

import toktool
from toktool import artifacts

REAL = ["smollm2", "cl100k", "o200k", "llama3", "claude", "tekken", "mistral-sp"]
TEXTS = ["a🎋b", "🎋", "x\u0000y", "héllo wörld", "中文 <0x41> <0xF0><0x9F> 😀😀", "<0xZZ>", "",
         " leading", "trailing  ", "\t\n\r\n", "ǅ𝟎ﬁ"]


def with_byte_tokens_added(special: bool | None) -> str:
    """mistral-sp's tokenizer.json with its 256 byte tokens also listed in added_tokens.

    `special` None lists them alternately special and not."""
    doc = json.loads(artifacts.tokenizer_json("mistral-sp").read_text())
    vocab = doc["model"]["vocab"]
    assert doc["model"].get("byte_fallback"), "mistral-sp is a byte-fallback model"
    listed = {t["id"] for t in doc["added_tokens"]}
    for b in range(256):
        content = f"<0x{b:02X}>"
        if vocab[content] in listed:
            continue
        doc["added_tokens"].append({
            "id": vocab[content], "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False,
            "special": bool(b % 2) if special is None else special,
        })
    return json.dumps(doc)


@pytest.mark.parametrize("special", [True, False, None])
def test_listed_byte_tokens_are_bytes(special: bool | None) -> None:
    text = with_byte_tokens_added(special)
    tk, hf = toktool.Tokenizer.from_str(text), HFTokenizer.from_str(text)
    ids = tk.encode("a🎋b")
    assert tk.decode_bytes(ids) == "a🎋b".encode()
    all_bytes = tk.all_token_bytes()
    for b in range(256):
        i = tk.token_to_id(f"<0x{b:02X}>")
        assert tk.token_bytes(i) == bytes([b])
        assert all_bytes[i] == bytes([b])
    for t in TEXTS:
        ids = tk.encode(t)
        assert ids == hf.encode(t, add_special_tokens=False).ids, t
        want = hf.decode(ids, skip_special_tokens=False)
        assert "\ufffd" in want or tk.decode_bytes(ids) == want.encode(), t


@functools.lru_cache(maxsize=None)
def load(name: str) -> tuple[toktool.Tokenizer, HFTokenizer]:
    path = artifacts.tokenizer_json(name)
    return toktool.Tokenizer.from_file(path), HFTokenizer.from_file(str(path))


@pytest.mark.parametrize("name", REAL)
def test_token_bytes_match_hf_decode_on_every_id(name: str) -> None:
    tk, hf = load(name)
    # Decode each id after an anchor, so decoders that strip a leading space (SentencePiece)
    # strip it from the anchor, not from the token.
    anchor = hf.encode("x", add_special_tokens=False).ids
    base = hf.decode(anchor, skip_special_tokens=False)
    assert tk.decode_bytes(anchor) == base.encode()
    ids = [i for i in range(tk.vocab_size) if hf.id_to_token(i) is not None]  # no holes
    decoded = hf.decode_batch([anchor + [i] for i in ids], skip_special_tokens=False)
    all_bytes = tk.all_token_bytes()
    checked, bad = 0, []
    for i, d in zip(ids, decoded):
        if not d.startswith(base) or "\ufffd" in d:
            continue  # not valid UTF-8 on its own (part of a char) or a hole
        want = d[len(base):].encode()
        checked += 1
        if tk.token_bytes(i) != want or all_bytes[i] != want:
            bad.append((i, hf.id_to_token(i), tk.token_bytes(i), want))
    assert checked > tk.vocab_size // 2
    assert not bad, f"{len(bad)} of {checked} ids differ, first: {bad[:5]}"
