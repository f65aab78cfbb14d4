"""Dynamic batch BPE merging: shorter sequences by learning merges on the batch itself.

Feher, Vulić, Minixhofer, "Retrofitting (Large) Language Models with Dynamic Tokenization"
(ACL 2025). A batch is first tokenized by the model's own tokenizer; then BPE merges are learned
on the batch: count adjacent token pairs inside one pre-token (or word, or sentence) over the
whole batch, merge the most frequent pair everywhere, repeat until ``max_merges`` merges are
made or no pair is left. The new tokens are embedded on the fly: by the mean of their parts'
embeddings (:class:`FVTEmbedder`) or by a hypernetwork (any :class:`Embedder`).

>>> import toktool
>>> tok = toktool.load_tokenizer("smollm2")  # doctest: +SKIP
>>> batch = tok.encode_batch(["internationalization", "internationalize"])  # doctest: +SKIP
>>> result = toktool.merge_batch(batch, tok, max_merges=10)  # doctest: +SKIP
>>> result.reduction.fewer  # doctest: +SKIP

Semantics (identical to the paper's loop, see ``rust/toktool-core/src/merge.rs``):

- Only adjacent tokens of the same unit pair up; special tokens never do. Overlapping
  occurrences count (``a a a`` holds ``(a, a)`` twice) and a merge replaces occurrences left to
  right (``a a a`` becomes ``aa a``).
- The most frequent pair wins; ties go to the pair that occurs first in the batch (sequences in
  order, left to right), which is what ``max(Counter(...), key=counter.get)`` picks.
- The k-th merge makes the id ``tokenizer.vocab_size + k``; ``new_tokens[k]`` is the tuple of
  original ids it stands for. Tokens are identified by id, not by their string.

Units (``boundary``): ``"pretoken"`` (the tokenizer's own pre-tokens, recovered from the ids by
decoding and re-running its pipeline; see ``rust/toktool-core/src/boundary.rs``), ``"word"``
(pre-tokens joined up to whitespace) or ``"sentence"`` (joined up to ``. ! ? …`` followed by
whitespace, or ``。！？``). Or pass ``word_ids`` to say which tokens may merge.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Protocol, runtime_checkable

import numpy as np

from toktool import _toktool
from toktool._toktool import Tokenizer
from toktool.errors import InvalidInputError
from toktool._torch import load_torch as _torch

if TYPE_CHECKING:
    import torch

__all__ = [
    "BOUNDARIES",
    "DynamicBatch",
    "DynamicTokenizer",
    "Embedder",
    "FVTEmbedder",
    "MergeResult",
    "Reduction",
    "apply_merges",
    "merge_batch",
    "merged_log_softmax",
    "merge_batches",
    "merge_units",
    "merged_bits",
    "prefill_bits",
    "prefill_generate",
    "token_windows",
    "unigram_bias",
]

#: The units merges may not cross (the names the core accepts).
BOUNDARIES: tuple[str, ...] = _toktool.BOUNDARIES


def _fraction(done: int, possible: int) -> float:
    return 1.0 if possible <= 0 else done / possible


@dataclass(frozen=True)
class Reduction:
    """How much shorter the batch got.

    ``units`` is the batch length at saturation (one token per unit, special tokens included)
    and ``words`` its length at word level (one token per whitespace-delimited word).
    """

    tokens_before: int
    tokens_after: int
    units: int
    words: int

    @property
    def fewer(self) -> float:
        """Fraction fewer tokens: ``1 - after / before``."""
        return 0.0 if self.tokens_before == 0 else 1 - self.tokens_after / self.tokens_before

    @property
    def to_saturation(self) -> float:
        """Fraction of the way to saturation (1.0: every unit is one token)."""
        return _fraction(self.tokens_before - self.tokens_after, self.tokens_before - self.units)

    @property
    def to_word_level(self) -> float:
        """Fraction of the way to word level, the measure of the paper's figures (100%: one
        token per word). Above 1 only with ``boundary="sentence"``."""
        return _fraction(self.tokens_before - self.tokens_after, self.tokens_before - self.words)


@dataclass(frozen=True)
class MergeResult:
    """A merged batch.

    - ``ids[s]``: the new sequence ``s``; ids ``>= vocab_size`` are new tokens.
    - ``new_tokens[k]``: the original ids that id ``vocab_size + k`` stands for.
    - ``merges[k]``: ``(left, right, count)``, the pair merged into id ``vocab_size + k`` and how
      often it occurred when chosen.
    - ``word_ids[s][j]``: the unit (pre-token, word or sentence index within the sequence) of
      merged token ``j``; ``None`` for special tokens.
    - ``spans[s][j]``: ``(start, end)`` of merged token ``j`` in the original sequence ``s``.
    - ``offsets[s][j]``: ``(start, end)`` byte offsets of merged token ``j`` in
      ``tokenizer.decode_bytes(original sequence s)``.
    - ``recovery[s]``: how the units of sequence ``s`` were found (``"exact"``, ``"aligned"``,
      ``"whitespace"`` or ``"given"``; see ``rust/toktool-core/src/boundary.rs``).
    - ``n_bytes[s]``: ``len(tokenizer.decode_bytes(original sequence s))``.

    Everything but ``ids`` is built on first access from the extension's arrays, so a caller
    pays only for what it reads (``n_merges`` counts merges without building ``merges``).
    """

    ids: list[list[int]]
    reduction: Reduction
    vocab_size: int
    boundary: str
    recovery: list[str]
    n_bytes: list[int]
    original_lengths: list[int]
    _raw: _toktool.TokenizedMerge = field(repr=False, compare=False)

    def __eq__(self, other: object) -> bool:
        """Equal when every field a caller can read is equal."""
        if not isinstance(other, MergeResult):
            return NotImplemented
        return self._values() == other._values()

    def _values(self) -> tuple[object, ...]:
        return (self.ids, self.reduction, self.vocab_size, self.boundary, self.recovery,
                self.n_bytes, self.original_lengths, self.merges, self.new_tokens,
                self.word_ids, self.spans, self.offsets)

    def _per_sequence(self, flat: np.ndarray) -> list[list[int]]:
        return _split(flat, self._raw.merged.lengths)

    def _spans(self, starts: np.ndarray, ends: list[int]) -> list[list[tuple[int, int]]]:
        """``(start, end)`` per merged token: each start to the next, the last to ``ends[s]``."""
        return [list(zip(seq, [*seq[1:], n])) for seq, n in zip(self._per_sequence(starts), ends)]

    @property
    def n_merges(self) -> int:
        """``len(merges)``, without building the list."""
        return len(self._raw.merged.merges)

    @functools.cached_property
    def merges(self) -> list[tuple[int, int, int]]:
        return _triples(self._raw.merged.merges)

    @functools.cached_property
    def new_tokens(self) -> list[tuple[int, ...]]:
        return [tuple(t) for t in _split(self._raw.new_tokens, self._raw.new_token_lengths)]

    @functools.cached_property
    def word_ids(self) -> list[list[Optional[int]]]:
        return [[None if u == _NO_UNIT else u for u in seq]
                for seq in self._per_sequence(self._raw.units)]

    @functools.cached_property
    def spans(self) -> list[list[tuple[int, int]]]:
        return self._spans(self._raw.merged.starts, self.original_lengths)

    @functools.cached_property
    def offsets(self) -> list[list[tuple[int, int]]]:
        return self._spans(self._raw.byte_starts, self.n_bytes)

    def expand(self, ids: Sequence[int]) -> list[int]:
        """The original ids that ``ids`` (which may hold new ids) stand for."""
        out: list[int] = []
        for i in ids:
            if i >= self.vocab_size:
                out.extend(self.new_tokens[i - self.vocab_size])
            else:
                out.append(i)
        return out

    def token_bytes(self, tokenizer: Tokenizer, token_id: int) -> bytes:
        """The bytes of an original or new id."""
        return b"".join(tokenizer.token_bytes(i) for i in self.expand([token_id]))

    @property
    def lengths(self) -> list[int]:
        return [len(s) for s in self.ids]


_NO_UNIT = 2**32 - 1


def _split(flat: np.ndarray, lengths: np.ndarray) -> list[list[int]]:
    """Ragged data from the extension (sequences end to end) as one list per sequence."""
    values = flat.tolist()
    ends = np.cumsum(lengths, dtype=np.int64).tolist()
    return [values[start:end] for start, end in zip([0, *ends], ends)]


def _triples(merges: np.ndarray) -> list[tuple[int, int, int]]:
    """A ``(merges, 3)`` array as ``(left, right, count)`` tuples."""
    left, right, count = merges.T.tolist()
    return list(zip(left, right, count))


def _result(raw: _toktool.TokenizedMerge, lengths: list[int], vocab_size: int,
            boundary: str) -> MergeResult:
    ids = _split(raw.merged.ids, raw.merged.lengths)
    reduction = Reduction(
        tokens_before=sum(lengths),
        tokens_after=int(raw.merged.lengths.sum()),
        units=int(raw.n_units.sum()),
        words=int(raw.n_words.sum()),
    )
    return MergeResult(
        ids=ids,
        reduction=reduction,
        vocab_size=vocab_size,
        boundary=boundary,
        recovery=list(raw.recovery),
        n_bytes=raw.n_bytes.tolist(),
        original_lengths=lengths,
        _raw=raw,
    )


def merge_batch(
    batch_ids: Sequence[Sequence[int]],
    tokenizer: Tokenizer,
    max_merges: Optional[int],
    boundary: str = "pretoken",
    *,
    min_count: int = 1,
    word_ids: Optional[Sequence[Sequence[Optional[int]]]] = None,
    whole_chars: bool = False,
) -> MergeResult:
    """Learn up to ``max_merges`` BPE merges on ``batch_ids`` and apply them.

    ``batch_ids`` is a list of id sequences (of any lengths) or a 2-D integer numpy array
    (read without a Python object per id). ``max_merges=None`` merges until no pair is left (saturation: one token per unit). Merging
    stops early when the best pair occurs fewer than ``min_count`` times. ``word_ids`` (one int
    per token, ``None`` or negative for "never merge") replaces the units found from the
    tokenizer: tokens merge only with neighbours of the same word id. The Rust core runs with
    the GIL released; see :func:`merge_batches` for many batches in parallel.

    ``whole_chars``: only merge pairs whose merged token spells whole UTF-8 characters. A
    byte-level vocabulary splits many CJK characters into byte pieces, and a merged token that
    ends (or starts) inside a character is hard for a model to read; docs/MERGE.md measures
    what this buys (Chinese: a better trade of length for quality; Japanese: the same).
    """
    raw = _toktool.merge_batch(tokenizer, batch_ids, max_merges, boundary, min_count, word_ids,
                               whole_chars)
    lengths = [len(s) for s in batch_ids]
    kind = "given" if word_ids is not None else boundary
    return _result(raw, lengths, tokenizer.vocab_size, kind)


def merge_batches(
    batches: Sequence[Sequence[Sequence[int]]],
    tokenizer: Tokenizer,
    max_merges: Optional[int],
    boundary: str = "pretoken",
    *,
    min_count: int = 1,
    whole_chars: bool = False,
) -> list[MergeResult]:
    """:func:`merge_batch` on independent batches (each learns its own merges), in parallel."""
    raws = _toktool.merge_batches(tokenizer, batches, max_merges, boundary, min_count,
                                  whole_chars)
    return [
        _result(raw, [len(s) for s in batch], tokenizer.vocab_size, boundary)
        for raw, batch in zip(raws, batches)
    ]


def apply_merges(
    batch_ids: Sequence[Sequence[int]],
    tokenizer: Tokenizer,
    merges: Sequence[Sequence[int]],
    boundary: str = "pretoken",
    *,
    word_ids: Optional[Sequence[Sequence[Optional[int]]]] = None,
) -> MergeResult:
    """Apply merges learned on another batch (``result.merges``) to ``batch_ids``, in order.

    Merge ``k`` turns every occurrence of its pair (left to right, inside one unit) into id
    ``tokenizer.vocab_size + k``; a merge whose pair does not occur is kept with count 0, so the
    result's ids and ``new_tokens`` are those of the batch the merges came from. Applying a
    batch's own merges to it gives its merged ids back. Only ``(left, right)`` of each merge is
    read.
    """
    pairs = [(int(m[0]), int(m[1])) for m in merges]
    raw = _toktool.apply_merges(tokenizer, batch_ids, pairs, boundary, word_ids)
    kind = "given" if word_ids is not None else boundary
    return _result(raw, [len(s) for s in batch_ids], tokenizer.vocab_size, kind)


def merge_units(
    batch_ids: Sequence[Sequence[int]],
    units: Sequence[Sequence[Optional[int]]],
    first_new_id: int,
    max_merges: Optional[int] = None,
    *,
    min_count: int = 1,
) -> tuple[list[list[int]], list[list[int]], list[tuple[int, int, int]]]:
    """The bare algorithm, without a tokenizer: ``units[s][i]`` is the unit of token ``i``
    (``None``/negative: never merged); merge ``k`` makes id ``first_new_id + k``. Returns
    ``(ids, starts, merges)`` where ``starts[s][j]`` is the original position where merged
    token ``j`` begins and ``merges[k] = (left, right, count)``."""
    raw = _toktool.merge_units(batch_ids, units, first_new_id, max_merges, min_count)
    return _split(raw.ids, raw.lengths), _split(raw.starts, raw.lengths), _triples(raw.merges)


def token_windows(ids: Sequence[int], length: int, count: int) -> list[list[int]]:
    """Up to ``count`` consecutive, non-overlapping windows of ``length`` ids (the last partial
    window is dropped unless it is the only one)."""
    if length <= 0:
        raise InvalidInputError(f"window length must be positive, got {length}")
    windows = [list(ids[i : i + length]) for i in range(0, len(ids) - length + 1, length)]
    if not windows and ids:
        windows = [list(ids)]
    return windows[:count]


# --------------------------------------------------------------------------------------------
# embedding new tokens
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Embedder(Protocol):
    """What :class:`DynamicTokenizer` needs to embed a merged batch.

    ``embedding_matrix`` is the model's own ``(vocab, hidden)`` matrix, used for original ids;
    ``embed(new_tokens)`` returns a ``(len(new_tokens), hidden)`` tensor for new tokens given
    as tuples of original ids. :class:`FVTEmbedder` implements it; the ZeTT hypernetwork will.
    """

    @property
    def embedding_matrix(self) -> torch.Tensor: ...

    def embed(self, new_tokens: Sequence[tuple[int, ...]]) -> torch.Tensor: ...


class FVTEmbedder:
    """Fast Vocabulary Transfer (Gee et al., 2022): a new token's embedding is the mean of the
    embeddings of the original tokens it is made of."""

    def __init__(self, embedding_matrix: torch.Tensor):
        self._matrix = embedding_matrix.detach()

    @classmethod
    def from_model(cls, model: Any, output: bool = False) -> FVTEmbedder:
        """FVT over a ``transformers`` model's input embeddings (or its output embeddings,
        ``output=True``, for scoring new tokens as predictions)."""
        layer = model.get_output_embeddings() if output else model.get_input_embeddings()
        return cls(layer.weight)

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self._matrix

    def embed(self, new_tokens: Sequence[tuple[int, ...]]) -> torch.Tensor:
        torch = _torch()
        matrix = self._matrix
        if not new_tokens:
            return matrix.new_zeros((0, matrix.shape[1]))
        flat = torch.tensor([i for t in new_tokens for i in t], dtype=torch.long,
                            device=matrix.device)
        sizes = torch.tensor([len(t) for t in new_tokens], dtype=torch.long, device=matrix.device)
        if (sizes == 0).any():
            raise InvalidInputError("a new token must have at least one part")
        bags = torch.repeat_interleave(torch.arange(len(new_tokens), device=matrix.device), sizes)
        sums = matrix.new_zeros((len(new_tokens), matrix.shape[1]))
        sums.index_add_(0, bags, matrix.index_select(0, flat))
        return sums / sizes.unsqueeze(1).to(matrix.dtype)


class _EmbeddingCache:
    """LRU cache of new-token embeddings keyed by their original ids."""

    def __init__(self, embedder: Embedder, size: int):
        self.embedder = embedder
        self.size = size
        self.rows: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __call__(self, new_tokens: Sequence[tuple[int, ...]]) -> torch.Tensor:
        th = _torch()
        matrix = self.embedder.embedding_matrix
        if not new_tokens:
            return matrix.new_zeros((0, matrix.shape[1]))
        if self.size <= 0:
            self.misses += len(new_tokens)
            return self.embedder.embed(list(new_tokens))
        missing = list(dict.fromkeys(t for t in new_tokens if t not in self.rows))
        self.misses += len(missing)
        self.hits += len(new_tokens) - len(missing)
        fresh: dict[tuple[int, ...], torch.Tensor] = {}
        if missing:
            computed = self.embedder.embed(missing)
            fresh = {t: computed[k] for k, t in enumerate(missing)}
        rows = []
        for t in new_tokens:
            row = fresh.get(t)
            if row is None:
                row = self.rows[t]
                self.rows.move_to_end(t)
            rows.append(row)
        for t, row in fresh.items():
            self.rows[t] = row.clone()
            self.rows.move_to_end(t)
        while len(self.rows) > self.size:
            self.rows.popitem(last=False)
        return th.stack(rows)


@dataclass
class DynamicBatch:
    """A merged batch ready for a ``transformers`` model.

    ``input_ids`` (with new ids, right-padded with ``pad_id``), ``inputs_embeds``
    ``(batch, length, hidden)`` and ``attention_mask`` ``(batch, length)``; ``result`` is the
    :class:`MergeResult` (without the BOS token, if one was added) and row ``b`` holds its
    sequence ``sequences[b]``.
    """

    input_ids: torch.Tensor
    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    result: MergeResult
    bos: bool
    sequences: list[int]

    @property
    def n_bytes(self) -> list[int]:
        """Bytes of text behind each row (for bits per byte)."""
        return [self.result.n_bytes[s] for s in self.sequences]

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """Keyword arguments for ``model(**batch.model_inputs())``."""
        return {"inputs_embeds": self.inputs_embeds, "attention_mask": self.attention_mask}


class DynamicTokenizer:
    """Text batch → merged ids → ``inputs_embeds`` (and attention mask) for a HF model.

    >>> dyn = DynamicTokenizer(tok, FVTEmbedder.from_model(model), max_merges=100)  # doctest: +SKIP
    >>> batch = dyn(["first text", "second text"])  # doctest: +SKIP
    >>> model(**batch.model_inputs())  # doctest: +SKIP

    New-token embeddings are kept in an LRU cache of ``cache_size`` entries keyed by the
    token's original ids (``cache_size=0`` turns it off; results are identical either way).
    ``bos_id``, if given, is put before every sequence after merging (it is never merged).
    ``max_length`` truncates each text's ids before merging; ``whole_chars`` merges only
    pairs that spell whole characters (:func:`merge_batch`).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        embedder: Embedder,
        max_merges: Optional[int] = 100,
        cache_size: int = 65536,
        *,
        boundary: str = "pretoken",
        min_count: int = 1,
        bos_id: Optional[int] = None,
        pad_id: int = 0,
        max_length: Optional[int] = None,
        whole_chars: bool = False,
    ):
        _toktool.check_boundary(boundary)
        self.tokenizer = tokenizer
        self.embedder = embedder
        self.max_merges = max_merges
        self.boundary = boundary
        self.min_count = min_count
        self.bos_id = bos_id
        self.pad_id = pad_id
        self.max_length = max_length
        self.whole_chars = whole_chars
        self.cache = _EmbeddingCache(embedder, cache_size)

    def merge(self, texts: Iterable[str]) -> MergeResult:
        """Tokenize ``texts`` and merge the batch."""
        ids = self.tokenizer.encode_batch(list(texts))
        if self.max_length is not None:
            ids = [s[: self.max_length] for s in ids]
        return merge_batch(ids, self.tokenizer, self.max_merges, self.boundary,
                           min_count=self.min_count, whole_chars=self.whole_chars)

    def embed_new_tokens(self, new_tokens: Sequence[tuple[int, ...]]) -> torch.Tensor:
        """Embeddings of new tokens (through the cache)."""
        return self.cache(new_tokens)

    def embed(self, result: MergeResult, sequences: Optional[Sequence[int]] = None) -> DynamicBatch:
        """Embeddings, ids and attention mask of a merged batch (or of some of its
        ``sequences``: the merges and new tokens are still those of the whole batch)."""
        torch = _torch()
        matrix = self.embedder.embedding_matrix
        vocab = result.vocab_size
        chosen = list(range(len(result.ids))) if sequences is None else list(sequences)
        bos = [self.bos_id] if self.bos_id is not None else []
        rows = [bos + result.ids[s] for s in chosen]
        width = max((len(r) for r in rows), default=0)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[b, : len(r)] = 1
        ids = ids.to(matrix.device)
        mask = mask.to(matrix.device)
        new = ids >= vocab
        embeds = matrix[torch.where(new, torch.zeros_like(ids), ids)]
        if new.any():
            table = self.embed_new_tokens(result.new_tokens).to(matrix.dtype)
            embeds[new] = table[ids[new] - vocab]
        embeds = embeds * mask.unsqueeze(-1).to(embeds.dtype)
        return DynamicBatch(ids, embeds, mask, result, bos=bool(bos), sequences=chosen)

    def __call__(self, texts: Iterable[str]) -> DynamicBatch:
        return self.embed(self.merge(texts))


