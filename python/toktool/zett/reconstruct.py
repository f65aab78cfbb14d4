"""Reconstruction pretraining: the original vocabulary as solved examples of composition.

Every original token of two or more bytes is a new token whose embedding is known. Spell it with
*smaller* original tokens and train the hypernetwork to predict the token's own embedding from
those parts; no forward pass of the LM is needed, so a step costs a few milliseconds per token.

Decompositions (:func:`token_decompositions`), at several granularities for each token:

- ``pair``: a split of the token's bytes into two original tokens (what the last merge of a BPE
  merge tree looks like: ``" Brow" = " Br" + "ow"``); one is drawn at random among the splits
  where both halves are tokens;
- ``cut``: the bytes cut at 1..3 random positions and every segment spelled by the original BPE
  as one piece (:func:`toktool.zett.decompose.decompose`), so some parts are single bytes and
  some are long tokens, as in the decompositions of a foreign vocabulary.

The parts always concatenate to the token's bytes and are never the token itself (each is a
strict substring of it). Beside them, ``identity`` rows (:func:`identity_rows`: every non-special
token, one part, itself) teach the network to leave a known embedding as it is; they fill a
share of every batch (``ReconConfig.identity_share``), so the correction learnt for
compositions does not perturb single-part tokens. A fixed share of the tokens (``holdout``, chosen by a hash of the id)
is never trained on and measures generalisation against FVT, the mean of the parts.

The loss is computed in the RMS-normalised space (embeddings divided by the matrix's RMS, as
the hypernetwork sees them): mean squared error plus ``cosine_weight * (1 - cosine)``. For an
untied model both sides are targets.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np

from toktool.errors import InvalidInputError
from toktool._torch import load_torch as _torch
from toktool.zett.schedule import warmup_cosine

__all__ = [
    "Decompositions",
    "ReconConfig",
    "held_out_ids",
    "identity_rows",
    "split_rows",
    "reconstruction_loss",
    "reconstruction_metrics",
    "token_decompositions",
    "train_reconstruction",
]


@dataclasses.dataclass(frozen=True)
class Decompositions:
    """Rows of ``(target id, its parts)``: ``ids`` ``(n, max_length)`` -1 padded, ``lengths``,
    ``targets`` (the original id each row spells) and ``kinds`` (0 = pair, 1 = cut,
    2 = identity)."""

    ids: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray
    kinds: np.ndarray

    def select(self, rows: np.ndarray) -> Decompositions:
        return Decompositions(self.ids[rows], self.lengths[rows], self.targets[rows],
                              self.kinds[rows])

    def __len__(self) -> int:
        return len(self.targets)


def held_out_ids(vocab_size: int, holdout: float) -> np.ndarray:
    """Boolean mask of the ids held out of training (a fixed hash of the id, not the seed)."""
    ids = np.arange(vocab_size, dtype=np.uint64)
    hashed = (ids * np.uint64(2654435761) + np.uint64(12345)) % np.uint64(1 << 32)
    return hashed.astype(np.float64) / float(1 << 32) < holdout


def token_decompositions(
    tokenizer: Any,
    *,
    cuts_per_token: int = 3,
    max_length: int = 8,
    seed: int = 0,
    token_ids: Optional[Sequence[int]] = None,
) -> Decompositions:
    """Decompositions of original tokens (of 2+ bytes, not special) into smaller original tokens:
    one ``pair`` row where a two-token split exists, and ``cuts_per_token`` ``cut`` rows (see the
    module docstring). Rows longer than ``max_length`` parts are dropped."""
    from toktool.zett.decompose import decompose

    if max_length < 2:
        raise InvalidInputError("max_length must be >= 2 to decompose tokens")
    rng = np.random.default_rng(seed)
    vocab = tokenizer.all_token_bytes() if hasattr(tokenizer, "all_token_bytes") else None
    if vocab is None:
        vocab = [tokenizer.token_bytes(i) for i in range(tokenizer.vocab_size)]
    specials = set(int(i) for i in tokenizer.special_tokens.values())
    index: dict[bytes, int] = {}
    for i, b in enumerate(vocab):
        if b and i not in specials:
            index.setdefault(bytes(b), i)
    wanted = range(len(vocab)) if token_ids is None else token_ids
    spellable = {b for b in range(256) if bytes([b]) in index}
    rows: list[list[int]] = []
    targets: list[int] = []
    kinds: list[int] = []
    segments: list[bytes] = []
    plans: list[tuple[int, int]] = []  # (target, number of segments) for cut rows
    for t in wanted:
        t = int(t)
        b = bytes(vocab[t]) if vocab[t] is not None else b""
        if len(b) < 2 or t in specials or index.get(b) != t or not set(b) <= spellable:
            continue
        splits = [k for k in range(1, len(b)) if b[:k] in index and b[k:] in index]
        if splits:
            k = splits[int(rng.integers(len(splits)))]
            rows.append([index[b[:k]], index[b[k:]]])
            targets.append(t)
            kinds.append(0)
        for _ in range(cuts_per_token):
            n_cuts = int(rng.integers(1, min(3, len(b) - 1) + 1))
            cuts = np.sort(rng.choice(np.arange(1, len(b)), n_cuts, replace=False))
            bounds = [0, *cuts.tolist(), len(b)]
            segs = [b[bounds[j] : bounds[j + 1]] for j in range(len(bounds) - 1)]
            segments.extend(segs)
            plans.append((t, len(segs)))
    if segments:
        spelled = decompose(tokenizer, segments, max_len=16)
        at = 0
        for t, n in plans:
            parts: list[int] = []
            for j in range(at, at + n):
                parts.extend(int(x) for x in spelled.ids[j, : spelled.lengths[j]])
            at += n
            rows.append(parts)
            targets.append(t)
            kinds.append(1)
    keep = [r for r, p in enumerate(rows) if len(p) <= max_length]
    ids = np.full((len(keep), max_length), -1, dtype=np.int64)
    lengths = np.zeros(len(keep), dtype=np.int64)
    for out, r in enumerate(keep):
        ids[out, : len(rows[r])] = rows[r]
        lengths[out] = len(rows[r])
    return Decompositions(
        ids=ids,
        lengths=lengths,
        targets=np.asarray(targets, dtype=np.int64)[keep],
        kinds=np.asarray(kinds, dtype=np.int64)[keep],
    )


def identity_rows(tokenizer: Any, *, max_length: int = 8) -> Decompositions:
    """One row per non-special token with bytes: the token as its own single part (kind 2)."""
    specials = set(int(i) for i in tokenizer.special_tokens.values())
    vocab = tokenizer.all_token_bytes() if hasattr(tokenizer, "all_token_bytes") else None
    if vocab is None:
        vocab = [tokenizer.token_bytes(i) for i in range(tokenizer.vocab_size)]
    targets = np.asarray([i for i, b in enumerate(vocab) if b and i not in specials],
                         dtype=np.int64)
    ids = np.full((len(targets), max_length), -1, dtype=np.int64)
    ids[:, 0] = targets
    return Decompositions(ids=ids, lengths=np.ones(len(targets), dtype=np.int64),
                          targets=targets, kinds=np.full(len(targets), 2, dtype=np.int64))


def _targets(hypernet: Any, targets: np.ndarray) -> tuple[Any, Optional[Any]]:
    torch = _torch()
    where = torch.as_tensor(targets, dtype=torch.long, device=hypernet.input_embeddings.device)
    out = None if hypernet.output_embeddings is None else hypernet.output_embeddings[where]
    return hypernet.input_embeddings[where], out


def _side_loss(pred: Any, target: Any, scale: Any, cosine_weight: float) -> Any:
    torch = _torch()
    p = pred.float() / scale
    t = target.float() / scale
    mse = (p - t).pow(2).mean(dim=-1)
    cos = torch.nn.functional.cosine_similarity(p, t, dim=-1)
    return mse + cosine_weight * (1.0 - cos)


def reconstruction_loss(hypernet: Any, rows: Decompositions, cosine_weight: float = 1.0) -> Any:
    """Mean reconstruction loss of ``rows`` (differentiable)."""
    pred_in, pred_out = hypernet.predict(rows.ids, rows.lengths)
    tgt_in, tgt_out = _targets(hypernet, rows.targets)
    loss = _side_loss(pred_in, tgt_in, hypernet.scales[0], cosine_weight)
    if pred_out is not None and tgt_out is not None:  # an untied model (an output tower is
        # trained by toktool.zett.distill, not here)
        loss = 0.5 * (loss + _side_loss(pred_out, tgt_out, hypernet.scales[1], cosine_weight))
    return loss.mean()


def reconstruction_metrics(hypernet: Any, rows: Decompositions) -> dict[str, float]:
    """Cosine and normalised MSE of the hypernetwork's and of FVT's (mean of the parts)
    predictions of the targets of ``rows`` (input side), without gradients."""
    torch = _torch()
    with torch.no_grad():
        pred, _ = hypernet.predict(rows.ids, rows.lengths)
        target, _ = _targets(hypernet, rows.targets)
        emb = hypernet.input_embeddings
        parts = emb[torch.as_tensor(rows.ids.clip(min=0), device=emb.device)]
        mask = torch.as_tensor(rows.ids >= 0, device=emb.device).unsqueeze(-1).to(parts.dtype)
        fvt = (parts * mask).sum(1) / mask.sum(1)
        scale = hypernet.scales[0]
        out: dict[str, float] = {}
        for name, p in (("hypernet", pred), ("fvt", fvt)):
            a, b = p.float() / scale, target.float() / scale
            out[f"{name}_cos"] = float(torch.nn.functional.cosine_similarity(a, b, -1).mean())
            out[f"{name}_mse"] = float((a - b).pow(2).mean())
    return out


@dataclasses.dataclass
class ReconConfig:
    """Settings of reconstruction pretraining (recorded in the checkpoint)."""

    steps: int = 1500
    batch_size: int = 256  # decompositions per step
    lr: float = 5e-4
    warmup: int = 50
    weight_decay: float = 0.01
    clip: float = 1.0
    cosine_weight: float = 1.0
    cuts_per_token: int = 3
    identity_share: float = 0.1  # share of each batch that is identity rows (0: none)
    holdout: float = 0.05
    seed: int = 0
    #: Rows are drawn with probability proportional to ``(count + 1) ** frequency_power`` of
    #: their target token, ``count`` from ``token_counts`` (how often the original tokenizer
    #: emits the token on the training text). 0 draws every row alike.
    frequency_power: float = 0.0
    token_counts: Optional[np.ndarray] = dataclasses.field(default=None, repr=False)

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 5% of ``lr``."""
        return warmup_cosine(step, self.lr, self.warmup, self.steps, floor=0.05)


