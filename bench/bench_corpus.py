"""Corpus-scale encoding: ``Tokenizer.encode_files`` against ``datasets.map`` with HF tokenizers.

What a user pretokenizing a training corpus does instead of toktool: load the JSONL with
``datasets.load_dataset("json")``, ``map(batched=True, num_proc=N)`` with the fast tokenizer
(``tokenizers.Tokenizer.encode_batch``), then write the ids to one flat file. Both sides start from
the same JSONL file with the tokenizer loaded and stop when the same flat ``uint32`` token file
and ``uint64`` document offsets are on disk (checked byte for byte), each in a fresh process
(``RAYON_NUM_THREADS`` is read once per process) with a fresh ``datasets`` cache, so nothing is
reused between runs. ``datasets`` is a benchmark-only peer (``bench/install-peers.sh``).

The corpus: CPython's stdlib sources (one document per file) and Debian's guide in nine
languages (about 4 KB documents), cycled until ``--mb`` megabytes of JSONL.

    python bench/bench_corpus.py --mb 64 --out docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import toktool
from report import write_section
from toktool import artifacts

MARK_BEGIN = "<!-- bench_corpus:begin -->"
MARK_END = "<!-- bench_corpus:end -->"

# After the timed run, the same documents through encode_batch in memory (no files): how much a
# second thread speeds that up says how much of a second core the shared machine lent the run.
TOKTOOL_RUN = """
import json, sys, time, toktool
tok = toktool.load_tokenizer(sys.argv[1])
t0 = time.perf_counter()
summary = tok.encode_files([sys.argv[2]], sys.argv[3], dtype="uint32", resume=False)
seconds = time.perf_counter() - t0
texts = [json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8")]
t0 = time.perf_counter()
tok.encode_batch(texts, as_array=True)
print(json.dumps({"seconds": seconds, "tokens": summary.tokens,
                  "in_memory_seconds": time.perf_counter() - t0}))
"""

# The ids column goes to disk through Arrow (flattened values and list offsets): the fastest way
# a user has, so the comparison is with the best of the alternative, not with a Python loop.
DATASETS_RUN = """
import json, sys, time
import datasets, numpy as np, pyarrow.compute as pc, tokenizers
name, corpus, out, num_proc, cache = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
datasets.disable_progress_bars()
tok = tokenizers.Tokenizer.from_file(name)
def encode(batch):
    return {"ids": [e.ids for e in tok.encode_batch(batch["text"], add_special_tokens=False)]}
t0 = time.perf_counter()
ds = datasets.load_dataset("json", data_files=corpus, split="train", cache_dir=cache)
ds = ds.map(encode, batched=True, num_proc=num_proc if num_proc > 1 else None,
            remove_columns=ds.column_names)
ids = ds.data.column("ids").combine_chunks()
pc.list_flatten(ids).to_numpy().astype("<u4").tofile(out)
lengths = pc.list_value_length(ids).to_numpy().astype("<u8")
np.concatenate([[0], np.cumsum(lengths, dtype="<u8")]).astype("<u8").tofile(out[:-4] + ".idx")
print(json.dumps({"seconds": time.perf_counter() - t0, "tokens": int(lengths.sum())}))
"""


def documents(target_bytes: int) -> list[str]:
    """Stdlib files and ~4 KB pieces of the multilingual guide, interleaved, cycled to size."""
    prose: list[str] = []
    for text in artifacts.multilingual_corpus().values():
        piece = ""
        for paragraph in text.split("\n\n"):
            piece += paragraph + "\n\n"
            if len(piece.encode()) >= 4000:
                prose.append(piece)
                piece = ""
    code = artifacts.stdlib_corpus()
    mixed = [doc for pair in zip(code, prose * (len(code) // len(prose) + 1)) for doc in pair]
    docs, size = [], 0
    while size < target_bytes:
        for doc in mixed:
            docs.append(doc)
            size += len(json.dumps({"text": doc}, ensure_ascii=False).encode()) + 1
            if size >= target_bytes:
                break
    return docs


def run(script: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bench(name: str, corpus: Path, work: Path, repeats: int) -> list[dict[str, Any]]:
    tokenizer_json = str(artifacts.tokenizer_json(name))
    configs: list[tuple[str, int, str, dict[str, str]]] = [
        ("toktool `encode_files`", 1, "toktool", {"RAYON_NUM_THREADS": "1"}),
        ("toktool `encode_files`", 2, "toktool", {"RAYON_NUM_THREADS": "2"}),
        ("`datasets.map` + HF tokenizers, num_proc=1", 1, "datasets",
         {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}),
        ("`datasets.map` + HF tokenizers, num_proc=2", 2, "datasets",
         {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}),
        ("`datasets.map` + HF tokenizers' own threads, num_proc=1", 2, "datasets",
         {"TOKENIZERS_PARALLELISM": "true", "RAYON_NUM_THREADS": "2"}),
    ]
    rows = []
    reference: bytes | None = None
    for label, cores, engine, env in configs:
        best: dict[str, Any] | None = None
        for attempt in range(repeats):
            out = work / f"{engine}-{cores}-{attempt}.bin"
            if engine == "toktool":
                result = run(TOKTOOL_RUN, [tokenizer_json, str(corpus), str(out)], env)
            else:
                cache = tempfile.mkdtemp(dir=work, prefix="hf-cache-")
                procs = "2" if "num_proc=2" in label else "1"
                result = run(DATASETS_RUN, [tokenizer_json, str(corpus), str(out), procs, cache], env)
            data = out.read_bytes() + out.with_suffix(".idx").read_bytes()
            reference = reference or data
            result["identical"] = data == reference
            if best is None or result["seconds"] < best["seconds"]:
                best = result
            for path in (out, out.with_suffix(".idx"), out.with_suffix(".manifest.json")):
                path.unlink(missing_ok=True)
        assert best is not None
        rows.append({"label": label, "cores": cores, "engine": engine, **best,
                     "mbps": corpus.stat().st_size / 1e6 / best["seconds"]})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    by_cores = {r["cores"]: r for r in rows if r["engine"] == "toktool"}
    lines = ["| encoder | cores | seconds | MB/s | toktool (same cores) × this | identical output |",
             "|---|---:|---:|---:|---:|:---:|"]
    for r in rows:
        ratio = by_cores[r["cores"]]["mbps"] / r["mbps"]
        lines.append(f"| {r['label']} | {r['cores']} | {r['seconds']:.2f} | {r['mbps']:.1f} | "
                     f"{ratio:.1f}× | {'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines)


def scaling(rows: list[dict[str, Any]]) -> str:
    """A sentence on how much the second thread helped toktool, on disk and in memory."""
    one, two = (next(r for r in rows if r["engine"] == "toktool" and r["cores"] == n) for n in (1, 2))
    return (f"In this run a second thread made `encode_files` {one['seconds'] / two['seconds']:.2f}× "
            f"as fast, and `encode_batch` of the same documents in memory (no files) "
            f"{one['in_memory_seconds'] / two['in_memory_seconds']:.2f}× (the engine's own "
            "scaling, measured in the same processes): what the machine's other jobs left of "
            "the second core.")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=64.0, help="JSONL corpus size")
    ap.add_argument("--tokenizer", default="cl100k")
    ap.add_argument("--repeats", type=int, default=2, help="runs per row; the fastest counts")
    ap.add_argument("--out", type=Path, help="markdown file to update")
    args = ap.parse_args()
    import datasets
    import tokenizers

    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus.jsonl"
        docs = documents(int(args.mb * 1e6))
        with corpus.open("w", encoding="utf-8") as f:
            for doc in docs:
                f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
        rows = bench(args.tokenizer, corpus, work, args.repeats)
        size_mb = corpus.stat().st_size / 1e6
    section = "\n".join([
        MARK_BEGIN,
        f"Corpus-scale encoding (`python bench/bench_corpus.py --mb {args.mb:g}`): "
        f"{size_mb:.1f} MB of JSONL ({len(docs):,} documents: CPython stdlib files and 4 KB "
        f"pieces of Debian's guide in nine languages, cycled to size), tokenizer {args.tokenizer}, "
        f"to one flat `uint32` token file plus `uint64` document offsets; time from the JSONL "
        f"file (tokenizer loaded) to both files on disk, best of {args.repeats}, each run a fresh "
        f"process (and a fresh `datasets` cache). {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, toktool {toktool.__version__}, tokenizers "
        f"{tokenizers.__version__}, datasets {datasets.__version__}. The peer is what a user "
        "writes instead: `load_dataset(\"json\")`, `map(batched=True, num_proc=N)` with "
        "`tokenizers.Tokenizer.encode_batch`, and the ids column written through Arrow. "
        "`identical output` compares both files byte for byte with the first row. "
        "**The machine is shared and noisy** (other jobs ran at the same time): the ratios "
        "come from one run; absolute MB/s move between runs. " + scaling(rows),
        "",
        table(rows),
        MARK_END,
    ])
    print(section)
    if args.out:
        write_section(args.out, section, MARK_BEGIN, MARK_END, "Benchmarks")


if __name__ == "__main__":
    main()
