"""Reliability contracts across the Python boundary: threads, fork, worst-case time.

- The same ``Tokenizer``, ``CoverSearch``, ``ByteLM`` (and the states it makes) and
  ``TokenHealer`` used from 8 threads at once give exactly the serial results.
- Nothing deadlocks in a child after ``os.fork()``, whatever the parent did with the thread pool.
- Adversarial inputs encode in time linear in their length: 10x the input costs at most 50x the
  time. Quadratic behaviour costs 100x; an O(n log n) merge heap costs ~12x, up to ~3x more once
  the larger input leaves the CPU caches, and a shared machine adds noise: measured ratios were
  13x to 39x. A ratio with a generous bound, not an absolute timing.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

import toktool
from toktool.testing import merge_chain_tokenizer_json

THREADS = 8


def trained_byte_level_json() -> str:
    """A small GPT-2-style byte-level BPE trained with HF's trainer."""
    text = ["ab ab 1a ba 11 ab", "a1 b1 ab ba ab1", "hello world 123 hello", "b a 1 ab ab ab"] * 20
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<eos>"], show_progress=False,
    )
    tok.train_from_iterator(text, trainer=trainer)
    return tok.to_str()


class SeededTokenLM:
    """A deterministic, stateless (so thread-safe) token LM: logits seeded by the context."""

    def __init__(self, vocab: int):
        self.vocab = vocab

    def __call__(self, contexts):  # type: ignore[no-untyped-def]
        rows = []
        for ctx in contexts:
            rng = np.random.default_rng([len(ctx), *ctx])
            logits = rng.normal(size=self.vocab) * 2
            rows.append(logits - np.logaddexp.reduce(logits))
        return np.array(rows)


def in_threads(work: Callable[[int], object], n_items: int) -> list[object]:
    """``work(i)`` for every item, from THREADS threads released at the same moment."""
    barrier = threading.Barrier(THREADS)

    def start(i: int) -> object:
        if i < THREADS:
            barrier.wait()
        return work(i)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(start, range(n_items)))


@pytest.fixture(scope="module")
def tok() -> toktool.Tokenizer:
    return toktool.Tokenizer.from_str(trained_byte_level_json())


def test_tokenizer_methods_from_8_threads_equal_serial(tok: toktool.Tokenizer) -> None:
    texts = [("ab 1a hello " * (i % 13 + 1)) + str(i) for i in range(400)]

    def work(i: int) -> object:
        ids = tok.encode(texts[i])
        return (ids, tok.encode_batch(texts[i : i + 3]), tok.decode_bytes(ids),
                tok.is_canonical(ids), tok.encode_with_pretokens(texts[i]))

    serial = [work(i) for i in range(len(texts))]
    assert in_threads(work, len(texts)) == serial


def test_large_encode_batches_from_8_threads_equal_serial(tok: toktool.Tokenizer) -> None:
    # Batches of hundreds of texts: each call's own thread converts blocks between encoding
    # them, taking and releasing the GIL many times while the other calls do the same.
    texts = [("hello ab 1a " * (i % 29 + 1)) + str(i) for i in range(1200)]

    def work(i: int) -> object:
        return tok.encode_batch(texts[i * 50 : i * 50 + 400]), tok.encode_batch(
            texts[i * 50 : i * 50 + 400], as_array=True
        )[-1].tolist()

    serial = [work(i) for i in range(16)]
    assert serial[0][0] == [tok.encode(t) for t in texts[:400]]
    assert in_threads(work, 16) == serial


def test_cover_search_from_8_threads_equals_serial(tok: toktool.Tokenizer) -> None:
    search = toktool.CoverSearch(tok)
    prefixes = [f"ab {i} hel".encode() for i in range(64)]

    def work(i: int) -> object:
        c = search.covers(prefixes[i])
        return c, search.valid_next(prefixes[i][c.boundary:], [], c.boundary == 0).tolist()

    serial = [work(i) for i in range(len(prefixes))]
    assert in_threads(work, len(prefixes)) == serial


def test_bytelm_states_from_8_threads_equal_serial(tok: toktool.Tokenizer) -> None:
    eos = tok.token_to_id("<eos>")
    blm = toktool.ByteLM(SeededTokenLM(tok.vocab_size), tok, eos_id=eos)
    # Different heads in every item: the shared mask cache sees many contexts interleaved.
    prefixes = [f"{'ab ' * (i % 5)}{i % 7} hello".encode() for i in range(48)]

    def work(i: int) -> object:
        state = blm.state(prefixes[i])
        first = state.logprobs()
        state.push(b"1 a")
        return first.tolist(), state.logprobs().tolist(), blm.logprob(b" ab", prefix=prefixes[i])

    serial = [work(i) for i in range(len(prefixes))]
    assert in_threads(work, len(prefixes)) == serial


def test_token_healer_from_8_threads_equals_serial(tok: toktool.Tokenizer) -> None:
    healer = toktool.TokenHealer(tok)
    lm = SeededTokenLM(tok.vocab_size)
    prompts = [f"{'ab ' * (i % 4)}{i} hel".encode() for i in range(64)]

    def work(i: int) -> object:
        healed = healer.heal(prompts[i])
        allowed = healer.allowed_ids(healed.constraint_bytes).tolist()
        advanced = [healer.advance(healed.constraint_bytes, t) for t in allowed[:5]]
        generated = toktool.heal_generate(lm, tok, prompts[i], max_tokens=3, healer=healer)
        return healed, allowed, advanced, generated, healer.encode_bytes(prompts[i])

    serial = [work(i) for i in range(len(prompts))]
    assert in_threads(work, len(prompts)) == serial


def run_in_child(body: Callable[[], bool], timeout: float = 120.0) -> None:
    """Run ``body`` in a forked child; fail if it is false, raises, or hangs (deadlock)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ok = body()
        except BaseException:  # noqa: BLE001 - report anything to the parent, then exit
            ok = False
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child hung for {timeout:.0f} s (deadlock)")
        time.sleep(0.05)
    answer = os.read(read, 1)
    os.close(read)
    assert answer == b"1" and status == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_nothing_deadlocks_after_fork(tok: toktool.Tokenizer) -> None:
    search = toktool.CoverSearch(tok)
    # Use the thread pool in the parent first: loading, batches and cover checks all may.
    expected_batch = tok.encode_batch(["ab 1a"] * 64)
    expected_mask = search.valid_next(b"ab", [], True).tolist()
    json_text = trained_byte_level_json()
    eos = tok.token_to_id("<eos>")

    def child() -> bool:
        fresh = toktool.Tokenizer.from_str(json_text)
        fresh_search = toktool.CoverSearch(fresh)
        blm = toktool.ByteLM(SeededTokenLM(fresh.vocab_size), fresh, eos_id=eos)
        healed = toktool.TokenHealer(fresh).heal(b"ab 1a hel")
        return (
            healed.ids + healed.removed_ids == healed.prompt_ids
            and not toktool.parallelism()
            and fresh.encode_batch(["ab 1a"] * 64) == expected_batch
            and fresh_search.valid_next(b"ab", [], True).tolist() == expected_mask
            and np.isfinite(blm.next_byte_logprobs(b"ab 1")).any()
        )

    run_in_child(child)


def merge_chain_tokenizer() -> toktool.Tokenizer:
    return toktool.Tokenizer.from_str(merge_chain_tokenizer_json())


def best_times(fns: list[Callable[[], object]], repeats: int = 5) -> list[float]:
    """Best wall time of each function, runs interleaved so that a busy machine slows all alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


ADVERSARIAL = {
    "repeated char": lambda n: "a" * n,
    "digit run": lambda n: "7" * n,
    "whitespace run": lambda n: " " * n + "x",
    "mixed whitespace": lambda n: " \t\n\u3000" * (n // 4),
    "alternating word": lambda n: "ab" * (n // 2),
}


@pytest.mark.parametrize("case", list(ADVERSARIAL))
@pytest.mark.parametrize("tokenizer", ["trained byte-level", "merge chains"])
def test_adversarial_inputs_encode_in_linear_time(case: str, tokenizer: str,
                                                  tok: toktool.Tokenizer) -> None:
    target = tok if tokenizer == "trained byte-level" else merge_chain_tokenizer()
    make = ADVERSARIAL[case]
    # Sizes past the CPU caches: below ~100 KB everything is cache-resident and looks faster.
    small, large = make(200_000), make(2_000_000)
    t_small, t_large = best_times([lambda: target.encode(small), lambda: target.encode(large)])
    assert t_large < 50 * t_small + 0.05, f"{case}: {t_small:.4f} s -> {t_large:.4f} s for 10x"
