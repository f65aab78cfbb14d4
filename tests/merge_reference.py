"""The paper's dynamic-BPE loop in plain Python: the oracle for toktool's merger.

This follows ``Dynamic_BPE.tokenize_batch`` of Feher et al.'s code (get_most_frequent_pair /
merge_pair): recount every pair of the whole batch after every merge with a ``Counter``, take
``max(counter, key=counter.get)`` (so ties go to the pair seen first), and replace the pair left
to right in every sequence. Two differences, both part of toktool's contract: tokens are ids
(merge ``k`` makes ``first_new_id + k``) instead of strings, and whether two neighbours may pair
is given by their unit ids (``None``: never) instead of re-pre-tokenizing their string.

Used by tests/test_merge.py and, as the speed baseline, by bench/bench_merge.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Optional


def reference_merge(
    batch: Sequence[Sequence[int]],
    units: Sequence[Sequence[Optional[int]]],
    first_new_id: int,
    max_merges: Optional[int] = None,
    min_count: int = 1,
    spell: Optional[Callable[[int], bytes]] = None,
) -> tuple[list[list[int]], list[list[int]], list[tuple[int, int, int]]]:
    """Returns ``(ids, starts, merges)`` like ``toktool.merge.merge_units``.

    ``spell`` (an original id's bytes): count only the pairs whose bytes together decode as
    UTF-8, as ``merge_batch(..., whole_chars=True)``."""
    made: dict[int, bytes] = {}

    def spelled(i: int) -> bytes:
        return made[i] if i in made else spell(i) if spell is not None else b""

    def whole(pair: tuple[int, int]) -> bool:
        try:
            (spelled(pair[0]) + spelled(pair[1])).decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    tokens = [list(s) for s in batch]
    unit_lists = [[None if u is None or u < 0 else u for u in us] for us in units]
    starts = [list(range(len(s))) for s in batch]
    merges: list[tuple[int, int, int]] = []
    while max_merges is None or len(merges) < max_merges:
        # get_most_frequent_pair
        pair_freqs: Counter[tuple[int, int]] = Counter()
        for seq, unit in zip(tokens, unit_lists):
            pair_freqs.update(
                (a, b)
                for (a, b), (u, v) in zip(zip(seq, seq[1:]), zip(unit, unit[1:]))
                if u is not None and u == v and (spell is None or whole((a, b)))
            )
        if not pair_freqs:
            break
        best = max(pair_freqs, key=pair_freqs.__getitem__)
        if pair_freqs[best] < min_count:
            break
        new_id = first_new_id + len(merges)
        merges.append((best[0], best[1], pair_freqs[best]))
        made[new_id] = spelled(best[0]) + spelled(best[1])
        # merge_pair
        for idx, seq in enumerate(tokens):
            unit, start = unit_lists[idx], starts[idx]
            out, out_units, out_starts = [], [], []
            i = 0
            while i < len(seq):
                out_units.append(unit[i])
                out_starts.append(start[i])
                if (
                    i < len(seq) - 1
                    and seq[i] == best[0]
                    and seq[i + 1] == best[1]
                    and unit[i] is not None
                    and unit[i] == unit[i + 1]
                ):
                    out.append(new_id)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            tokens[idx], unit_lists[idx], starts[idx] = out, out_units, out_starts
    return tokens, starts, merges


def reference_apply(
    batch: Sequence[Sequence[int]],
    units: Sequence[Sequence[Optional[int]]],
    first_new_id: int,
    merges: Sequence[Sequence[int]],
) -> tuple[list[list[int]], list[tuple[int, int, int]]]:
    """Apply merges in order with the loop's ``merge_pair``; returns ``(ids, merges)`` where
    each merge carries its count in this batch (0 when absent)."""
    tokens = [list(s) for s in batch]
    unit_lists = [[None if u is None or u < 0 else u for u in us] for us in units]
    out_merges = []
    for k, m in enumerate(merges):
        left, right, new_id = m[0], m[1], first_new_id + k
        count = 0
        for idx, seq in enumerate(tokens):
            unit = unit_lists[idx]
            count += sum(
                1 for i in range(len(seq) - 1)
                if seq[i] == left and seq[i + 1] == right and unit[i] is not None
                and unit[i] == unit[i + 1]
            )
            out, out_units, i = [], [], 0
            while i < len(seq):
                out_units.append(unit[i])
                if (i < len(seq) - 1 and seq[i] == left and seq[i + 1] == right
                        and unit[i] is not None and unit[i] == unit[i + 1]):
                    out.append(new_id)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            tokens[idx], unit_lists[idx] = out, out_units
        out_merges.append((left, right, count))
    return tokens, out_merges
