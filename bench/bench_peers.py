"""toktool against the encoders a user would pick instead, single thread, in one run.

Peers (installed by ``bench/install-peers.sh`` into the venv; never runtime dependencies):
HF tokenizers, tiktoken, bpe-openai, tokie, gigatoken, fastokens, kitoken. Every engine loads the
same ``tokenizer.json`` (tiktoken / bpe-openai their own cl100k/o200k ranks) and encodes the same
4 KB chunks of CPython stdlib source, one call per chunk, and then long strings of other
stdlib source (``--string-mb``, one call each). The engines are timed in turn on each fresh
slice and each long string (the order rotated), best kept, so a slow spell of the shared machine
falls on all of them alike. Ids are checked against HF: an engine that refuses
the file or gives other ids is marked and not ranked. Reports MB/s, load time, the
resident-memory growth of loading, and toktool's ratio to the fastest exact peer.

    RAYON_NUM_THREADS=1 python bench/bench_peers.py --mb 2 --string-mb 8
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402

import toktool  # noqa: E402
from report import write_section  # noqa: E402
from toktool import artifacts  # noqa: E402

NAMES = ("smollm2", "cl100k", "o200k", "llama3", "claude", "mistral-sp")
MARK_BEGIN = "<!-- bench_peers:begin -->"
MARK_END = "<!-- bench_peers:end -->"
TIKTOKEN_NAMES = {"cl100k": "cl100k_base", "o200k": "o200k_base"}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


#: toktool returning each call's ids as a NumPy array: the like-for-like row against peers that
#: return an encoding object and build no Python ints until asked (HF, tokie, ...).
ARRAY = "toktool (ids as array)"


def as_ids(result: Any) -> list[int]:
    ids = getattr(result, "ids", result)
    return ids.tolist() if hasattr(ids, "tolist") else list(ids)


def loaders(name: str, path: Path) -> dict[str, Callable[[], Callable[[str], Any]]]:
    def toktool_() -> Callable[[str], Any]:
        return toktool.Tokenizer.from_file(path).encode

    def toktool_array() -> Callable[[str], Any]:
        tok = toktool.Tokenizer.from_file(path)
        return lambda t: tok.encode(t, as_array=True)

    def hf() -> Callable[[str], Any]:
        tok = tokenizers.Tokenizer.from_file(str(path))
        return lambda t: tok.encode(t, add_special_tokens=False)

    def tokie_() -> Callable[[str], Any]:
        import tokie

        tok = tokie.Tokenizer.from_json(str(path))
        return lambda t: tok.encode(t, add_special_tokens=False)

    def gigatoken_() -> Callable[[str], Any]:
        import gigatoken

        tok = gigatoken.Tokenizer.from_json(path.read_text())
        return tok.encode

    def fastokens_() -> Callable[[str], Any]:
        import fastokens

        tok = fastokens.Tokenizer.from_file(str(path))
        return lambda t: tok.encode(t, add_special_tokens=False)

    def kitoken_() -> Callable[[str], Any]:
        import kitoken

        tok = kitoken.Kitoken.from_tokenizers_file(str(path))
        return lambda t: tok.encode(t, True)

    out = {"toktool": toktool_, ARRAY: toktool_array, "HF tokenizers": hf, "tokie": tokie_, "gigatoken": gigatoken_,
           "fastokens": fastokens_, "kitoken": kitoken_}
    if name in TIKTOKEN_NAMES:
        def tiktoken_() -> Callable[[str], Any]:
            return artifacts.tiktoken_encoding(name).encode_ordinary

        def bpe_openai_() -> Callable[[str], Any]:
            import bpe_openai

            return bpe_openai.get_encoding(TIKTOKEN_NAMES[name]).encode_ordinary

        out["tiktoken"] = tiktoken_
        out["bpe-openai"] = bpe_openai_
    return out


def in_turn(items: list[Any], k: int) -> list[Any]:
    """``items`` rotated left by ``k``: the order of the engines on the ``k``-th timing."""
    k %= max(len(items), 1)
    return items[k:] + items[:k]


def bench(name: str, chunks: list[str], timing: list[list[str]],
          longs: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Load and check every engine on ``chunks``, then time the engines in turn on each fresh
    slice of ``timing`` (the order rotated from slice to slice, so a slow spell of the shared
    machine falls on all of them alike), best slice per engine; then each long string in one
    call per engine, the same way."""
    path = artifacts.tokenizer_json(name)
    timing_bytes = sum(len(c.encode()) for c in timing[0])
    hf = tokenizers.Tokenizer.from_file(str(path))
    reference = [e.ids for e in hf.encode_batch(chunks, add_special_tokens=False)]
    long_references = [hf.encode(long, add_special_tokens=False).ids for long in longs]
    rows = []
    timed: list[tuple[dict[str, Any], Callable[[str], Any]]] = []
    for engine, load in loaders(name, path).items():
        row: dict[str, Any] = dict(tokenizer=name, engine=engine)
        rows.append(row)
        before, t0 = rss_mb(), time.perf_counter()
        try:
            encode = load()
            row["load_s"] = time.perf_counter() - t0
            row["load_mb"] = rss_mb() - before
            got = [as_ids(encode(c)) for c in chunks]
        except Exception as e:  # noqa: BLE001 -- a refusing peer is a result, not a crash
            reason = " ".join(str(e).split())[:60].replace("|", "/")
            row["status"] = f"refuses ({type(e).__name__}: {reason})"
            continue
        bad = sum(g != r for g, r in zip(got, reference))
        row["status"] = "exact" if bad == 0 else f"{bad} of {len(chunks)} chunks differ"
        row["mbps"], row["cpu"] = 0.0, 0.0
        timed.append((row, encode))
    # Timed on text no engine has seen (whole-text or segment caches would otherwise replay the
    # checking pass); CPU/wall shows hidden threads.
    for k, fresh in enumerate(timing):
        for row, encode in in_turn(timed, k):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for c in fresh:
                encode(c)
            wall = time.perf_counter() - wall0
            mbps = timing_bytes / wall / 1e6
            if mbps > row["mbps"]:
                row["mbps"], row["cpu"] = mbps, (time.process_time() - cpu0) / wall
    for k, (long, expected) in enumerate(zip(longs, long_references)):
        # one call on text the engine has not seen; its ids are the check
        for row, encode in in_turn(timed, k):
            if row.get("long_status", "exact") != "exact":
                continue
            try:
                wall0, cpu0 = time.perf_counter(), time.process_time()
                result = encode(long)
                wall = time.perf_counter() - wall0
                mbps = len(long.encode()) / wall / 1e6
                if mbps > row.get("long_mbps", 0.0):
                    row["long_mbps"] = mbps
                    row["long_cpu"] = (time.process_time() - cpu0) / wall
                ids = as_ids(result)  # outside the timing, as for the chunks
                row["long_status"] = "exact" if ids == expected else "differs"
            except Exception as e:  # noqa: BLE001
                row["long_status"] = f"fails ({type(e).__name__})"
    for row, _ in timed:
        print(row, file=sys.stderr, flush=True)
    return rows


