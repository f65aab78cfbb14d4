"""A/B speed of two toktool builds, single thread, alternating in one session.

Each build is a directory holding a ``toktool`` package (e.g. ``python/`` of a checkout with
its compiled ``_toktool`` module next to the sources). Rounds alternate old and new builds in
fresh processes; each process times ``Tokenizer.encode`` on 4 KB calls (ids as lists) over the
text and reports its best pass. Prints every round and the best MB/s of each build with their
ratio; the ids of the two builds are compared by checksum. On a shared machine trust the ratio
of bests over several rounds, never one run.

    python bench/bench_ab.py --old /tmp/old-python --new python --names claude,mistral-sp \\
        --text stdlib --text multilingual --rounds 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

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


def child(name: str, kind: str, mb: float, passes: int) -> None:
    """Time one build (the ``toktool`` on ``sys.path``) and print a JSON line."""
    import toktool
    from toktool import artifacts

    tok = toktool.Tokenizer.from_file(artifacts.tokenizer_json(name))
    text = text_of(kind, mb)
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    checksum = 0
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        ids = [tok.encode(c) for c in chunks]
        best = min(best, time.perf_counter() - started)
        checksum = hash(tuple(map(tuple, ids)))
    print(
        json.dumps(
            {
                "mbps": len(text.encode()) / best / 1e6,
                "checksum": checksum,
                "module": toktool.__file__,
            }
        )
    )


def run(build: str, name: str, kind: str, mb: float, passes: int) -> dict[str, object]:
    env = dict(
        os.environ, PYTHONPATH=os.path.abspath(build), RAYON_NUM_THREADS="1", PYTHONHASHSEED="0"
    )
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, kind, str(mb), str(passes)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        name, kind, mb, passes = sys.argv[2:6]
        child(name, kind, float(mb), int(passes))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="directory holding the old build's toktool")
    ap.add_argument("--new", required=True, help="directory holding the new build's toktool")
    ap.add_argument("--names", default="claude,mistral-sp")
    ap.add_argument("--text", action="append", help="stdlib or multilingual (repeatable)")
    ap.add_argument("--mb", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    for kind in args.text or ["stdlib"]:
        for name in args.names.split(","):
            best = {"old": 0.0, "new": 0.0}
            sums = {}
            for r in range(args.rounds):
                for label in ("old", "new") if r % 2 == 0 else ("new", "old"):
                    result = run(getattr(args, label), name, kind, args.mb, args.passes)
                    best[label] = max(best[label], float(result["mbps"]))  # type: ignore[arg-type]
                    sums[label] = result["checksum"]
                    print(
                        f"  {kind} {name} round {r} {label}: {result['mbps']:.1f} MB/s",
                        file=sys.stderr,
                    )
            same = "ids identical" if sums["old"] == sums["new"] else "IDS DIFFER"
            print(
                f"{kind:12} {name:12} old {best['old']:6.1f} MB/s  new {best['new']:6.1f} MB/s"
                f"  new/old {best['new'] / best['old']:.2f}x  ({same}, best of {args.rounds})"
            )


if __name__ == "__main__":
    main()
