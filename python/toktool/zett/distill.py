"""Output distillation: the output side of a tied model, trained on the LM's cached states.

A tied model scores a new token ``t`` with ``h . o_t``. The ideal logit of a token made of
original parts ``p1 .. pk`` is ``log P(p1 | h) + log P(p2 .. pk | h, p1)``; FVT's mean of the
parts' embeddings expresses neither term well (``h . e_p2`` is the logit of ``p2`` *now*, where
``p1`` is what comes next). The output tower (:class:`toktool.zett.model.HypernetConfig`
``output_tower=True``) predicts separate output rows, and this phase trains it without running
the LM at all:

- :func:`cache_hidden_states`: the frozen LM reads training chunks with its own tokenizer once;
  the final hidden state before every original token is kept with the token's byte offset.
- :func:`train_output`: every step samples a tokenizer from a set of cached chunks (the same
  sampler as the LM phase, :func:`toktool.zett.sampler.sample_tokenizer`), keeps the positions
  where a sampled token starts at an original token boundary (there the cached state is what
  the original model would have read) and minimises the cross-entropy of the sampled token over
  the whole sampled vocabulary, ``softmax(h . O)``, with ``O`` the output tower's rows. Only the
  output tower is trained; the input side (reconstruction) is left as it is.

A step costs one hypernetwork forward over the sampled vocabulary and one
``positions x vocabulary`` product: a few seconds on two CPU cores, against 7-8 s of LM forward
and backward per step of the LM objective. The held-out loss (chunks never trained on, fixed
sampled tokenizers) picks the best step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from toktool._io import atomic_write
from toktool._torch import load_torch as _torch
from toktool.errors import CheckpointError, InvalidInputError
from toktool.zett.schedule import (
    optimizer_step,
    progress_bar,
    record_held_out,
    warmup_cosine,
)

__all__ = [
    "HiddenStates",
    "OutputConfig",
    "boundary_targets",
    "calibrate_output_prior",
    "cache_hidden_states",
    "load_hidden_states",
    "output_loss",
    "output_rows",
    "save_hidden_states",
    "train_output",
]


@dataclasses.dataclass
class HiddenStates:
    """Final hidden states of the original LM over ``texts``, one row per original token.

    Row ``r`` in ``offsets[j]:offsets[j+1]`` is the state the LM predicted token ``r`` of text
    ``j`` from (BOS and the tokens before it); ``starts[r]`` is that token's byte offset in the
    text's UTF-8 bytes.
    """

    states: Any  # (rows, hidden) float32
    starts: np.ndarray  # (rows,) int64
    offsets: np.ndarray  # (texts + 1,) int64
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(text.encode())
            digest.update(b"\0")
        return digest.hexdigest()[:16]


def _byte_lengths(tokenizer: Any, ids: Sequence[int]) -> np.ndarray:
    return np.fromiter((len(tokenizer.token_bytes(int(i)) or b"") for i in ids), np.int64,
                       count=len(ids))


def cache_hidden_states(
    lm: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 8,
    progress: bool = True,
) -> HiddenStates:
    """Run the frozen LM (:class:`toktool.zett.train.FrozenLM`, with a BOS) over ``texts``
    encoded by its own ``tokenizer`` and keep the final hidden state before every token.

    Texts whose tokens do not spell their bytes one to one (an added token's content differs
    from its text) are left out, since their byte offsets would be wrong."""
    torch = _torch()
    if lm.bos_id is None:
        raise InvalidInputError("output distillation needs a model with a BOS token")
    emb = lm.input_embeddings
    kept: list[str] = []
    encoded: list[list[int]] = []
    starts: list[np.ndarray] = []
    for text in texts:
        ids = tokenizer.encode(text)
        lengths = _byte_lengths(tokenizer, ids)
        if not len(ids) or int(lengths.sum()) != len(text.encode("utf-8")):
            continue
        kept.append(text)
        encoded.append(ids)
        starts.append(np.concatenate([[0], np.cumsum(lengths)[:-1]]))
    if not kept:
        raise InvalidInputError("no text to cache hidden states for")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(map(len, encoded)), desc="zett cache LM states", unit="tok",
                   leave=False)
    order = np.argsort([len(e) for e in encoded], kind="stable")  # little padding per batch
    rows: dict[int, Any] = {}
    with torch.no_grad():
        for at in range(0, len(order), batch_size):
            group = [int(i) for i in order[at : at + batch_size]]
            width = max(len(encoded[i]) for i in group)
            ids = torch.zeros((len(group), width), dtype=torch.long, device=emb.device)
            mask = torch.zeros((len(group), width), dtype=torch.long, device=emb.device)
            for r, i in enumerate(group):
                ids[r, : len(encoded[i])] = torch.as_tensor(encoded[i])
                mask[r, : len(encoded[i])] = 1
            bos = emb[lm.bos_id].expand(len(group), 1, -1)
            inputs = torch.cat([bos, emb[ids][:, :-1]], dim=1)
            attention = torch.cat([mask.new_ones((len(group), 1)), mask[:, :-1]], dim=1)
            hidden = lm.hidden(inputs, attention).float()
            for r, i in enumerate(group):
                rows[i] = hidden[r, : len(encoded[i])].to("cpu").clone()
            if bar is not None:
                bar.update(sum(len(encoded[i]) for i in group))
    if bar is not None:
        bar.close()
    pieces = [rows[i] for i in range(len(kept))]
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
    return HiddenStates(torch.cat(pieces), np.concatenate(starts).astype(np.int64), offsets,
                        kept)


def save_hidden_states(cache: HiddenStates, path: Path) -> None:
    """``path`` (safetensors: states, starts, offsets) and ``path.json`` (the texts)."""
    from safetensors.torch import save

    torch = _torch()
    tensors = {
        "states": cache.states.contiguous(),
        "starts": torch.as_tensor(cache.starts),
        "offsets": torch.as_tensor(cache.offsets),
    }
    atomic_write(path.with_suffix(".json"), json.dumps(
        {"texts": cache.texts, "fingerprint": cache.fingerprint()}).encode())
    atomic_write(path, save(tensors))


def load_hidden_states(path: Path) -> HiddenStates:
    from safetensors.torch import load_file

    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        tensors = load_file(str(path))
    except Exception as exc:  # a missing, truncated or foreign file
        raise CheckpointError(f"{path}: not a readable hidden-state cache ({exc})") from exc
    cache = HiddenStates(tensors["states"], tensors["starts"].numpy(),
                         tensors["offsets"].numpy(), list(meta["texts"]))
    if cache.fingerprint() != meta.get("fingerprint"):
        raise CheckpointError(f"{path}: texts do not match the cached states")
    return cache


@dataclasses.dataclass
class OutputConfig:
    """Settings of output distillation (recorded in the checkpoint)."""

    steps: int = 300
    texts_per_step: int = 64  # cached texts a tokenizer is sampled from each step
    positions: int = 4096  # scored positions per step (sampled among the aligned ones)
    vocab_size: int = 16384
    noise: float = 1.0
    max_token_bytes: int = 16
    lr: float = 5e-4
    warmup: int = 20
    weight_decay: float = 0.01
    clip: float = 1.0
    holdout: float = 0.1  # share of the cached texts kept for the held-out loss
    eval_every: int = 50
    seed: int = 0
    # where each step's vocabulary comes from: "pool" samples it from ALL the cached texts (a
    # real target vocabulary holds tokens that never occur in the scored text), "batch" from
    # the step's own texts (rewards long tokens); both transferred worse than no distillation
    # to cl100k (docs/ZETT.md)
    vocab_from: str = "pool"
    # what trains: "prior" the per-token prior adjustment (``output_prior_head``) and the
    # tower's trunk, the vector correction kept at zero; "all" the whole tower
    trainable: str = "prior"

    def __post_init__(self) -> None:
        if self.vocab_from not in ("pool", "batch"):
            raise InvalidInputError(f"vocab_from must be 'pool' or 'batch', not {self.vocab_from!r}")
        if self.trainable not in ("prior", "all"):
            raise InvalidInputError(f"trainable must be 'prior' or 'all', not {self.trainable!r}")

    def lr_at(self, step: int) -> float:
        return warmup_cosine(step, self.lr, self.warmup, self.steps, floor=0.05)


def boundary_targets(
    cache: HiddenStates, texts: Sequence[int], sampled: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(cache rows, sampled ids) of every sampled token that starts where an original token
    starts, for the cached texts ``texts`` segmented as ``sampled.ids``."""
    lengths = np.fromiter((len(b) for b in sampled.vocab), np.int64, count=len(sampled.vocab))
    rows, targets = [], []
    for j, text in enumerate(texts):
        ids = np.asarray(sampled.ids[j], dtype=np.int64)
        if not len(ids):
            continue
        begin, end = int(cache.offsets[text]), int(cache.offsets[text + 1])
        starts = np.concatenate([[0], np.cumsum(lengths[ids])[:-1]])
        _, new_at, old_at = np.intersect1d(starts, cache.starts[begin:end], assume_unique=True,
                                           return_indices=True)
        rows.append(begin + old_at)
        targets.append(ids[new_at])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(targets)


