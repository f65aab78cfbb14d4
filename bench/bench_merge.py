"""Dynamic batch merging speed: toktool's Rust merger vs the paper's Python loop, in one run.

Batches of 32 × 512 tokens cut from Debian's "Debian Reference" in nine languages
(``toktool.artifacts.multilingual_corpus()``). For each batch the units (pre-tokens) are found
once; then the Python reference loop (tests/merge_reference.py: recount every pair after every
merge, as the paper's code does) and the Rust merger run on the same ids and units, their
outputs are checked identical, and the times are compared. Saturation (merge until no pair is
left) is timed three ways: the merger on NumPy arrays in and out (``_toktool.merge_units``), through
``merge_units`` (Python lists in and out), and end to end (``toktool.merge_batch``: ids in,
pre-tokens recovered from the ids, merged, ``MergeResult`` out).

    python bench/bench_merge.py --out docs/MERGE.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import toktool
from toktool import _toktool, artifacts
from toktool.merge import merge_batch, merge_units, token_windows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from merge_reference import reference_merge  # noqa: E402
from report import best_of, write_section  # noqa: E402

MARK_BEGIN = "<!-- bench_merge:begin -->"
MARK_END = "<!-- bench_merge:end -->"





def batch_for(tok: toktool.Tokenizer, text: str, seqs: int, length: int) -> list[list[int]]:
    # Skip the table of contents at the start of the guide.
    ids = tok.encode(text[len(text) // 10 :])
    return token_windows(ids, length, seqs)


def bench(name: str, lang: str, text: str, args: argparse.Namespace) -> dict:
    tok = toktool.load_tokenizer(name)
    batch = batch_for(tok, text, args.seqs, args.length)
    units = merge_batch(batch, tok, 0).word_ids
    n = sum(len(s) for s in batch)
    t0 = time.perf_counter()
    ref = reference_merge(batch, units, tok.vocab_size, args.merges)
    t_ref = time.perf_counter() - t0
    ours = merge_units(batch, units, tok.vocab_size, args.merges)
    t_ours = best_of(lambda: merge_units(batch, units, tok.vocab_size, args.merges), args.repeats)
    saturated = merge_units(batch, units, tok.vocab_size, None)
    t_sat = best_of(lambda: merge_units(batch, units, tok.vocab_size, None), args.repeats)
    # The merger on NumPy arrays in and out: the binding's own call, no Python list either way.
    batch_array = np.array(batch, dtype=np.uint32)
    units_array = np.array([[-1 if u is None else u for u in seq] for seq in units], dtype=np.int64)
    t_core = best_of(lambda: _toktool.merge_units(batch_array, units_array, tok.vocab_size, None),
                     args.repeats)
    t_e2e = best_of(lambda: merge_batch(batch, tok, None), args.repeats)
    result = merge_batch(batch, tok, None)
    assert result.ids == saturated[0] and result.reduction.tokens_after == result.reduction.units
    return dict(
        tokenizer=name, lang=lang, tokens=n, identical=ours == ref, t_ref=t_ref, t_ours=t_ours,
        ratio=t_ref / t_ours, sat_merges=len(saturated[2]), t_sat=t_sat, t_core=t_core,
        t_e2e=t_e2e, sat_tokens=result.reduction.tokens_after,
    )


def render(rows: list[dict], args: argparse.Namespace) -> str:
    ratios = [r["ratio"] for r in rows]
    lines = [
        MARK_BEGIN,
        f"`python bench/bench_merge.py` on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, toktool {toktool.__version__}; batches of {args.seqs} × "
        f"{args.length} tokens, pre-token boundary. Reference: the paper's loop in Python "
        f"(tests/merge_reference.py), timed once; toktool: best of {args.repeats}, Python call "
        "included. Outputs (merges, order, ids, spans) checked identical.",
        "",
        f"| tokenizer | language | tokens | reference, {args.merges} merges | toktool, "
        f"{args.merges} merges | speed-up | identical | saturation: merges | merger on arrays | "
        "toktool | end to end |",
        "|---|---|---:|---:|---:|---:|:---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tokenizer']} | {r['lang']} | {r['tokens']:,} | {r['t_ref'] * 1e3:,.0f} ms | "
            f"{r['t_ours'] * 1e3:.2f} ms | {r['ratio']:,.0f}× | "
            f"{'yes' if r['identical'] else 'NO'} | {r['sat_merges']:,} | "
            f"{r['t_core'] * 1e3:.2f} ms | {r['t_sat'] * 1e3:.2f} ms | {r['t_e2e'] * 1e3:.1f} ms |"
        )
    lines += [
        "",
        f"Speed-up at {args.merges} merges: median {statistics.median(ratios):,.0f}×, "
        f"minimum {min(ratios):,.0f}×. Saturation of a batch: at most "
        f"{max(r['t_core'] for r in rows) * 1e3:.2f} ms for the merger on NumPy "
        f"arrays (`_toktool.merge_units`), at most {max(r['t_sat'] for r in rows) * 1e3:.2f} ms with `merge_units`' Python "
        f"conversions, at most {max(r['t_e2e'] * 1e3 for r in rows):.1f} ms end to end "
        "(pre-tokens recovered from the ids by decoding and re-encoding, merge, result).",
        MARK_END,
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizers", default="smollm2,cl100k")
    parser.add_argument("--languages", default=",".join(artifacts.LANGUAGES))
    parser.add_argument("--seqs", type=int, default=32)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--merges", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, help="markdown file to update")
    parser.add_argument("--min-ratio", type=float, default=None,
                        help="exit 1 unless every speed-up is at least this")
    parser.add_argument("--max-saturation-ms", type=float, default=None,
                        help="exit 1 unless every saturation (merger alone) takes at most this")
    args = parser.parse_args()

    corpus = artifacts.multilingual_corpus()
    rows = []
    for name in args.tokenizers.split(","):
        for lang in args.languages.split(","):
            rows.append(bench(name, lang, corpus[lang], args))
            r = rows[-1]
            print(f"{name} {lang}: {r['ratio']:.0f}x, saturation {r['t_core'] * 1e3:.2f} ms",
                  file=sys.stderr)
    section = render(rows, args)
    print(section)
    if args.out:
        write_section(args.out, section, MARK_BEGIN, MARK_END, "Dynamic batch merging")
    status = 0
    if not all(r["identical"] for r in rows):
        print("outputs differ from the reference", file=sys.stderr)
        status = 1
    if args.min_ratio is not None and min(r["ratio"] for r in rows) < args.min_ratio:
        status = 1
    worst_saturation_ms = max(r["t_core"] for r in rows) * 1e3
    if args.max_saturation_ms is not None and worst_saturation_ms > args.max_saturation_ms:
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