def _merge_parents(lefts: Sequence[int], device: Any) -> tuple[Any, Any]:
    """The distinct left parts of merges (sorted, a long tensor) and, for each merge, the index
    of its left part among them."""
    th = _torch()
    left = th.as_tensor([int(x) for x in lefts], dtype=th.long, device=device)
    parents = th.unique(left)
    return parents, th.searchsorted(parents, left)


def _kept_log_share(new_scores: Any, parent_scores: Any, slot: Any, floor: float) -> Any:
    """``ln`` of the share of its probability each left part keeps once its merged tokens have
    theirs: ``1 - sum p(ab) / p(a)`` over its merges, at least ``floor``. ``new_scores``
    (``[..., merges]``) and ``parent_scores`` (``[..., parents]``) are log-probabilities, or
    logits under one normaliser; ``slot``: each merge's parent (:func:`_merge_parents`)."""
    th = _torch()
    ratio = th.zeros_like(parent_scores).index_add(
        -1, slot, (new_scores - parent_scores[..., slot]).exp())
    return th.clamp(1.0 - ratio, min=floor).log()


def merged_log_softmax(logits: torch.Tensor, merges: Sequence[tuple[int, ...]], vocab_size: int,
                       floor: float = 0.01) -> torch.Tensor:
    """Log-probabilities over the original vocabulary plus merged tokens, without the split mass.

    After ``apply_merges`` a merged pair never occurs split inside a unit: where the text goes
    on ``a b``, the merged sequence says ``ab``, never ``a`` then ``b``. A model that scores
    ``a`` by the original softmax still gives ``a`` the mass of every continuation, ``b``
    included, so that mass is counted twice (under ``a`` and under ``ab``) and every token pays
    for it in the normalisation. Here each token that is the left part of merges gives up what
    those merged tokens were given: ``p'(a) = p(a) - sum p(ab)`` over the merges ``(a, b)``,
    kept at least ``floor * p(a)`` (the right part may still follow ``a`` across a unit
    boundary, and the merged rows are estimates), and the result is normalised again.
    ``merges`` are ``MergeResult.merges`` (left, right, ...); merge ``k`` is column
    ``vocab_size + k`` of ``logits`` (``[..., vocab_size + len(merges)]``). A merged left part
    (``(ab, c)``) gives up mass to its own merges, never twice to ``a``. Float64 out.
    """
    th = _torch()
    logp = th.log_softmax(logits.double(), dim=-1)
    if not merges:
        return logp
    parents, slot = _merge_parents([m[0] for m in merges], logits.device)
    new_logp = logp[..., vocab_size : vocab_size + len(merges)]
    keep = _kept_log_share(new_logp, logp[..., parents], slot, floor)
    adjusted = logp.clone()
    adjusted[..., parents] += keep
    return adjusted - th.logsumexp(adjusted, dim=-1, keepdim=True)


