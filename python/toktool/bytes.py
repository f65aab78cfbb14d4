"""Exact byte-level probabilities from any tokenized LM (Phan et al., ICLR 2025).

A token LM conditioned on the canonical tokens of a prompt is biased whenever the prompt ends
where no token boundary would fall. :class:`ByteLM` removes that bias exactly: the probability
that a text starts with bytes ``y`` is the sum over *covers* of ``y`` (token sequences whose last
token reaches or straddles the end of ``y``) of their probability, and
``P(next byte b | y) = P(y + b) / P(y)``. The cover bookkeeping runs in the Rust core
(:class:`toktool._toktool.CoverSearch`); the model calls happen here, batched.

Byte strings are *document bytes*: the concatenated token bytes of the text, which is the text
itself for byte-level files (and, for SentencePiece-style files, the decoded text: their implicit
leading space is handled internally). Index 256 of a next-byte distribution is end-of-text.

>>> import toktool
>>> blm = toktool.ByteLM(lm, tokenizer, eos_id=0)            # doctest: +SKIP
>>> blm.next_byte_logprobs(b"def fibon")                     # doctest: +SKIP
>>> blm.logprob(b"acci(n):", prefix=b"def fibon")             # doctest: +SKIP
>>> blm.generate(b"import o", max_bytes=20, temperature=0)     # doctest: +SKIP

Every call takes an optional settled token ``context`` (ids, e.g. a chat template up to the
assistant turn, a system prompt, or a fill-in-the-middle prompt from :func:`fim`): the model is
conditioned on those ids exactly as given, and the byte-level prompt follows them as a text of its
own (its tokens never merge with the context's). ``P(bytes | context)`` is then exact in the same
sense as without a context.

>>> ctx = toktool.bytes.chat_context(tokenizer, [("user", "Say hi")])  # doctest: +SKIP
>>> blm.generate(b"Hel", max_bytes=20, temperature=0, context=ctx)   # doctest: +SKIP
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from toktool._toktool import Covers, CoverSearch, Tokenizer
from toktool.errors import InvalidInputError
from toktool.lm import TokenLM, check_logprobs
from toktool.sampling import StopArg, Stops, pick

__all__ = ["ByteEnsemble", "ByteLM", "ByteState", "chat_context", "fim", "score_sequence"]

EOT = 256
#: How far (as a share of P(prefix)) greedy's leading byte must lead every other byte beyond the
#: bounds before the rows it has settle it; far above floating-point noise in the masses.
_GREEDY_MARGIN = 1e-6


def score_sequence(lm: TokenLM, ids: Sequence[int], chunk: int = 256) -> float:
    """Natural-log probability that a text's tokens start with ``ids``.

    Uses ``lm.score(ids)`` when the model offers it (one forward pass with :class:`HFTokenLM`),
    else asks for every prefix in chunks.
    """
    ids = list(ids)
    if not ids:
        return 0.0
    scorer = getattr(lm, "score", None)
    if callable(scorer):
        return float(scorer(ids))
    total = 0.0
    for lo in range(0, len(ids), chunk):
        contexts = [ids[:i] for i in range(lo, min(len(ids), lo + chunk))]
        rows = check_logprobs(lm(contexts), len(contexts))
        total += float(sum(rows[k, ids[lo + k]] for k in range(len(contexts))))
    return total


@dataclass
class _Analysis:
    """The covers of one byte string with their (head-relative) log-probabilities."""

    y: bytes
    head: list[int]
    head_logprob: float
    tail: bytes
    at_start: bool
    # (prefix ids (tail), log P(prefix | head), next-token row, last-token ids, byte offset)
    groups: list[tuple[list[int], float, np.ndarray, np.ndarray, int]]
    # (tail ids, log P(ids | head), next-token row) of covers ending exactly at the end of y
    exact: list[tuple[list[int], float, np.ndarray]]
    canonical: list[int] | None

    def total(self) -> float:
        """log P(text starts with y) - log P(head)."""
        terms = [lp + _lse(row[last]) for _, lp, row, last, _ in self.groups]
        terms += [lp for _, lp, _ in self.exact]
        return _lse(np.array(terms)) if terms else -math.inf


class _RowCache:
    """A small LRU of next-token rows keyed by their full context (one decoding state's)."""

    def __init__(self, size: int):
        self.size = size
        self._rows: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()

    def get(self, key: tuple[int, ...]) -> np.ndarray | None:
        row = self._rows.get(key)
        if row is not None:
            self._rows.move_to_end(key)
        return row

    def put(self, key: tuple[int, ...], row: np.ndarray) -> None:
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)