def _concat(a: Decompositions, b: Decompositions) -> Decompositions:
    return Decompositions(np.concatenate([a.ids, b.ids]), np.concatenate([a.lengths, b.lengths]),
                          np.concatenate([a.targets, b.targets]),
                          np.concatenate([a.kinds, b.kinds]))


def row_weights(rows: Decompositions, token_counts: Optional[np.ndarray],
                power: float) -> Optional[np.ndarray]:
    """Sampling probabilities of ``rows``: ``(count[target] + 1) ** power``, normalised; ``None``
    (draw alike) when ``power`` is 0 or there are no counts."""
    if power == 0.0 or token_counts is None:
        return None
    if power < 0:
        raise InvalidInputError(f"frequency_power must be >= 0, got {power}")
    counts = np.asarray(token_counts, dtype=np.float64)
    per_row = np.zeros(len(rows.targets), dtype=np.float64)
    inside = rows.targets < len(counts)
    per_row[inside] = counts[rows.targets[inside]]
    weights = (per_row + 1.0) ** power
    return weights / weights.sum()


def split_rows(rows: Decompositions, vocab_size: int, holdout: float) -> tuple[Decompositions, Decompositions]:
    """(train rows, held-out rows) by :func:`held_out_ids` of the target."""
    held = held_out_ids(vocab_size, holdout)[rows.targets]
    return rows.select(np.nonzero(~held)[0]), rows.select(np.nonzero(held)[0])