def _id_counts(sequences: Iterable[Sequence[int]], size: int) -> np.ndarray:
    """How often each id below ``size`` occurs in ``sequences`` (float64)."""
    counts = np.zeros(size, dtype=np.float64)
    for seq in sequences:
        counts += np.bincount(np.asarray(seq, dtype=np.int64), minlength=size)[:size]
    return counts


def unigram_bias(
    learned: MergeResult,
    original_ids: Sequence[Sequence[int]],
    weight: float = 0.75,
    new_log_prior: Optional[Sequence[float]] = None,
    smoothing: float = 5.0,
) -> np.ndarray:
    """Output logit biases (one per original token, then one per merged token) for how merging
    changed token frequencies: a label-shift correction, as docs/ZETT.md's unigram shift.

    ``learned``: the merges learned on a batch (``merge_batch``); ``original_ids``: that batch
    unmerged. An original token's bias is ``weight * ln(p_after(t) / p_before(t))``, its
    frequency in the merged batch over the unmerged one: a first part the merges absorb becomes
    rarer, and a model that reads merged text should say so. A merged token's is ``weight *
    ln(p_after(m) / p_implied(m))`` with ``p_implied`` its first part's frequency before merging
    times ``exp(new_log_prior[k])`` (an estimate of ``ln P(rest | first part)``, e.g.
    :meth:`toktool.zett.HypernetEmbedder.continuation_prior`); without ``new_log_prior``
    merged tokens get 0. Frequencies are smoothed by ``smoothing`` occurrences (5: chosen on
    validation windows, where 1 lets the many once-seen tokens of a saturated batch add noise;
    docs/MERGE.md). Pass the result
    as ``merged_bits(..., bias=...)``; it applies to any batch the same merges were applied to
    (``apply_merges``), whose new ids are the same."""
    if weight < 0:
        raise InvalidInputError(f"weight must be >= 0, got {weight}")
    vocab, k = learned.vocab_size, learned.n_merges
    before = _id_counts(original_ids, vocab)
    after = _id_counts(learned.ids, vocab + k)
    n_before, n_after = max(before.sum(), 1.0), max(after.sum(), 1.0)
    log_after = np.log((after + smoothing) / n_after)
    bias = np.zeros(vocab + k, dtype=np.float64)
    bias[:vocab] = log_after[:vocab] - np.log((before + smoothing) / n_before)
    if new_log_prior is not None and k:
        prior = np.asarray(new_log_prior, dtype=np.float64)
        if prior.shape != (k,):
            raise InvalidInputError(f"new_log_prior needs one value per merge ({k}), "
                                    f"got shape {prior.shape}")
        first = np.array([int(t[0]) for t in learned.new_tokens], dtype=np.int64)
        implied = before[first] * np.exp(prior)
        bias[vocab:] = log_after[vocab:] - np.log((implied + smoothing) / n_before)
    return weight * bias


