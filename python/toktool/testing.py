"""Small, self-contained tokenizer files for examples, doctests and tests."""

from __future__ import annotations

import json
from typing import Any, Optional

__all__ = [
    "bpe_tokenizer_json",
    "merge_chain_tokenizer_json",
    "tiny_causal_lm",
    "tiny_tokenizer_json",
    "train_byte_level_bpe",
]


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


def train_byte_level_bpe(
    texts: Any, vocab_size: int, special_tokens: Optional[list[str]] = None
) -> str:
    """A byte-level BPE (GPT-2 pre-tokenization, all 256 bytes in the vocabulary) trained on
    ``texts`` with HF ``tokenizers``, as ``tokenizer.json`` text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens or []),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return str(tok.to_str())


def tiny_causal_lm(
    directory: Any,
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    layers: int = 2,
    steps: int = 150,
    tied: bool = True,
    corpus_bytes: int = 400_000,
    seed: int = 0,
) -> Any:
    """Train a tiny Llama-architecture causal LM on stdlib code, in seconds on a CPU.

    A byte-level BPE of ``vocab_size`` tokens is trained with HF ``tokenizers`` on the first
    ``corpus_bytes`` of this Python's standard library, then the model for ``steps`` AdamW steps
    on 8 x 128-token windows. ``directory`` receives an HF model directory (``config.json``,
    ``model.safetensors``, ``tokenizer.json``) loadable with ``toktool.hf.load_causal_lm``.
    Needs torch and transformers. Returns the directory as a ``pathlib.Path``.
    """
    import pathlib

    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    from toktool import artifacts

    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    texts = artifacts.stdlib_corpus(corpus_bytes)
    tok = Tokenizer.from_str(train_byte_level_bpe(texts, vocab_size, ["<|endoftext|>"]))
    tok.save(str(out / "tokenizer.json"))
    ids = [i for t in texts for i in tok.encode(t).ids + [0]]
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=tied,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only add contention
    try:
        model = _train_tiny(LlamaForCausalLM(config), ids, steps, seed)
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(out, safe_serialization=True)
    return out


def _train_tiny(model: Any, ids: list[int], steps: int, seed: int) -> Any:
    import torch

    data = torch.tensor(ids, dtype=torch.long)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(data) - 129, (8,), generator=generator)
        batch = torch.stack([data[s : s + 128] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model
