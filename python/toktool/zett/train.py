"""Training the ZeTT hypernetwork, with the LM frozen, on a freshly sampled tokenizer every step.

One step: draw a batch of text chunks; sample a UnigramLM-style vocabulary from the noised
substring frequencies of that batch and segment the batch with it (Rust,
:func:`toktool.zett.sampler.sample_tokenizer`); decompose every token of the sampled vocabulary
into original tokens (Rust, :func:`toktool.zett.decompose.decompose`); predict the embeddings of
the whole sampled vocabulary with the hypernetwork, bucketed by decomposition length; run the
frozen LM on the predicted input embeddings and score the batch with the predicted output
embeddings (softmax over the sampled vocabulary); backpropagate into the hypernetwork only.

Run it in one process, or with ``torchrun --nproc_per_node N`` for data-parallel training
(``torch.nn.parallel.DistributedDataParallel``; gloo on CPU, nccl on GPU): each process draws
its own batch and tokenizer, gradients are averaged. Checkpoints (hypernetwork, optimizer
state, step) are written atomically to ``OUT/checkpoint`` and training resumes from there.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from toktool._io import atomic_write
from toktool.errors import InvalidInputError
from toktool.zett.model import (
    CheckpointError,
    HyperNetwork,
    HypernetConfig,
    _read_safetensors,
    load_hypernet,
    read_checkpoint_meta,
    save_hypernet,
)
from toktool._torch import load_torch as _torch
from toktool.zett.schedule import warmup_cosine

__all__ = [
    "Batch",
    "FrozenLM",
    "TrainConfig",
    "TrainResult",
    "batch_loss",
    "make_batch",
    "sequence_nats",
    "text_chunks",
    "train",
    "train_step",
]


# ------------------------------------------------------------------------------------------------
# the frozen LM
# ------------------------------------------------------------------------------------------------


def model_embeddings(model: Any) -> tuple[Any, Any, bool]:
    """``(input, output, tied)`` embedding matrices of a ``transformers`` causal LM (output
    layers with a bias are refused); the model is left as it is."""
    inputs = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise InvalidInputError("output layers with a bias are not supported")
    outputs = head.weight
    tied = bool(getattr(model.config, "tie_word_embeddings", False)) or (
        outputs.data_ptr() == inputs.data_ptr()
    )
    return inputs, outputs, tied


class FrozenLM:
    """A ``transformers`` causal LM seen as: embeddings in, final hidden states out.

    Its parameters are frozen. ``bos_id`` is the original id put before every sequence (the
    model's ``bos_token_id`` unless given; ``None`` means no BOS, and the first token of each
    sequence is then not scored).
    """

    def __init__(self, model: Any, bos_id: Optional[int] = -1):
        self.model = model
        for p in model.parameters():
            p.requires_grad_(False)
        self.input_embeddings, self.output_embeddings, self.tied = model_embeddings(model)
        config = model.config
        self.bos_id = getattr(config, "bos_token_id", None) if bos_id == -1 else bos_id
        self.hidden_size = int(self.input_embeddings.shape[1])
        self.vocab_size = int(self.input_embeddings.shape[0])

    def hypernet_config(self, **kwargs: Any) -> HypernetConfig:
        return HypernetConfig(
            hidden_size=self.hidden_size,
            original_vocab_size=self.vocab_size,
            tied=self.tied,
            **kwargs,
        )

    def new_hypernet(self, **kwargs: Any) -> HyperNetwork:
        return HyperNetwork(
            self.hypernet_config(**kwargs),
            self.input_embeddings,
            None if self.tied else self.output_embeddings,
        )

    def load_hypernet(self, directory: str | os.PathLike[str], strict: bool = True) -> HyperNetwork:
        return load_hypernet(
            directory,
            self.input_embeddings,
            None if self.tied else self.output_embeddings,
            strict=strict,
        )

    def hidden(self, inputs_embeds: Any, attention_mask: Any) -> Any:
        """Final (normalised) hidden states, ``(batch, length, hidden)``."""
        out = self.model.base_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        return out.last_hidden_state

    @property
    def device(self) -> Any:
        return self.input_embeddings.device


def sequence_nats(
    lm: FrozenLM,
    input_rows: Any,
    output_rows: Any,
    ids: Any,
    mask: Any,
    usable: Optional[Any] = None,
) -> tuple[Any, Any]:
    """Negative log-likelihood (nats) of id sequences under the LM with a swapped vocabulary.

    ``input_rows``/``output_rows`` are ``(V, hidden)`` embedding matrices of the new vocabulary;
    ``ids``/``mask`` are ``(batch, length)``. Every unmasked token is predicted from the ones
    before it (the first from the original BOS embedding; without a BOS the first token is not
    scored). ``usable``, a ``(V,)`` bool tensor, leaves rows out of the softmax. Returns
    ``(nats per sequence, scored tokens per sequence)``; differentiable.
    """
    torch = _torch()
    ids = ids.to(lm.device)
    mask = mask.to(lm.device)
    inputs = input_rows[ids.clamp(min=0)]
    attention = mask.long()
    targets, target_mask = ids, mask
    if lm.bos_id is not None:
        bos = lm.input_embeddings[lm.bos_id].to(inputs.dtype)
        inputs = torch.cat([bos.expand(ids.shape[0], 1, -1), inputs[:, :-1]], dim=1)
        attention = torch.cat([attention.new_ones((ids.shape[0], 1)), attention[:, :-1]], dim=1)
        hidden = lm.hidden(inputs, attention)
    else:
        hidden = lm.hidden(inputs, attention)[:, :-1]
        targets, target_mask = ids[:, 1:], mask[:, 1:]
    logits = hidden.float() @ output_rows.float().T
    if usable is not None and not bool(usable.all()):
        logits = logits.masked_fill(~usable, float("-inf"))
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    picked = picked.masked_fill(~target_mask, 0.0)
    return -picked.sum(dim=1), target_mask.sum(dim=1)


# ------------------------------------------------------------------------------------------------
# batches
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Batch:
    """One training batch over one sampled vocabulary.

    ``parts``/``lengths``: the decomposition of each vocabulary entry into original ids
    (``(V, max_length)``, -1 padded); ``ids``/``mask``: the token sequences, ``(B, L)``.
    """

    parts: np.ndarray
    lengths: np.ndarray
    ids: Any
    mask: Any

    def split(self, pieces: int) -> list[Batch]:
        """The batch cut into ``pieces`` along its sequences (same vocabulary in each)."""
        size = self.ids.shape[0]
        if size % pieces:
            raise InvalidInputError(f"a batch of {size} sequences does not split {pieces} ways")
        step = size // pieces
        return [
            Batch(self.parts, self.lengths, self.ids[k * step : (k + 1) * step],
                  self.mask[k * step : (k + 1) * step])
            for k in range(pieces)
        ]


def text_chunks(texts: Sequence[str], chunk_bytes: int) -> list[str]:
    """Texts cut at line ends into chunks of about ``chunk_bytes`` UTF-8 bytes (at most)."""
    chunks: list[str] = []
    for text in texts:
        current: list[str] = []
        size = 0
        for line in text.splitlines(keepends=True):
            n = len(line.encode("utf-8"))
            if size and size + n > chunk_bytes:
                chunks.append("".join(current))
                current, size = [], 0
            if n > chunk_bytes:
                cut = line.encode("utf-8")[:chunk_bytes].decode("utf-8", "ignore")
                if cut:
                    chunks.append(cut)
                continue
            current.append(line)
            size += n
        if current and "".join(current).strip():
            chunks.append("".join(current))
    return [c for c in chunks if c.strip()]


def draw_chunks(texts: Sequence[str], count: int, chunk_bytes: int, rng: Any) -> list[str]:
    """``count`` distinct chunks of ``texts`` (:func:`text_chunks`; all of them when there are
    fewer) drawn with the NumPy generator ``rng``, in sorted order."""
    chunks = sorted(set(text_chunks(texts, chunk_bytes)))
    picked = rng.choice(len(chunks), min(count, len(chunks)), replace=False)
    return [chunks[int(i)] for i in np.sort(picked)]


def make_batch(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    vocab_size: int,
    seq_len: int,
    max_length: int,
    noise: float,
    seed: int,
    max_token_bytes: int = 16,
) -> Batch:
    """Sample a vocabulary from ``texts``, tokenize them with it and decompose it (all in Rust)."""
    torch = _torch()
    from toktool.zett.sampler import sample_tokenizer

    sampled = sample_tokenizer(
        tokenizer, texts, vocab_size, max_token_bytes=max_token_bytes, noise=noise, seed=seed
    )
    parts = _decompose_lenient(tokenizer, sampled.vocab, max_length)
    ids = torch.full((len(texts), seq_len), -1, dtype=torch.long)
    for row, seq in enumerate(sampled.ids):
        seq = np.asarray(seq[:seq_len], dtype=np.int64)
        ids[row, : len(seq)] = torch.from_numpy(seq)
    return Batch(parts.ids, parts.lengths, ids, ids >= 0)


def _missing_bytes(tokenizer: Any) -> frozenset[int]:
    """Bytes the tokenizer cannot spell on their own (SmolLM2 lacks 21, e.g. 0xC0, 0xFF).
    256 one-byte decompositions: well under a millisecond, so nothing is cached."""
    from toktool.zett.decompose import decompose

    missing = set()
    for b in range(256):
        try:
            decompose(tokenizer, [bytes([b])], 1)
        except InvalidInputError:
            missing.add(b)
    return frozenset(missing)


def _decompose_lenient(tokenizer: Any, pieces: Sequence[bytes], max_length: int) -> Any:
    """Decompose ``pieces``; those holding a byte the tokenizer cannot spell get length 0 (a
    sampled vocabulary always has all 256 bytes, but text never uses such a byte: it would not
    be encodable by the original tokenizer either). They are left out of the softmax."""
    from toktool.zett.decompose import Decomposition, decompose

    missing = _missing_bytes(tokenizer)
    keep = [i for i, p in enumerate(pieces) if not missing.intersection(p)]
    if len(keep) == len(pieces):
        return decompose(tokenizer, pieces, max_length)
    part = decompose(tokenizer, [pieces[i] for i in keep], max_length)
    ids = np.full((len(pieces), max_length), -1, dtype=np.int64)
    lengths = np.zeros(len(pieces), dtype=np.int64)
    ids[keep] = part.ids
    lengths[keep] = part.lengths
    return Decomposition(ids=ids, lengths=lengths, truncated=part.truncated)


def batch_loss(hypernet: Any, lm: FrozenLM, batch: Batch) -> tuple[Any, int]:
    """Mean next-token cross-entropy (nats per token) of ``batch`` under the hypernetwork's
    embeddings of its vocabulary, and the number of tokens scored. ``hypernet`` may be wrapped
    in DistributedDataParallel (its forward then runs :meth:`HyperNetwork.predict`)."""
    rows_in, rows_out = hypernet(batch.parts, batch.lengths)
    usable = _torch().as_tensor(batch.lengths > 0, device=rows_in.device)
    nats, counts = sequence_nats(lm, rows_in, rows_in if rows_out is None else rows_out,
                                 batch.ids, batch.mask, usable=usable)
    count = int(counts.sum())
    return nats.sum() / max(count, 1), count


class VocabPredictor(_torch().nn.Module):  # type: ignore[misc]
    """``forward(parts, lengths)`` = ``hypernet.predict(parts, lengths)``: one forward per
    step, so the whole vocabulary prediction can sit inside DistributedDataParallel."""

    def __init__(self, hypernet: HyperNetwork):
        super().__init__()
        self.hypernet = hypernet

    def forward(self, parts: np.ndarray, lengths: np.ndarray) -> tuple[Any, Optional[Any]]:
        return self.hypernet.predict(parts, lengths)


def train_step(
    predictor: Any,
    lm: FrozenLM,
    batch: Batch,
    optimizer: Any,
    *,
    lr: Optional[float] = None,
    clip: float = 1.0,
    autocast: Optional[Any] = None,
) -> float:
    """One optimizer step on ``batch``; returns the loss (nats per token)."""
    torch = _torch()
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    if autocast is not None:
        with autocast:
            loss, _ = batch_loss(predictor, lm, batch)
    else:
        loss, _ = batch_loss(predictor, lm, batch)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss is {float(loss)}")
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(predictor.parameters(), clip)
    optimizer.step()
    return float(loss.detach())


# ------------------------------------------------------------------------------------------------
# the training loop
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TrainConfig:
    """Training settings (recorded in every checkpoint)."""

    steps: int = 1000
    batch_size: int = 8  # sequences per process per step
    seq_len: int = 128  # tokens of the sampled tokenizer per sequence
    chunk_bytes: int = 768  # text per sequence before tokenization
    vocab_size: int = 4096  # size of each sampled vocabulary (incl. the 256 bytes)
    noise: float = 1.0  # Gumbel scale on the log substring frequencies
    max_token_bytes: int = 16
    lr: float = 3e-4
    warmup: int = 20
    weight_decay: float = 0.01
    clip: float = 1.0
    seed: int = 0
    save_every: int = 50
    num_layers: int = 3
    num_heads: int = 0
    ffn_multiplier: int = 2
    max_length: int = 8
    residual: str = "first"
    # phase 1, reconstruction pretraining (toktool.zett.reconstruct), before the LM steps
    reconstruct_steps: int = 0
    reconstruct_batch: int = 256
    reconstruct_lr: float = 5e-4
    reconstruct_identity: float = 0.1  # share of each phase-1 batch that is identity rows
    #: phase 1 draws rows by (count + 1) ** this of their target's count in the training text
    reconstruct_frequency: float = 0.0
    # phase 1b (toktool.zett.distill; tied models): an output tower whose length prior is
    # calibrated on the LM's hidden states over output_texts cached chunks, then output_steps
    # of distillation of its correction (no LM forward per step)
    output_tower: bool = False
    output_steps: int = 0
    output_texts: int = 400
    output_chunk_bytes: int = 512
    output_vocab_size: int = 16384
    output_lr: float = 5e-4
    output_vocab_from: str = "pool"  # see toktool.zett.distill.OutputConfig.vocab_from
    output_trainable: str = "prior"  # see OutputConfig.trainable ("prior" adds a prior head)
    # phase 1c (toktool.zett.align): align_steps of input alignment on merged windows of
    # train(align_texts=...), the best step by held-out KL on align_held
    align_steps: int = 0
    align_lr: float = 1e-4
    align_last_part: float = 0.25
    # "merges" (dynamic merging) or "sampled" (whole-vocabulary transfer: windows segmented by
    # sampled UnigramLM vocabularies, 64 windows of text each vocabulary is drawn from)
    align_vocabularies: str = "merges"
    # the sampled vocabularies' sizes (align_vocabularies="sampled"); one is drawn per step
    align_vocab_sizes: tuple[int, ...] = (4096, 16384)
    # phase 1d (toktool.zett.merge_output): merge_output_steps training the output tower on
    # merged windows of the same documents as phase 1c (align_texts; the best step by held-out
    # cross-entropy on align_held)
    merge_output_steps: int = 0
    merge_output_lr: float = 2e-4
    # phase 1e: the two alignments again on windows drawn with focus_weights (relative weights
    # of align_texts' documents by name; the others weigh 1), e.g. more Japanese and Chinese:
    # focus_output_steps of output alignment, then focus_align_steps of input alignment
    focus_weights: Optional[dict[str, float]] = None
    focus_output_steps: int = 0
    focus_align_steps: int = 0
    # phase 1f (toktool.zett.chartable): a character table for the characters of the
    # table_documents of align_texts; its input rows trained table_input_steps with input
    # alignment's loss, then its output rows table_output_steps with output alignment's (on
    # windows of those documents, the hypernetwork frozen, SparseAdam at a constant rate given
    # in units of the embedding matrix's standard deviation; each side ends with its best step
    # by held-out loss on the same documents of align_held)
    table_documents: tuple[str, ...] = ()
    table_input_steps: int = 0
    table_output_steps: int = 0
    table_input_lr: float = 0.05
    table_output_lr: float = 0.02
    # phase 2 early stopping: with train(evaluate=...), score every eval_every LM steps (and
    # before the first) and keep the best-scoring hypernetwork in OUT/best
    eval_every: int = 0

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 10% of ``lr``."""
        return warmup_cosine(step, self.lr, self.warmup, self.steps, floor=0.1)


