"""The ZeTT hypernetwork: new-token embeddings from the model's own embeddings of its parts.

A new token is decomposed into at most ``max_length`` original tokens
(:func:`toktool.zett.decompose.decompose`). The hypernetwork embeds those with the model's
input embeddings (concatenated with its output embeddings when the model does not tie them),
projects them to its width, adds learned position embeddings, runs a small pre-norm transformer
encoder and reads the state at position 0. A zero-initialised linear head turns that state into
a correction that is added, scaled by the embeddings' RMS, to a *base*:

- ``residual="first"`` (the default, as in the ALM follow-up to ZeTT): the embedding of the
  first constituent, so at initialisation every token is an exact copy of its first part and a
  token that *is* an original token keeps its original embedding exactly;
- ``residual="mean"``: the mean of the constituents' embeddings, i.e. FVT at initialisation;
- ``residual="none"``: no base, the head alone (ZeTT's original form; the head is then not
  zero-initialised).

Checkpoints are a directory with ``hypernet.json`` (the config, plus a fingerprint of the
embedding matrices the network was trained against) and ``hypernet.safetensors`` (weights).
Nothing is ever unpickled: a file that is not safetensors is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np

from toktool._io import atomic_write
from toktool.errors import CheckpointError, InvalidInputError
from toktool._torch import load_torch as _torch
from toktool._torch import module_base as _module_base
from toktool.zett.chartable import CharacterTable

__all__ = [
    "CHECKPOINT_CONFIG",
    "CHECKPOINT_WEIGHTS",
    "CheckpointError",
    "HyperNetwork",
    "HypernetEmbedder",
    "HypernetConfig",
    "embedding_fingerprint",
    "load_hypernet",
    "save_hypernet",
]

CHECKPOINT_CONFIG = "hypernet.json"
CHECKPOINT_WEIGHTS = "hypernet.safetensors"
_FORMAT = "toktool-zett-hypernet"
_FORMAT_VERSION = 1
_RESIDUALS = ("first", "mean", "none")


@dataclasses.dataclass(frozen=True)
class HypernetConfig:
    """Shape of a hypernetwork. ``hidden_size`` is the LM's embedding width."""

    hidden_size: int
    original_vocab_size: int
    tied: bool = True
    num_layers: int = 3
    num_heads: int = 0  # 0: hidden_size // 64 when that divides, else 1
    ffn_multiplier: int = 2
    max_length: int = 8
    residual: str = "first"
    # A tied model's output embeddings predicted by a second tower of their own (trained by
    # output distillation, toktool.zett.distill); a model transferred with it is untied.
    output_tower: bool = False
    output_layers: int = 1  # transformer layers of the output tower (it runs on every
    # multi-part token of a sampled vocabulary at every distillation step)
    # the output tower also predicts a per-token adjustment of its length prior, in nats
    # (one scalar per token, zero-initialised; trained by output distillation over
    # vocabularies sampled from the whole pool of cached texts)
    output_prior_head: bool = False
    # rows of a character table (toktool.zett.chartable): learned rows for single-character
    # merged tokens, added to the prediction by HypernetEmbedder; 0: none
    table_size: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden_size", "original_vocab_size", "max_length", "ffn_multiplier"):
            if int(getattr(self, name)) < 1:
                raise InvalidInputError(f"HypernetConfig.{name} must be >= 1")
        if self.num_layers < 0 or self.output_layers < 0 or self.table_size < 0:
            raise InvalidInputError(
                "HypernetConfig.num_layers/output_layers/table_size must be >= 0")
        if self.residual not in _RESIDUALS:
            raise InvalidInputError(f"residual must be one of {_RESIDUALS}, not {self.residual!r}")
        if self.output_prior_head and not self.output_tower:
            raise InvalidInputError("output_prior_head is part of the output tower: set output_tower")
        if self.output_tower and not self.tied:
            raise InvalidInputError(
                "output_tower is for tied models (an untied model's hypernetwork already "
                "predicts both sides)"
            )
        if self.heads() < 1 or self.hidden_size % self.heads():
            raise InvalidInputError(
                f"num_heads={self.num_heads} does not divide hidden_size={self.hidden_size}"
            )

    def heads(self) -> int:
        if self.num_heads:
            return self.num_heads
        return self.hidden_size // 64 if self.hidden_size % 64 == 0 else 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HypernetConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise CheckpointError(f"unknown hypernetwork config fields: {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise CheckpointError(f"bad hypernetwork config: {exc}") from exc


