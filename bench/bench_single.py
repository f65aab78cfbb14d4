"""Single-thread encode speed of toktool with the pre-token cache off and on, in one run.

Corpus: CPython stdlib sources, encoded as 4 KB calls and as one string of the same size.
Ids are checked: the 4 KB chunks against HF tokenizers, the whole string cache-on vs cache-off.
``--batch`` also times ``encode_batch`` on the chunks (set ``RAYON_NUM_THREADS`` outside).

    RAYON_NUM_THREADS=1 python bench/bench_single.py --mb 8 --batch
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402

import toktool  # noqa: E402
from report import best_of, write_section  # noqa: E402
from toktool import _toktool, artifacts  # noqa: E402

NAMES = ("smollm2", "cl100k", "o200k", "llama3", "claude", "mistral-sp")
CHUNK = 4096
MARK_BEGIN = "<!-- bench_single:begin -->"
MARK_END = "<!-- bench_single:end -->"


def corpus(total_mb: float) -> str:
    budget = int(total_mb * 1e6)
    parts, size = [], 0
    for text in artifacts.stdlib_corpus(max_bytes=budget):
        parts.append(text)
        size += len(text.encode())
        if size >= budget:
            break
    return "".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", action="store_true")
    ap.add_argument("--names", default=",".join(NAMES))
    ap.add_argument("--out", type=Path, help="markdown file to update")
    args = ap.parse_args()
    text = corpus(args.mb)
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    nbytes = len(text.encode())
    print(f"corpus {nbytes / 1e6:.1f} MB, {len(chunks)} chunks, "
          f"RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', '-')}", file=sys.stderr)
    lines = [
        MARK_BEGIN,
        f"The pre-token cache, off and on in one run (`python bench/bench_single.py`): "
        f"{nbytes / 1e6:.1f} MB of CPython stdlib source as 4 KB calls and as one string, "
        f"`RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'unset')}` for the batch "
        "column. Shared, noisy machine: compare rows of one tokenizer, not across runs.",
        "",
        "| tokenizer | cache | 4 KB calls MB/s | one string MB/s | batch MB/s |",
        "|---|---|---:|---:|---:|",
    ]
    for name in args.names.split(","):
        path = artifacts.tokenizer_json(name)
        ours = toktool.Tokenizer.from_file(path)
        hf = tokenizers.Tokenizer.from_file(str(path))
        reference = [e.ids for e in hf.encode_batch(chunks, add_special_tokens=False)]
        whole = {}
        for enabled in (False, True):
            _toktool.set_pretoken_cache(enabled)
            got = [ours.encode(c) for c in chunks]
            assert got == reference, f"{name}: ids differ from HF (cache={enabled})"
            whole[enabled] = ours.encode(text)
            t_chunks = best_of(lambda: [ours.encode(c) for c in chunks], args.repeats)
            t_whole = best_of(lambda: ours.encode(text), args.repeats)
            batch = "-"
            if args.batch:
                assert ours.encode_batch(chunks) == reference
                t_batch = best_of(lambda: ours.encode_batch(chunks), args.repeats)
                batch = f"{nbytes / t_batch / 1e6:.1f}"
            lines.append(f"| {name} | {'on' if enabled else 'off'} | {nbytes / t_chunks / 1e6:.1f} "
                         f"| {nbytes / t_whole / 1e6:.1f} | {batch} |")
            print(lines[-1], file=sys.stderr, flush=True)
        assert whole[False] == whole[True], f"{name}: one-string ids differ with the cache"
    _toktool.set_pretoken_cache(True)
    lines.append(MARK_END)
    print("\n".join(lines))
    if args.out:
        write_section(args.out, "\n".join(lines), MARK_BEGIN, MARK_END, "Benchmarks")


if __name__ == "__main__":
    main()
