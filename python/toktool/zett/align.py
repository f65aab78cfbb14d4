"""Input alignment: the input side of the hypernetwork, trained so the frozen LM reads merged
tokens the way it reads their parts.

Dynamic merging (:mod:`toktool.merge`) replaces runs of original tokens by one new token whose
input row the hypernetwork predicts. Every merged token ends where an original token ends, so
after reading it the LM should be in the state it reaches after reading the parts: the same
next-token distribution over the original vocabulary. This phase measures exactly that and
trains for it:

- a batch of windows of original ids is drawn from one document, merges are learned on the
  windows that follow them (as :func:`toktool.merge.merge_batch` does for a user's batch, with a
  budget drawn from ``AlignConfig.budgets``) and applied to the windows (``apply_merges``);
- the teacher is the LM on the original ids: ``p_t`` at every original position, no gradient;
- the student is the LM on the merged ids, the new tokens' input rows predicted by the
  hypernetwork: ``p_s`` after every merged token;
- the loss is ``KL(p_t || p_s)`` at the student's positions (each matched with the teacher's
  position after the last part of the token it just read), averaged over the positions from a
  window's first merged token on (before it the two read the same inputs).

Only the input tower is trained (the output tower and the LM stay as they are). A step costs a
forward of the LM on the original windows and a forward and backward on the merged ones.
A held-out set (fixed windows and merges from other text) picks the best step.

``AlignConfig(vocabularies="sampled")`` trains the same loss for whole-vocabulary transfer
(:mod:`toktool.zett.transfer`): the windows are text, segmented by a UnigramLM vocabulary
sampled from them and the text after them (ZeTT's training-time sampler,
:mod:`toktool.zett.sampler`); a token that is one original token reads the original row (as
``copy_shared`` does at transfer), the others the hypernetwork's rows, and the KL is taken only
where a sampled token ends at the end of an original token (a shared boundary), from the first
position where the two readings differ.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

import numpy as np

from toktool._torch import load_torch as _torch
from toktool.errors import InvalidInputError
from toktool.zett.schedule import (
    optimizer_step,
    progress_bar,
    record_held_out,
    warmup_cosine,
)

__all__ = [
    "AlignBatch",
    "AlignConfig",
    "align_batch",
    "align_loss",
    "check_texts",
    "draw_probabilities",
    "parse_weights",
    "input_parameters",
    "sampled_batch",
    "teacher_states",
    "train_alignment",
]


@dataclasses.dataclass
class AlignConfig:
    """Settings of the input-alignment phase."""

    steps: int = 100
    windows: int = 4  # windows trained on per step
    window: int = 256  # original tokens per window
    learn_windows: int = 16  # windows (of 512 tokens) the step's merges are learned on
    learn_window: int = 512
    budgets: tuple[Optional[int], ...] = (50, 100, 200, None)  # None: saturation
    held_budgets: tuple[Optional[int], ...] = (100, None)  # the held-out batches' budgets
    lr: float = 1e-4
    warmup: int = 10
    lr_floor: float = 0.1  # the cosine decays to this share of lr (1: constant after warm-up)
    weight_decay: float = 0.01
    clip: float = 1.0
    seed: int = 0
    # held-out scoring: every eval_every steps (and before the first and after the last); a
    # score reads the held-out batches once (~50 s on 2 cores for nine documents x two budgets)
    eval_every: int = 50
    # the last part's embedding mixed into the rows, as HypernetEmbedder does (same default);
    # merged windows only (transfer rows have no such mix)
    last_part: float = 0.25
    # "merges": windows of original ids and merges learned on the next ones (dynamic merging);
    # "sampled": text windows of window_bytes, segmented by a vocabulary of one of vocab_sizes
    # sampled from them and the learn windows (whole-vocabulary transfer)
    vocabularies: str = "merges"
    window_bytes: int = 1024
    vocab_sizes: tuple[int, ...] = (4096, 16384)
    noise: float = 1.0  # Gumbel scale of the sampler
    max_token_bytes: int = 16
    # relative draw weights of the documents by name (a name left out weighs 1); None: uniform
    weights: Optional[Mapping[str, float]] = None

    def __post_init__(self) -> None:
        if self.weights is not None and any(w < 0 for w in self.weights.values()):
            raise InvalidInputError(f"document weights must be >= 0: {self.weights}")
        if self.windows < 1 or self.window < 2 or self.learn_windows < 1:
            raise InvalidInputError("alignment needs at least one window of 2+ tokens")
        if not self.budgets or not self.held_budgets:
            raise InvalidInputError("alignment needs at least one merge budget")
        if not 0.0 <= self.last_part <= 1.0:
            raise InvalidInputError(f"last_part must be in [0, 1], got {self.last_part}")
        if self.vocabularies not in ("merges", "sampled"):
            raise InvalidInputError(
                f"vocabularies must be 'merges' or 'sampled', got {self.vocabularies!r}")
        if not self.vocab_sizes or min(self.vocab_sizes) < 256 or self.window_bytes < 16:
            raise InvalidInputError("sampled vocabularies need sizes of 256+ and windows of 16+ bytes")

    @property
    def rows_last_part(self) -> float:
        """The last-part mix of the rows the student reads (none for sampled vocabularies)."""
        return self.last_part if self.vocabularies == "merges" else 0.0

    def lr_at(self, step: int) -> float:
        return warmup_cosine(step, self.lr, self.warmup, self.steps, floor=self.lr_floor)


@dataclasses.dataclass
class AlignBatch:
    """Original windows, their merged form and where each merged token ends.

    ``original[s]``: original ids of window ``s``; ``merged[s]``: its merged ids (ids
    ``>= vocab_size`` index ``new_tokens``); ``ends[s][j]``: the number of original tokens up
    to the end of merged token ``j``, or -1 where it ends inside an original token (sampled
    vocabularies only; such positions are not scored)."""

    original: list[list[int]]
    merged: list[list[int]]
    ends: list[list[int]]
    new_tokens: list[tuple[int, ...]]
    vocab_size: int
    # left part of each new token's merge (an original id, or vocab_size + k for merge k);
    # empty for sampled vocabularies
    lefts: list[int] = dataclasses.field(default_factory=list)

    @property
    def fewer(self) -> float:
        before = sum(map(len, self.original))
        return 0.0 if not before else 1.0 - sum(map(len, self.merged)) / before


def align_batch(tokenizer: Any, windows: Sequence[Sequence[int]],
                learn: Sequence[Sequence[int]], budget: Optional[int]) -> AlignBatch:
    """Merges learned on ``learn`` (``budget`` of them, ``None``: saturation), applied to
    ``windows``."""
    from toktool.merge import apply_merges, merge_batch

    original = [list(w) for w in windows]
    learned = merge_batch([list(w) for w in learn], tokenizer, budget)
    result = apply_merges(original, tokenizer, learned.merges)
    return AlignBatch(
        original=original,
        merged=result.ids,
        ends=[[end for _start, end in seq] for seq in result.spans],
        new_tokens=result.new_tokens,
        vocab_size=int(tokenizer.vocab_size),
        lefts=[int(m[0]) for m in learned.merges],
    )


def sampled_batch(tokenizer: Any, windows: Sequence[str], learn: Sequence[str],
                  vocab_size: int, *, noise: float = 1.0, max_token_bytes: int = 16,
                  seed: int = 0) -> AlignBatch:
    """``windows`` read two ways: in ``tokenizer``'s ids, and segmented by a UnigramLM
    vocabulary of ``vocab_size`` sampled from ``windows`` and ``learn``
    (:func:`toktool.zett.sampler.sample_tokenizer`). A sampled token that is one original token
    is that id; the others are new tokens spelled by the original BPE (their parts)."""
    from toktool.zett.decompose import decompose
    from toktool.zett.sampler import sample_tokenizer

    vocab = int(tokenizer.vocab_size)
    sampled = sample_tokenizer(tokenizer, [*windows, *learn], vocab_size, noise=noise,
                               max_token_bytes=max_token_bytes, seed=seed)
    original: list[list[int]] = []
    merged: list[list[int]] = []
    ends: list[list[int]] = []
    index: dict[int, int] = {}  # sampled id -> original id, or vocab + new token
    new_tokens: list[tuple[int, ...]] = []
    for text, seq in zip(windows, sampled.ids):
        ids = list(tokenizer.encode(text))
        at_end: dict[int, int] = {}  # byte offset -> original tokens up to it
        offset = 0
        for k, i in enumerate(ids):
            offset += len(tokenizer.token_bytes(i))
            at_end[offset] = k + 1
        row, row_ends, spelled = [], [], 0
        for t in seq:
            piece = sampled.vocab[int(t)]
            spelled += len(piece)
            if int(t) not in index:
                parts = [int(p) for p in decompose(tokenizer, [piece], 64).ids[0] if p >= 0]
                if len(parts) == 1:
                    index[int(t)] = parts[0]
                else:
                    index[int(t)] = vocab + len(new_tokens)
                    new_tokens.append(tuple(parts))
            row.append(index[int(t)])
            row_ends.append(at_end.get(spelled, -1))
        if spelled != offset:
            raise InvalidInputError(
                f"the sampled segmentation spells {spelled} bytes of a window the tokenizer "
                f"encodes in {offset}: the two readings cannot be aligned")
        original.append(ids)
        merged.append(row)
        ends.append(row_ends)
    return AlignBatch(original=original, merged=merged, ends=ends, new_tokens=new_tokens,
                      vocab_size=vocab)


def input_parameters(hypernet: Any) -> list[Any]:
    """The input tower's parameters (everything outside the output tower and the character
    table, which phase 1f trains on its own)."""
    skip = set()
    for part in (hypernet.output_tower, getattr(hypernet, "char_table", None)):
        if part is not None:
            skip |= {id(p) for p in part.parameters()}
    return [p for p in hypernet.parameters() if id(p) not in skip]


def _padded(seqs: Sequence[Sequence[int]], device: Any) -> tuple[Any, Any]:
    torch = _torch()
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long, device=device)
    mask = torch.zeros((len(seqs), width), dtype=torch.bool, device=device)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        mask[r, : len(s)] = True
    return ids, mask


def _hidden(lm: Any, inputs: Any, mask: Any) -> Any:
    """States after BOS and after each input row: ``(batch, length + 1, hidden)``."""
    torch = _torch()
    bos = lm.input_embeddings[lm.bos_id].to(inputs.dtype).expand(inputs.shape[0], 1, -1)
    attention = torch.cat([mask.new_ones((inputs.shape[0], 1)), mask], dim=1).long()
    return lm.hidden(torch.cat([bos, inputs], dim=1), attention)


def align_loss(hypernet: Any, lm: Any, batch: AlignBatch, last_part: float,
               teacher: Optional[Any] = None) -> tuple[Any, int]:
    """Mean ``KL(p_teacher || p_student)`` over the student's positions from the first where a
    window's two readings differ (its first merged token) on, where the student's token ends
    at an original token's end, and how many positions that is (0: nothing differs; the loss is
    then a zero tensor). ``last_part``: as :class:`toktool.zett.model.HypernetEmbedder`'s (the
    rows the student reads); ``teacher``: :func:`teacher_states` of the batch if already
    computed."""
    from toktool.zett.model import HypernetEmbedder

    torch = _torch()
    if lm.bos_id is None:
        raise InvalidInputError("input alignment needs a model with a BOS token")
    emb = lm.input_embeddings
    out = lm.output_embeddings
    device = emb.device
    vocab = batch.vocab_size
    if teacher is None:
        teacher = teacher_states(lm, batch)
    rows = HypernetEmbedder(hypernet, last_part=last_part).predict_rows(batch.new_tokens)
    table = torch.cat([emb.detach(), rows.to(emb.dtype)], dim=0)
    ids, mask = _padded(batch.merged, device)
    hidden = _hidden(lm, table[ids], mask)[:, 1:]  # after each merged token
    # the positions scored: from each window's first merged token on
    student_at: list[tuple[int, int]] = []
    teacher_at: list[tuple[int, int]] = []
    for s, (seq, orig, ends) in enumerate(zip(batch.merged, batch.original, batch.ends)):
        first = next((j for j, (t, o) in enumerate(zip(seq, orig)) if t != o),
                     None if len(seq) == len(orig) else min(len(seq), len(orig)))
        if first is None:
            continue
        for j in range(first, len(seq)):
            if ends[j] >= 0:
                student_at.append((s, j))
                teacher_at.append((s, ends[j]))
    if not student_at:
        return hidden.sum() * 0.0, 0
    si = torch.as_tensor(student_at, device=device)
    ti = torch.as_tensor(teacher_at, device=device)
    h = hidden[si[:, 0], si[:, 1]].float()
    head = out[:vocab].float().T
    logq = torch.log_softmax(h @ head, dim=-1)
    logp = torch.log_softmax(teacher[ti[:, 0], ti[:, 1]] @ head, dim=-1)
    kl = (logp.exp() * (logp - logq)).sum(dim=-1)
    return kl.mean(), len(student_at)


def teacher_states(lm: Any, batch: AlignBatch) -> Any:
    """The LM's final hidden states after BOS and after each original token of every window,
    ``(windows, length + 1, hidden)`` in float32, without gradient. :func:`align_loss` turns
    the scored ones into log-probabilities (a held-out batch keeps these instead of
    ``length x vocab`` of them: ~2 MB against ~200 MB)."""
    torch = _torch()
    emb = lm.input_embeddings
    with torch.no_grad():
        ids, mask = _padded(batch.original, emb.device)
        return _hidden(lm, emb[ids], mask).float()


def _needed(config: AlignConfig) -> int:
    return config.windows * config.window + config.learn_windows * config.learn_window


def _encode_documents(tokenizer: Any, texts: Mapping[str, str],
                      config: AlignConfig) -> dict[str, list[int]]:
    """Each document's ids; documents too short for one step are left out (none left: an
    error that says how long they must be)."""
    out = {name: list(tokenizer.encode(text)) for name, text in texts.items()}
    kept = {name: ids for name, ids in out.items() if len(ids) >= _needed(config)}
    if not kept:
        raise InvalidInputError(
            f"input alignment needs documents of at least {_needed(config):,} tokens (windows "
            f"and the windows their merges are learned on); the longest has "
            f"{max(map(len, out.values()), default=0):,}")
    return kept


def _chunk_documents(texts: Mapping[str, str], config: AlignConfig) -> dict[str, list[str]]:
    """Each document cut at line ends into windows of about ``window_bytes`` (sampled
    vocabularies); documents with too few for one step are left out (none left: an error)."""
    from toktool.zett.train import text_chunks

    need = config.windows + config.learn_windows
    out = {name: text_chunks([text], config.window_bytes) for name, text in texts.items()}
    kept = {name: chunks for name, chunks in out.items() if len(chunks) >= need}
    if not kept:
        raise InvalidInputError(
            f"input alignment over sampled vocabularies needs documents of at least {need} "
            f"windows of ~{config.window_bytes} bytes; the longest has "
            f"{max(map(len, out.values()), default=0)}")
    return kept


def _sources(tokenizer: Any, texts: Mapping[str, str], config: AlignConfig) -> dict[str, Any]:
    if config.vocabularies == "sampled":
        return _chunk_documents(texts, config)
    return _encode_documents(tokenizer, texts, config)


def _sampled_step_batch(tokenizer: Any, chunks: list[str], config: AlignConfig, rng: Any,
                        vocab_size: Optional[int] = None) -> AlignBatch:
    """One sampled-vocabulary batch from one document's text windows: ``config.windows``
    consecutive windows and the ``learn_windows`` after them, segmented by a vocabulary of
    ``vocab_size`` (drawn from ``config.vocab_sizes`` unless given)."""
    need = config.windows + config.learn_windows
    at = int(rng.integers(0, len(chunks) - need + 1))
    texts = chunks[at: at + need]
    size = vocab_size or config.vocab_sizes[int(rng.integers(len(config.vocab_sizes)))]
    return sampled_batch(tokenizer, texts[: config.windows], texts[config.windows:], size,
                         noise=config.noise, max_token_bytes=config.max_token_bytes,
                         seed=int(rng.integers(2**31)))


def check_texts(tokenizer: Any, texts: Mapping[str, str], config: AlignConfig) -> None:
    """Raise :class:`InvalidInputError` unless one of ``texts`` is long enough for a step."""
    _sources(tokenizer, texts, config)


def _draw(ids: list[int], config: AlignConfig, rng: Any) -> tuple[list[list[int]], list[list[int]]]:
    """``config.windows`` windows and, right after them, the learn windows, from ``ids`` (at
    least :func:`_needed` long, as :func:`_encode_documents` keeps them)."""
    at = int(rng.integers(0, len(ids) - _needed(config) + 1))
    windows = [ids[at + k * config.window: at + (k + 1) * config.window]
               for k in range(config.windows)]
    at += config.windows * config.window
    learn = [ids[at + k * config.learn_window: at + (k + 1) * config.learn_window]
             for k in range(config.learn_windows)]
    return windows, learn


def held_out_batches(tokenizer: Any, texts: Mapping[str, str], config: AlignConfig,
                     seed: int = 1) -> list[AlignBatch]:
    """Fixed batches over held-out text: one per source and held-out budget (merges), or per
    source and sampled vocabulary size."""
    rng = np.random.default_rng([config.seed, seed])
    out = []
    for k, source in enumerate(_sources(tokenizer, texts, config).values()):
        if config.vocabularies == "sampled":
            for size in config.vocab_sizes:  # the same windows for each size
                same = np.random.default_rng([config.seed, seed, k])
                out.append(_sampled_step_batch(tokenizer, source, config, same, vocab_size=size))
            continue
        windows, learn = _draw(source, config, rng)
        for budget in config.held_budgets:
            out.append(align_batch(tokenizer, windows, learn, budget))
    return out


def held_out_loss(hypernet: Any, lm: Any, batches: Sequence[AlignBatch],
                  teachers: Sequence[Any], last_part: float) -> float:
    """Mean KL over the held-out batches' positions."""
    torch = _torch()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch, teacher in zip(batches, teachers):
            loss, n = align_loss(hypernet, lm, batch, last_part, teacher)
            total += float(loss) * n
            count += n
    return total / max(count, 1)