@dataclasses.dataclass
class TrainResult:
    steps: int
    losses: list[float]
    seconds: float
    checkpoint: Optional[Path]
    world_size: int
    device: str
    reconstruction: Optional[dict[str, Any]] = None  # held-out metrics etc. of phase 1
    best: Optional[Path] = None  # OUT/best, the best hypernetwork by ``evaluate`` (lower wins)
    best_step: Optional[int] = None
    best_score: Optional[float] = None
    scores: dict[int, float] = dataclasses.field(default_factory=dict)  # LM step -> score


def _distributed() -> tuple[int, int, Any]:
    """(rank, world size, process group module or None) from torchrun's environment."""
    torch = _torch()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, None
    dist = torch.distributed
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size(), dist


def _save_optimizer(optimizer: Any, directory: Path) -> None:
    from safetensors.torch import save

    state = optimizer.state_dict()
    tensors: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            name = f"state.{index}.{key}"
            if hasattr(value, "detach"):
                tensors[name] = value.detach().to("cpu").contiguous()
            else:
                scalars[name] = value
    groups = [{k: v for k, v in g.items()} for g in state["param_groups"]]
    atomic_write(directory / "optimizer.safetensors", save(tensors))
    atomic_write(
        directory / "optimizer.json", json.dumps({"groups": groups, "scalars": scalars}).encode()
    )