#: toktool's own rows, never ranked as peers.
MINE = ("toktool", ARRAY)
#: The row fields of the 4 KB chunk timing and of the one-string timing.
CHUNKS, LONG = "", "long_"


def measured(r: dict[str, Any], ours: dict[str, Any], kind: str) -> tuple[str, str, str]:
    """A row's ids status, "MB/s | CPU/wall" and toktool's ratio to it, for one timing."""
    status = r.get(kind + "status", "-")
    mbps = (f"{r[kind + 'mbps']:.1f} | {r[kind + 'cpu']:.2f}" if kind + "mbps" in r
            else "- | -")
    exact = (status == "exact" and ours.get(kind + "status") == "exact"
             and r["engine"] not in MINE)
    ratio = f"{ours[kind + 'mbps'] / r[kind + 'mbps']:.2f}×" if exact else ""
    return status, mbps, ratio


def fastest_exact(group: list[dict[str, Any]], kind: str) -> Optional[dict[str, Any]]:
    """The fastest peer of one tokenizer whose ids equal HF's in one timing."""
    exact = [r for r in group if r.get(kind + "status") == "exact" and r["engine"] not in MINE]
    return max(exact, key=lambda r: r[kind + "mbps"], default=None)


def table(rows: list[dict[str, Any]]) -> str:
    long = any(LONG + "status" in r for r in rows)
    head = "| tokenizer | engine | ids | MB/s | CPU/wall | load s | load RSS MB | toktool × this |"
    rule = "|---|---|---|---:|---:|---:|---:|---:|"
    if long:
        head += " one string: ids | MB/s | CPU/wall | toktool × this |"
        rule += "---|---:|---:|---:|"
    lines = [head, rule]
    for name in dict.fromkeys(r["tokenizer"] for r in rows):
        group = [r for r in rows if r["tokenizer"] == name]
        ours = next(r for r in group if r["engine"] == "toktool")
        array = next(r for r in group if r["engine"] == ARRAY)
        for r in group:
            status, mbps, ratio = measured(r, ours, CHUNKS)
            load = f"{r['load_s']:.2f}" if "load_s" in r else "-"
            mem = f"{r['load_mb']:.0f}" if "load_mb" in r else "-"
            line = f"| {name} | {r['engine']} | {status} | {mbps} | {load} | {mem} | {ratio} |"
            if long:
                line += " {} | {} | {} |".format(*measured(r, ours, LONG))
            lines.append(line)
        best = fastest_exact(group, CHUNKS)
        if best is not None:
            vs_array = (f"; ids as array {array['mbps'] / best['mbps']:.2f}×"
                        if array.get("status") == "exact" else "")
            line = (f"| {name} | **fastest exact peer: {best['engine']}** | | | | | | "
                    f"**{ours['mbps'] / best['mbps']:.2f}×**{vs_array} |")
            if long:
                lbest = fastest_exact(group, LONG)
                if lbest is not None and ours.get(LONG + "status") == "exact":
                    line += (f" {lbest['engine']} | | | "
                             f"**{ours[LONG + 'mbps'] / lbest[LONG + 'mbps']:.2f}×** |")
                else:
                    line += " | | | |"
            lines.append(line)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=4,
                    help="fresh slices of --mb MB each, every engine timed on each in turn")
    ap.add_argument("--string-mb", type=float, default=8.0,
                    help="one string of this many MB of other stdlib source, one call per "
                    "engine (0: skip)")
    ap.add_argument("--strings", type=int, default=2,
                    help="long strings of --string-mb MB each (other text each), every engine "
                    "timed on each in turn, best kept")
    ap.add_argument("--names", default=",".join(NAMES))
    ap.add_argument("--cpus", type=int, default=1,
                    help="pin the process to this many CPUs (0: no pinning); 1 makes every engine "
                    "single-threaded, including peers that start threads of their own")
    ap.add_argument("--out", type=Path, help="markdown file to update")
    args = ap.parse_args()
    pinned = ""
    if args.cpus:
        cpus = sorted(os.sched_getaffinity(0))[: args.cpus]
        os.sched_setaffinity(0, cpus)
        pinned = (f" The process is pinned to {len(cpus)} CPU{'s' if len(cpus) > 1 else ''} "
                  f"(`--cpus {args.cpus}`), so a peer's own threads share it.")
    budget = int(args.mb * 1e6)
    long_budget = int(args.string_mb * 1e6)
    text = "".join(artifacts.stdlib_corpus(
        max_bytes=budget * (args.repeats + 1) + long_budget * args.strings))
    longs = []
    for _ in range(args.strings if long_budget else 0):
        longs.append(text[-long_budget:])
        text = text[:-long_budget]
    chunks = [text[i : i + 4096] for i in range(0, len(text), 4096)]
    per_slice = len(chunks) // (args.repeats + 1)
    slices = [chunks[i * per_slice : (i + 1) * per_slice] for i in range(args.repeats + 1)]
    rows = []
    for name in args.names.split(","):
        rows += bench(name, slices[0], slices[1:], longs)
    section = "\n".join([
        MARK_BEGIN,
        f"Single thread (`RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}`), "
        f"{args.mb:g} MB of CPython stdlib source in 4 KB calls"
        + (f" and one string of {args.string_mb:g} MB of other stdlib source in one call (best "
           f"of {len(longs)} such strings, the engines in turn)"
           if longs else "")
        + f" (`python bench/bench_peers.py`), "
        f"{os.cpu_count()} cores.{pinned} **The machine is shared and noisy** (other jobs ran at the same "
        "time): absolute MB/s move by 2× between runs, so compare the ratios, which come from one "
        "run. Each engine is timed on slices of text it has not encoded before (peers with "
        "whole-text or segment caches would otherwise replay the id check), the engines in turn "
        f"on each of {args.repeats} slices (order rotated), best slice per engine; CPU/wall above 1 means "
        "the engine used more than one core. `toktool × this` is toktool's speed (ids as a "
        "list) over the peer's; the `ids as array` row returns a NumPy array instead, like the "
        "peers that return an encoding object and make no Python ints in the timed loop. Only "
        "peers whose ids equal "
        "HF's on every chunk are ranked. Load RSS is the resident-memory change of loading, "
        "rough (the allocator may return memory; negative means it did).",
        "",
        table(rows),
        MARK_END,
    ])
    print(section)
    if args.out:
        write_section(args.out, section, MARK_BEGIN, MARK_END, "Benchmarks")


if __name__ == "__main__":
    main()