def train_alignment(
    hypernet: Any,
    lm: Any,
    tokenizer: Any,
    train_texts: Mapping[str, str],
    config: AlignConfig,
    *,
    held_texts: Optional[Mapping[str, str]] = None,
    start: int = 0,
    optimizer: Any = None,
    progress: bool = True,
    on_save: Optional[Callable[[int, Any], None]] = None,
    on_best: Optional[Callable[[int, float], None]] = None,
    save_every: int = 50,
    trained: Any = None,
    desc: str = "zett input alignment",
) -> dict[str, Any]:
    """Train the hypernetwork's input tower in place from step ``start`` to ``config.steps``
    (or only the parameters ``trained``, e.g. the character table's input rows, with the
    ``optimizer`` given for them; ``desc`` labels the progress bar).

    ``train_texts``: documents by name (each step draws one, uniformly or by ``config.weights``,
    then windows from it);
    ``held_texts``: documents for the held-out loss (scored every ``eval_every`` steps and
    before the first; ``on_best`` is called when it improves). Returns losses, held-out scores,
    seconds and the share of tokens the steps' merges removed."""
    torch = _torch()
    sources = _sources(tokenizer, train_texts, config)
    names = sorted(sources)
    trained = input_parameters(hypernet) if trained is None else list(trained)
    if optimizer is None:
        optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=config.weight_decay)
    held: list[AlignBatch] = []
    teachers: list[Any] = []
    if held_texts and config.eval_every:
        held = held_out_batches(tokenizer, held_texts, config)
        teachers = [teacher_states(lm, b) for b in held]

    def held_value() -> float:
        return held_out_loss(hypernet, lm, held, teachers, config.rows_last_part)

    def step_fn(step: int, rng: Any, name: str) -> tuple[float, float]:
        if config.vocabularies == "sampled":
            batch = _sampled_step_batch(tokenizer, sources[name], config, rng)
        else:
            windows, learn = _draw(sources[name], config, rng)
            budget = config.budgets[int(rng.integers(len(config.budgets)))]
            batch = align_batch(tokenizer, windows, learn, budget)
        loss, n = align_loss(hypernet, lm, batch, config.rows_last_part)
        if n and not loss.requires_grad:  # no trained row is read (e.g. no table character)
            return float(loss), batch.fewer
        value = (optimizer_step(optimizer, loss, trained, config.lr_at(step), config.clip,
                                "input alignment") if n else 0.0)
        return value, batch.fewer

    return run_phase(hypernet, config, names, step_fn, held_value if held else None, on_best,
                     start=start, salt=13, desc=desc, metric="kl",
                     progress=progress, save_every=save_every,
                     on_save=None if on_save is None else lambda done: on_save(done, optimizer))


