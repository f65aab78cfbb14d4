"""Small, self-contained tokenizer files for examples, doctests and tests."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["bpe_tokenizer_json", "merge_chain_tokenizer_json", "tiny_tokenizer_json"]


def bpe_tokenizer_json(
    vocab: dict[str, int],
    merges: list[tuple[str, str]],
    *,
    pre_tokenizer: dict[str, Any] | None = None,
    normalizer: dict[str, Any] | None = None,
    decoder: dict[str, Any] | None = None,
    added_tokens: list[dict[str, Any]] | None = None,
    **model_options: Any,
) -> str:
    """A ``tokenizer.json`` string for a BPE model with the given pieces (HF's format)."""
    model: dict[str, Any] = {
        "type": "BPE",
        "dropout": None,
        "unk_token": None,
        "continuing_subword_prefix": None,
        "end_of_word_suffix": None,
        "fuse_unk": False,
        "byte_fallback": False,
        "ignore_merges": False,
        "vocab": vocab,
        "merges": [[a, b] for a, b in merges],
    }
    model.update(model_options)
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens or [],
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": None,
        "decoder": decoder,
        "model": model,
    }
    return json.dumps(doc, ensure_ascii=False)


def tiny_tokenizer_json() -> str:
    """A 15-token BPE that knows ``hello`` and ``world``, split on whitespace."""
    pieces = ["hello", "world", "h", "e", "l", "o", "w", "r", "d"]
    merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"),
              ("w", "o"), ("r", "l"), ("wo", "rl"), ("worl", "d")]
    vocab = {p: i for i, p in enumerate(pieces)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return bpe_tokenizer_json(vocab, merges, pre_tokenizer={"type": "WhitespaceSplit"})


def merge_chain_tokenizer_json(length: int = 12) -> str:
    """An adversarial BPE: no pre-tokenizer (the whole input is one piece) and merge chains
    ``a, aa, aaaa, ...`` (``length`` doublings) and ``a, ab, aba, abab, ...`` (``2 * length + 6``
    steps), where every merge enables the next one. Worst-case benchmarks and tests use it."""
    vocab = {"a": 0, "b": 1}
    merges = []
    piece = "a"
    for _ in range(length):
        merges.append((piece, piece))
        piece += piece
        vocab[piece] = len(vocab)
    piece = "a"
    for i in range(2 * length + 6):
        nxt = "ab"[(i + 1) % 2]
        merges.append((piece, nxt))
        piece += nxt
        vocab.setdefault(piece, len(vocab))
    return bpe_tokenizer_json(vocab, merges)