def _load_optimizer(optimizer: Any, directory: Path) -> None:
    meta = json.loads((directory / "optimizer.json").read_text())
    tensors = _read_safetensors(directory / "optimizer.safetensors")
    state: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    groups = meta["groups"]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_training_checkpoint(
    hypernet: HyperNetwork, optimizer: Any, config: TrainConfig, step: int, out: Path,
    extra: Optional[dict[str, Any]] = None,
) -> Path:
    """``out/checkpoint``: hypernetwork + optimizer + step, swapped in atomically."""
    final = out / "checkpoint"
    tmp = out / "checkpoint.tmp"
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    save_hypernet(hypernet, tmp,
                  extra={**(extra or {}), "step": step, "train": dataclasses.asdict(config)})
    _save_optimizer(optimizer, tmp)
    old = out / "checkpoint.old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        import shutil

        shutil.rmtree(old)
    return final


def _save_phase(hypernet: HyperNetwork, target: Path, config: TrainConfig,
                extra: dict[str, Any], optimizer: Any = None) -> None:
    """A phase's checkpoint directory (hypernetwork, optimizer if given), swapped in whole."""
    import shutil

    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_hypernet(hypernet, tmp, extra={"step": 0, "train": dataclasses.asdict(config), **extra})
    if optimizer is not None:
        _save_optimizer(optimizer, tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def _resume_phase(hypernet: HyperNetwork, optimizer: Any, where: Optional[Path],
                  resume: bool) -> Optional[dict[str, Any]]:
    """Load a phase's checkpoint into ``hypernet`` and ``optimizer``; its meta, or ``None``."""
    if not resume or where is None or not (where / "hypernet.json").exists():
        return None
    meta = read_checkpoint_meta(where)
    loaded = load_hypernet(where, hypernet.input_embeddings, hypernet.output_embeddings)
    if loaded.config != hypernet.config:
        raise CheckpointError(
            f"{where}: a phase checkpoint of another hypernetwork shape ({loaded.config}, asked "
            f"for {hypernet.config}); use another --out, or --no-resume")
    hypernet.load_state_dict(loaded.state_dict())
    _load_optimizer(optimizer, where)
    return meta


def token_counts(tokenizer: Any, corpus: Sequence[str]) -> np.ndarray:
    """How often the original tokenizer emits each id on ``corpus`` (a ``vocab_size`` array)."""
    counts = np.zeros(int(tokenizer.vocab_size), dtype=np.int64)
    for ids in tokenizer.encode_batch(list(corpus), as_array=True):
        counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=len(counts))[: len(counts)]
    return counts


