"""Character tables: learned rows for single-character merged tokens, beside the prediction.

In dynamic merging (docs/MERGE.md), the merged tokens that cost most are single characters
the original tokenizer spells with several byte tokens (Japanese kana and kanji, Chinese
hanzi): the hypernetwork composes them from byte fragments that say little about which
character they make. A character table gives each such character, keyed by the original ids
that spell it, a free row on each side (input and output), zero at the start and added to the
hypernetwork's row for a merged token with exactly those parts. The rows are trained after
the hypernetwork (frozen then) with the two alignments' losses
(:func:`toktool.zett.train.train`'s phase 1f), so a row is a lookup for a character seen in
training text; every other token, and every character not in the table, gets the
hypernetwork's prediction unchanged.

:func:`character_keys` lists the keys for some text: each character the tokenizer encodes as
2 to ``max_length`` ids, keyed by that encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from toktool._torch import load_torch as _torch
from toktool._torch import module_base as _module_base
from toktool.errors import InvalidInputError

__all__ = ["CharacterTable", "character_keys"]


def character_keys(tokenizer: Any, texts: Iterable[str], max_length: int,
                   min_count: int = 1) -> list[tuple[int, ...]]:
    """The original ids of each character of ``texts`` that ``tokenizer`` spells with 2 to
    ``max_length`` tokens and that occurs at least ``min_count`` times, sorted by character
    (so the same texts always give the same table)."""
    if max_length < 2:
        raise InvalidInputError("a character table needs max_length >= 2")
    counts: dict[str, int] = {}
    for text in texts:
        for ch in text:
            if ord(ch) >= 0x80:
                counts[ch] = counts.get(ch, 0) + 1
    keys = []
    for ch in sorted(counts):
        if counts[ch] < min_count:
            continue
        ids = tokenizer.encode(ch)
        if 2 <= len(ids) <= max_length:
            keys.append(tuple(int(i) for i in ids))
    return keys


class CharacterTable(_module_base()):  # type: ignore[misc]
    """``size`` keys (original id tuples, ``-1`` padded to ``max_length``; a persistent buffer
    saved with the hypernetwork) and two sparse ``(size, width)`` tables, ``input`` and
    ``output``, zero-initialised. :meth:`add` adds a key's row to the rows of the tokens whose
    parts are exactly that key."""

    def __init__(self, size: int, max_length: int, width: int):
        torch = _torch()
        super().__init__()
        self.register_buffer("keys", torch.full((size, max_length), -1, dtype=torch.long))
        self.input = torch.nn.Embedding(size, width, sparse=True)
        self.output = torch.nn.Embedding(size, width, sparse=True)
        torch.nn.init.zeros_(self.input.weight)
        torch.nn.init.zeros_(self.output.weight)
        self._index: dict[tuple[int, ...], int] = {}
        self._index_of: Any = None  # (buffer identity, version) the index was built from

    def set_keys(self, keys: Sequence[Sequence[int]]) -> None:
        """Fill the key buffer (as many keys as the table has rows, each 1..max_length ids)."""
        torch = _torch()
        size, limit = self.keys.shape
        if len(keys) != size:
            raise InvalidInputError(f"{len(keys)} keys for a table of {size} rows")
        filled = torch.full((size, limit), -1, dtype=torch.long)
        for row, key in enumerate(keys):
            if not 1 <= len(key) <= limit:
                raise InvalidInputError(f"key {tuple(key)} has {len(key)} ids; 1..{limit} allowed")
            filled[row, : len(key)] = torch.as_tensor([int(i) for i in key])
        if len({tuple(k) for k in keys}) != size:
            raise InvalidInputError("the table's keys repeat")
        with torch.no_grad():
            self.keys.copy_(filled.to(self.keys.device))

    def index(self) -> dict[tuple[int, ...], int]:
        """Key -> row, rebuilt when the key buffer changed (e.g. by ``load_state_dict``)."""
        stamp = (self.keys.data_ptr(), self.keys._version)
        if self._index_of != stamp:
            keys = self.keys.cpu().numpy()
            self._index = {tuple(int(i) for i in row[row >= 0]): n for n, row in enumerate(keys)}
            self._index_of = stamp
        return self._index

    def lookup(self, new_tokens: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, rows)``: which of ``new_tokens`` have a row, and which."""
        index = self.index()
        at, rows = [], []
        for k, parts in enumerate(new_tokens):
            row = index.get(tuple(int(i) for i in parts))
            if row is not None:
                at.append(k)
                rows.append(row)
        return np.asarray(at, dtype=np.int64), np.asarray(rows, dtype=np.int64)

    def add(self, rows: Any, new_tokens: Sequence[Sequence[int]], output: bool) -> Any:
        """``rows`` (one per new token) plus the table's rows (``output`` side or input side)
        where a token's parts are a key; differentiable in the table."""
        torch = _torch()
        at, which = self.lookup(new_tokens)
        if not len(at):
            return rows
        table = self.output if output else self.input
        device = rows.device
        extra = table(torch.as_tensor(which, device=device)).to(rows.dtype)
        return rows.index_add(0, torch.as_tensor(at, device=device), extra)
