"""Tokenizers read straight from GGUF metadata (llama.cpp's model format).

Only the header and the metadata key/values are read, with buffered reads that stop before the
tensor infos, so a multi-GB model file is never read whole.  The ``tokenizer.ggml.*`` keys become an
HF ``tokenizer.json`` document that :meth:`toktool.Tokenizer.from_str` loads (one engine for both).

Supported so far: ``tokenizer.ggml.model == "gpt2"`` with ``tokenizer.ggml.pre`` in
:data:`PRE_TOKENIZERS`.  Anything else is refused with :class:`UnsupportedComponentError`.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, BinaryIO

from toktool.errors import GgufFormatError, UnsupportedComponentError

__all__ = ["PRE_TOKENIZERS", "read_metadata", "tokenizer_doc", "from_gguf"]

_MAGIC = b"GGUF"
# GGUF value type id -> struct format of a scalar (8 = string, 9 = array are handled apart).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_CONTROL, _USER_DEFINED = 3, 4  # llama.cpp token types


class _Reader:
    def __init__(self, f: BinaryIO, path: str) -> None:
        self.f, self.path = f, path

    def take(self, n: int, what: str) -> bytes:
        offset = self.f.tell()
        data = self.f.read(n)
        if len(data) != n:
            raise GgufFormatError(f"{self.path}: truncated GGUF file at byte {offset} (reading {what})")
        return data

    def scalar(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.scalar("<Q", what)
        offset = self.f.tell()
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError as e:
            raise GgufFormatError(f"{self.path}: invalid UTF-8 in {what} at byte {offset}") from e

    def value(self, vtype: int, what: str) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype], what)
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            item_type = self.scalar("<I", what)
            n = self.scalar("<Q", what)
            if item_type == _ARRAY or (item_type not in _SCALARS and item_type != _STRING):
                raise GgufFormatError(f"{self.path}: unsupported array item type {item_type} in {what}")
            if item_type in _SCALARS:
                size = struct.calcsize(_SCALARS[item_type])
                return list(struct.unpack(f"<{n}{_SCALARS[item_type][1]}", self.take(n * size, what)))
            return [self.string(what) for _ in range(n)]
        raise GgufFormatError(f"{self.path}: unknown GGUF value type {vtype} in {what}")


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the metadata key/values of a GGUF file (versions 2 and 3, little-endian)."""
    name = os.fspath(path)
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        from toktool.errors import ToktoolIOError

        raise ToktoolIOError(f"{name}: {e.strerror}") from e
    with f:
        r = _Reader(f, name)
        if r.take(4, "magic") != _MAGIC:
            raise GgufFormatError(f"{name}: not a GGUF file (bad magic)")
        version = r.scalar("<I", "version")
        if version not in (2, 3):
            raise GgufFormatError(f"{name}: unsupported GGUF version {version} (known: 2, 3)")
        r.scalar("<Q", "tensor count")
        n_kv = r.scalar("<Q", "metadata count")
        meta: dict[str, Any] = {}
        for i in range(n_kv):
            key = r.string(f"key #{i}")
            meta[key] = r.value(r.scalar("<I", f"type of {key}"), key)
    return meta


def _byte_level(add_prefix_space: bool = False, trim_offsets: bool = True, use_regex: bool = True) -> dict[str, Any]:
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": use_regex}


# tokenizer.ggml.pre -> the pre_tokenizer of the HF tokenizer.json it was converted from.
PRE_TOKENIZERS: dict[str, dict[str, Any]] = {
    # SmolLM/SmolLM2 (HuggingFaceTB): digits one by one, then GPT-2 byte level.
    "smollm": {
        "type": "Sequence",
        "pretokenizers": [{"type": "Digits", "individual_digits": True}, _byte_level()],
    },
    # GPT-2 itself: the byte-level pre-tokenizer with its built-in regex.
    "gpt-2": _byte_level(),
}


def _get(meta: dict[str, Any], key: str, path: str) -> Any:
    if key not in meta:
        raise GgufFormatError(f"{path}: GGUF key {key!r} missing")
    return meta[key]


def tokenizer_doc(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The HF ``tokenizer.json`` document equivalent to the tokenizer in a GGUF file."""
    name = os.fspath(path)
    meta = read_metadata(name)
    model = _get(meta, "tokenizer.ggml.model", name)
    if model != "gpt2":
        raise UnsupportedComponentError(
            f"{name}: tokenizer.ggml.model {model!r} is not supported (supported: 'gpt2' byte-level BPE)"
        )
    pre = meta.get("tokenizer.ggml.pre", "default")
    if pre not in PRE_TOKENIZERS:
        known = ", ".join(PRE_TOKENIZERS)
        raise UnsupportedComponentError(f"{name}: tokenizer.ggml.pre {pre!r} is not supported (known: {known})")
    tokens: list[str] = _get(meta, "tokenizer.ggml.tokens", name)
    types: list[int] = meta.get("tokenizer.ggml.token_type", [1] * len(tokens))
    if len(types) != len(tokens):
        raise GgufFormatError(f"{name}: {len(tokens)} tokens but {len(types)} token types")
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise GgufFormatError(f"{name}: duplicate tokens in tokenizer.ggml.tokens")
    merges = []
    for i, m in enumerate(_get(meta, "tokenizer.ggml.merges", name)):
        parts = m.split(" ")
        if len(parts) != 2:
            raise GgufFormatError(f"{name}: malformed merge #{i} {m!r}")
        merges.append(parts)
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": types[i] != _CONTROL, "special": types[i] == _CONTROL}
        for i, tok in enumerate(tokens)
        if types[i] in (_CONTROL, _USER_DEFINED)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": PRE_TOKENIZERS[pre],
        "post_processor": _byte_level(add_prefix_space=True, trim_offsets=False),
        "decoder": _byte_level(add_prefix_space=True),
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False, "vocab": vocab, "merges": merges,
        },
    }


def from_gguf(path: str | os.PathLike[str]) -> Any:
    """Load the tokenizer of a GGUF file as a :class:`toktool.Tokenizer`."""
    from toktool._toktool import Tokenizer

    return Tokenizer.from_str(json.dumps(tokenizer_doc(path), ensure_ascii=False))


_SUMMARY_KEYS = {
    "tokenizer.ggml.model": "gguf_model",
    "tokenizer.ggml.pre": "gguf_pre",
    "tokenizer.ggml.bos_token_id": "bos_token_id",
    "tokenizer.ggml.eos_token_id": "eos_token_id",
    "tokenizer.ggml.eot_token_id": "eot_token_id",
    "tokenizer.ggml.padding_token_id": "pad_token_id",
    "tokenizer.ggml.unknown_token_id": "unk_token_id",
    "tokenizer.ggml.add_bos_token": "add_bos_token",
    "tokenizer.ggml.add_eos_token": "add_eos_token",
}


def summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The GGUF tokenizer settings ``toktool info`` shows: model kind, pre name, special ids, add_bos/eos."""
    meta = read_metadata(path)
    out = {label: meta[key] for key, label in _SUMMARY_KEYS.items() if key in meta}
    out["gguf_vocab_size"] = len(meta.get("tokenizer.ggml.tokens", []))
    return out