def merged_bits(model: Any, batch: DynamicBatch, output_embedder: Embedder,
                canonical: bool = False, floor: float = 0.01,
                bias: Optional[Any] = None) -> list[float]:
    """Total bits (``-log2 p``) a causal LM assigns to each merged sequence of ``batch``.

    Each token is predicted from the ones before it over the original vocabulary plus the
    batch's new tokens, whose output embeddings come from ``output_embedder`` (for a model with
    tied embeddings, the same FVT as the input side). The first token is predicted from the BOS
    token, so ``batch`` must have one (``DynamicTokenizer(bos_id=...)``). Divide by the byte
    count (``batch.n_bytes``) for bits per byte: the measure is per byte, never per token, so
    batches with different merges compare.

    ``canonical``: score with :func:`merged_log_softmax` (split mass removed, ``floor``);
    ``bias``: logit biases added to every prediction, one per original then merged token
    (:func:`unigram_bias`).
    """
    th = _torch()
    if not batch.bos:
        raise InvalidInputError("merged_bits needs a BOS token before each sequence (bos_id=...)")
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise InvalidInputError("output layers with a bias are not supported")
    result = batch.result
    vocab = result.vocab_size
    weight = head.weight[:vocab]
    new_rows = None
    if result.new_tokens:
        new_rows = output_embedder.embed(result.new_tokens).to(weight.dtype)
    bias_t = None
    if bias is not None:
        bias_t = th.as_tensor(np.asarray(bias), dtype=weight.dtype, device=weight.device)
        if bias_t.shape != (vocab + len(result.new_tokens),):
            raise InvalidInputError(
                f"bias needs one value per original and merged token "
                f"({vocab + len(result.new_tokens)}), got shape {tuple(bias_t.shape)}")
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
    bits: list[float] = []
    try:
        with th.no_grad():
            for b in range(batch.input_ids.shape[0]):
                n = int(batch.attention_mask[b].sum())
                captured.clear()
                model(inputs_embeds=batch.inputs_embeds[b : b + 1, :n],
                      attention_mask=batch.attention_mask[b : b + 1, :n])
                hidden = captured[-1][0, :-1]  # predictions for positions 1..n-1
                logits = hidden @ weight.T
                if new_rows is not None:
                    logits = th.cat([logits, hidden @ new_rows.T], dim=-1)
                if bias_t is not None:
                    logits = logits + bias_t
                if canonical:
                    logp = merged_log_softmax(logits, result.merges, vocab, floor)
                else:
                    logp = th.log_softmax(logits.double(), dim=-1)
                targets = batch.input_ids[b, 1:n]
                nats = -logp.gather(1, targets.unsqueeze(1)).sum()
                bits.append(float(nats) / math.log(2))
    finally:
        hook.remove()
    return bits