def _reconstruct_phase(
    hypernet: HyperNetwork, tokenizer: Any, config: TrainConfig, out_dir: Optional[Path],
    resume: bool, progress: bool, corpus: Sequence[str] = (),
) -> dict[str, Any]:
    """Phase 1: reconstruction pretraining, checkpointed in ``out/reconstruct`` every ``save_every`` steps
    (hypernetwork + optimizer), resumed from there. Returns the held-out metrics (hypernetwork
    and FVT, before and after) and the steps and seconds it took."""
    torch = _torch()
    from toktool.zett.reconstruct import ReconConfig, train_reconstruction

    recon = ReconConfig(steps=config.reconstruct_steps, batch_size=config.reconstruct_batch,
                        lr=config.reconstruct_lr, seed=config.seed,
                        identity_share=config.reconstruct_identity,
                        frequency_power=config.reconstruct_frequency,
                        token_counts=token_counts(tokenizer, corpus)
                        if config.reconstruct_frequency else None)
    optimizer = torch.optim.AdamW(hypernet.parameters(), lr=recon.lr,
                                  weight_decay=recon.weight_decay)
    where = out_dir / "reconstruct" if out_dir is not None else None
    meta = _resume_phase(hypernet, optimizer, where, resume)
    start = int(meta.get("reconstruct_step", 0)) if meta else 0

    def save(step: int, opt: Any) -> None:
        if where is not None:
            _save_phase(hypernet, where, config, {"reconstruct_step": step}, opt)

    summary: dict[str, Any] = {"reconstruct_step": max(start, recon.steps)}
    if start < recon.steps:
        result = train_reconstruction(hypernet, tokenizer, recon, start=start,
                                      optimizer=optimizer, progress=progress, on_save=save,
                                      save_every=config.save_every)
        summary.update({k: v for k, v in result.items() if k != "losses"})
        summary["steps_run"] = len(result["losses"])
        if result["losses"]:
            summary["first_loss"] = result["losses"][0]
            summary["last_loss"] = result["losses"][-1]
    return summary


class _BestPhase:
    """A resumable phase that keeps its best step: ``OUT/NAME`` (hypernetwork and optimizer,
    every save) and ``OUT/NAME-best``; without ``OUT`` the best ``module`` state is kept in
    memory. ``metric`` names the held-out value in the checkpoints' meta."""

    def __init__(self, name: str, metric: str, hypernet: HyperNetwork, module: Any,
                 optimizer: Any, config: TrainConfig, out_dir: Optional[Path], resume: bool):
        self.name, self.metric = name, metric
        self.hypernet, self.module, self.config = hypernet, module, config
        self.where = out_dir / name if out_dir is not None else None
        self.best_dir = out_dir / f"{name}-best" if out_dir is not None else None
        meta = _resume_phase(hypernet, optimizer, self.where, resume)
        self.start = int(meta.get(f"{name}_step", 0)) if meta else 0
        self.best: dict[str, Any] = dict(meta.get(f"{name}_best", {})) if meta else {}
        self.best_state: Optional[dict[str, Any]] = None

    def _meta(self, step: int) -> dict[str, Any]:
        return {f"{self.name}_step": step, f"{self.name}_best": dict(self.best)}

    def on_best(self, step: int, value: float) -> None:
        self.best.update({"step": step, self.metric: value})
        if self.best_dir is not None:
            _save_phase(self.hypernet, self.best_dir, self.config, self._meta(step))
        else:
            self.best_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def on_save(self, step: int, optimizer: Any) -> None:
        if self.where is not None:
            _save_phase(self.hypernet, self.where, self.config, self._meta(step), optimizer)

    def finish(self, summary: dict[str, Any], result: Optional[dict[str, Any]]) -> dict[str, Any]:
        """Record a run's ``result`` in ``summary`` and end with the best step's weights."""
        if result is not None:
            summary.update(seconds=result["seconds"], held_out=result["held_out"],
                           steps_run=len(result["losses"]))
            if result["losses"]:
                summary.update(first_loss=result["losses"][0], last_loss=result["losses"][-1])
        h = self.hypernet
        if self.best_dir is not None and (self.best_dir / "hypernet.json").exists():
            loaded = load_hypernet(self.best_dir, h.input_embeddings, h.output_embeddings)
            h.load_state_dict(loaded.state_dict())
        elif self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        summary["best"] = dict(self.best)
        return summary


