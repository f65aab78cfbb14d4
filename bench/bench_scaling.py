"""How ``encode_batch`` and ``encode_files`` scale with cores, beside HF tokenizers' ``encode_batch``.

Two steps, so the timed step can run on a machine that has more cores than this one but none of
the project's artifacts (the device machine: its own Python, toktool installed from a wheel
built here for any CPython >= 3.11 with ``maturin build --release --features abi3``, whose ids
become lists more slowly than the default build's, see ``ints_list`` in the bindings):

    python bench/bench_scaling.py prepare DIR      # texts and tokenizer files, from the artifacts
    python bench/bench_scaling.py run DIR --threads 1,2,4,8,16 --out docs/BENCHMARKS.md

``run`` times every (engine, tokenizer, thread count) in a fresh process with
``RAYON_NUM_THREADS`` set (rayon reads it once per process, HF tokenizers' pool too), best of
``--passes`` passes over the same 4 KB chunks (HF on 1-2 threads: one pass fewer), each pass
with a freshly loaded tokenizer (cold caches). Engines: toktool ``encode_batch`` returning
lists and returning a NumPy array per text, HF tokenizers ``encode_batch``
(``add_special_tokens=False``), and
``Tokenizer.encode_files`` from a JSONL file to a flat token file (time from the file to both
output files on disk). Every engine's ids are checksummed; the run stops if toktool's differ from
HF's on any tokenizer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CHUNK = 4096
TOKENIZERS = ("smollm2", "cl100k", "o200k", "llama3")
MARK_BEGIN = "<!-- bench_scaling:begin -->"
MARK_END = "<!-- bench_scaling:end -->"


def prepare(out: Path, mb: float, jsonl_mb: float) -> None:
    """Write ``code.txt`` (CPython stdlib sources), ``docs.jsonl`` (stdlib files and Debian's
    guide in nine languages, one JSON document a line, cycled to ``jsonl_mb``) and one
    ``NAME.json`` tokenizer file each into ``out``."""
    import shutil

    from toktool import artifacts

    out.mkdir(parents=True, exist_ok=True)
    files = artifacts.stdlib_corpus()
    code = "".join(files).encode()[: int(mb * 1e6)].decode("utf-8", "ignore")
    (out / "code.txt").write_text(code, encoding="utf-8")
    docs = list(files)
    for text in artifacts.multilingual_corpus().values():
        docs += [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    written = 0
    with open(out / "docs.jsonl", "w", encoding="utf-8") as f:
        while written < jsonl_mb * 1e6:
            for doc in docs:
                line = json.dumps({"text": doc}, ensure_ascii=False) + "\n"
                f.write(line)
                written += len(line.encode())
                if written >= jsonl_mb * 1e6:
                    break
    for name in TOKENIZERS:
        shutil.copy(artifacts.tokenizer_json(name), out / f"{name}.json")
    print(f"{out}: {len(code.encode()) / 1e6:.1f} MB of code, {written / 1e6:.1f} MB of JSONL")


def checksum(seqs: object) -> str:
    h = hashlib.sha1()
    for seq in seqs:  # type: ignore[attr-defined]
        h.update(json.dumps([int(i) for i in seq]).encode())
    return h.hexdigest()[:16]


def child(engine: str, tokenizer: str, data: Path, passes: int, jsonl: Path) -> None:
    """One timed (engine, tokenizer) at the process's RAYON_NUM_THREADS; prints a JSON line."""
    path = str(data / f"{tokenizer}.json")
    if engine == "encode_files":
        import toktool

        source = jsonl
        best = float("inf")
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(passes):
                tok = toktool.Tokenizer.from_file(path)  # a cold pre-token cache every pass
                started = time.perf_counter()
                summary = tok.encode_files([source], Path(tmp) / "tokens.bin", resume=False)
                best = min(best, time.perf_counter() - started)
            digest = hashlib.sha1((Path(tmp) / "tokens.bin").read_bytes()).hexdigest()[:16]
        size = source.stat().st_size
        print(json.dumps({"mbps": size / best / 1e6, "checksum": digest, "tokens": summary.tokens}))
        return
    text = (data / "code.txt").read_text(encoding="utf-8")
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    # A freshly loaded tokenizer every pass: both engines cache pre-tokens per tokenizer (HF in
    # its BPE model, toktool per thread and tokenizer), and a second pass over the same text
    # would time the caches replaying it.
    if engine == "hf":
        import tokenizers

        def encoder() -> Callable[[], object]:
            hf = tokenizers.Tokenizer.from_file(path)
            return lambda: [e.ids for e in hf.encode_batch(chunks, add_special_tokens=False)]
    else:
        import toktool

        as_array = engine == "toktool-array"

        def encoder() -> Callable[[], object]:
            tok = toktool.Tokenizer.from_file(path)
            return lambda: tok.encode_batch(chunks, as_array=as_array)

    best = float("inf")
    ids: object = None
    for _ in range(passes):
        ids = None  # free the last pass's ids outside the timed call
        encode = encoder()
        started = time.perf_counter()
        ids = encode()
        best = min(best, time.perf_counter() - started)
    print(json.dumps({"mbps": len(text.encode()) / best / 1e6, "checksum": checksum(ids)}))


