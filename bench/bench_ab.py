"""A/B speed of two toktool builds, alternating in one session.

Each build is a directory holding a ``toktool`` package (e.g. ``python/`` of a checkout with
its compiled ``_toktool`` module next to the sources). Rounds alternate old and new builds in
fresh processes; each process times one mode over the text cut into 4 KB chunks and reports
its best pass: ``calls`` (default) is ``Tokenizer.encode`` per chunk, ``batch`` is
``encode_batch`` of all chunks (ids as lists), ``batch-array`` the same with ``as_array=True``.
``--text stdlib-uneven`` (or ``multilingual-uneven``) makes the first half of the text one
item before 4 KB chunks of the rest, for how the threads share one huge text among small ones.
``--threads`` sets ``RAYON_NUM_THREADS`` in the children (default 1; ``--threads 1,2`` runs
each build at both and also prints each build's 2-thread/1-thread ratio). Prints every round
and the best MB/s of each build with their ratio; the ids of the two builds are compared by
checksum. On a shared machine trust the ratio of bests over several rounds, never one run.

    python bench/bench_ab.py --old /tmp/old-python --new python --names claude,mistral-sp \\
        --text stdlib --text multilingual --rounds 4
    python bench/bench_ab.py --old /tmp/old-python --new python --names cl100k \\
        --mode batch --threads 1,2 --mb 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

CHUNK = 4096


def text_of(kind: str, mb: float) -> str:
    from toktool import artifacts

    if kind == "stdlib":
        text = "".join(artifacts.stdlib_corpus(max_bytes=int(mb * 1e6)))
    elif kind == "multilingual":
        corpus = artifacts.multilingual_corpus()
        text = "".join(corpus[lang] for lang in sorted(corpus))
    else:
        raise SystemExit(f"unknown text {kind!r} (stdlib, multilingual)")
    return text.encode()[: int(mb * 1e6)].decode("utf-8", "ignore")


def child(name: str, kind: str, mb: float, passes: int, mode: str) -> None:
    """Time one build (the ``toktool`` on ``sys.path``) and print a JSON line."""
    import toktool
    from toktool import artifacts

    tok = toktool.Tokenizer.from_file(artifacts.tokenizer_json(name))
    text = text_of(kind.removesuffix("-uneven"), mb)
    if kind.endswith("-uneven"):
        # One text of half the total among 4 KB chunks of the other half.
        half = len(text) // 2
        chunks = [text[:half], *(text[i : i + CHUNK] for i in range(half, len(text), CHUNK))]
    else:
        chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    encode = {
        "calls": lambda: [tok.encode(c) for c in chunks],
        "batch": lambda: tok.encode_batch(chunks),
        "batch-array": lambda: tok.encode_batch(chunks, as_array=True),
    }[mode]
    best = float("inf")
    ids: Any = None
    for _ in range(passes):
        ids = None  # free the last pass's ids outside the timed call
        started = time.perf_counter()
        ids = encode()
        best = min(best, time.perf_counter() - started)
    checksum = hash(tuple(tuple(int(i) for i in seq) for seq in ids))
    print(
        json.dumps(
            {
                "mbps": len(text.encode()) / best / 1e6,
                "checksum": checksum,
                "module": toktool.__file__,
            }
        )
    )


def run(
    build: str, name: str, kind: str, mb: float, passes: int, mode: str, threads: str
) -> dict[str, object]:
    env = dict(
        os.environ,
        PYTHONPATH=os.path.abspath(build),
        RAYON_NUM_THREADS=threads,
        PYTHONHASHSEED="0",
    )
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, kind, str(mb), str(passes), mode],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        name, kind, mb, passes, mode = sys.argv[2:7]
        child(name, kind, float(mb), int(passes), mode)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="directory holding the old build's toktool")
    ap.add_argument("--new", required=True, help="directory holding the new build's toktool")
    ap.add_argument("--names", default="claude,mistral-sp")
    ap.add_argument("--text", action="append", help="stdlib or multilingual, optionally with -uneven (repeatable)")
    ap.add_argument("--mb", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--mode", choices=("calls", "batch", "batch-array"), default="calls")
    ap.add_argument("--threads", default="1", help="RAYON_NUM_THREADS values, comma-separated")
    args = ap.parse_args()
    threads = args.threads.split(",")
    for kind in args.text or ["stdlib"]:
        for name in args.names.split(","):
            best = {(label, t): 0.0 for label in ("old", "new") for t in threads}
            sums = {}
            for r in range(args.rounds):
                for label in ("old", "new") if r % 2 == 0 else ("new", "old"):
                    for t in threads:
                        build = getattr(args, label)
                        result = run(build, name, kind, args.mb, args.passes, args.mode, t)
                        mbps = float(result["mbps"])  # type: ignore[arg-type]
                        best[label, t] = max(best[label, t], mbps)
                        sums[label] = result["checksum"]
                        print(
                            f"  {kind} {name} {args.mode} round {r} {label} threads {t}: "
                            f"{mbps:.1f} MB/s",
                            file=sys.stderr,
                        )
            same = "ids identical" if sums["old"] == sums["new"] else "IDS DIFFER"
            for t in threads:
                old, new = best["old", t], best["new", t]
                print(
                    f"{kind:12} {name:12} {args.mode} threads {t}: old {old:6.1f} MB/s"
                    f"  new {new:6.1f} MB/s  new/old {new / old:.2f}x"
                    f"  ({same}, best of {args.rounds})"
                )
            for t in threads[1:]:
                print(
                    f"{kind:12} {name:12} {args.mode} threads {t}/{threads[0]}: "
                    f"old {best['old', t] / best['old', threads[0]]:.2f}x"
                    f"  new {best['new', t] / best['new', threads[0]]:.2f}x"
                )


if __name__ == "__main__":
    main()