def _lse(a: np.ndarray) -> float:
    if a.size == 0:
        return -math.inf
    m = float(np.max(a))
    if m == -math.inf:
        return -math.inf
    return m + math.log(float(np.sum(np.exp(a - m))))


class ByteLM:
    """A byte-level view of a token LM: exact next-byte distributions, scores and sampling.

    ``lm`` is any :class:`~toktool.lm.TokenLM` over ``tokenizer``'s ids; ``eos_id`` is the token
    that ends a text (its probability becomes the end-of-text entry, index 256).
    """

    def __init__(self, lm: TokenLM, tokenizer: Tokenizer, eos_id: int | None = None,
                 mask_cache_size: int = 256, negligible: float = 1e-9, row_cache: int = 64,
                 lazy_rows: bool = True):
        info = tokenizer.info()
        self.lm = lm
        self.tokenizer = tokenizer
        self.eos_id = eos_id
        self.implicit = tokenizer.implicit_prefix
        self._search = CoverSearch(tokenizer)
        self._vocab = tokenizer.vocab_size
        token_bytes = tokenizer.all_token_bytes()
        self._lens = np.array([len(b) if b else 0 for b in token_bytes], dtype=np.int64)
        width = int(self._lens.max()) + 1
        self._bytes = np.zeros((self._vocab, width), dtype=np.int16)
        for i, b in enumerate(token_bytes):
            if b:
                self._bytes[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        self._first = np.where(self._lens > 0, self._bytes[:, 0], -1)
        # Valid continuations of exact covers, keyed by (head, tail, tail ids, at_start): the
        # head is part of the key because which candidates are negligible depends on the model
        # context. One ByteLM may serve several threads, so the LRU bookkeeping takes a lock.
        self._masks: OrderedDict[
            tuple[tuple[int, ...], bytes, tuple[int, ...], bool, float], np.ndarray
        ] = OrderedDict()
        self._masks_lock = threading.Lock()
        self._mask_cache_size = mask_cache_size
        self.byte_level = bool(info["byte_level"])
        #: Seconds spent in the Rust cover bookkeeping and in model calls, for cost reports
        #: (approximate when several threads share the ByteLM).
        self.seconds = {"bookkeeping": 0.0, "model": 0.0}
        #: Forward passes of the last exact sampling run (when the LM counts them).
        self.last_sampling: dict[str, int] = {}
        # The error budget of a next-byte distribution, as a share of P(prefix): covers ending at
        # the prefix's end, and the least likely next tokens of each, are dropped unchecked while
        # together they hold less than this share (per cover); 0 checks every candidate.
        self.negligible = negligible
        #: Next-token rows kept per decoding state / scoring call (0: none). Byte-by-byte
        #: decoding asks for the rows of every cover's context at every byte; while the bytes
        #: pushed stay inside the covers' last tokens those contexts do not change, so their rows
        #: come from here and the model runs only when a cover's token is used up.
        self.row_cache = int(row_cache)
        #: Greedy decoding (``temperature=0``, :meth:`ByteState.greedy`) bounds the covers whose
        #: rows it has not kept instead of asking the model for them, and asks only when the
        #: bounds leave the argmax byte open (same bytes; needs ``row_cache > 0``). Most bytes
        #: inside a token then cost no forward pass: the pass comes when a likely cover's token
        #: is used up. ``False``: every byte fetches every cover's row (the code before).
        self.lazy_rows = bool(lazy_rows)

    # -- core computations ------------------------------------------------------------------

    def _rows(self, contexts: list[list[int]],
              cache: _RowCache | None = None) -> list[np.ndarray]:
        """Next-token rows of ``contexts``; with a ``cache``, only the contexts it lacks go to
        the model (a row depends on its context alone, so a cached row is the row)."""
        keys = [tuple(c) for c in contexts]
        found: dict[tuple[int, ...], np.ndarray] = {}
        if cache is not None:
            for k in keys:
                row = cache.get(k)
                if row is not None:
                    found[k] = row
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            t0 = time.perf_counter()
            raw = self.lm([list(k) for k in missing])
            self.seconds["model"] += time.perf_counter() - t0
            rows = check_logprobs(raw, len(missing), self._vocab)
            for i, k in enumerate(missing):
                found[k] = rows[i]
                if cache is not None:
                    cache.put(k, rows[i])
        return [found[k] for k in keys]

    def _context(self, context: Sequence[int] | None) -> list[int]:
        if context is None:
            return []
        ids = [int(t) for t in context]
        bad = [t for t in ids if not 0 <= t < self._vocab]
        if bad:
            raise InvalidInputError(
                f"context id {bad[0]} is outside the tokenizer's vocabulary (size {self._vocab})"
            )
        return ids

    def _covers(self, y: bytes) -> Covers:
        t0 = time.perf_counter()
        c = self._search.covers(y, validate=False)
        self.seconds["bookkeeping"] += time.perf_counter() - t0
        return c

    def _analyze(self, y: bytes, context: list[int] | None = None,
                 cache: _RowCache | None = None,
                 c: Covers | None = None) -> _Analysis:
        if c is None:
            c = self._covers(y)
        # The settled context goes before the byte prompt's own head: the covers are those of y
        # as a text of its own, every model call sees the context first.
        head: list[int] = list(context or []) + c.head
        tail = y[c.boundary:]
        prefixes: dict[tuple[int, ...], None] = {}
        for g in c.groups:
            prefixes[tuple(g.prefix)] = None
        for ids in c.exact:
            prefixes[tuple(ids)] = None
        # Every context whose next-token row we need: each prefix of each cover's tail ids.
        needed: dict[tuple[int, ...], None] = {}
        for p in prefixes:
            for i in range(len(p) + 1):
                needed[p[:i]] = None
        keys = list(needed)
        rows = dict(zip(keys, self._rows([head + list(k) for k in keys], cache)))

        def rel_logprob(p: tuple[int, ...]) -> float:
            return float(sum(rows[p[:i]][p[i]] for i in range(len(p))))

        at_start = c.boundary == 0
        groups = []
        for g in c.groups:
            p = tuple(g.prefix)
            cand = self._keep_valid(tail[:g.start], g.prefix, at_start, rows[p],
                                    g.last.astype(np.int64))
            groups.append((g.prefix, rel_logprob(p), rows[p], cand, len(tail) - g.start))
        exact = [(list(ids), rel_logprob(tuple(ids)), rows[tuple(ids)]) for ids in c.exact]
        return _Analysis(
            y=y, head=head, head_logprob=0.0, tail=tail, at_start=c.boundary == 0,
            groups=groups, exact=exact,
            canonical=c.canonical,
        )

    def _keep_valid(self, tail: bytes, prefix: list[int], at_start: bool, row: np.ndarray,
                    cand: np.ndarray, budget: float | None = None) -> np.ndarray:
        """The candidates that carry probability and keep the encoding canonical.

        The least likely candidates holding together less than ``budget`` of the row's
        probability (default: ``negligible``) are dropped unchecked.
        """
        budget = self.negligible if budget is None else budget
        if budget > 0 and cand.size > 16:
            p = np.exp(row[cand])
            order = np.argsort(-p, kind="stable")
            remaining = p.sum() - np.cumsum(p[order])
            keep = int(np.searchsorted(-remaining, -budget, side="left")) + 1
            cand = np.sort(cand[order[:keep]])
        if cand.size == 0:
            return cand
        t0 = time.perf_counter()
        ok = self._search.valid_among(tail, prefix, at_start, cand)
        self.seconds["bookkeeping"] += time.perf_counter() - t0
        return cand[ok]

    def _valid_next(self, a: _Analysis, ids: list[int], row: np.ndarray,
                    budget: float) -> np.ndarray:
        """Ids of the tokens that may follow the exact cover ``ids`` (the least likely ones,
        holding less than ``budget`` of its row, dropped)."""
        key = (tuple(a.head), a.tail, tuple(ids), a.at_start, budget)
        with self._masks_lock:
            valid = self._masks.get(key)
            if valid is not None:
                self._masks.move_to_end(key)
        if valid is None:
            cand = np.arange(self._vocab, dtype=np.int64)
            if self.eos_id is not None:
                cand = cand[cand != self.eos_id]
            valid = self._keep_valid(a.tail, ids, a.at_start, row, cand, budget)
            with self._masks_lock:
                self._masks[key] = valid
                if len(self._masks) > self._mask_cache_size:
                    self._masks.popitem(last=False)
        return valid

    def _next_byte(self, a: _Analysis) -> np.ndarray:
        terms: list[list[float]] = [[] for _ in range(257)]
        for _, lp, row, last, offset in a.groups:
            if last.size == 0:
                continue
            nxt = self._bytes[last, offset]
            scores = lp + row[last]
            for b in np.unique(nxt):
                terms[int(b)].append(_lse(scores[nxt == b]))
        log_total = a.total()
        for ids, lp, row in a.exact:
            # The error budget is a share of P(y): a cover holding the share w of it may drop
            # candidates holding negligible / w of its own row (all of them when w < negligible).
            budget = 0.0
            if self.negligible > 0:
                share = math.exp(lp - log_total) if log_total > -math.inf else 0.0
                if share <= self.negligible:
                    continue
                budget = min(1.0, self.negligible / share)
            valid = self._valid_next(a, ids, row, budget)
            firsts = self._first[valid]
            scores = lp + row[valid]
            for b in np.unique(firsts):
                if b >= 0:
                    terms[int(b)].append(_lse(scores[firsts == b]))
            if self.eos_id is not None and a.canonical is not None and ids == a.canonical:
                terms[EOT].append(lp + float(row[self.eos_id]))
        masses = np.array([_lse(np.array(t)) for t in terms])
        total = _lse(masses)
        if total == -math.inf:
            raise InvalidInputError(
                f"the model gives zero probability to every continuation of {a.y!r}"
            )
        return masses - total

    def _greedy_byte(self, y: bytes, context: list[int], cache: _RowCache) -> int:
        """The argmax of the next-byte distribution after ``y``, the byte ``_next_byte`` picks,
        asking the model only when the rows in ``cache`` cannot settle it.

        Covers whose rows are not cached are bounded instead of computed: every cover extends
        the longest prefix ``Q`` of its tail ids whose log-probability the cached rows give, the
        covers are distinct token sequences none of which is a prefix of another, so together
        the unfetched ones put at most ``sum P(Q)`` (over the minimal such ``Q``) on all the
        next bytes. The exact covers that are computed may differ from ``_next_byte``'s by their
        error budget (it depends on P(y), here known within bounds): at most ``negligible``
        P(y) each. When the leading byte's lower bound beats every other byte's upper bound by a
        margin, it is the argmax; otherwise every missing row is fetched (one batched call) and
        the full distribution decides, as ``_next_byte`` does.
        """
        c = self._covers(y)
        head: list[int] = list(context) + c.head
        tail = y[c.boundary:]
        at_start = c.boundary == 0

        def row_of(p: tuple[int, ...]) -> np.ndarray | None:
            return cache.get(tuple(head) + p)

        def known(p: tuple[int, ...]) -> tuple[int, float]:
            """(k, log P(p[:k] | head)) for the longest k <= len(p) the cached rows give."""
            lp = 0.0
            for i in range(len(p)):
                r = row_of(p[:i])
                if r is None:
                    return i, lp
                lp += float(r[p[i]])
            return len(p), lp

        terms: list[list[float]] = [[] for _ in range(257)]
        bounds: dict[tuple[int, ...], float] = {}  # bounding prefix Q -> log P(Q | head)
        lo_terms: list[float] = []  # terms of P(y | head) known exactly (a lower bound of it)
        fetched_exact: list[tuple[list[int], float, np.ndarray]] = []
        for g in c.groups:
            p = tuple(g.prefix)
            k, lp = known(p)
            row = row_of(p) if k == len(p) else None
            if row is None:
                bounds[p[:k]] = lp
                continue
            cand = self._keep_valid(tail[:g.start], g.prefix, at_start, row,
                                    g.last.astype(np.int64))
            if cand.size == 0:
                continue
            scores = lp + row[cand]
            lo_terms.append(_lse(scores))
            nxt = self._bytes[cand, len(tail) - g.start]
            for b in np.unique(nxt):
                terms[int(b)].append(_lse(scores[nxt == b]))
        for ids in c.exact:
            p = tuple(ids)
            k, lp = known(p)
            if k < len(p):
                bounds[p[:k]] = lp
                continue
            lo_terms.append(lp)
            row = row_of(p)
            if row is None:
                bounds[p] = lp
            else:
                fetched_exact.append((list(ids), lp, row))
        # The unfetched covers' mass: the minimal bounding prefixes (the others extend them).
        minimal = [q for q in bounds
                   if not any(len(o) < len(q) and q[: len(o)] == o for o in bounds)]
        log_u = _lse(np.array([bounds[q] for q in minimal]))
        log_lo = _lse(np.array(lo_terms))
        log_hi = float(np.logaddexp(log_lo, log_u))
        if log_lo > -math.inf:
            a = _Analysis(y=y, head=head, head_logprob=0.0, tail=tail, at_start=at_start,
                          groups=[], exact=[], canonical=None)
            canonical = c.canonical
            for ids, lp, row in fetched_exact:
                budget = 0.0
                if self.negligible > 0:
                    # P(y) >= the known part, so this share is at least the true one and the
                    # budget at most _next_byte's: the kept candidates are a superset of its.
                    share = math.exp(lp - log_lo)
                    if share <= self.negligible:
                        continue
                    budget = min(1.0, self.negligible / share)
                valid = self._valid_next(a, ids, row, budget)
                firsts = self._first[valid]
                scores = lp + row[valid]
                for b in np.unique(firsts):
                    if b >= 0:
                        terms[int(b)].append(_lse(scores[firsts == b]))
                if self.eos_id is not None and canonical is not None and ids == canonical:
                    terms[EOT].append(lp + float(row[self.eos_id]))
            masses = np.exp(np.array([_lse(np.array(t)) for t in terms]) - log_hi)
            best = int(np.argmax(masses))
            others = np.delete(masses, best)
            slack = len(fetched_exact) * self.negligible + math.exp(log_u - log_hi)
            if masses[best] - float(others.max()) > slack + _GREEDY_MARGIN:
                return best
        return int(np.argmax(self._next_byte(self._analyze(y, context, cache, c))))

    def _internal(self, prefix: bytes) -> bytes:
        if not isinstance(prefix, (bytes, bytearray)):
            raise TypeError(f"expected bytes, got {type(prefix).__name__}")
        return self.implicit + bytes(prefix)

    # -- public API --------------------------------------------------------------------------

    def next_byte_logprobs(self, prefix: bytes,
                           context: Sequence[int] | None = None) -> np.ndarray:
        """Log-probabilities of the next byte after ``prefix``: shape (257,), 256 = end of text."""
        return self._next_byte_in(prefix, self._context(context), None)

    def _next_byte_in(self, prefix: bytes, context: list[int],
                      cache: _RowCache | None) -> np.ndarray:
        return self._next_byte(self._analyze(self._internal(prefix), context, cache))

    def prefix_logprob(self, text: bytes, context: Sequence[int] | None = None) -> float:
        """log P(the text starts with ``text`` | the token ``context``)."""
        return self._prefix_logprob(text, self._context(context), None)

    def _prefix_logprob(self, text: bytes, ctx: list[int], cache: _RowCache | None) -> float:
        y = self._internal(text)
        if not y:
            return 0.0
        a = self._analyze(y, ctx, cache)
        return score_sequence(self.lm, a.head) - score_sequence(self.lm, ctx) + a.total()

    def logprob(self, text: bytes, prefix: bytes = b"",
                context: Sequence[int] | None = None) -> float:
        """Exact log P(``text`` follows ``prefix``) at the byte level, either side may split tokens
        (both after the token ``context``)."""
        if not text:
            return 0.0
        ctx = self._context(context)
        cache = self._new_row_cache()
        joint = self._prefix_logprob(bytes(prefix) + bytes(text), ctx, cache)
        return joint - self._prefix_logprob(bytes(prefix), ctx, cache)

    def _new_row_cache(self) -> _RowCache | None:
        return _RowCache(self.row_cache) if self.row_cache > 0 else None

    def state(self, prefix: bytes = b"", context: Sequence[int] | None = None) -> ByteState:
        """An incremental state: push bytes, read the next-byte distribution."""
        return ByteState(self, prefix, context)

    def generate(
        self,
        prefix: bytes,
        max_bytes: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: StopArg = None,
        method: Literal["auto", "bytes", "tokens"] = "auto",
        max_tokens: int | None = None,
        context: Sequence[int] | None = None,
    ) -> bytes:
        """Continue ``prefix`` by up to ``max_bytes`` bytes.

        ``temperature=0`` is greedy over bytes. With ``temperature=1`` and ``top_p=1`` the default
        (``method="auto"``) samples exactly from P(continuation | prefix) at token speed: it draws
        one cover of the prompt in proportion to its probability and then samples tokens. Other
        settings step byte by byte (temperature and top-p apply to the byte distribution).
        ``context``: settled token ids before ``prefix`` (see the module docstring).
        """
        ctx = self._context(context)
        if max_bytes < 0:
            raise InvalidInputError("max_bytes must be >= 0")
        rng = np.random.default_rng(seed)
        stops = Stops(stop)
        exact_tokens = temperature == 1.0 and top_p == 1.0
        if method == "tokens" or (method == "auto" and exact_tokens):
            if not exact_tokens:
                raise InvalidInputError("method='tokens' samples exactly: use temperature=1, top_p=1")
            out = self._sample_tokens(bytes(prefix), max_bytes, rng, stops, max_tokens, ctx)
        else:
            out = _step_bytes(self.state(bytes(prefix), ctx), max_bytes, temperature, top_p,
                              rng, stops)
        return out

    # -- generation --------------------------------------------------------------------------

    def _sample_tokens(self, prefix: bytes, max_bytes: int, rng: np.random.Generator,
                       stops: Stops, max_tokens: int | None, context: list[int]) -> bytes:
        y = self._internal(prefix)
        calls = lambda: getattr(self.lm, "forward_calls", 0)  # noqa: E731
        start_calls = calls()
        if y:
            a = self._analyze(y, context)
            options: list[list[int]] = []
            weights: list[float] = []
            for p, lp, row, last, _ in a.groups:
                for t in last:
                    options.append(p + [int(t)])
                    weights.append(lp + float(row[t]))
            for ids, lp, _ in a.exact:
                options.append(ids)
                weights.append(lp)
            w = np.array(weights)
            probs = np.exp(w - _lse(w))
            choice = int(rng.choice(len(options), p=probs / probs.sum()))
            tokens = a.head + options[choice]
        else:
            tokens = list(context)
        produced = b"".join(self.tokenizer.token_bytes(t) for t in tokens[len(context):])
        setup_calls = calls() - start_calls
        sampled = 0
        limit = max_tokens if max_tokens is not None else max_bytes + 8
        for _ in range(limit):
            if len(produced) - len(y) >= max_bytes:
                break
            if stops.hit(produced[len(y):]):
                break
            row = self._rows([tokens])[0]
            t = pick(row, 1.0, rng)
            if t == self.eos_id:
                break
            tokens.append(t)
            sampled += 1
            produced += self.tokenizer.token_bytes(t)
        self.last_sampling = {"setup_forwards": setup_calls, "tokens": sampled,
                              "token_forwards": calls() - start_calls - setup_calls}
        return stops.cut(produced[len(y):][:max_bytes])


def _step_bytes(state: ByteState, max_bytes: int, temperature: float, top_p: float,
                rng: np.random.Generator, stops: Stops) -> bytes:
    """Byte-by-byte decoding from an incremental state (greedy when temperature is 0)."""
    out = bytearray()
    for _ in range(max_bytes):
        b = state.greedy() if temperature == 0 else pick(state.logprobs(), temperature, rng,
                                                         top_p)
        if b == EOT:
            break
        state.push(bytes([b]))
        out.append(b)
        if stops.hit_at_end(bytes(out)):
            break
    return bytes(out)


class ByteState:
    """Incremental byte-level state: ``push`` bytes, read ``logprobs()`` of the next byte."""

    def __init__(self, model: ByteLM | ByteEnsemble, prefix: bytes = b"",
                 context: Sequence[int] | None = None):
        self.model = model
        self.prefix = bytes(prefix)
        self.context = None if context is None else [int(t) for t in context]
        if self.context and not isinstance(model, ByteLM):
            raise InvalidInputError("a token context needs one ByteLM (its tokenizer's ids)")
        self._cached: np.ndarray | None = None
        self._rows = model._new_row_cache() if isinstance(model, ByteLM) else None

    def push(self, data: bytes) -> None:
        self.prefix += bytes(data)
        self._cached = None

    def greedy(self) -> int:
        """The most likely next byte (256: end of text), as ``argmax(logprobs())``; with a
        :class:`ByteLM` that keeps rows (``row_cache > 0``, ``lazy_rows``) it asks the model only
        when the rows it has cannot settle the argmax."""
        m = self.model
        if (self._cached is None and isinstance(m, ByteLM) and m.lazy_rows
                and self._rows is not None):
            return m._greedy_byte(m._internal(self.prefix), m._context(self.context), self._rows)
        return int(np.argmax(self.logprobs()))

    def logprobs(self) -> np.ndarray:
        if self._cached is None:
            if isinstance(self.model, ByteLM):
                self._cached = self.model._next_byte_in(
                    self.prefix, self.model._context(self.context), self._rows)
            else:
                self._cached = self.model.next_byte_logprobs(self.prefix)
        return self._cached


class ByteEnsemble:
    """Models with different vocabularies combined at the byte level.

    ``mode="mixture"``: P(b) = sum_i w_i P_i(b); ``mode="product"``: P(b) ∝ prod_i P_i(b)^w_i.
    Scores and generation step byte by byte through the combined distribution.
    """

    def __init__(self, models: Sequence[ByteLM], weights: Sequence[float] | None = None,
                 mode: Literal["mixture", "product"] = "mixture"):
        if not models:
            raise InvalidInputError("an ensemble needs at least one model")
        if mode not in ("mixture", "product"):
            raise InvalidInputError(f"mode must be 'mixture' or 'product', not {mode!r}")
        w = np.ones(len(models)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(models),) or (w < 0).any() or w.sum() <= 0:
            raise InvalidInputError("weights must be non-negative, one per model, not all zero")
        self.models = list(models)
        self.weights = w / w.sum() if mode == "mixture" else w
        self.mode = mode

    def next_byte_logprobs(self, prefix: bytes) -> np.ndarray:
        rows = np.stack([m.next_byte_logprobs(prefix) for m in self.models])
        if self.mode == "mixture":
            with np.errstate(divide="ignore"):
                logw = np.log(self.weights)[:, None]
            combined = np.logaddexp.reduce(rows + logw, axis=0)
        else:
            combined = (rows * self.weights[:, None]).sum(axis=0)
            combined = np.where(np.isnan(combined), -np.inf, combined)
        return combined - np.logaddexp.reduce(combined)

    def logprob(self, text: bytes, prefix: bytes = b"") -> float:
        state = self.state(prefix)
        total = 0.0
        for b in bytes(text):
            total += float(state.logprobs()[b])
            state.push(bytes([b]))
        return total

    def state(self, prefix: bytes = b"") -> ByteState:
        return ByteState(self, prefix)

    def generate(self, prefix: bytes, max_bytes: int, temperature: float = 1.0,
                 top_p: float = 1.0, seed: int | None = None,
                 stop: StopArg = None) -> bytes:
        return _step_bytes(self.state(prefix), max_bytes, temperature, top_p,
                           np.random.default_rng(seed), Stops(stop))


# -- settled token contexts ----------------------------------------------------------------------

#: Fill-in-the-middle token spellings, (prefix, suffix, middle), in the order they are looked up.
FIM_FAMILIES = [
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder / SantaCoder
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),  # cl100k, o200k, Qwen2.5-Coder
    ("<|fim▁begin|>", "<|fim▁hole|>", "<|fim▁end|>"),  # DeepSeek-Coder
    ("▁<PRE>", "▁<SUF>", "▁<MID>"),  # CodeLlama (SentencePiece)
]


