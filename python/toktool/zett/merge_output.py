"""Output alignment on merged windows: the output tower trained to predict merged text.

Dynamic merging (:mod:`toktool.merge`) adds a batch's merged tokens to the model's output
softmax. Their output rows decide two things at every position: how likely the merged token is
next, and how much mass it takes from the original tokens. Input alignment
(:mod:`toktool.zett.align`) trains the rows the LM *reads*; this phase trains the rows it
*predicts* with, on the task itself:

- a batch of windows of original ids is drawn from one document, merges are learned on the
  windows that follow them (a budget from ``MergeOutputConfig.budgets``) and applied to the
  windows, exactly as :func:`toktool.zett.align.align_batch` does;
- the frozen LM reads the merged windows, the new tokens' input rows predicted by the
  hypernetwork (no gradient: the input tower is not trained here), and its final hidden states
  are kept;
- the new tokens' output rows are the output tower's, mixed with the first part's row plus the
  continuation prior counted on the learn windows' text, as
  :class:`toktool.zett.model.HypernetEmbedder` does for ``toktool.merge`` at inference
  (``continuation=``, ``mix``);
- the loss is the cross-entropy of every next merged token over the original vocabulary plus
  the batch's new tokens (what docs/MERGE.md's bits per byte measure), and only the output
  tower's parameters move.

Because the LM's states do not depend on the output tower, a step costs one forward of the LM
without gradient and a product of the states with the original output matrix (its
log-sum-exp is fixed for the step); the tower's own forward and backward over the batch's new
tokens are small beside it. A held-out set (fixed windows and merges from other text) picks the
best step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

import numpy as np

from toktool._torch import load_torch as _torch
from toktool.errors import InvalidInputError
from toktool.zett.align import (
    AlignBatch,
    AlignConfig,
    _draw,
    _encode_documents,
    _hidden,
    _padded,
    align_batch,
    run_phase,
)
from toktool.zett.schedule import optimizer_step

__all__ = [
    "MergeOutputBatch",
    "MergeOutputConfig",
    "output_embedder",
    "merge_output_batch",
    "merged_states",
    "merge_output_loss",
    "train_merge_output",
]


@dataclasses.dataclass
class MergeOutputConfig(AlignConfig):
    """Settings of the output-alignment phase (windows, budgets and schedule as
    :class:`toktool.zett.align.AlignConfig`; ``last_part`` is the input rows' mix the LM reads)."""

    lr: float = 2e-4
    eval_every: int = 25  # its held-out score is cheap here (~8 s on 2 cores), so more often
    # HypernetEmbedder's mix with the prior counted on the learn windows' text; 0: the tower's
    # rows alone
    mix: float = 0.5
    # train (and pick the best step) on toktool.merge.merged_log_softmax's scoring, the split
    # pairs' mass removed, keeping at least this share of a left part's probability; None: the
    # plain softmax
    canonical_floor: Optional[float] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vocabularies != "merges":
            raise InvalidInputError("output alignment trains on merged windows (vocabularies='merges')")
        if not 0.0 <= self.mix <= 1.0:
            raise InvalidInputError(f"mix must be in [0, 1], got {self.mix}")
        if self.canonical_floor is not None and not 0.0 < self.canonical_floor <= 1.0:
            raise InvalidInputError(f"canonical_floor must be in (0, 1], got {self.canonical_floor}")


@dataclasses.dataclass
class MergeOutputBatch:
    """An :class:`toktool.zett.align.AlignBatch` and the text its merges were learned on."""

    batch: AlignBatch
    learn_texts: list[str]


@dataclasses.dataclass
class MergedStates:
    """What a step needs from the frozen LM: the final hidden state before every merged token
    (``h``, float32), the token (``targets``), and over the original vocabulary the log-sum-exp
    and the target's logit (``-inf`` where the target is a new token)."""

    h: Any
    targets: Any
    lse: Any
    target_logit: Any


def merge_output_batch(tokenizer: Any, windows: Sequence[Sequence[int]],
                       learn: Sequence[Sequence[int]], budget: Optional[int]) -> MergeOutputBatch:
    """Merges learned on ``learn`` (``budget``, ``None``: saturation) applied to ``windows``, with
    the learn windows decoded for the continuation counts."""
    texts = [tokenizer.decode_bytes(list(w)).decode("utf-8", errors="replace") for w in learn]
    return MergeOutputBatch(align_batch(tokenizer, windows, learn, budget), texts)


def merged_states(hypernet: Any, lm: Any, batch: AlignBatch, last_part: float) -> MergedStates:
    """The frozen LM's reading of ``batch.merged`` (new tokens' input rows from ``hypernet``,
    as :class:`toktool.zett.model.HypernetEmbedder` with ``last_part``), without gradient."""
    from toktool.zett.model import HypernetEmbedder

    torch = _torch()
    if lm.bos_id is None:
        raise InvalidInputError("output alignment needs a model with a BOS token")
    emb = lm.input_embeddings
    vocab = batch.vocab_size
    with torch.no_grad():
        rows = HypernetEmbedder(hypernet, last_part=last_part).predict_rows(batch.new_tokens)
        table = torch.cat([emb, rows.to(emb.dtype)], dim=0)
        ids, mask = _padded(batch.merged, emb.device)
        hidden = _hidden(lm, table[ids], mask)[:, :-1]  # before each merged token
        h = hidden[mask].float()
        targets = ids[mask]
        head = lm.output_embeddings[:vocab].float()
        lse = torch.empty(len(h), device=h.device)
        for at in range(0, len(h), 512):  # bounded memory: 512 x vocab logits at a time
            lse[at: at + 512] = torch.logsumexp(h[at: at + 512] @ head.T, dim=-1)
        old = targets < vocab
        target_logit = torch.full((len(h),), float("-inf"), device=h.device)
        target_logit[old] = (h[old] * head[targets[old]]).sum(-1)
    return MergedStates(h=h, targets=targets, lse=lse, target_logit=target_logit)


def output_embedder(hypernet: Any, tokenizer: Any, config: MergeOutputConfig) -> Any:
    """The output side's :class:`toktool.zett.model.HypernetEmbedder` (made once per run: it
    reads the original tokens' bytes on first use)."""
    from toktool.zett.model import HypernetEmbedder

    return HypernetEmbedder(hypernet, output=True, tokenizer=tokenizer, mix=config.mix)


def _output_rows(embedder: Any, item: MergeOutputBatch, config: MergeOutputConfig,
                 counts: Any = None) -> Any:
    """The new tokens' output rows as inference makes them, differentiable in the tower
    (``counts``: the learn windows' :class:`toktool.zett.continuation.ContinuationCounts`,
    counted here if not given)."""
    from toktool.zett.continuation import ContinuationCounts

    rows = embedder.predict_rows(item.batch.new_tokens)
    if not config.mix:
        return rows
    if counts is None:
        counts = ContinuationCounts(embedder.tokenizer, item.learn_texts)
    return embedder.mix_continuation(rows, item.batch.new_tokens, counts)


def merge_output_loss(rows: Any, states: MergedStates, vocab: int,
                      canonical: Optional[tuple[Sequence[int], Any, float]] = None) -> Any:
    """Mean cross-entropy (nats) of the merged targets over the original vocabulary plus the new
    tokens whose output rows are ``rows``.

    ``canonical``: ``(lefts, head, floor)`` scores as :func:`toktool.merge.merged_log_softmax`
    does, each merge's left part giving up what its merged tokens are given (``lefts``: the
    merges' left ids, ``AlignBatch.lefts``; ``head``: the original output matrix, float32;
    ``floor``: the share of a left part's probability it keeps)."""
    torch = _torch()
    if not len(rows):
        return (states.lse - states.target_logit).mean()
    new_logits = states.h @ rows.float().T  # positions x new tokens
    lse = torch.logsumexp(torch.cat([states.lse.unsqueeze(1), new_logits], dim=1), dim=1)
    column = (states.targets - vocab).clamp(min=0).unsqueeze(1)
    target = torch.where(states.targets >= vocab, new_logits.gather(1, column)[:, 0],
                         states.target_logit)
    if canonical is None:
        return (lse - target).mean()
    from toktool.merge import _kept_log_share, _merge_parents

    lefts, head, floor = canonical
    if len(lefts) != len(rows):
        raise InvalidInputError(f"canonical loss needs one left part per new token "
                                f"({len(rows)}), got {len(lefts)}")
    parents, slot = _merge_parents(lefts, new_logits.device)
    old = parents < vocab
    parent_logits = torch.empty(len(states.h), len(parents), device=new_logits.device)
    parent_logits[:, old] = states.h @ head[parents[old]].T
    parent_logits[:, ~old] = new_logits[:, parents[~old] - vocab]
    keep = _kept_log_share(new_logits, parent_logits, slot, floor)
    # the distribution after the parents gave up mass, normalised again
    p_parent = (parent_logits - lse.unsqueeze(1)).exp()
    log_total = torch.log1p((p_parent * (keep.exp() - 1.0)).sum(1))
    where = torch.full((vocab + len(rows),), -1, dtype=torch.long, device=new_logits.device)
    where[parents] = torch.arange(len(parents), device=new_logits.device)
    at = where[states.targets]
    kept = torch.where(at >= 0, keep.gather(1, at.clamp(min=0).unsqueeze(1))[:, 0],
                       torch.zeros_like(target))
    return (lse + log_total - target - kept).mean()


def held_out_batches(tokenizer: Any, texts: Mapping[str, str], config: MergeOutputConfig,
                     seed: int = 1) -> list[MergeOutputBatch]:
    """Fixed batches over held-out text: one per document and held-out budget."""
    rng = np.random.default_rng([config.seed, seed])
    out = []
    for source in _encode_documents(tokenizer, texts, config).values():
        windows, learn = _draw(source, config, rng)
        for budget in config.held_budgets:
            out.append(merge_output_batch(tokenizer, windows, learn, budget))
    return out


def train_merge_output(
    hypernet: Any,
    lm: Any,
    tokenizer: Any,
    train_texts: Mapping[str, str],
    config: MergeOutputConfig,
    *,
    held_texts: Optional[Mapping[str, str]] = None,
    start: int = 0,
    optimizer: Any = None,
    progress: bool = True,
    on_save: Optional[Callable[[int, Any], None]] = None,
    on_best: Optional[Callable[[int, float], None]] = None,
    save_every: int = 25,
    trained: Any = None,
    desc: str = "zett output alignment",
) -> dict[str, Any]:
    """Train the hypernetwork's output tower in place from step ``start`` to ``config.steps``
    (or only the parameters ``trained``, e.g. the character table's output rows, with the
    ``optimizer`` given for them; ``desc`` labels the progress bar).

    ``train_texts``: documents by name (each step draws one, uniformly or by ``config.weights``,
    then windows from it);
    ``held_texts``: documents for the held-out cross-entropy (nats per merged token, scored
    every ``eval_every`` steps and before the first; ``on_best`` is called when it improves).
    Returns losses, held-out scores, seconds and the share of tokens the steps' merges removed."""
    from toktool.zett.continuation import ContinuationCounts

    torch = _torch()
    tower = hypernet.output_tower
    if tower is None:
        raise InvalidInputError("output alignment needs a hypernetwork with an output tower")
    sources = _encode_documents(tokenizer, train_texts, config)
    names = sorted(sources)
    trained = list(tower.parameters()) if trained is None else list(trained)
    if optimizer is None:
        optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=config.weight_decay)
    vocab = int(tokenizer.vocab_size)
    embedder = output_embedder(hypernet, tokenizer, config)
    floor = config.canonical_floor
    # the original output matrix, read by the canonical loss only
    head = None if floor is None else lm.output_embeddings[:vocab].float()

    def loss_of(rows: Any, states: MergedStates, batch: AlignBatch) -> Any:
        canonical = None if floor is None else (batch.lefts, head, floor)
        return merge_output_loss(rows, states, vocab, canonical)

    held: list[tuple[MergeOutputBatch, MergedStates, Any]] = []
    if held_texts and config.eval_every:
        for item in held_out_batches(tokenizer, held_texts, config):
            counts = ContinuationCounts(tokenizer, item.learn_texts) if config.mix else None
            held.append((item, merged_states(hypernet, lm, item.batch, config.last_part), counts))

    def held_value() -> float:
        total, count = 0.0, 0
        with torch.no_grad():
            for item, states, counts in held:
                rows = _output_rows(embedder, item, config, counts)
                total += float(loss_of(rows, states, item.batch)) * len(states.targets)
                count += len(states.targets)
        return total / max(count, 1)

    def step_fn(step: int, rng: Any, name: str) -> tuple[float, float]:
        windows, learn = _draw(sources[name], config, rng)
        budget = config.budgets[int(rng.integers(len(config.budgets)))]
        item = merge_output_batch(tokenizer, windows, learn, budget)
        if not item.batch.new_tokens:
            return 0.0, item.batch.fewer
        states = merged_states(hypernet, lm, item.batch, config.last_part)
        loss = loss_of(_output_rows(embedder, item, config), states, item.batch)
        if not loss.requires_grad:  # no trained row is read (e.g. no table character)
            return float(loss), item.batch.fewer
        return (optimizer_step(optimizer, loss, trained, config.lr_at(step), config.clip,
                               "output alignment"), item.batch.fewer)

    return run_phase(hypernet, config, names, step_fn, held_value if held else None, on_best,
                     start=start, salt=17, desc=desc, metric="ce",
                     progress=progress, save_every=save_every,
                     on_save=None if on_save is None else lambda done: on_save(done, optimizer))