def output_rows(hypernet: Any, parts: Any) -> Any:
    """Output rows of a sampled vocabulary as transfer makes them: a token that is one original
    token keeps that token's embedding (``copy_shared``), the others come from the output
    tower (differentiable), rows of length 0 are zeros."""
    torch = _torch()
    if getattr(hypernet, "output_tower", None) is None:
        raise InvalidInputError("this hypernetwork has no output tower to distil")
    lengths = np.asarray(parts.lengths)
    ids = np.asarray(parts.ids)
    emb = hypernet.input_embeddings
    rows = emb.new_zeros((len(lengths), emb.shape[1]))
    single = np.nonzero(lengths == 1)[0]
    where = torch.as_tensor(single, dtype=torch.long, device=emb.device)
    rows = rows.index_copy(0, where, emb[torch.as_tensor(ids[single, 0], device=emb.device)])
    multi = np.nonzero(lengths > 1)[0]
    if len(multi):
        _, predicted = hypernet.predict(ids[multi], lengths[multi], output_only=True)
        where = torch.as_tensor(multi, dtype=torch.long, device=emb.device)
        rows = rows.index_copy(0, where, predicted.to(rows.dtype))
    return rows


def output_loss(hypernet: Any, cache: HiddenStates, rows: np.ndarray, targets: np.ndarray,
                parts: Any) -> Any:
    """Mean cross-entropy (nats) of ``targets`` given the cached states ``rows``, over the
    sampled vocabulary whose decomposition is ``parts`` (rows of length 0 left out)."""
    torch = _torch()
    out = output_rows(hypernet, parts)
    device = out.device
    states = cache.states[torch.as_tensor(rows, dtype=torch.long)].to(device, out.dtype)
    logits = states @ out.T
    usable = torch.as_tensor(np.asarray(parts.lengths) > 0, device=device)
    logits = logits.masked_fill(~usable, float("-inf"))
    return torch.nn.functional.cross_entropy(
        logits.float(), torch.as_tensor(targets, dtype=torch.long, device=device))