def parse_weights(spec: str, label: str = "weights") -> Optional[dict[str, float]]:
    """Document weights written ``'ja=4,zh-cn=4'`` -> ``{'ja': 4.0, 'zh-cn': 4.0}`` (``''``:
    None); an item that is not NAME=NUMBER is an error that names ``label`` (e.g. the option)."""
    if not spec.strip():
        return None
    out: dict[str, float] = {}
    for item in spec.split(","):
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InvalidInputError(
                f"{label}: {item!r} is not NAME=WEIGHT (e.g. 'ja=4,zh-cn=4')")
    return out


def draw_probabilities(config: AlignConfig, names: Sequence[str]) -> Optional[Any]:
    """The probabilities with which a phase draws each of ``names`` (None: uniformly, the
    stream of earlier versions) from ``config.weights``; a weight for a document that is not
    there is an error, not a silent no-op."""
    if config.weights is None:
        return None
    unknown = sorted(set(config.weights) - set(names))
    if unknown:
        raise InvalidInputError(f"weights name documents that are not there: {unknown} "
                                f"(documents: {list(names)})")
    p = np.array([float(config.weights.get(name, 1.0)) for name in names])
    if not p.sum():
        raise InvalidInputError(f"document weights are 0 for every document: {config.weights}")
    return p / p.sum()


