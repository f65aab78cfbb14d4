"""Token healing: fix prompts that end at an unnatural token boundary.

A prompt such as ``b"x = os.path.jo"`` ends inside the word ``join``; tokenized as is, the model
sees ``" jo"``, a token it almost never saw followed by ``"in"``, and continues off-distribution.
Token healing removes the last prompt tokens (here ``"jo"``) and makes the first generated tokens
re-spell the removed text, so the model is free to pick ``"join"``.

- :class:`TokenHealer` chooses the back-off (canonical healed prompt, whole last word, never across
  a special token; semantics below) and answers "which tokens may come next" as a vocabulary mask
  in microseconds (a prefix index in the Rust core).
- :func:`heal_generate` and :func:`naive_generate` generate from any :class:`toktool.lm.TokenLM`;
  :class:`toktool.hf.TokenHealingLogitsProcessor` does the same inside ``model.generate``.

Semantics. The prompt is bytes; an incomplete UTF-8 character at its end is never tokenized and
always belongs to the constraint. With ``ids = encode(prompt)``, healing keeps ``ids[:b]`` such
that ``encode(decode(ids[:b])) == ids[:b]``, no special token is removed and at most
``max_backoff`` tokens are; ``b`` aims at the start of the last pre-token (or the last word start
inside it). The constraint is ``prompt[len(decode(ids[:b])):]``. Under a non-empty constraint
``R`` a token ``t`` is allowed iff ``bytes(t).startswith(R)`` or ``R.startswith(bytes(t))`` and the
rest of ``R`` can still be spelled (no dead ends); special tokens are not. So
``decode(healed.ids + generated)`` always starts with the prompt.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from toktool import _toktool
from toktool.errors import InvalidInputError
from toktool.lm import TokenLM, check_logprobs
from toktool.sampling import StopArg, Stops, pick
from toktool.tokenizer import Tokenizer

__all__ = ["HealedPrompt", "TokenHealer", "heal_generate", "naive_generate"]

BytesLike = Union[bytes, bytearray, memoryview]


@dataclass(frozen=True)
class HealedPrompt:
    """A prompt after healing: feed ``ids`` to the model, then generate ``constraint_bytes``."""

    ids: list[int]
    """The healed prompt: a canonical prefix of ``prompt_ids``."""
    constraint_bytes: bytes
    """What generation must reproduce first: ``prompt == decode(ids) + constraint_bytes``."""
    removed_ids: list[int]
    """The backed-off tokens: ``prompt_ids == ids + removed_ids``."""
    prompt_ids: list[int]
    """``encode`` of the prompt's complete UTF-8 part (the naive prompt, less a cut character),
    after the settled ``context`` ids when :meth:`TokenHealer.heal` was given one."""

    @property
    def backoff(self) -> int:
        """Number of tokens removed."""
        return len(self.removed_ids)


def _as_bytes(data: BytesLike | str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes or str, got {type(data).__name__}")


class TokenHealer:
    """Token healing for one tokenizer (byte-level BPE or SentencePiece-style with byte fallback).

    Building one indexes the vocabulary (tens of milliseconds for 100k tokens); reuse it.

    >>> healer = TokenHealer(toktool.load_tokenizer("smollm2"))  # doctest: +SKIP
    >>> h = healer.heal(b"x = os.path.jo")  # doctest: +SKIP
    >>> h.constraint_bytes, healer.allowed(h.constraint_bytes).sum()  # doctest: +SKIP
    (b'jo', 13)
    """

    def __init__(self, tokenizer: Tokenizer, max_backoff: int | None = None):
        if max_backoff is not None and max_backoff < 0:
            raise InvalidInputError(f"max_backoff must be >= 0 or None, got {max_backoff}")
        self.tokenizer = tokenizer
        self._core = _toktool.TokenHealer(tokenizer, max_backoff)

    @property
    def max_backoff(self) -> int | None:
        """The most tokens :meth:`heal` removes; ``None``: the whole last word, however long."""
        return self._core.max_backoff

    @property
    def vocab_size(self) -> int:
        """Length of every mask (the tokenizer's ``vocab_size``)."""
        return self._core.vocab_size

    def heal(self, prompt: BytesLike | str,
             context: Sequence[int] | None = None) -> HealedPrompt:
        """Choose the back-off for ``prompt`` (bytes; a ``str`` is UTF-8 encoded).

        ``context``: settled token ids before the prompt (a chat template up to the reply, a
        system prompt, a FIM prompt from :func:`toktool.bytes.fim`). They are never healed: they
        start ``ids`` and ``prompt_ids`` as given, and only the prompt's own tokens back off.
        """
        ctx = _context_ids(context)
        bad = [t for t in ctx if not 0 <= t < self.vocab_size]
        if bad:
            raise InvalidInputError(
                f"context id {bad[0]} is outside the tokenizer's vocabulary "
                f"(size {self.vocab_size})"
            )
        healed = self._core.heal(_as_bytes(prompt))
        return HealedPrompt(ctx + healed.ids, healed.constraint, healed.removed,
                            ctx + healed.prompt_ids)

    def allowed(self, prefix: BytesLike) -> np.ndarray:
        """Vocabulary mask (``bool``, ``vocab_size``) of the tokens allowed under the constraint
        ``prefix``: those whose bytes start with it or spell its start. All ids for ``b""``."""
        return self._core.allowed(_as_bytes(prefix))

    def allowed_ids(self, prefix: BytesLike) -> np.ndarray:
        """The ids of :meth:`allowed`, ascending (``uint32``)."""
        return self._core.allowed_ids(_as_bytes(prefix))

    def allowed_bitmask(self, prefix: BytesLike) -> np.ndarray:
        """:meth:`allowed` as ``uint32`` words: bit ``id % 32`` of word ``id // 32``."""
        return self._core.allowed_bitmask(_as_bytes(prefix))

    def advance(self, constraint: BytesLike, token: int) -> bytes | None:
        """What remains of ``constraint`` after generating ``token`` (``b""``: satisfied), or
        ``None`` if ``token`` is not allowed."""
        return self._core.advance(_as_bytes(constraint), int(token))

    def extensions(self, prefix: BytesLike) -> np.ndarray:
        """Ids of the (non-special) tokens whose bytes start with ``prefix``, in byte order."""
        return self._core.extensions(_as_bytes(prefix))

    def prefixes_of(self, text: BytesLike) -> list[int]:
        """Ids of the (non-special) tokens whose bytes are a prefix of ``text``, shortest first."""
        return self._core.prefixes_of(_as_bytes(text))

    def encode_bytes(self, prompt: BytesLike | str) -> list[int]:
        """Naive ids of ``prompt``: ``encode`` of its UTF-8 part, plus one single-byte token per
        byte of a character cut at the end."""
        return self._core.encode_bytes(_as_bytes(prompt))

    def __repr__(self) -> str:
        return f"TokenHealer(vocab_size={self.vocab_size}, max_backoff={self.max_backoff})"


_HEALERS: dict[tuple[int, int | None], tuple[Tokenizer, TokenHealer]] = {}
_HEALERS_LOCK = threading.Lock()  # heal_generate may run in several threads at once


def _healer_for(tokenizer: Tokenizer, max_backoff: int | None) -> TokenHealer:
    """A cached healer per (tokenizer, max_backoff); the cache holds the tokenizer alive, so its
    ``id`` cannot be reused while cached."""
    key = (id(tokenizer), max_backoff)
    with _HEALERS_LOCK:
        hit = _HEALERS.get(key)
        if hit is None:
            if len(_HEALERS) >= 8:
                _HEALERS.pop(next(iter(_HEALERS)))
            hit = (tokenizer, TokenHealer(tokenizer, max_backoff))
            _HEALERS[key] = hit
        return hit[1]


def _next_logprobs(lm: TokenLM, context: Sequence[int], vocab_size: int) -> np.ndarray:
    return check_logprobs(lm([list(context)]), 1, vocab_size)[0, :vocab_size]


@dataclass(frozen=True)
class _Limits:
    """When generation ends: token budget, byte budget (of text after the constraint), stop."""

    max_tokens: int
    max_bytes: int | None
    stop: Stops | None

    @staticmethod
    def of(max_tokens: int | None, max_bytes: int | None, stop: StopArg,
           constraint: bytes) -> _Limits:
        if max_tokens is None:
            # Every token holds at least one byte: enough to reach max_bytes past the constraint.
            max_tokens = 32 if max_bytes is None else max_bytes + len(constraint)
        if max_tokens < 0 or (max_bytes is not None and max_bytes < 0):
            raise InvalidInputError("max_tokens and max_bytes must be >= 0")
        return _Limits(max_tokens, max_bytes, Stops(stop))

    def done(self, text: bytes) -> bool:
        return (self.max_bytes is not None and len(text) >= self.max_bytes) or (
            self.stop is not None and self.stop.hit(text)
        )


def _generate(
    lm: TokenLM,
    tokenizer: Tokenizer,
    healer: TokenHealer,
    context: list[int],
    constraint: bytes,
    limits: _Limits,
    temperature: float,
    seed: int | None,
) -> list[int]:
    """Generate after ``context``, the first tokens spelling ``constraint``.

    Unconstrained generation ends at a special token (not returned) or once the text after the
    constraint reaches ``limits``.
    """
    vocab_size = tokenizer.vocab_size
    special = set(tokenizer.special_tokens.values())
    rng = np.random.default_rng(seed)
    generated: list[int] = []
    text = bytearray()
    skip = len(constraint)
    if not constraint and limits.done(b""):
        return generated
    for _ in range(limits.max_tokens):
        scores = _next_logprobs(lm, context + generated, vocab_size)
        if constraint:
            mask = healer.allowed(constraint)
            scores = np.where(mask, scores, -np.inf)
            if not np.isfinite(scores).any():
                raise InvalidInputError(
                    f"no token the model can generate spells the constraint {constraint!r}"
                )
        token = pick(scores, temperature, rng)
        if not constraint and token in special:
            break
        generated.append(token)
        text += tokenizer.token_bytes(token)
        if constraint:
            rest = healer.advance(constraint, token)
            if rest is None:  # the model put -inf on every allowed token
                raise InvalidInputError(f"token {token} does not continue {constraint!r}")
            constraint = rest
        if not constraint and limits.done(bytes(text[skip:])):
            break
    return generated


def _context_ids(context: Sequence[int] | None) -> list[int]:
    return [] if context is None else [int(t) for t in context]


def _after(full: bytes, prompt: bytes, max_bytes: int | None) -> bytes:
    """The bytes after ``prompt`` (``b""`` if ``full`` does not start with it), cut to
    ``max_bytes``."""
    out = full[len(prompt):] if full.startswith(prompt) else b""
    return out if max_bytes is None else out[:max_bytes]


def naive_generate(
    lm: TokenLM,
    tokenizer: Tokenizer,
    prompt: BytesLike | str,
    max_tokens: int | None = None,
    *,
    max_bytes: int | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
    stop: StopArg = None,
    context: Sequence[int] | None = None,
) -> bytes:
    """Generate after the plainly tokenized ``prompt``; return the bytes after the prompt.

    Greedy by default (``temperature > 0`` samples, reproducibly with ``seed``). Generation ends
    after ``max_tokens`` tokens (default 32, or enough for ``max_bytes``), at a special token
    (EOS), once ``max_bytes`` bytes are generated (the result is cut to ``max_bytes``), or after
    the token that completes a ``stop`` string (one ``bytes`` or a sequence of them; the result
    is not cut there: see :class:`toktool.sampling.Stops`). A character cut at the
    end of the prompt is fed as single-byte tokens. ``context``: settled token ids (a chat
    template, a FIM prompt) that the model sees before the prompt's own tokens.
    """
    data = _as_bytes(prompt)
    healer = _healer_for(tokenizer, None)
    ids = healer.encode_bytes(data)
    limits = _Limits.of(max_tokens, max_bytes, stop, b"")
    generated = _generate(lm, tokenizer, healer, _context_ids(context) + ids, b"", limits,
                          temperature, seed)
    full = tokenizer.decode_bytes(ids + generated)
    if not full.startswith(data):  # a tokenizer that does not reproduce the prompt exactly
        full = data + tokenizer.decode_bytes(generated)
    return _after(full, data, max_bytes)


def heal_generate(
    lm: TokenLM,
    tokenizer: Tokenizer,
    prompt: BytesLike | str,
    max_tokens: int | None = None,
    *,
    max_bytes: int | None = None,
    max_backoff: int | None = None,
    healer: TokenHealer | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
    stop: StopArg = None,
    context: Sequence[int] | None = None,
) -> bytes:
    """Generate with token healing; return the bytes after ``prompt``.

    The prompt is healed (see :class:`TokenHealer`); the first generated tokens re-spell the
    removed text and count towards ``max_tokens`` (not towards ``max_bytes``). If ``max_tokens``
    runs out before they do, the result is ``b""``. Other options as in :func:`naive_generate`;
    pass ``healer`` to reuse an index (it takes precedence over ``max_backoff``). ``context``:
    settled token ids before the prompt (never healed: only the prompt's own tokens back off).
    """
    data = _as_bytes(prompt)
    healer = healer or _healer_for(tokenizer, max_backoff)
    healed = healer.heal(data, context)
    own = list(healed.ids)[len(_context_ids(context)):]
    limits = _Limits.of(max_tokens, max_bytes, stop, healed.constraint_bytes)
    generated = _generate(lm, tokenizer, healer, list(healed.ids),
                          healed.constraint_bytes, limits, temperature, seed)
    return _after(tokenizer.decode_bytes(own + generated), data, max_bytes)