def _split(cache: HiddenStates, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    held = np.asarray([hashlib.sha1(t.encode()).digest()[0] < 256 * holdout for t in cache.texts])
    return np.nonzero(~held)[0], np.nonzero(held)[0]


def _step_batch(tokenizer: Any, cache: HiddenStates, texts: np.ndarray, config: OutputConfig,
                seed: int, max_length: int,
                pool: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, Any]:
    """(cache rows, target ids, decomposition of the vocabulary) for one step over ``texts``.
    With ``pool`` (cached text indices, ``texts`` among them) the vocabulary is sampled from
    all of the pool and ``texts`` are segmented with it; otherwise from ``texts`` alone."""
    from toktool.zett.sampler import SampledTokenizer, sample_tokenizer
    from toktool.zett.train import _decompose_lenient

    source = texts if pool is None else pool
    sampled = sample_tokenizer(tokenizer, [cache.texts[int(i)] for i in source],
                               config.vocab_size, max_token_bytes=config.max_token_bytes,
                               noise=config.noise, seed=seed)
    if pool is not None:
        where = {int(t): j for j, t in enumerate(pool)}
        sampled = SampledTokenizer(vocab=sampled.vocab, scores=sampled.scores,
                                   ids=[sampled.ids[where[int(t)]] for t in texts])
    rows, targets = boundary_targets(cache, [int(i) for i in texts], sampled)
    parts = _decompose_lenient(tokenizer, sampled.vocab, max_length)
    return rows, targets, parts


def _pool(cache: HiddenStates, config: OutputConfig) -> Optional[np.ndarray]:
    """The texts a step's vocabulary is sampled from under ``vocab_from="pool"``: all cached
    texts (training and held-out, so held-out texts can be segmented with it)."""
    return np.arange(len(cache)) if config.vocab_from == "pool" else None


def output_parameters(hypernet: Any, config: OutputConfig) -> list[Any]:
    """The output tower's parameters that distillation trains (``config.trainable``)."""
    tower = hypernet.output_tower
    if tower is None:
        raise InvalidInputError("output distillation needs a hypernetwork with an output tower")
    if config.trainable == "all":
        return list(tower.parameters())
    if tower.prior_head is None:
        raise InvalidInputError(
            "trainable='prior' needs an output tower with a prior head (output_prior_head=True)")
    return [p for name, p in tower.named_parameters() if not name.startswith("head.")]


def held_out_loss(hypernet: Any, tokenizer: Any, cache: HiddenStates, config: OutputConfig,
                  held: Optional[np.ndarray] = None, draws: int = 2) -> float:
    """The distillation loss on held-out texts, over ``draws`` fixed sampled tokenizers."""
    torch = _torch()
    if held is None:
        held = _split(cache, config.holdout)[1]
    if not len(held):
        return math.nan
    total, count = 0.0, 0
    with torch.no_grad():
        for draw in range(draws):
            rows, targets, parts = _step_batch(tokenizer, cache, held, config, 10_000 + draw,
                                               hypernet.config.max_length, _pool(cache, config))
            if len(rows):
                total += float(output_loss(hypernet, cache, rows, targets, parts)) * len(rows)
                count += len(rows)
    return total / max(count, 1)


def calibrate_output_prior(
    hypernet: Any,
    tokenizer: Any,
    cache: HiddenStates,
    *,
    vocab_size: int = 32768,
    positions: int = 6000,
    grid: Sequence[float] = (0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0),
    holdout: float = 0.1,
    seed: int = 0,
) -> dict[str, Any]:
    """Set the output tower's length prior from the cached states: ``logit_direction`` is the
    mean state over its squared norm, and ``length_bias`` the value of ``grid`` with the lowest
    loss of the next sampled token over ONE vocabulary of ``vocab_size`` sampled from all the
    training texts (not from the scored text alone: a vocabulary drawn from the very text it
    scores holds only tokens that occur there, which rewards long tokens; a pool-wide
    vocabulary has competitors that never occur, as a real target vocabulary does). Only the
    prior is scored (the tower's learnt correction is left as it is). Returns the chosen value
    and the loss of each."""
    from toktool.zett.sampler import sample_tokenizer
    from toktool.zett.train import _decompose_lenient

    torch = _torch()
    tower = hypernet.output_tower
    if tower is None:
        raise InvalidInputError("calibrating the output prior needs an output tower")
    texts = [int(i) for i in _split(cache, holdout)[0]]
    if not texts:
        raise InvalidInputError("no cached texts to calibrate the output prior on")
    with torch.no_grad():
        mean = cache.states.float().mean(dim=0)
        tower.logit_direction.copy_((mean / mean.pow(2).sum()).to(tower.logit_direction))
        sampled = sample_tokenizer(tokenizer, [cache.texts[i] for i in texts], vocab_size,
                                   seed=seed)
        rows, targets = boundary_targets(cache, texts, sampled)
        if len(rows) > positions:
            keep = np.random.default_rng(seed).choice(len(rows), positions, replace=False)
            rows, targets = rows[keep], targets[keep]
        parts = _decompose_lenient(tokenizer, sampled.vocab, hypernet.config.max_length)
        heads = [m for m in (tower.head, tower.prior_head) if m is not None]
        saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in heads]
        for m in heads:
            m.weight.zero_()
            m.bias.zero_()
        losses: dict[float, float] = {}
        for value in grid:
            tower.length_bias.fill_(float(value))
            losses[float(value)] = float(output_loss(hypernet, cache, rows, targets, parts))
        for m, state in zip(heads, saved):
            m.load_state_dict(state)
        best = min(losses, key=lambda v: losses[v])
        tower.length_bias.fill_(best)
    return {"length_bias": best, "losses": losses, "vocab_size": len(sampled.vocab),
            "positions": int(len(rows))}