def _token_id(tokenizer: Tokenizer, token: str) -> int | None:
    special = tokenizer.special_tokens
    if token in special:
        return int(special[token])
    try:
        return int(tokenizer.token_to_id(token))
    except KeyError:
        return None


def _text(part: str | bytes) -> str:
    return part.decode("utf-8") if isinstance(part, (bytes, bytearray)) else part


def fim(tokenizer: Tokenizer, prefix: str | bytes, suffix: str | bytes) -> list[int]:
    """The token context of a fill-in-the-middle prompt (prefix-suffix-middle order).

    ``[<fim_prefix>] + encode(prefix) + [<fim_suffix>] + encode(suffix) + [<fim_middle>]``, with
    the tokenizer's own FIM tokens (:data:`FIM_FAMILIES`). The middle is the byte-level prompt: pass
    what is known of it (possibly ``b""``) as the ``prefix`` of :meth:`ByteLM.generate`. Raises
    :class:`toktool.InvalidInputError` when the tokenizer declares no FIM tokens.
    """
    for family in FIM_FAMILIES:
        ids = [_token_id(tokenizer, t) for t in family]
        if all(i is not None for i in ids):
            pre, suf, mid = (int(i) for i in ids if i is not None)
            return ([pre] + tokenizer.encode(_text(prefix)) + [suf]
                    + tokenizer.encode(_text(suffix)) + [mid])
    names = ", ".join(f[0] for f in FIM_FAMILIES)
    raise InvalidInputError(
        f"this tokenizer has no fill-in-the-middle tokens (looked for {names}); "
        "pass a token context of your own with context=[...]"
    )


def chat_context(tokenizer: Tokenizer, messages: Sequence[tuple[str, str]],
                 reply_role: str | None = "assistant") -> list[int]:
    """The token context of a ChatML conversation (``<|im_start|>role\\ncontent<|im_end|>\\n``
    per message), opened for a reply by ``reply_role`` (``None``: not opened).

    The reply is the byte-level prompt that follows. The text between special tokens is encoded
    on its own, as HF chat templates do. Raises :class:`toktool.InvalidInputError` when the
    tokenizer has no ``<|im_start|>``/``<|im_end|>`` tokens.
    """
    start, end = _token_id(tokenizer, "<|im_start|>"), _token_id(tokenizer, "<|im_end|>")
    if start is None or end is None:
        raise InvalidInputError(
            "this tokenizer has no ChatML tokens (<|im_start|>, <|im_end|>); "
            "pass its chat template's token ids with context=[...]"
        )
    ids: list[int] = []
    for role, content in messages:
        ids += [start] + tokenizer.encode(f"{role}\n{content}") + [end] + tokenizer.encode("\n")
    if reply_role is not None:
        ids += [start] + tokenizer.encode(f"{reply_role}\n")
    return ids