def prefill_bits(model: Any, batch: DynamicBatch,
                 continuations: Sequence[Sequence[int]]) -> list[float]:
    """Total bits (``-log2 p``) a causal LM assigns to each continuation after a merged prefill.

    The paper's decoder setting (merged prefilling, generation over the original vocabulary):
    row ``b`` of ``batch`` (merged ids, embedded on the input side by any embedder) is the
    context, and ``continuations[b]`` are original ids that follow it, each predicted from the
    context and the continuation tokens before it, over the model's own vocabulary. Nothing
    needs an output row for a merged token; what is measured is how well the model reads the
    merged context. The baseline is the same call on a batch without merges (``max_merges=0``).
    Divide by the continuations' bytes for bits per byte.
    """
    th = _torch()
    if len(continuations) != batch.input_ids.shape[0]:
        raise InvalidInputError(f"one continuation per row needed ({batch.input_ids.shape[0]}), "
                                f"got {len(continuations)}")
    embed = model.get_input_embeddings()
    vocab = batch.result.vocab_size
    bits: list[float] = []
    with th.no_grad():
        for b, cont in enumerate(continuations):
            cont = [int(i) for i in cont]
            if not cont:
                bits.append(0.0)
                continue
            if any(i < 0 or i >= vocab for i in cont):
                raise InvalidInputError("continuations are original ids (below the vocabulary "
                                        f"size {vocab})")
            n = int(batch.attention_mask[b].sum())
            if n == 0:
                raise InvalidInputError(f"row {b} has no context: give it a BOS token or text")
            context = batch.inputs_embeds[b : b + 1, :n]
            given = th.tensor([cont[:-1]], dtype=th.long, device=context.device)
            x = th.cat([context, embed(given).to(context.dtype)], dim=1)
            logits = model(inputs_embeds=x).logits[0, n - 1 :, :vocab]
            logp = th.log_softmax(logits.double(), dim=-1)
            targets = th.tensor(cont, dtype=th.long, device=logp.device)
            nats = -logp.gather(1, targets.unsqueeze(1)).sum()
            bits.append(float(nats) / math.log(2))
    return bits