def _output_phase(
    hypernet: HyperNetwork, lm: FrozenLM, tokenizer: Any, corpus: Sequence[str],
    config: TrainConfig, out_dir: Optional[Path], resume: bool, progress: bool,
) -> dict[str, Any]:
    """Phase 1b: the output tower (:mod:`toktool.zett.distill`). The LM's hidden states are
    cached in ``out/hidden.safetensors``, the length prior is calibrated on them, then
    ``output_steps`` of distillation (if any) checkpoint in ``out/output`` and keep the best
    step by held-out loss in ``out/output-best``, which the phase ends with."""
    torch = _torch()
    from toktool.zett.distill import (
        OutputConfig, cache_hidden_states, calibrate_output_prior, load_hidden_states,
        output_parameters, save_hidden_states, train_output,
    )

    tower = hypernet.output_tower
    if tower is None:  # checked before minutes of caching
        raise InvalidInputError("output distillation needs a hypernetwork with an output tower")
    ocfg = OutputConfig(steps=config.output_steps, vocab_size=config.output_vocab_size,
                        lr=config.output_lr, seed=config.seed, noise=config.noise,
                        max_token_bytes=config.max_token_bytes,
                        vocab_from=config.output_vocab_from, trainable=config.output_trainable)
    cache_path = out_dir / "hidden.safetensors" if out_dir is not None else None
    cache = None
    if resume and cache_path is not None and cache_path.exists():
        cache = load_hidden_states(cache_path)
    if cache is None:
        rng = np.random.default_rng([config.seed, 5])
        picked = draw_chunks(corpus, config.output_texts, config.output_chunk_bytes, rng)
        cache = cache_hidden_states(lm, tokenizer, picked, progress=progress)
        if cache_path is not None:
            save_hidden_states(cache, cache_path)
    trained = output_parameters(hypernet, ocfg) if ocfg.steps else list(tower.parameters())
    optimizer = torch.optim.AdamW(trained, lr=ocfg.lr, weight_decay=ocfg.weight_decay)
    phase = _BestPhase("output", "held_out_loss", hypernet, tower, optimizer, config, out_dir,
                       resume)
    summary: dict[str, Any] = {"output_step": max(phase.start, ocfg.steps),
                               "cached_texts": len(cache), "cached_states": len(cache.starts)}
    if phase.start == 0:
        summary["prior"] = calibrate_output_prior(hypernet, tokenizer, cache, seed=config.seed)
    result = None
    if phase.start < ocfg.steps:
        result = train_output(hypernet, tokenizer, cache, ocfg, start=phase.start,
                              optimizer=optimizer, progress=progress, on_save=phase.on_save,
                              on_best=phase.on_best, save_every=config.save_every)
    return phase.finish(summary, result)


def _align_config(config: TrainConfig) -> Any:
    from toktool.zett.align import AlignConfig

    # sampled vocabularies are drawn from 64 windows of text after the 4 trained on
    more: dict[str, Any] = ({"learn_windows": 64, "vocab_sizes": tuple(config.align_vocab_sizes)}
                            if config.align_vocabularies == "sampled" else {})
    return AlignConfig(steps=config.align_steps, lr=config.align_lr, seed=config.seed,
                       last_part=config.align_last_part,
                       vocabularies=config.align_vocabularies, **more)


def _align_phase(
    hypernet: HyperNetwork, lm: FrozenLM, tokenizer: Any, texts: Any, held: Any,
    config: TrainConfig, out_dir: Optional[Path], resume: bool, progress: bool,
    name: str = "align", steps: Optional[int] = None,
    weights: Optional[dict[str, float]] = None,
) -> dict[str, Any]:
    """Phase 1c: input alignment (:mod:`toktool.zett.align`) on merged windows of ``texts``
    (or windows segmented by sampled vocabularies, ``config.align_vocabularies``),
    checkpointed in ``out/NAME``; the best step by held-out KL on ``held`` is kept in
    ``out/NAME-best``, which the phase ends with. Phase 1e runs it again as ``focus-align``
    (``steps``, document ``weights``)."""
    torch = _torch()
    from toktool.zett.align import input_parameters, train_alignment

    acfg = dataclasses.replace(_align_config(config), weights=weights,
                               steps=config.align_steps if steps is None else steps)
    optimizer = torch.optim.AdamW(input_parameters(hypernet), lr=acfg.lr,
                                  weight_decay=acfg.weight_decay)
    phase = _BestPhase(name, "held_out_kl", hypernet, hypernet, optimizer, config, out_dir,
                       resume)
    return _run_windows_phase(
        phase, f"{name.replace('-', '_')}_step", acfg.steps, config, progress,
        functools.partial(train_alignment, hypernet, lm, tokenizer, texts, acfg,
                          held_texts=held, optimizer=optimizer))