def run_phase(hypernet: Any, config: AlignConfig, names: Sequence[str],
              step_fn: Callable[[int, Any, str], tuple[float, float]],
              held_value: Optional[Callable[[], float]],
              on_best: Optional[Callable[[int, float], None]], *, start: int, salt: int,
              desc: str, metric: str, progress: bool, on_save: Optional[Callable[[int], None]],
              save_every: int) -> dict[str, Any]:
    """The loop of a phase on merged windows (this module's and
    :mod:`toktool.zett.merge_output`'s): each step draws a document of ``names`` with a
    generator seeded by ``(config.seed, step, salt)`` and calls ``step_fn(step, rng, name)``,
    which returns the step's loss and the share of tokens its merges removed; ``held_value()``
    (the held-out loss, in eval mode) is measured before the first step and every
    ``config.eval_every`` (``on_best(done, value)`` when it improves), ``on_save(done)`` runs
    every ``save_every``. Returns losses, held-out scores, seconds and the mean share."""
    bar = progress_bar(progress, config.steps, start, desc)
    losses: list[float] = []
    fewer: list[float] = []
    scores: dict[int, float] = {}

    def score(done: int) -> None:
        assert held_value is not None
        hypernet.eval()
        value = held_value()
        hypernet.train()
        record_held_out(scores, done, value, on_best)

    draw = draw_probabilities(config, names)
    began = time.perf_counter()
    hypernet.train()
    if start == 0 and held_value is not None:
        score(0)
    for step in range(start, config.steps):
        rng = np.random.default_rng([config.seed, step, salt])
        pick = rng.integers(len(names)) if draw is None else rng.choice(len(names), p=draw)
        name = names[int(pick)]
        value, share = step_fn(step, rng, name)
        losses.append(value)
        fewer.append(share)
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix({metric: f"{value:.3f}", "src": name})
        if held_value is not None and config.eval_every and (
                done % config.eval_every == 0 or done == config.steps):
            score(done)
        if on_save is not None and (done % save_every == 0 or done == config.steps):
            on_save(done)
    if bar is not None:
        bar.close()
    hypernet.eval()
    return {"losses": losses, "held_out": scores, "seconds": time.perf_counter() - began,
            "fewer": float(np.mean(fewer)) if fewer else 0.0}
