"""Encode throughput: toktool vs HF tokenizers vs tiktoken, side by side in one run.

Corpus: CPython standard-library sources on this machine, cut into 4 KB chunks. Every engine
encodes the same chunks; ids must be identical (checked) before any number is reported.
Writes the results table into docs/BENCHMARKS.md (between markers) and prints it.

    python bench/bench_encode.py --mb 20 --out docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import tokenizers  # noqa: E402

import toktool  # noqa: E402
from report import best_of, write_section  # noqa: E402
from toktool import artifacts  # noqa: E402

CHUNK = 4096
MARK_BEGIN = "<!-- bench_encode:begin -->"
MARK_END = "<!-- bench_encode:end -->"


def corpus_chunks(total_mb: float) -> list[str]:
    budget = int(total_mb * 1e6)
    chunks: list[str] = []
    size = 0
    for text in artifacts.stdlib_corpus(max_bytes=budget):
        for i in range(0, len(text), CHUNK):
            piece = text[i : i + CHUNK]
            chunks.append(piece)
            size += len(piece.encode())
            if size >= budget:
                return chunks
    return chunks





def bench_tokenizer(name: str, chunks: list[str], repeats: int) -> list[dict]:
    path = artifacts.tokenizer_json(name)
    ours = toktool.Tokenizer.from_file(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    nbytes = sum(len(c.encode()) for c in chunks)

    engines: dict[str, dict[str, Callable[[], list[list[int]]]]] = {
        "toktool": {
            "single": lambda: [ours.encode(c) for c in chunks],
            "batch": lambda: ours.encode_batch(chunks),
        },
        "HF tokenizers": {
            "single": lambda: [hf.encode(c, add_special_tokens=False).ids for c in chunks],
            "batch": lambda: [
                e.ids for e in hf.encode_batch(chunks, add_special_tokens=False)
            ],
        },
    }
    if name in ("cl100k", "o200k", "llama3"):
        enc = artifacts.tiktoken_encoding(name)
        engines["tiktoken"] = {
            "single": lambda: [enc.encode_ordinary(c) for c in chunks],
            "batch": lambda: enc.encode_ordinary_batch(chunks, num_threads=os.cpu_count() or 1),
        }

    reference = engines["HF tokenizers"]["single"]()
    rows = []
    for engine, modes in engines.items():
        for mode, fn in modes.items():
            ids = fn()
            identical = ids == reference
            seconds = best_of(fn, repeats)
            rows.append(
                dict(tokenizer=name, engine=engine, mode=mode, mbps=nbytes / seconds / 1e6,
                     identical=identical)
            )
    hf_speed = {r["mode"]: r["mbps"] for r in rows if r["engine"] == "HF tokenizers"}
    for r in rows:
        r["vs_hf"] = r["mbps"] / hf_speed[r["mode"]]
    return rows


def worst_case(repeats: int) -> list[dict]:
    """Adversarial inputs: time per MB must stay flat as the input grows (linear time)."""
    path = artifacts.tokenizer_json("cl100k")
    chain_json = toktool.testing.merge_chain_tokenizer_json()
    engines = {
        "cl100k": (toktool.Tokenizer.from_file(path), tokenizers.Tokenizer.from_file(str(path))),
        "merge chains": (toktool.Tokenizer.from_str(chain_json),
                         tokenizers.Tokenizer.from_str(chain_json)),
    }
    cases = {
        "repeated 'a'": ("cl100k", lambda n: "a" * n),
        "spaces then x": ("cl100k", lambda n: " " * n + "x"),
        "mixed whitespace": ("cl100k", lambda n: " \t\n\u3000" * (n // 4)),
        "digit run": ("cl100k", lambda n: "7" * n),
        "alternating 'ab' word": ("cl100k", lambda n: "ab" * (n // 2)),
        "no-merge word (random CJK)": ("cl100k", lambda n: "".join(
            chr(0x4E00 + (i * 7919) % 20000) for i in range(n // 3)
        )),
        "a^n through a, aa, aaaa, ...": ("merge chains", lambda n: "a" * n),
        "(ab)^n through a, ab, aba, ...": ("merge chains", lambda n: "ab" * (n // 2)),
    }
    rows = []
    for case, (name, make) in cases.items():
        ours, hf = engines[name]
        for size in (100_000, 1_000_000):
            text = make(size)
            assert ours.encode(text) == hf.encode(text, add_special_tokens=False).ids, case
            t_ours = best_of(lambda: ours.encode(text), repeats)
            t_hf = best_of(lambda: hf.encode(text, add_special_tokens=False), 1)
            rows.append(dict(case=case, tokenizer=name, bytes=len(text.encode()), ours=t_ours,
                             hf=t_hf))
    return rows


def render(rows: list[dict], worst: list[dict], total_mb: float) -> str:
    lines = [
        MARK_BEGIN,
        f"Encode throughput on {total_mb:g} MB of CPython stdlib source in {CHUNK}-byte chunks "
        f"(`python bench/bench_encode.py`), {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, tokenizers {tokenizers.__version__}, "
        f"toktool {toktool.__version__}. Best of several runs; ids checked identical to HF.",
        "",
        "| tokenizer | engine | mode | MB/s | × HF | identical ids |",
        "|---|---|---|---:|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tokenizer']} | {r['engine']} | {r['mode']} | {r['mbps']:.1f} | "
            f"{r['vs_hf']:.1f}× | {'yes' if r['identical'] else 'NO'} |"
        )
    per_kb = {(w["case"], w["bytes"]): w["ours"] / w["bytes"] * 1e9 for w in worst}
    growth: dict[str, float] = {}
    for w in worst:
        sizes = sorted(b for c, b in per_kb if c == w["case"])
        growth[w["case"]] = per_kb[(w["case"], sizes[-1])] / per_kb[(w["case"], sizes[0])]
    # The claim is computed from the rows, never asserted: 10x the input, time per KB within 1.3x.
    superlinear = [c for c, g in growth.items() if g > 1.3]
    claim = ("time per KB stays within 1.3× when the input grows 10× for every case"
             if not superlinear else
             "time per KB grows by more than 1.3× when the input grows 10× for: "
             + ", ".join(f"{c} ({growth[c]:.2f}×)" for c in superlinear)
             + " (one pre-token of the whole input; the merge loop is linear, rank buckets "
               "above 2,048 units, so what grows is memory traffic once its working set leaves "
               "the CPU caches); the other cases stay flat")
    lines += [
        "",
        "Worst cases (one string; `merge chains` is `toktool.testing.merge_chain_tokenizer_json`, "
        f"no pre-tokenizer, every merge enabling the next): seconds per encode; {claim}.",
        "",
        "| input | tokenizer | bytes | toktool s | HF s | toktool µs/KB | growth ×10 input |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for w in worst:
        lines.append(
            f"| {w['case']} | {w['tokenizer']} | {w['bytes']:,} | {w['ours']:.4f} | "
            f"{w['hf']:.4f} | {w['ours'] / w['bytes'] * 1e9:.1f} | {growth[w['case']]:.2f}× |"
        )
    lines.append(MARK_END)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="corpus size in MB")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokenizers", default="cl100k,smollm2,o200k,llama3")
    parser.add_argument("--out", type=Path, help="markdown file to update")
    parser.add_argument("--min-ratio", type=float, default=None,
                        help="exit 1 unless toktool single-thread is this many times HF")
    args = parser.parse_args()

    chunks = corpus_chunks(args.mb)
    rows: list[dict] = []
    for name in args.tokenizers.split(","):
        rows += bench_tokenizer(name, chunks, args.repeats)
        print(f"{name}: done", file=sys.stderr)
    worst = worst_case(args.repeats)
    section = render(rows, worst, args.mb)
    print(section)
    if args.out:
        write_section(args.out, section, MARK_BEGIN, MARK_END, "Benchmarks")
    failures = [r for r in rows if not r["identical"]]
    if failures:
        print(f"ids differ: {failures}", file=sys.stderr)
        return 1
    if args.min_ratio is not None:
        single = [r for r in rows if r["engine"] == "toktool" and r["mode"] == "single"]
        worst_ratio = min(r["vs_hf"] for r in single)
        print(f"toktool single-thread: {worst_ratio:.1f}× HF at worst "
              f"(median {statistics.median(r['vs_hf'] for r in single):.1f}×)", file=sys.stderr)
        if worst_ratio < args.min_ratio:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