def _run_windows_phase(phase: _BestPhase, key: str, steps: int, config: TrainConfig,
                       progress: bool, run: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Run (or finish resuming) a phase on merged windows: ``run`` is its training function
    with everything but the resume point and the checkpoint callbacks bound."""
    summary: dict[str, Any] = {key: max(phase.start, steps)}
    result = None
    if phase.start < steps:
        result = run(start=phase.start, progress=progress, on_save=phase.on_save,
                     on_best=phase.on_best, save_every=min(config.save_every, 25))
        summary["fewer"] = result["fewer"]
    return phase.finish(summary, result)


def _merge_output_phase(
    hypernet: HyperNetwork, lm: FrozenLM, tokenizer: Any, texts: Any, held: Any,
    config: TrainConfig, out_dir: Optional[Path], resume: bool, progress: bool,
    name: str = "merge-output", steps: Optional[int] = None,
    weights: Optional[dict[str, float]] = None,
) -> dict[str, Any]:
    """Phase 1d: output alignment on merged windows (:mod:`toktool.zett.merge_output`) of
    ``texts``, checkpointed in ``out/NAME``; the best step by held-out cross-entropy on
    ``held`` is kept in ``out/NAME-best``, which the phase ends with. Phase 1e runs it again as
    ``focus-output`` (``steps``, document ``weights``)."""
    torch = _torch()
    from toktool.zett.merge_output import MergeOutputConfig, train_merge_output

    tower = hypernet.output_tower
    assert tower is not None  # train() checked config.output_tower before any phase
    mcfg = MergeOutputConfig(steps=config.merge_output_steps if steps is None else steps,
                             lr=config.merge_output_lr, seed=config.seed,
                             last_part=config.align_last_part, weights=weights)
    optimizer = torch.optim.AdamW(list(tower.parameters()), lr=mcfg.lr,
                                  weight_decay=mcfg.weight_decay)
    phase = _BestPhase(name, "held_out_ce", hypernet, tower, optimizer, config,
                       out_dir, resume)
    return _run_windows_phase(
        phase, f"{name.replace('-', '_')}_step", mcfg.steps, config, progress,
        functools.partial(train_merge_output, hypernet, lm, tokenizer, texts, mcfg,
                          held_texts=held, optimizer=optimizer))


def _table_phase(
    hypernet: HyperNetwork, lm: FrozenLM, tokenizer: Any, texts: Any, held: Any,
    config: TrainConfig, out_dir: Optional[Path], resume: bool, progress: bool,
) -> dict[str, Any]:
    """Phase 1f: a character table (:mod:`toktool.zett.chartable`) for the characters of
    ``config.table_documents`` in ``texts``, added to ``hypernet``; its input rows trained with
    input alignment's loss (checkpointed in ``out/table-input``, best step by held-out KL in
    ``out/table-input-best``), then its output rows with output alignment's
    (``out/table-output``, best by held-out cross-entropy), everything else frozen."""
    torch = _torch()
    from toktool.zett.align import train_alignment
    from toktool.zett.chartable import character_keys
    from toktool.zett.merge_output import MergeOutputConfig, train_merge_output

    documents = list(config.table_documents)
    keys = character_keys(tokenizer, [texts[name] for name in documents],
                          hypernet.config.max_length)
    if not keys:
        raise InvalidInputError(
            f"the table documents {documents} have no character the tokenizer spells with "
            "several tokens: nothing for a character table")
    table = hypernet.add_table(keys)
    scale = float(hypernet.input_embeddings.float().std())
    weights = {name: float(name in documents) for name in texts}
    held_docs = {name: held[name] for name in documents if held and name in held} or None
    flags = {name: p.requires_grad for name, p in hypernet.named_parameters()}
    for p in hypernet.parameters():
        p.requires_grad_(False)
    summary: dict[str, Any] = {"characters": len(keys), "documents": documents}
    try:
        sides = (("input", config.table_input_steps, config.table_input_lr, "held_out_kl"),
                 ("output", config.table_output_steps, config.table_output_lr, "held_out_ce"))
        for side, steps, lr, metric in sides:
            if not steps:
                continue
            rows = table.input if side == "input" else table.output
            rows.weight.requires_grad_(True)
            common: dict[str, Any] = dict(
                steps=steps, lr=lr * scale, warmup=0, lr_floor=1.0, clip=0.0, weight_decay=0.0,
                seed=config.seed, last_part=config.align_last_part, weights=weights)
            optimizer = torch.optim.SparseAdam([rows.weight], lr=lr * scale)
            name = f"table-{side}"
            phase = _BestPhase(name, metric, hypernet, table, optimizer, config, out_dir, resume)
            run: Callable[..., dict[str, Any]]
            if side == "input":
                run = functools.partial(train_alignment, hypernet, lm, tokenizer, texts,
                                        dataclasses.replace(_align_config(config), **common),
                                        held_texts=held_docs, optimizer=optimizer,
                                        trained=[rows.weight], desc="zett table input rows")
            else:
                run = functools.partial(train_merge_output, hypernet, lm, tokenizer, texts,
                                        MergeOutputConfig(**common), held_texts=held_docs,
                                        optimizer=optimizer, trained=[rows.weight],
                                        desc="zett table output rows")
            summary[side] = _run_windows_phase(phase, f"{name.replace('-', '_')}_step", steps,
                                               config, progress, run)
            rows.weight.requires_grad_(False)
    finally:
        for name, p in hypernet.named_parameters():
            p.requires_grad_(flags.get(name, False))
    return summary


def train(
    model: Any,
    tokenizer: Any,
    corpus: Sequence[str],
    config: TrainConfig,
    out: Optional[str | os.PathLike[str]] = None,
    *,
    resume: bool = True,
    progress: bool = True,
    device: Optional[str] = None,
    on_step: Optional[Callable[[int, float], None]] = None,
    evaluate: Optional[Callable[[HyperNetwork], float]] = None,
    output_corpus: Optional[Sequence[str]] = None,
    align_texts: Optional[dict[str, str]] = None,
    align_held: Optional[dict[str, str]] = None,
) -> TrainResult:
    """Train a hypernetwork for ``model`` (a ``transformers`` causal LM, frozen) whose original
    tokenizer is ``tokenizer`` (a :class:`toktool.Tokenizer`) on the texts of ``corpus``.
    ``output_corpus``: the texts phase 1b caches LM states over (``config.output_texts``
    chunks drawn from them; default ``corpus``), e.g. a mixture with set shares per language.
    ``align_texts``/``align_held``: documents by name for phase 1c (``config.align_steps``
    of input alignment on merged windows, :mod:`toktool.zett.align`) and its held-out KL, and
    for phases 1d (output alignment, :mod:`toktool.zett.merge_output`) and 1e (both again on
    draws weighted by ``config.focus_weights``, whose names are these documents').

    With ``out``, checkpoints go to ``out/checkpoint`` every ``config.save_every`` steps and at
    the end; with ``resume`` an existing checkpoint there is continued (its settings must match).
    Under ``torchrun`` every process runs this function; rank 0 writes the checkpoints.
    """
    torch = _torch()
    rank, world, dist = _distributed()
    if device is None:
        device = f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"
    model.to(device)
    lm = FrozenLM(model)
    chunks = text_chunks(corpus, config.chunk_bytes)
    if config.steps and len(chunks) < config.batch_size:
        raise InvalidInputError(
            f"the corpus gives {len(chunks)} chunks of {config.chunk_bytes} bytes; a batch needs "
            f"{config.batch_size}"
        )
    out_dir = Path(out) if out is not None else None
    start = 0
    checkpoint = out_dir / "checkpoint" if out_dir is not None else None
    hypernet_kwargs = dict(
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        ffn_multiplier=config.ffn_multiplier,
        max_length=config.max_length,
        residual=config.residual,
    )
    if config.focus_output_steps or config.focus_align_steps:
        if not align_texts:
            raise InvalidInputError("focus steps need align_texts (documents by name)")
        if config.focus_output_steps and not config.output_tower:
            raise InvalidInputError("focus_output_steps train the output tower: set output_tower")
        if config.focus_align_steps and config.align_vocabularies != "merges":
            raise InvalidInputError("focus_align_steps align merged windows "
                                    "(align_vocabularies='merges')")
        from toktool.zett.align import AlignConfig, draw_probabilities, check_texts

        # names the weights give must be documents (before minutes of the earlier phases)
        draw_probabilities(AlignConfig(weights=config.focus_weights), sorted(align_texts))
        if not (config.align_steps or config.merge_output_steps):  # else checked below
            check_texts(tokenizer, align_texts, AlignConfig())
            if align_held:
                check_texts(tokenizer, align_held, AlignConfig())
    elif config.focus_weights:
        raise InvalidInputError("focus_weights weigh the draws of phase 1e: set "
                                "focus_output_steps or focus_align_steps")
    if config.table_input_steps or config.table_output_steps:
        missing = sorted(set(config.table_documents) - set(align_texts or {}))
        if not config.table_documents or missing:
            raise InvalidInputError(
                "table steps need table_documents, names of align_texts' documents "
                f"(not there: {missing})" if missing else
                "table steps need table_documents (names of align_texts' documents)")
        if config.table_output_steps and not config.output_tower:
            raise InvalidInputError("table_output_steps train output rows read through the "
                                    "output tower: set output_tower")
    if config.merge_output_steps:
        if not align_texts:
            raise InvalidInputError("merge_output_steps need align_texts (documents by name)")
        if not config.output_tower:
            raise InvalidInputError("merge_output_steps train the output tower: set output_tower")
        from toktool.zett.align import check_texts
        from toktool.zett.merge_output import MergeOutputConfig

        check_texts(tokenizer, align_texts, MergeOutputConfig())
        if align_held:
            check_texts(tokenizer, align_held, MergeOutputConfig())
    if config.align_steps:
        if not align_texts:
            raise InvalidInputError("align_steps need align_texts (documents by name)")
        from toktool.zett.align import check_texts

        # before minutes of the earlier phases
        acfg = _align_config(config)
        check_texts(tokenizer, align_texts, acfg)
        if align_held:
            check_texts(tokenizer, align_held, acfg)
    if config.output_steps and not config.output_tower:
        raise InvalidInputError("output_steps train the output tower: set output_tower too")
    if config.output_tower:
        from toktool.zett.distill import OutputConfig

        # the phase-1b settings, checked before minutes of phase 1
        OutputConfig(vocab_from=config.output_vocab_from, trainable=config.output_trainable)
        if not lm.tied:
            raise InvalidInputError("an output tower is for tied models")
        hypernet_kwargs["output_tower"] = True
        hypernet_kwargs["output_prior_head"] = bool(config.output_steps) and (
            config.output_trainable == "prior")
    if resume and checkpoint is not None and (checkpoint / "hypernet.json").exists():
        meta = read_checkpoint_meta(checkpoint)
        saved = meta.get("train", {})
        if bool(saved.get("output_tower", False)) != config.output_tower:
            raise CheckpointError(
                f"{checkpoint}: trained with output_tower={saved.get('output_tower', False)!r}, "
                f"asked for {config.output_tower!r} (use another --out, or --no-resume)"
            )
        for key in hypernet_kwargs:
            if key in ("output_tower", "output_prior_head"):
                continue
            if saved.get(key) != getattr(config, key):
                raise CheckpointError(
                    f"{checkpoint}: trained with {key}={saved.get(key)!r}, asked for "
                    f"{getattr(config, key)!r} (use another --out, or --no-resume)"
                )
        hypernet = lm.load_hypernet(checkpoint)
        start = int(meta.get("step", 0))
    else:
        torch.manual_seed(config.seed)
        hypernet = lm.new_hypernet(**hypernet_kwargs)
    hypernet.to(device)
    predictor: Any = VocabPredictor(hypernet)
    if dist is not None:
        from torch.nn.parallel import DistributedDataParallel

        predictor = DistributedDataParallel(predictor, broadcast_buffers=False)
    optimizer = torch.optim.AdamW(
        hypernet.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    if start and checkpoint is not None:
        _load_optimizer(optimizer, checkpoint)
    reconstruction: Optional[dict[str, Any]] = None
    fresh = not (resume and checkpoint is not None and (checkpoint / "hypernet.json").exists())
    if fresh and config.reconstruct_steps:
        reconstruction = _reconstruct_phase(hypernet, tokenizer, config, out_dir, resume,
                                            progress and rank == 0, corpus)
        if dist is not None:  # every rank trained the same steps from the same seed
            dist.barrier()
    if fresh and config.output_tower:
        texts = corpus if output_corpus is None else output_corpus
        reconstruction = {**(reconstruction or {}), "output": _output_phase(
            hypernet, lm, tokenizer, texts, config, out_dir if rank == 0 else None, resume,
            progress and rank == 0)}
        if dist is not None:
            dist.barrier()
    if fresh and config.align_steps:
        reconstruction = {**(reconstruction or {}), "align": _align_phase(
            hypernet, lm, tokenizer, align_texts, align_held, config,
            out_dir if rank == 0 else None, resume, progress and rank == 0)}
        if dist is not None:
            dist.barrier()
    if fresh and config.merge_output_steps:
        reconstruction = {**(reconstruction or {}), "merge_output": _merge_output_phase(
            hypernet, lm, tokenizer, align_texts, align_held, config,
            out_dir if rank == 0 else None, resume, progress and rank == 0)}
        if dist is not None:
            dist.barrier()
    if fresh and config.focus_output_steps:
        reconstruction = {**(reconstruction or {}), "focus_output": _merge_output_phase(
            hypernet, lm, tokenizer, align_texts, align_held, config,
            out_dir if rank == 0 else None, resume, progress and rank == 0,
            name="focus-output", steps=config.focus_output_steps, weights=config.focus_weights)}
        if dist is not None:
            dist.barrier()
    if fresh and config.focus_align_steps:
        reconstruction = {**(reconstruction or {}), "focus_align": _align_phase(
            hypernet, lm, tokenizer, align_texts, align_held, config,
            out_dir if rank == 0 else None, resume, progress and rank == 0,
            name="focus-align", steps=config.focus_align_steps, weights=config.focus_weights)}
        if dist is not None:
            dist.barrier()
    if fresh and (config.table_input_steps or config.table_output_steps):
        reconstruction = {**(reconstruction or {}), "table": _table_phase(
            hypernet, lm, tokenizer, align_texts, align_held, config,
            out_dir if rank == 0 else None, resume, progress and rank == 0)}
        if dist is not None:
            dist.barrier()
    if fresh and (config.reconstruct_steps or config.output_tower or config.align_steps
                  or config.merge_output_steps or config.focus_output_steps
                  or config.focus_align_steps or config.table_input_steps
                  or config.table_output_steps):
        if out_dir is not None and rank == 0:
            save_training_checkpoint(hypernet, optimizer, config, 0, out_dir,
                                     extra={"reconstruction": reconstruction})
    elif not fresh and checkpoint is not None:
        reconstruction = read_checkpoint_meta(checkpoint).get("reconstruction")
    autocast = None
    if str(device).startswith("cuda") and torch.cuda.is_bf16_supported():
        autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=start, desc="zett train", unit="step")
    losses: list[float] = []
    began = time.perf_counter()
    saved_at: Optional[Path] = None
    scores: dict[int, float] = {}
    best_dir = out_dir / "best" if out_dir is not None else None
    best_step: Optional[int] = None
    best_score = math.inf
    if best_dir is not None and (best_dir / "hypernet.json").exists():
        best_meta = read_checkpoint_meta(best_dir)
        best_step, best_score = int(best_meta["step"]), float(best_meta["best_score"])
    watching = evaluate is not None and config.eval_every > 0 and rank == 0

    def score(done: int) -> None:
        nonlocal best_step, best_score
        assert evaluate is not None
        was = hypernet.training
        hypernet.eval()
        value = float(evaluate(hypernet))
        hypernet.train(was)
        scores[done] = value
        if value < best_score:
            best_step, best_score = done, value
            if best_dir is not None:
                import shutil

                tmp = best_dir.with_name("best.tmp")
                if tmp.exists():
                    shutil.rmtree(tmp)
                save_hypernet(hypernet, tmp, extra={
                    "step": done, "best_score": value, "train": dataclasses.asdict(config),
                    **({"reconstruction": reconstruction} if reconstruction else {})})
                if best_dir.exists():
                    shutil.rmtree(best_dir)
                os.replace(tmp, best_dir)

    if watching and start == 0 and config.steps > 0:
        score(0)
    for step in range(start, config.steps):
        rng = np.random.default_rng([config.seed, step, rank])
        picked = [chunks[i] for i in rng.choice(len(chunks), config.batch_size, replace=False)]
        batch = make_batch(
            tokenizer,
            picked,
            vocab_size=config.vocab_size,
            seq_len=config.seq_len,
            max_length=config.max_length,
            noise=config.noise,
            seed=int(rng.integers(2**63)),
            max_token_bytes=config.max_token_bytes,
        )
        loss = train_step(
            predictor, lm, batch, optimizer, lr=config.lr_at(step), clip=config.clip,
            autocast=autocast,
        )
        losses.append(loss)
        if on_step is not None:
            on_step(step, loss)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
        done = step + 1
        if watching and (done % config.eval_every == 0 or done == config.steps):
            score(done)
        if out_dir is not None and rank == 0 and (
            done % config.save_every == 0 or done == config.steps
        ):
            saved_at = save_training_checkpoint(
                hypernet, optimizer, config, done, out_dir,
                extra={"reconstruction": reconstruction} if reconstruction else None,
            )
    if bar is not None:
        bar.close()
    if out_dir is not None and rank == 0 and saved_at is None and checkpoint is not None:
        saved_at = checkpoint if checkpoint.exists() else None
    if dist is not None:
        dist.barrier()
    return TrainResult(
        steps=config.steps - start,
        losses=losses,
        seconds=time.perf_counter() - began,
        checkpoint=saved_at,
        world_size=world,
        device=str(device),
        reconstruction=reconstruction,
        best=best_dir if best_dir is not None and best_step is not None else None,
        best_step=best_step,
        best_score=None if best_step is None else best_score,
        scores=scores,
    )