def prefill_generate(model: Any, batch: DynamicBatch, **generate_kwargs: Any) -> list[list[int]]:
    """Generate after a merged prefill: ``model.generate`` on the batch's ``inputs_embeds``.

    The paper's decoder use of dynamic merging: the prompt is read merged (shorter, so a
    cheaper prefill and a smaller KV cache), and the answer is generated token by token over the
    model's own vocabulary. Rows are left-padded for ``generate``; the result is the new
    (original) ids of each row, without the prompt. ``generate_kwargs`` go to ``generate``
    (``max_new_tokens``, ``do_sample``, ...).

    >>> dyn = DynamicTokenizer(tok, embedder, max_merges=100, bos_id=bos)  # doctest: +SKIP
    >>> prefill_generate(model, dyn(prompts), max_new_tokens=20)  # doctest: +SKIP
    """
    th = _torch()
    rows = batch.input_ids.shape[0]
    lengths = [int(batch.attention_mask[b].sum()) for b in range(rows)]
    if any(n == 0 for n in lengths):
        raise InvalidInputError("every row needs a prompt (or a BOS token)")
    width = max(lengths, default=0)
    embeds = batch.inputs_embeds.new_zeros((rows, width, batch.inputs_embeds.shape[-1]))
    mask = batch.attention_mask.new_zeros((rows, width))
    for b, n in enumerate(lengths):
        embeds[b, width - n :] = batch.inputs_embeds[b, :n]
        mask[b, width - n :] = 1
    with th.no_grad():
        out = model.generate(inputs_embeds=embeds, attention_mask=mask, **generate_kwargs)
    pad = generate_kwargs.get("pad_token_id", getattr(model.generation_config, "pad_token_id", None))
    eos = generate_kwargs.get("eos_token_id", getattr(model.generation_config, "eos_token_id", None))
    stops = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
    result = []
    for row in out.tolist():
        # generate pads finished rows; keep a row up to and including its first stop token
        ids: list[int] = []
        for i in row:
            ids.append(int(i))
            if i in stops:
                break
        if pad is not None and pad not in stops:
            while ids and ids[-1] == pad:
                ids.pop()
        result.append(ids)
    return result


