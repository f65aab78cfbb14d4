"""bench/eval_merge.py's statistics: the standard error its tables print beside each mean
excess, and the sections a run with another number of scored sequences writes to."""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import eval_merge  # noqa: E402


def _row(lang: str, base: list[float], merged: list[float], nbytes: list[int]) -> dict:
    return {
        "lang": lang,
        "base": sum(base) / sum(nbytes),
        "hn100": sum(merged) / sum(nbytes),
        "base_seqs": base,
        "hn100_seqs": merged,
        "seq_bytes": nbytes,
    }


def test_standard_error_is_the_textbook_one_for_equal_sequences() -> None:
    # equal bytes per sequence: a language's excess is the plain mean of its sequences'
    # excesses, whose standard error is stdev / sqrt(n); languages add in variance
    a = _row("a", [100.0, 100.0, 100.0], [104.0, 110.0, 107.0], [100, 100, 100])
    b = _row("b", [200.0, 200.0], [230.0, 210.0], [100, 100])
    per_a = [0.04, 0.10, 0.07]
    per_b = [0.30, 0.10]
    se_a = statistics.stdev(per_a) / math.sqrt(3)
    se_b = statistics.stdev(per_b) / math.sqrt(2)
    expected = math.sqrt(se_a**2 + se_b**2) / 2
    assert eval_merge.mean_excess_error([a, b], "hn100") == pytest.approx(expected)


def test_standard_error_weights_sequences_by_bytes() -> None:
    # identical excess per byte in every sequence: no spread, whatever the lengths
    r = _row("a", [100.0, 300.0], [110.0, 330.0], [100, 300])
    assert eval_merge.mean_excess_error([r], "hn100") == pytest.approx(0.0)
    # a long sequence's excess counts more: the language's excess is the byte-weighted mean
    r = _row("a", [100.0, 300.0], [120.0, 300.0], [100, 300])
    assert r["hn100"] - r["base"] == pytest.approx(0.25 * 0.2 + 0.75 * 0.0)
    assert eval_merge.mean_excess_error([r], "hn100") > 0


def test_standard_errors_sentence_skips_columns_without_sequences() -> None:
    r = _row("a", [100.0, 100.0], [104.0, 110.0], [100, 100])
    r["sat"] = 1.5  # a column scored without per-sequence values
    text = eval_merge.standard_errors([r], ["hn100", "sat"])
    assert "hypernetwork (ZeTT), 100 +0.0700 ± 0.0300" in text
    assert "saturation" not in text
    assert eval_merge.standard_errors([r], ["sat"]) == ""


def test_other_numbers_of_scored_sequences_write_their_own_sections() -> None:
    args = argparse.Namespace(corpus="debian-reference", eval_seqs=eval_merge.EVAL_SEQS)
    assert eval_merge.markers(args, "quality")[0] == "<!-- eval_merge_quality:begin -->"
    args.eval_seqs = 8
    assert eval_merge.markers(args, "quality")[0] == "<!-- eval_merge_quality_seqs8:begin -->"
    args.corpus = "manpages"
    assert eval_merge.markers(args, "prefill")[1] == "<!-- eval_merge_prefill_manpages_seqs8:end -->"