def embedding_fingerprint(input_embeddings: Any, output_embeddings: Any = None) -> str:
    """A short hash of the embedding matrices a hypernetwork reads (to catch the wrong model)."""
    digest = hashlib.sha256()
    for matrix in (input_embeddings, output_embeddings):
        if matrix is None:
            continue
        array = matrix.detach().to("cpu").float().contiguous().numpy()
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def _tower_modules(config: HypernetConfig, sides: int, layers: int,
                   zero_head: bool) -> dict[str, Any]:
    """The trainable parts of one tower: input projection, positions, encoder, norm, head
    (zero-initialised with ``zero_head``, so the tower starts at its base)."""
    torch = _torch()
    nn = torch.nn
    d = config.hidden_size
    modules: dict[str, Any] = {
        "in_proj": nn.Linear(sides * d, d),
        "positions": nn.Parameter(torch.randn(config.max_length, d) * 0.02),
    }
    layer = nn.TransformerEncoderLayer(
        d_model=d,
        nhead=config.heads(),
        dim_feedforward=config.ffn_multiplier * d,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    modules["encoder"] = (
        nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else None
    )
    modules["norm"] = nn.LayerNorm(d)
    modules["head"] = nn.Linear(d, sides * d)
    if zero_head:
        nn.init.zeros_(modules["head"].weight)
        nn.init.zeros_(modules["head"].bias)
    return modules


def _tower_state(x: Any, encoder: Any, pad: Any) -> Any:
    if encoder is not None:
        x = encoder(x, src_key_padding_mask=pad if bool(pad.any()) else None)
    return x[:, 0]


class _OutputTower(_module_base()):  # type: ignore[misc]
    """The output side of a tied model (``HypernetConfig.output_tower``): the mean of the parts
    plus ``length_bias * (parts - 1)`` along ``logit_direction`` (the mean final hidden state
    over its squared norm, so the shift lowers every logit of a k-part token by about
    ``-length_bias * (k - 1)`` nats: the continuation a mean embedding cannot express) plus a
    learned correction. With ``output_prior_head`` a zero-initialised linear head adds a
    per-token term (nats) to that prior, read from the tower's state: how likely this
    token's continuation is, beyond its length. ``logit_direction`` is zero until
    :func:`toktool.zett.distill.calibrate_output_prior` sets it. A
    one-part token keeps its part's row exactly (distillation never trains on one, as
    transfer copies them)."""

    def __init__(self, config: HypernetConfig):
        torch = _torch()
        super().__init__()
        # the output tower always has a base (the mean of the parts), so its head starts at 0
        for name, module in _tower_modules(config, 1, config.output_layers, True).items():
            setattr(self, name, module)
        self.length_bias = torch.nn.Parameter(torch.tensor(-2.0))
        self.register_buffer("logit_direction", torch.zeros(config.hidden_size))
        self.prior_head = None
        if config.output_prior_head:
            self.prior_head = torch.nn.Linear(config.hidden_size, 1)
            torch.nn.init.zeros_(self.prior_head.weight)
            torch.nn.init.zeros_(self.prior_head.bias)

    def forward(self, parts: Any, pad: Any, scale: Any, positions: int) -> Any:
        x = self.in_proj(parts / scale) + self.positions[:positions]
        state = self.norm(_tower_state(x, self.encoder, pad))
        correction = self.head(state) * scale
        count = (~pad).sum(dim=1, keepdim=True).clamp(min=1).to(parts.dtype)
        base = parts.sum(dim=1) / count
        prior = self.length_bias * (count - 1)
        if self.prior_head is not None:  # a per-token adjustment of the prior, in nats
            prior = prior + self.prior_head(state)
        shift = prior * self.logit_direction.to(parts.dtype)
        # a one-part token is an original token: its row stays the original's exactly
        return base + (shift + correction) * (count > 1).to(parts.dtype)


class HyperNetwork(_module_base()):  # type: ignore[misc]
    """Predicts ``(input, output)`` embeddings of new tokens from their decompositions.

    ``input_embeddings`` (and ``output_embeddings`` for an untied model) are the LM's matrices;
    they are held as frozen buffers, never saved in checkpoints. Call :meth:`forward` on a
    padded ``(n, length)`` id tensor (``-1`` pads) or :meth:`predict` on a whole decomposition.
    """

    def __init__(
        self,
        config: HypernetConfig,
        input_embeddings: Any,
        output_embeddings: Any = None,
    ):
        torch = _torch()
        super().__init__()
        self.config = config
        vocab, width = input_embeddings.shape
        if width != config.hidden_size or vocab != config.original_vocab_size:
            raise InvalidInputError(
                f"embeddings are {vocab} x {width}, the config says "
                f"{config.original_vocab_size} x {config.hidden_size}"
            )
        if config.tied != (output_embeddings is None):
            raise InvalidInputError(
                "pass output_embeddings exactly when the config is untied (tied=False)"
            )
        if output_embeddings is not None and tuple(output_embeddings.shape) != (vocab, width):
            raise InvalidInputError("input and output embeddings must have the same shape")
        self.register_buffer("input_embeddings", input_embeddings.detach(), persistent=False)
        self.register_buffer(
            "output_embeddings",
            None if output_embeddings is None else output_embeddings.detach(),
            persistent=False,
        )
        sides = 1 if config.tied else 2
        rms = [float(input_embeddings.detach().float().pow(2).mean().sqrt())]
        if output_embeddings is not None:
            rms.append(float(output_embeddings.detach().float().pow(2).mean().sqrt()))
        self.register_buffer("scales", torch.tensor(rms), persistent=False)
        towers = _tower_modules(config, sides, config.num_layers, config.residual != "none")
        for name, module in towers.items():
            setattr(self, name, module)
        self.output_tower = _OutputTower(config) if config.output_tower else None
        self.char_table = (CharacterTable(config.table_size, config.max_length, width)
                           if config.table_size else None)

    def add_table(self, keys: Any) -> CharacterTable:
        """Give this hypernetwork a character table with ``keys`` (its rows zero, so nothing
        changes until they are trained; see :mod:`toktool.zett.chartable`). The config's
        ``table_size`` becomes ``len(keys)``; a table already there is replaced."""
        if not len(keys):
            raise InvalidInputError("a character table needs at least one key")
        self.config = dataclasses.replace(self.config, table_size=len(keys))
        table = CharacterTable(len(keys), self.config.max_length, self.config.hidden_size)
        table.set_keys(keys)
        self.char_table = table.to(self.input_embeddings.device)
        return self.char_table

    # -- the network ---------------------------------------------------------------------------

    def _parts(self, ids: Any) -> tuple[Any, Any]:
        """Constituent embeddings ``(n, L, sides*d)`` (zeros at pads) and the pad mask."""
        pad = ids < 0
        safe = ids.clamp(min=0)
        inputs = self.input_embeddings[safe]
        if self.output_embeddings is not None:
            inputs = _torch().cat([inputs, self.output_embeddings[safe]], dim=-1)
        return inputs.masked_fill(pad.unsqueeze(-1), 0.0), pad

    def _base(self, parts: Any, pad: Any) -> Any:
        if self.config.residual == "first":
            return parts[:, 0]
        if self.config.residual == "mean":
            count = (~pad).sum(dim=1, keepdim=True).clamp(min=1).to(parts.dtype)
            return parts.sum(dim=1) / count
        return None

    def forward(self, ids: Any, output_only: bool = False) -> tuple[Any, Optional[Any]]:
        """``ids``: ``(n, L)`` long tensor of original ids, ``-1`` padded, ``L <= max_length``,
        every row non-empty. Returns ``(input_rows, output_rows)``; ``output_rows`` is ``None``
        for a tied model without an output tower. ``output_only`` (output tower only): the
        input side is not computed and comes back as ``None``."""
        n, length = ids.shape
        if length > self.config.max_length:
            raise InvalidInputError(
                f"decompositions of {length} tokens; this hypernetwork takes {self.config.max_length}"
            )
        parts, pad = self._parts(ids)
        if n and bool(pad[:, 0].any()):
            raise InvalidInputError("a token to embed has an empty decomposition")
        sides = 1 if self.config.tied else 2
        d = self.config.hidden_size
        scales = self.scales.to(parts.dtype).repeat_interleave(d)
        if output_only:
            if self.output_tower is None:
                raise InvalidInputError("output_only needs an output tower")
            return None, self.output_tower(parts, pad, scales, length)
        x = self.in_proj(parts / scales) + self.positions[:length]
        correction = self.head(self.norm(_tower_state(x, self.encoder, pad))) * scales
        base = self._base(parts, pad)
        rows = correction if base is None else base + correction
        if self.output_tower is not None:
            return rows, self.output_tower(parts, pad, scales, length)
        if sides == 1:
            return rows, None
        return rows[:, :d], rows[:, d:]

    # -- whole vocabularies --------------------------------------------------------------------

    def predict(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        batch_tokens: int = 16384,
        progress: bool = False,
        output_only: bool = False,
    ) -> tuple[Any, Optional[Any]]:
        """Embeddings for every row of a decomposition (``ids`` ``(n, max_len)`` padded with -1,
        ``lengths``), in buckets of equal decomposition length so nothing is padded.
        ``output_only``: see :meth:`forward` (the first result is then ``None``).

        Rows with length 0 get zeros (the caller decides what such tokens get). Gradients flow
        when called under grad mode (training); use ``torch.no_grad()`` for transfer.
        """
        torch = _torch()
        ids = np.asarray(ids)
        lengths = np.asarray(lengths)
        n = len(lengths)
        if ids.ndim != 2 or ids.shape[0] != n:
            raise InvalidInputError("ids must be (n, max_len) and match lengths")
        limit = self.config.max_length
        device = self.input_embeddings.device
        d = self.config.hidden_size
        dtype = self.input_embeddings.dtype
        out_in = torch.zeros((n, d), dtype=dtype, device=device)
        two = not self.config.tied or self.config.output_tower
        out_out = torch.zeros((n, d), dtype=dtype, device=device) if two else None
        chunks = list(_buckets(lengths, limit, batch_tokens))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="hypernetwork", unit="tok", leave=False)
        pieces_in, pieces_out, index = [], [], []
        for rows, length in chunks:
            chunk = torch.as_tensor(ids[rows, :length], dtype=torch.long, device=device)
            a, b = self(chunk, output_only=output_only)
            if a is not None:
                pieces_in.append(a)
            if b is not None:
                pieces_out.append(b)
            index.append(torch.as_tensor(rows, dtype=torch.long, device=device))
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        if index:
            where = torch.cat(index)
            if pieces_in:
                out_in = out_in.index_copy(0, where, torch.cat(pieces_in).to(dtype))
            if out_out is not None:
                out_out = out_out.index_copy(0, where, torch.cat(pieces_out).to(dtype))
        return (None if output_only else out_in), out_out

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _buckets(lengths: np.ndarray, limit: int, batch_tokens: int) -> Iterator[tuple[np.ndarray, int]]:
    """Row indices grouped by decomposition length (capped at ``limit``), in chunks of about
    ``batch_tokens`` constituent positions."""
    capped = np.minimum(lengths, limit)
    for length in range(1, limit + 1):
        rows = np.nonzero(capped == length)[0]
        step = max(1, batch_tokens // length)
        for start in range(0, len(rows), step):
            yield rows[start : start + step], length


# ------------------------------------------------------------------------------------------------
# checkpoints
# ------------------------------------------------------------------------------------------------


def save_hypernet(
    hypernet: HyperNetwork,
    directory: str | os.PathLike[str],
    extra: Optional[dict[str, Any]] = None,
) -> Path:
    """Write ``hypernet.json`` + ``hypernet.safetensors`` into ``directory`` (created; each file
    is replaced whole, so a reader never sees half a file)."""
    from safetensors.torch import save

    directory = Path(directory)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in hypernet.state_dict().items()}
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "config": hypernet.config.to_dict(),
        "embedding_fingerprint": embedding_fingerprint(
            hypernet.input_embeddings, hypernet.output_embeddings
        ),
        **(extra or {}),
    }
    atomic_write(directory / CHECKPOINT_WEIGHTS, save(tensors, metadata={"format": _FORMAT}))
    atomic_write(
        directory / CHECKPOINT_CONFIG, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
    )
    return directory


