"""The one sampler and stop rule shared by byte-level, healed and naive generation."""

from __future__ import annotations

import numpy as np
import pytest

from toktool.sampling import Stops, pick


def test_pick_is_the_argmax_at_temperature_zero_or_below() -> None:
    rng = np.random.default_rng(0)
    logp = np.log(np.array([0.1, 0.6, 0.3]))
    assert pick(logp, 0.0, rng) == 1
    assert pick(logp, -1.0, rng) == 1


def test_pick_samples_in_proportion_and_never_a_masked_symbol() -> None:
    rng = np.random.default_rng(1)
    logp = np.array([np.log(0.2), np.log(0.8), -np.inf])  # the last is masked
    draws = np.bincount([pick(logp, 1.0, rng) for _ in range(4000)], minlength=3)
    assert draws[2] == 0
    assert 0.75 < draws[1] / draws.sum() < 0.85


def test_top_p_keeps_the_smallest_set_that_reaches_the_mass() -> None:
    rng = np.random.default_rng(2)
    logp = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    seen = {pick(logp, 1.0, rng, top_p=0.7) for _ in range(500)}
    assert seen == {0, 1}  # 0.5 alone is short of 0.7; 0.5 + 0.3 reaches it
    seen = {pick(logp, 1.0, rng, top_p=0.5) for _ in range(200)}
    assert seen == {0}


@pytest.mark.parametrize("stop", [b"\n", [b"\n"], (b"\n", b""), [b"zz", b"\n"]])
def test_stops_accept_one_string_or_several(stop: bytes | list[bytes]) -> None:
    stops = Stops(stop)
    assert stops and stops.hit(b"a\nb") and not stops.hit(b"ab")
    assert stops.cut(b"ab\ncd\n") == b"ab\n"
    assert stops.hit_at_end(b"ab\n") and not stops.hit_at_end(b"ab\nc")


def test_cut_ends_at_the_earliest_stop_whatever_their_order() -> None:
    assert Stops([b"cd", b"b"]).cut(b"abcdef") == b"ab"
    assert Stops([b"b", b"cd"]).cut(b"abcdef") == b"ab"
    assert Stops([b"bc", b"abc"]).cut(b"xabcd") == b"xabc"
    assert Stops(None).cut(b"abc") == b"abc" and not Stops(None) and not Stops([b""])
