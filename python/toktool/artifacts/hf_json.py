"""Pieces of a Hugging Face ``tokenizer.json`` document, shared by the converters.

The BPE model, the added tokens, ByteLevel and BOS-template components, the
document around them, and :func:`dump_json`, the compact serialisation every
converted file is written in.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["added_token", "bos_template", "bpe_model", "byte_level", "dump_json", "tokenizer_doc"]


def dump_json(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON (non-ASCII kept), the form of every converted file."""
    return json.dumps(obj, ensure_ascii=False, indent=None, separators=(",", ":")).encode("utf-8")


def added_token(content: str, token_id: int, special: bool = True) -> dict[str, Any]:
    """An ``added_tokens`` entry: matched as is (not normalized, no strip)."""
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": special,
    }


def bpe_model(
    vocab: dict[str, int],
    merges: list[tuple[str, str]],
    *,
    unk_token: str | None = None,
    fuse_unk: bool = False,
    byte_fallback: bool = False,
    ignore_merges: bool = False,
) -> dict[str, Any]:
    """A BPE ``model`` section (no dropout, no subword prefix or suffix)."""
    return {
        "type": "BPE",
        "dropout": None,
        "unk_token": unk_token,
        "continuing_subword_prefix": None,
        "end_of_word_suffix": None,
        "fuse_unk": fuse_unk,
        "byte_fallback": byte_fallback,
        "ignore_merges": ignore_merges,
        "vocab": vocab,
        "merges": [list(m) for m in merges],
    }


def tokenizer_doc(
    *,
    added_tokens: list[dict[str, Any]],
    normalizer: Any,
    pre_tokenizer: Any,
    post_processor: Any,
    decoder: Any,
    model: dict[str, Any],
) -> dict[str, Any]:
    """A whole ``tokenizer.json`` document (no truncation or padding; added tokens by id)."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": sorted(added_tokens, key=lambda t: t["id"]),
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": decoder,
        "model": model,
    }


def byte_level(add_prefix_space: bool, trim_offsets: bool, use_regex: bool) -> dict[str, Any]:
    """A ByteLevel component (pre-tokenizer, post-processor or decoder)."""
    return {
        "type": "ByteLevel",
        "add_prefix_space": add_prefix_space,
        "trim_offsets": trim_offsets,
        "use_regex": use_regex,
    }


def bos_template(bos: str, bos_id: int) -> dict[str, Any]:
    """TemplateProcessing that puts ``bos`` before each sequence (as Llama / Mistral do)."""
    return {
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": bos, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
        ],
        "pair": [
            {"SpecialToken": {"id": bos, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": bos, "type_id": 1}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }
