"""Token-healing speed: toktool's Rust prefix index vs transformers' Python ExtensionsTrie.

Same prompts as bench/eval_healing.py (CPython stdlib code cut at random bytes); for each prompt
the constraint is what ``toktool.TokenHealer.heal`` backs off. Per tokenizer and prompt:
- toktool: ``heal(prompt)`` (back-off choice, including re-encoding checks) and
  ``allowed(constraint)`` (the full vocabulary mask, a fresh NumPy ``bool`` array);
- transformers: the query its ``generate(token_healing=True)`` makes per prompt,
  ``ExtensionsTrie.extensions(prefix)`` plus ``convert_tokens_to_ids``, scattered into a mask like
  ours, with the trie built beforehand (``heal_tokens`` itself rebuilds the trie on every call:
  that cost is reported separately). It answers only "tokens that start with R"; toktool's mask
  also holds the tokens that spell a prefix of R (multi-step healing) and drops dead ends.

Times are medians over repeats per prompt, then the median / 99th percentile / maximum over
prompts. Writes the tables into docs/HEALING.md between markers and prints them.

    python bench/bench_healing.py --n 200 --out docs/HEALING.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

import toktool  # noqa: E402
from eval_healing import make_cases  # noqa: E402
from report import write_section  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.byte_level import bytes_to_unicode  # noqa: E402

MARK_BEGIN = "<!-- bench_healing:begin -->"
MARK_END = "<!-- bench_healing:end -->"

ADVERSARIAL = {
    "one space (half the vocabulary)": b" ",
    "empty (every token)": b"",
    "64 spaces (long multi-step)": b" " * 64,
    "32 × 'a'": b"a" * 32,
    "cut UTF-8 char": "中".encode()[:1],
    "400 bytes of code": b"    def __init__(self, x):\n        self.x = x\n" * 9,
}


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e9


def summary(seconds: list[float]) -> tuple[float, float, float]:
    us = sorted(s * 1e6 for s in seconds)
    p99 = us[min(len(us) - 1, int(0.99 * len(us)))]
    return statistics.median(us), p99, us[-1]


class HFQuery:
    """transformers' per-prompt healing query over a prebuilt ExtensionsTrie."""

    def __init__(self, name: str):
        import tokenizers
        from transformers import PreTrainedTokenizerFast
        from transformers.tokenization_python import ExtensionsTrie

        path = artifacts.tokenizer_json(name)
        self.tok = PreTrainedTokenizerFast(
            tokenizer_object=tokenizers.Tokenizer.from_file(str(path))
        )
        t0 = time.perf_counter()
        vocab = self.tok.get_vocab()
        self.trie = ExtensionsTrie(vocab)
        self.build_seconds = time.perf_counter() - t0
        self.vocab_size = max(vocab.values()) + 1
        self.spell = bytes_to_unicode()

    def mask(self, constraint: bytes) -> np.ndarray:
        prefix = "".join(self.spell[b] for b in constraint)
        ids = self.tok.convert_tokens_to_ids(self.trie.extensions(prefix=prefix))
        assert isinstance(ids, list)
        mask = np.zeros(self.vocab_size, dtype=bool)
        # None: a string the trie made up (its _get_node answers for a shorter prefix).
        mask[[i for i in ids if i is not None]] = True
        return mask


def bench_tokenizer(name: str, constraints: list[bytes], prompts: list[bytes],
                    repeats: int) -> dict[str, Any]:
    tok = toktool.load_tokenizer(name)
    t0 = time.perf_counter()
    healer = toktool.TokenHealer(tok)
    build = time.perf_counter() - t0
    if not constraints:
        constraints = [healer.heal(p).constraint_bytes for p in prompts]
    heal_t = [timed(partial(healer.heal, p), repeats) for p in prompts]
    mask_t = [timed(partial(healer.allowed, c), repeats) for c in constraints]
    bits_t = [timed(partial(healer.allowed_bitmask, c), repeats) for c in constraints]
    hf = HFQuery(name)
    hf_t = [timed(partial(hf.mask, c), max(repeats // 4, 3)) for c in constraints]
    # Agreement on the shared part: tokens that start with the constraint.
    differ = 0
    for c in constraints:
        ours = set(healer.extensions(c).tolist())
        theirs = set(np.flatnonzero(hf.mask(c)).tolist()) - set(tok.special_tokens.values())
        differ += ours != theirs
    specials = set(tok.special_tokens.values())
    adversarial = []
    for case, c in ADVERSARIAL.items():
        theirs = set(np.flatnonzero(hf.mask(c)).tolist()) - specials
        adversarial.append(dict(
            tokenizer=name, case=case, allowed=int(healer.allowed(c).sum()),
            ours=timed(partial(healer.allowed, c), repeats),
            hf=timed(partial(hf.mask, c), 3),
            agree=theirs == set(healer.extensions(c).tolist()),
        ))
    return dict(
        tokenizer=name, vocab=tok.vocab_size, build=build, hf_build=hf.build_seconds,
        heal=summary(heal_t), mask=summary(mask_t), bits=summary(bits_t), hf=summary(hf_t),
        ratio=statistics.median(h / m for h, m in zip(hf_t, mask_t)), differ=differ,
        n=len(constraints), adversarial=adversarial,
    )


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    import transformers

    def fmt(t: tuple[float, float, float]) -> str:
        return " / ".join(f"{x:,.1f}" for x in t)

    lines = [
        MARK_BEGIN,
        f"Token-healing speed on {rows[0]['n']} prompts cut at random bytes of CPython stdlib code "
        f"(seed {args.seed}), {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, transformers {transformers.__version__}, toktool "
        f"{toktool.__version__}. µs per call, median / p99 / max over prompts, one thread, "
        f"{os.getloadavg()[0]:.1f} load average while measuring. "
        "Made by `python bench/bench_healing.py`.",
        "",
        "| tokenizer | vocab | toktool `allowed` mask µs | toktool bitmask µs | "
        "transformers trie query µs | × faster (median) | toktool `heal` µs | "
        "index build ms (toktool / transformers trie) | extension sets differ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tokenizer']} | {r['vocab']:,} | {fmt(r['mask'])} | {fmt(r['bits'])} | "
            f"{fmt(r['hf'])} | {r['ratio']:,.0f}× | {fmt(r['heal'])} | "
            f"{r['build'] * 1e3:,.0f} / {r['hf_build'] * 1e3:,.0f} | {r['differ']}/{r['n']} |"
        )
    lines += [
        "",
        "transformers' `heal_tokens` builds its `ExtensionsTrie` from `get_vocab()` on every "
        "`generate` call: the build column is its per-call overhead before any model work. "
        "\"Extension sets differ\" counts prompts where the trie's answer for \"tokens that start "
        "with R\" is not toktool's `extensions(R)` (a correctness cross-check).",
        "",
        "Adversarial constraints (µs per `allowed` call; transformers' trie query for comparison, "
        "and whether its \"tokens that start with R\" equals toktool's):",
        "",
        "| tokenizer | constraint | allowed tokens | toktool µs | transformers µs | "
        "transformers agrees |",
        "|---|---|---:|---:|---:|:---:|",
    ]
    for r in rows:
        for a in r["adversarial"]:
            lines.append(
                f"| {a['tokenizer']} | {a['case']} | {a['allowed']:,} | {a['ours'] * 1e6:,.1f} | "
                f"{a['hf'] * 1e6:,.0f} | {'yes' if a['agree'] else 'NO'} |"
            )
    lines.append(MARK_END)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of prompts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--tokenizers", default="smollm2,llama3,o200k")
    parser.add_argument("--out", type=Path, help="markdown file to update")
    parser.add_argument("--max-us", type=float, default=None,
                        help="exit 1 if the median mask time of a tokenizer exceeds this")
    args = parser.parse_args()

    prompts = [c.prompt for c in make_cases(args.n, args.seed)]
    rows = []
    for name in args.tokenizers.split(","):
        rows.append(bench_tokenizer(name, [], prompts, args.repeats))
        print(f"{name}: done", file=sys.stderr)
    section = render(rows, args)
    print(section)
    if args.out:
        write_section(args.out, section, MARK_BEGIN, MARK_END, "Token healing")
    if args.max_us is not None and any(r["mask"][0] > args.max_us for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