class FittedEmbedder:
    """An :class:`Embedder` with fitted rows for some new tokens (:func:`fit_new_rows`); any
    other new token gets the ``base`` embedder's row. Tokens are matched by their parts (the
    tuples of :attr:`MergeResult.new_tokens`), so the rows serve every batch the same merges
    are applied to (:func:`apply_merges`), whatever ids the merges get there."""

    def __init__(self, base: Embedder, new_tokens: Sequence[tuple[int, ...]],
                 rows: torch.Tensor):
        if len(new_tokens) != rows.shape[0]:
            raise InvalidInputError(f"one row per new token needed ({len(new_tokens)}), got "
                                    f"{rows.shape[0]}")
        self.base = base
        self.rows = rows.detach()
        self._index = {tuple(int(i) for i in t): k for k, t in enumerate(new_tokens)}

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.base.embedding_matrix

    def embed(self, new_tokens: Sequence[tuple[int, ...]]) -> torch.Tensor:
        th = _torch()
        keys = [tuple(int(i) for i in t) for t in new_tokens]
        found = [self._index.get(k) for k in keys]
        out = self.rows.new_empty((len(keys), self.rows.shape[1]))
        known = [j for j, k in enumerate(found) if k is not None]
        if known:
            out[known] = self.rows[th.tensor([found[j] for j in known])]
        missing = [j for j, k in enumerate(found) if k is None]
        if missing:
            out[missing] = self.base.embed([keys[j] for j in missing]).to(out.dtype)
        return out


def fit_new_rows(model: Any, batch: DynamicBatch, input_embedder: Embedder,
                 output_embedder: Embedder, *, steps: int = 64, lr: float = 0.02,
                 sides: str = "both", min_count: int = 8, seed: int = 0,
                 progress: bool = False) -> tuple[FittedEmbedder, FittedEmbedder]:
    """Fit the merged tokens' input and output rows to a causal LM's own loss on a merged batch.

    The merges of dynamic tokenization are learned from a batch's text, and that text is also
    the best evidence of what its new tokens mean. Starting from the rows of
    ``input_embedder`` and ``output_embedder`` (FVT, the ZeTT hypernetwork, ...), each step
    scores one sequence of ``batch`` as :func:`merged_bits` does (every token predicted over
    the original vocabulary plus the new tokens) and moves only the new tokens' rows (Adam,
    learning rate ``lr`` times the standard deviation of the model's input embeddings); the
    model stays frozen. ``sides``: ``"both"``, ``"input"`` or ``"output"`` (the cheapest: the
    hidden states do not depend on the output rows, so the model runs once per sequence and the
    steps only touch the output layer). Only tokens that occur at least ``min_count`` times in
    ``batch`` are fitted (a row fitted to one or two occurrences learns those contexts, not the
    token: at saturation most new tokens are that rare); the others keep their initial rows.
    ``batch`` needs a BOS token (``bos_id=``) and should be the batch the merges were learned
    on.

    Returns ``(input, output)`` :class:`FittedEmbedder` s for :class:`DynamicTokenizer`,
    :func:`merged_bits` and :func:`prefill_bits`, keyed by the new tokens' parts, to read text
    the same merges are applied to (:func:`apply_merges`). Score other text than ``batch``: the
    rows learn its bytes. Costs ``steps`` forward and backward passes of one sequence (with
    ``sides="output"``, one forward pass per sequence).

    >>> learned = merge_batch(learn_ids, tok, 100)  # doctest: +SKIP
    >>> dyn = DynamicTokenizer(tok, emb_in, max_merges=100, bos_id=bos)  # doctest: +SKIP
    >>> fit_in, fit_out = fit_new_rows(model, dyn.embed(learned), emb_in, emb_out)  # doctest: +SKIP
    >>> later = DynamicTokenizer(tok, fit_in, max_merges=100, bos_id=bos)  # doctest: +SKIP
    >>> merged_bits(model, later.embed(apply_merges(other_ids, tok, learned.merges)), fit_out)  # doctest: +SKIP
    """
    th = _torch()
    if sides not in ("both", "input", "output"):
        raise InvalidInputError(f"sides is 'both', 'input' or 'output', not {sides!r}")
    if not batch.bos:
        raise InvalidInputError("fit_new_rows needs a BOS token before each sequence "
                                "(bos_id=...)")
    if steps < 0 or lr < 0 or min_count < 0:
        raise InvalidInputError("steps, lr and min_count must not be negative")
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise InvalidInputError("output layers with a bias are not supported")
    new_tokens = batch.result.new_tokens
    vocab = batch.result.vocab_size
    weight = head.weight[:vocab].detach()
    with th.no_grad():
        rows_in = input_embedder.embed(new_tokens).to(weight.dtype).clone()
        rows_out = output_embedder.embed(new_tokens).to(weight.dtype).clone()
    fit_in, fit_out = sides in ("both", "input"), sides in ("both", "output")
    usable = [b for b in range(batch.input_ids.shape[0]) if int(batch.attention_mask[b].sum()) > 1]
    real = batch.input_ids[batch.attention_mask.bool()]
    counts = th.bincount(real[real >= vocab] - vocab, minlength=len(new_tokens))
    fitted = counts >= max(min_count, 1)
    if bool(fitted.any()) and steps and usable and (fit_in or fit_out):
        _fit_rows(model, batch, head, weight, rows_in, rows_out, fit_in, fit_out, usable,
                  fitted, steps, lr, seed, progress)
    return (FittedEmbedder(input_embedder, new_tokens, rows_in),
            FittedEmbedder(output_embedder, new_tokens, rows_out))