def train_output(
    hypernet: Any,
    tokenizer: Any,
    cache: HiddenStates,
    config: OutputConfig,
    *,
    start: int = 0,
    optimizer: Any = None,
    progress: bool = True,
    on_save: Optional[Callable[[int, Any], None]] = None,
    on_best: Optional[Callable[[int, float], None]] = None,
    save_every: int = 50,
) -> dict[str, Any]:
    """Train ``hypernet.output_tower`` in place from step ``start`` to ``config.steps``.

    On a fresh start the tower's trunk is copied from the input tower (its first layers: what
    reconstruction learnt about composing parts); set the prior first
    (:func:`calibrate_output_prior`). The
    held-out loss is measured every ``eval_every`` steps (and before the first); ``on_best`` is
    called when it improves. Returns losses, held-out scores and seconds."""
    torch = _torch()
    tower = hypernet.output_tower
    if tower is None:
        raise InvalidInputError("output distillation needs a hypernetwork with output_tower=True")
    train_texts, held = _split(cache, config.holdout)
    if len(train_texts) < 1:
        raise InvalidInputError("no cached texts to train on")
    if start == 0:
        with torch.no_grad():
            for name in ("in_proj", "norm"):
                getattr(tower, name).load_state_dict(getattr(hypernet, name).state_dict())
            if tower.encoder is not None and hypernet.encoder is not None:
                for mine, theirs in zip(tower.encoder.layers, hypernet.encoder.layers):
                    mine.load_state_dict(theirs.state_dict())
            tower.positions.copy_(hypernet.positions)
    trained = output_parameters(hypernet, config)
    if optimizer is None:
        optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=config.weight_decay)
    scores: dict[int, float] = {}

    def score(done: int) -> None:
        tower.eval()
        value = held_out_loss(hypernet, tokenizer, cache, config, held)
        tower.train()
        record_held_out(scores, done, value, on_best)

    bar = progress_bar(progress, config.steps, start, "zett output distil")
    losses: list[float] = []
    began = time.perf_counter()
    hypernet.eval()
    tower.train()
    if start == 0 and config.eval_every:
        score(0)
    size = min(config.texts_per_step, len(train_texts))
    for step in range(start, config.steps):
        rng = np.random.default_rng([config.seed, step, 11])
        texts = train_texts[rng.choice(len(train_texts), size, replace=False)]
        rows, targets, parts = _step_batch(tokenizer, cache, texts, config,
                                           int(rng.integers(2**62)), hypernet.config.max_length,
                                           _pool(cache, config))
        if len(rows) > config.positions:
            keep = rng.choice(len(rows), config.positions, replace=False)
            rows, targets = rows[keep], targets[keep]
        loss = output_loss(hypernet, cache, rows, targets, parts)
        value = optimizer_step(optimizer, loss, trained, config.lr_at(step), config.clip,
                               "output distillation")
        losses.append(value)
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
        if config.eval_every and (done % config.eval_every == 0 or done == config.steps):
            score(done)
        if on_save is not None and (done % save_every == 0 or done == config.steps):
            on_save(done, optimizer)
    if bar is not None:
        bar.close()
    tower.eval()
    return {"losses": losses, "held_out": scores, "seconds": time.perf_counter() - began,
            "train_texts": int(len(train_texts)), "held_out_texts": int(len(held))}