def train_reconstruction(
    hypernet: Any,
    tokenizer: Any,
    config: ReconConfig,
    *,
    start: int = 0,
    optimizer: Any = None,
    progress: bool = True,
    on_step: Optional[Callable[[int, float], None]] = None,
    on_save: Optional[Callable[[int, Any], None]] = None,
    save_every: int = 100,
) -> dict[str, Any]:
    """Train ``hypernet`` in place on reconstruction from step ``start`` to ``config.steps``.
    Returns the losses, the seconds taken and held-out metrics before and after."""
    torch = _torch()
    vocab = int(hypernet.config.original_vocab_size)
    rows = token_decompositions(
        tokenizer, cuts_per_token=config.cuts_per_token,
        max_length=hypernet.config.max_length, seed=config.seed,
    )
    train_rows, held_rows = split_rows(rows, vocab, config.holdout)
    if not len(train_rows):
        raise InvalidInputError("the tokenizer has no tokens of 2+ bytes to reconstruct")
    if not 0.0 <= config.identity_share < 1.0:
        raise InvalidInputError(f"identity_share must be in [0, 1), got {config.identity_share}")
    ident_train, ident_held = split_rows(
        identity_rows(tokenizer, max_length=hypernet.config.max_length), vocab, config.holdout)
    n_ident = min(int(round(config.identity_share * config.batch_size)), len(ident_train))
    size = min(config.batch_size - n_ident, len(train_rows))
    weights = row_weights(train_rows, config.token_counts, config.frequency_power)
    if optimizer is None:
        optimizer = torch.optim.AdamW(hypernet.parameters(), lr=config.lr,
                                      weight_decay=config.weight_decay)
    def measure() -> dict[str, float]:
        out = reconstruction_metrics(hypernet, held_rows) if len(held_rows) else {}
        if len(ident_held):
            ident = reconstruction_metrics(hypernet, ident_held)
            out["identity_cos"] = ident["hypernet_cos"]
            out["identity_mse"] = ident["hypernet_mse"]
        return out

    before = measure()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=start, desc="zett reconstruct", unit="step")
    losses: list[float] = []
    began = time.perf_counter()
    hypernet.train()
    for step in range(start, config.steps):
        rng = np.random.default_rng([config.seed, step, 7])
        if weights is None:
            batch = train_rows.select(rng.choice(len(train_rows), size, replace=False))
        else:
            batch = train_rows.select(rng.choice(len(train_rows), size, p=weights))
        if n_ident:
            extra = ident_train.select(rng.choice(len(ident_train), n_ident, replace=False))
            batch = _concat(batch, extra)
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss = reconstruction_loss(hypernet, batch, config.cosine_weight)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the reconstruction loss is {float(loss)}")
        loss.backward()
        if config.clip:
            torch.nn.utils.clip_grad_norm_(hypernet.parameters(), config.clip)
        optimizer.step()
        value = float(loss.detach())
        losses.append(value)
        if on_step is not None:
            on_step(step, value)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
        if on_save is not None and ((step + 1) % save_every == 0 or step + 1 == config.steps):
            on_save(step + 1, optimizer)
    if bar is not None:
        bar.close()
    hypernet.eval()
    after = measure()
    return {
        "losses": losses,
        "seconds": time.perf_counter() - began,
        "held_out_before": before,
        "held_out_after": after,
        "train_rows": len(train_rows),
        "held_out_rows": len(held_rows),
    }