def _fit_rows(model: Any, batch: DynamicBatch, head: Any, weight: torch.Tensor,
              rows_in: torch.Tensor, rows_out: torch.Tensor, fit_in: bool, fit_out: bool,
              usable: list[int], fitted: torch.Tensor, steps: int, lr: float, seed: int,
              progress: bool) -> None:
    """The loop of :func:`fit_new_rows`; updates ``rows_in`` and ``rows_out`` in place."""
    th = _torch()
    vocab = weight.shape[0]
    scale = float(model.get_input_embeddings().weight.detach().float().std())
    params = [p for p, on in ((rows_in, fit_in), (rows_out, fit_out)) if on]
    for p in params:
        p.requires_grad_(True)
    optimizer = _LazyAdam(params, lr * scale, fitted)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
    hidden_cache: dict[int, torch.Tensor] = {}
    generator = th.Generator().manual_seed(seed)
    order: list[int] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="fitting new rows", unit="step")
    try:
        with th.enable_grad():
            for _ in range(steps):
                if not order:
                    order = [usable[i] for i in th.randperm(len(usable), generator=generator)]
                b = order.pop()
                n = int(batch.attention_mask[b].sum())
                ids = batch.input_ids[b, :n]
                if fit_in or b not in hidden_cache:
                    embeds = batch.inputs_embeds[b, :n].to(weight.dtype).clone()
                    new = ids >= vocab
                    if new.any():
                        embeds[new] = rows_in[ids[new] - vocab]
                    captured.clear()
                    with th.set_grad_enabled(fit_in):
                        model(inputs_embeds=embeds[None],
                              attention_mask=batch.attention_mask[b : b + 1, :n])
                    hidden = captured[-1][0, :-1]
                    if not fit_in:
                        hidden_cache[b] = hidden.detach()
                else:
                    hidden = hidden_cache[b]
                logits = th.cat([hidden @ weight.T, hidden @ rows_out.T], dim=-1)
                logp = th.log_softmax(logits.float(), dim=-1)
                loss = -logp.gather(1, ids[1:, None]).sum() / max(batch.n_bytes[b], 1)
                if loss.requires_grad:  # not when only input rows fit and none is read
                    for p in params:
                        p.grad = None
                    loss.backward()
                    optimizer.step()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(bits_per_byte=f"{float(loss) / math.log(2):.3f}")
    finally:
        hook.remove()
        for p in frozen:
            p.requires_grad_(True)
        for p in params:
            p.requires_grad_(False)
        if bar is not None:
            bar.close()


class _LazyAdam:
    """Adam over rows that moves only the rows with a gradient in a step (each row with its own
    step count for the bias correction), as ``torch.optim.SparseAdam`` does for sparse
    gradients: a merged token that a step's sequence does not contain keeps its row, where
    dense Adam would go on moving it with the momentum of earlier steps. Rows where
    ``movable`` is false never move."""

    def __init__(self, params: list[torch.Tensor], lr: float, movable: torch.Tensor,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        th = _torch()
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.movable = movable
        self.state = [(th.zeros_like(p), th.zeros_like(p), th.zeros(p.shape[0], 1))
                      for p in params]

    def step(self) -> None:
        th = _torch()
        b1, b2 = self.betas
        with th.no_grad():
            for p, (m, v, t) in zip(self.params, self.state):
                if p.grad is None:
                    continue
                rows = p.grad.ne(0).any(dim=1) & self.movable
                if not rows.any():
                    continue
                g = p.grad[rows]
                m[rows] = b1 * m[rows] + (1 - b1) * g
                v[rows] = b2 * v[rows] + (1 - b2) * g * g
                t[rows] += 1
                m_hat = m[rows] / (1 - b1 ** t[rows])
                v_hat = v[rows] / (1 - b2 ** t[rows])
                p[rows] -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