def measure(
    engine: str, tokenizer: str, data: Path, passes: int, threads: int, jsonl: Path
) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    proc = subprocess.run(
        [sys.executable, __file__, "child", engine, tokenizer, str(data), str(passes), str(jsonl)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"{engine} {tokenizer} threads {threads} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(
    data: Path, threads: list[int], passes: int, tokenizers: list[str], label: str, jsonl: Path
) -> str:
    import toktool

    engines = ("toktool", "toktool-array", "hf")
    results: dict[tuple[str, str, int], dict] = {}
    for tokenizer in tokenizers:
        for engine in engines:
            for t in threads:
                # HF at one thread is ~15x slower than toktool: fewer passes keep the run short.
                n = max(1, passes - 1) if engine == "hf" and t <= 2 else passes
                r = measure(engine, tokenizer, data, n, t, jsonl)
                results[engine, tokenizer, t] = r
                print(f"{tokenizer:8} {engine:14} threads {t:2}: {r['mbps']:7.1f} MB/s", flush=True)
        sums = {results[e, tokenizer, t]["checksum"] for e in engines for t in threads}
        if len(sums) != 1:
            raise SystemExit(f"{tokenizer}: ids differ between engines or thread counts: {sums}")
    files_tok = "cl100k" if "cl100k" in tokenizers else tokenizers[0]
    for t in threads:
        r = measure("encode_files", files_tok, data, passes, t, jsonl)
        results["encode_files", files_tok, t] = r
        print(f"{files_tok:8} encode_files   threads {t:2}: {r['mbps']:7.1f} MB/s", flush=True)
    sums = {results["encode_files", files_tok, t]["checksum"] for t in threads}
    if len(sums) != 1:
        raise SystemExit(f"encode_files output differs between thread counts: {sums}")

    code_mb = (data / "code.txt").stat().st_size / 1e6
    jsonl_mb = jsonl.stat().st_size / 1e6
    import tokenizers as hf_tokenizers

    lines = [
        MARK_BEGIN,
        f"{label}: {cpu_name()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
        f"toktool {toktool.__version__}, tokenizers {hf_tokenizers.__version__}. "
        f"{code_mb:.1f} MB of CPython stdlib source in 4 KB chunks, one `encode_batch` call, "
        f"best of {passes} passes (HF on 1-2 threads: {max(1, passes - 1)}; each pass with a "
        "freshly loaded tokenizer: cold caches), a fresh process per cell with "
        "`RAYON_NUM_THREADS` set; `encode_files`: "
        f"{jsonl_mb:.1f} MB of JSONL (stdlib files and Debian's guide in nine languages) to a flat "
        f"token file, {files_tok}. Ids are identical across engines and thread counts (checksummed). "
        "MB/s, and in brackets the speed-up over the same engine on one thread.",
        "",
    ]
    head = (
        "| tokenizer | engine | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in threads) + " |"
    )
    lines += [head, "|---|---|" + "---:|" * len(threads)]
    names = {
        "toktool": "toktool, lists",
        "toktool-array": "toktool, array",
        "hf": "HF tokenizers",
        "encode_files": "toktool `encode_files`",
    }
    rows = [(tk, e) for tk in tokenizers for e in engines] + [(files_tok, "encode_files")]
    for tokenizer, engine in rows:
        one = results[engine, tokenizer, threads[0]]["mbps"]
        cells = []
        for t in threads:
            mbps = results[engine, tokenizer, t]["mbps"]
            cells.append(f"{mbps:.1f}" if t == threads[0] else f"{mbps:.1f} ({mbps / one:.1f}x)")
        lines.append(f"| {tokenizer} | {names[engine]} | " + " | ".join(cells) + " |")
    top = threads[-1]
    ratios = [
        results["toktool", tk, top]["mbps"] / results["hf", tk, top]["mbps"] for tk in tokenizers
    ]
    lines += [
        "",
        f"toktool (lists) over HF tokenizers at {top} threads: "
        + ", ".join(f"{tk} {r:.1f}x" for tk, r in zip(tokenizers, ratios))
        + ".",
        MARK_END,
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], Path(sys.argv[4]), int(sys.argv[5]), Path(sys.argv[6]))
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write the texts and tokenizer files into DIR")
    p.add_argument("dir", type=Path)
    p.add_argument("--mb", type=float, default=8.0, help="megabytes of stdlib code (default 8)")
    p.add_argument("--jsonl-mb", type=float, default=16.0, help="megabytes of JSONL (default 16)")
    r = sub.add_parser("run", help="time every engine, tokenizer and thread count")
    r.add_argument("dir", type=Path)
    r.add_argument("--threads", default="1,2", help="RAYON_NUM_THREADS values (default 1,2)")
    r.add_argument("--passes", type=int, default=3)
    r.add_argument("--tokenizers", default=",".join(TOKENIZERS))
    r.add_argument(
        "--label",
        default=f"{platform.machine()}, {os.cpu_count()} logical CPUs",
        help="where it ran, for the table's first line",
    )
    r.add_argument("--out", type=Path, help="markdown file to write the section into")
    r.add_argument(
        "--jsonl", type=Path, help="JSONL file for encode_files (default DIR/docs.jsonl)"
    )
    args = ap.parse_args()
    if args.cmd == "prepare":
        prepare(args.dir, args.mb, args.jsonl_mb)
        return
    section = run(
        args.dir,
        [int(t) for t in args.threads.split(",")],
        args.passes,
        args.tokenizers.split(","),
        args.label,
        args.jsonl or args.dir / "docs.jsonl",
    )
    print(section)
    if args.out:
        sys.path.insert(0, str(Path(__file__).parent))
        from report import write_section

        write_section(args.out, section, MARK_BEGIN, MARK_END, "Benchmarks")


if __name__ == "__main__":
    main()