def read_checkpoint_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``hypernet.json`` of a checkpoint directory (checked, nothing else loaded)."""
    path = Path(directory)
    if path.is_file():
        raise CheckpointError(
            f"{path}: a hypernetwork checkpoint is a directory holding {CHECKPOINT_CONFIG} and "
            f"{CHECKPOINT_WEIGHTS}"
        )
    config = path / CHECKPOINT_CONFIG
    try:
        meta = json.loads(config.read_text())
    except FileNotFoundError as exc:
        raise CheckpointError(f"{config}: missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config}: not a readable JSON config ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise CheckpointError(f"{config}: not a toktool hypernetwork config")
    if meta.get("format_version") != _FORMAT_VERSION:
        raise CheckpointError(
            f"{config}: format version {meta.get('format_version')!r}, this toktool reads "
            f"{_FORMAT_VERSION}"
        )
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{config}: no 'config' object")
    return meta


def _read_safetensors(path: Path) -> dict[str, Any]:
    """Tensors of a safetensors file; anything else (a pickle, a truncated file) is refused."""
    from safetensors.torch import load_file

    try:
        with path.open("rb") as f:
            head = f.read(16)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: missing") from exc
    except OSError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    if head[:1] == b"\x80" or head[:2] == b"PK":  # a raw pickle, or torch.save's zip
        raise CheckpointError(
            f"{path}: this is a pickle (torch.save) file; toktool only loads safetensors and "
            "never unpickles"
        )
    if len(head) < 8:
        raise CheckpointError(f"{path}: truncated ({len(head)} bytes)")
    header = int.from_bytes(head[:8], "little")
    size = path.stat().st_size
    if header <= 0 or 8 + header > size:
        raise CheckpointError(f"{path}: not a safetensors file, or truncated")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from exc


def load_hypernet(
    directory: str | os.PathLike[str],
    input_embeddings: Any,
    output_embeddings: Any = None,
    strict: bool = True,
) -> HyperNetwork:
    """Load a checkpoint for the LM whose embeddings are given.

    With ``strict`` (the default) the embeddings must be the ones the network was trained with
    (same fingerprint); shapes must always match the config and every weight must be present.
    """
    directory = Path(directory)
    meta = read_checkpoint_meta(directory)
    config = HypernetConfig.from_dict(meta["config"])
    if not config.tied and output_embeddings is None:
        raise CheckpointError("this hypernetwork is for an untied model: output embeddings needed")
    if config.tied:
        output_embeddings = None
    shape = tuple(input_embeddings.shape)
    if shape != (config.original_vocab_size, config.hidden_size):
        raise CheckpointError(
            f"{directory}: trained for embeddings of {config.original_vocab_size} x "
            f"{config.hidden_size}, this model has {shape[0]} x {shape[1]}"
        )
    if strict:
        found = embedding_fingerprint(input_embeddings, output_embeddings)
        expected = meta.get("embedding_fingerprint")
        if found != expected:
            raise CheckpointError(
                f"{directory}: trained against other embeddings (fingerprint {expected}, this "
                f"model {found}); pass strict=False to use it anyway"
            )
    tensors = _read_safetensors(directory / CHECKPOINT_WEIGHTS)
    hypernet = HyperNetwork(config, input_embeddings, output_embeddings)
    wanted = hypernet.state_dict()
    missing = sorted(set(wanted) - set(tensors))
    unexpected = sorted(set(tensors) - set(wanted))
    if missing or unexpected:
        raise CheckpointError(
            f"{directory}: weights do not match the config (missing {missing[:5]}, unexpected "
            f"{unexpected[:5]})"
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(wanted[name].shape):
            raise CheckpointError(
                f"{directory}: {name} is {tuple(tensor.shape)}, expected {tuple(wanted[name].shape)}"
            )
    hypernet.load_state_dict(tensors)
    hypernet.to(input_embeddings.device)
    return hypernet


class HypernetEmbedder:
    """The :class:`toktool.merge.Embedder` interface over a hypernetwork, for
    :class:`toktool.merge.DynamicTokenizer`: a merged token given as its tuple of original ids
    is embedded by the hypernetwork (parts beyond ``max_length`` are cut, as in training).

    ``output=True`` gives the output-side embeddings (the same as the input side for a tied
    model), e.g. for :func:`toktool.merge.merged_bits`.

    ``continuation`` (output side, a hypernetwork with an output tower): counts over text, e.g.
    the batch the merges were learned on, together with ``tokenizer`` (the original); the row of
    a merged token of 2+ parts is mixed (weight ``mix``) with its first part's row plus the
    counted continuation prior, as at transfer (:mod:`toktool.zett.continuation`).

    ``last_part`` (input side): a merged token's input row is ``(1 - last_part)`` times the
    hypernetwork's plus ``last_part`` times its last part's embedding. The prediction after a
    merged token depends most on where the token ends (a merged CJK token that stops inside a
    character must say which bytes are still open); 0.25 was chosen on validation windows of
    docs/MERGE.md's evaluation. Ignored on the output side.

    ``table``: a hypernetwork with a character table (:mod:`toktool.zett.chartable`) adds its
    row (this side's) to a merged token whose parts are a key, after the ``last_part`` mix and
    before the continuation prior; ``False`` leaves the table out (the hypernetwork alone).
    """

    def __init__(self, hypernet: HyperNetwork, output: bool = False, *,
                 continuation: Any = None, tokenizer: Any = None, mix: float = 0.5,
                 last_part: float = 0.25, table: bool = True):
        if not 0.0 <= last_part <= 1.0:
            raise InvalidInputError(f"last_part must be in [0, 1], got {last_part}")
        if continuation is not None and (not output or hypernet.output_tower is None
                                         or tokenizer is None):
            raise InvalidInputError(
                "a continuation prior needs output=True, a hypernetwork with an output tower "
                "and the original tokenizer")
        self.hypernet = hypernet
        self.output = output
        self.continuation = continuation
        self.tokenizer = tokenizer
        self.mix = mix
        self.last_part = 0.0 if output else last_part
        self.table = table
        # the original tokens' bytes, read once when a continuation prior first needs them
        self._vocab: Optional[list[Any]] = None

    @property
    def embedding_matrix(self) -> Any:
        h = self.hypernet
        if self.output and h.output_embeddings is not None:
            return h.output_embeddings
        return h.input_embeddings

    def predict_rows(self, new_tokens: Any) -> Any:
        """The hypernetwork's rows for ``new_tokens`` (input rows mixed with the last part's
        embedding, plus the character table's rows), differentiable when called under grad
        mode (input alignment trains through it, :mod:`toktool.zett.align`); :meth:`embed` adds
        the continuation prior."""
        torch = _torch()
        n = len(new_tokens)
        limit = self.hypernet.config.max_length
        if not n:
            return self.embedding_matrix.new_zeros((0, self.hypernet.config.hidden_size))
        ids = np.full((n, limit), -1, dtype=np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        for row, parts in enumerate(new_tokens):
            if not parts:
                raise InvalidInputError("a new token must have at least one part")
            cut = list(parts)[:limit]
            ids[row, : len(cut)] = cut
            lengths[row] = len(cut)
        rows_in, rows_out = self.hypernet.predict(ids, lengths)
        rows = rows_out if (self.output and rows_out is not None) else rows_in
        if self.last_part > 0:
            last = torch.as_tensor([int(list(parts)[-1]) for parts in new_tokens],
                                   device=self.embedding_matrix.device)
            rows = ((1.0 - self.last_part) * rows
                    + self.last_part * self.embedding_matrix[last].to(rows.dtype))
        if self.table and self.hypernet.char_table is not None:
            rows = self.hypernet.char_table.add(rows, new_tokens, self.output)
        return rows

    def embed(self, new_tokens: Any) -> Any:
        torch = _torch()
        with torch.no_grad():
            rows = self.predict_rows(new_tokens)
        if self.continuation is None:
            return rows
        return self.mix_continuation(rows, new_tokens)

    def mix_continuation(self, rows: Any, new_tokens: Any, counts: Any = None) -> Any:
        """``rows`` (the output rows :meth:`predict_rows` gives ``new_tokens``) mixed (``mix``)
        with each merged token's first part's row plus its continuation prior counted in
        ``counts`` (default: the embedder's ``continuation``), as :meth:`embed` does;
        differentiable in ``rows`` (output alignment trains through it,
        :mod:`toktool.zett.merge_output`)."""
        from toktool.zett.continuation import mix_output_rows

        torch = _torch()
        if not len(new_tokens):
            return rows
        prior, n_parts = self._prior(new_tokens, counts)
        where = torch.as_tensor([int(parts[0]) for parts in new_tokens],
                                device=self.embedding_matrix.device)
        tower = self.hypernet.output_tower
        assert tower is not None  # _prior checked it
        return mix_output_rows(rows, self.embedding_matrix[where].to(rows.dtype), prior,
                               tower.logit_direction.detach(), n_parts, self.mix)

    def continuation_prior(self, new_tokens: Any) -> np.ndarray:
        """The counted ``ln P(rest | first part)`` of each merged token (0 for one part), the
        one :meth:`embed` mixes in; e.g. for :func:`toktool.merge.unigram_bias`."""
        if self.continuation is None:
            raise InvalidInputError("continuation_prior needs an embedder made with continuation=")
        return self._prior(new_tokens)[0]

    def _prior(self, new_tokens: Any, counts: Any = None) -> tuple[np.ndarray, np.ndarray]:
        from toktool.zett.continuation import continuation_prior

        counts = self.continuation if counts is None else counts
        tower = self.hypernet.output_tower
        if counts is None or not self.output or tower is None or self.tokenizer is None:
            raise InvalidInputError(
                "a continuation prior needs counts, output=True, a hypernetwork with an output "
                "tower and the original tokenizer")
        if self._vocab is None:
            self._vocab = self.tokenizer.all_token_bytes()
        vocab = self._vocab
        n_parts = np.array([len(parts) for parts in new_tokens])
        whole = [b"".join(bytes(vocab[int(i)] or b"") for i in parts) for parts in new_tokens]
        first = [bytes(vocab[int(parts[0])] or b"") for parts in new_tokens]
        prior = continuation_prior(counts, whole, first, n_parts,
                                   float(tower.length_bias.detach()))
        return prior, n_parts
