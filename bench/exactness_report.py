"""Which files and pre-tokenizers toktool was checked on, and how many mismatches each gave.

Three tables, from the same code the tests run:
1. Real tokenizer.json files (the bundled artifacts and the tiktoken-string cl100k file that
   transformers' tiktoken converter writes): toktool vs HF `tokenizers` on 4 KB chunks of CPython
   stdlib code and Debian Reference prose (nine languages), with the pre-tokenizer path each took.
2. Split patterns (tests/test_onig_exact.py's cases: shipped files, tiktoken strings, public
   models, llama.cpp's regexes, generated mutations) on the real chunks and the tricky strings.
3. llama.cpp's real GGUF vocabularies: its own reference ids (.inp/.out) and HF on the written
   tokenizer.json; the ones refused, with the reason.

    python bench/exactness_report.py --out docs/EXACTNESS.md [--corpus-bytes N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests"), str(ROOT / "scripts")]

from report import write_section  # noqa: E402

BEGIN, END = "<!-- exactness:begin -->", "<!-- exactness:end -->"


def chunks(corpus_bytes: int) -> list[str]:
    from toktool import artifacts

    texts = artifacts.stdlib_corpus(max_bytes=corpus_bytes)
    per_lang = corpus_bytes // 9
    for path in sorted(pathlib.Path("/usr/share/doc").glob("debian-reference-*/*.gz")):
        texts.append(gzip.decompress(path.read_bytes()).decode("utf-8", "replace")[:per_lang])
    return [t[i:i + 4096] for t in texts for i in range(0, len(t), 4096)]


def real_files(corpus: list[str]) -> list[str]:
    import tokenizers
    from test_onig_exact import CL100K_TIKTOKEN

    import toktool
    from toktool import artifacts

    docs = {}
    for name in ("smollm2", "cl100k", "o200k", "llama3", "claude", "tekken", "mistral-sp", "mistral-sp-legacy"):
        docs[name] = artifacts.tokenizer_json(name).read_text(encoding="utf-8")
    doc = json.loads(docs["cl100k"])
    doc["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": CL100K_TIKTOKEN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    docs["cl100k, tiktoken's pattern string"] = json.dumps(doc)
    rows = ["| file | pre-tokenizer path | chunks | mismatches |", "|---|---|---:|---:|"]
    for name, text in docs.items():
        tk, hf = toktool.Tokenizer.from_str(text), tokenizers.Tokenizer.from_str(text)
        bad = sum(tk.encode(c) != hf.encode(c, add_special_tokens=False).ids for c in corpus)
        rows.append(f"| {name} | {tk.info()['pre_tokenizer_path']} | {len(corpus)} | {bad} |")
    return rows


def patterns(corpus: list[str]) -> list[str]:
    from test_onig_exact import ALL_CASES, TRICKY, mismatch, pair

    rows = ["| case | Split steps | texts | mismatches | path |", "|---|---:|---:|---:|---|"]
    for name in sorted(ALL_CASES):
        tk, hf = pair(tuple(ALL_CASES[name]))
        texts = corpus + TRICKY
        bad = sum(mismatch(tk, hf, t) is not None for t in texts)
        steps = [("Oniguruma" if step.strip().startswith("exact general regex path") else step.strip())
                 for step in tk.info()["pre_tokenizer_path"].split("; ")]
        cell = name.replace("|", "\\|")
        rows.append(f"| {cell} | {len(ALL_CASES[name])} | {len(texts)} | {bad} | {'; '.join(steps)} |")
    return rows


def gguf_vocabs() -> list[str]:
    import tokenizers
    from test_gguf_llamacpp import LOADS, REFUSED, VOCAB, reference

    import toktool

    rows = ["| llama.cpp vocabulary | model / pre | llama.cpp reference cases | mismatches | HF on the written tokenizer.json |",
            "|---|---|---:|---:|---|"]
    sample = pathlib.Path(toktool.__file__).read_text(encoding="utf-8")
    for name in LOADS:
        path = VOCAB / f"ggml-vocab-{name}.gguf"
        tk = toktool.Tokenizer.from_gguf(path)
        info = tk.info()
        cases = reference(name) if os.path.exists(f"{path}.out") else []
        bad = sum(tk.encode(t) != ids for t, ids in cases)
        hf = tokenizers.Tokenizer.from_str(tk.to_str())
        texts = [t for t, _ in cases] + [sample]
        hf_bad = sum(tk.encode(t) != hf.encode(t, add_special_tokens=False).ids for t in texts)
        ref = f"{len(cases)} | {bad}" if cases else "none published | -"
        rows.append(f"| {name} | {info['gguf_model']} / {info['gguf_pre']} | {ref} | {hf_bad} of {len(texts)} texts |")
    for name in sorted(REFUSED):
        try:
            toktool.Tokenizer.from_gguf(VOCAB / f"ggml-vocab-{name}.gguf")
            why = "loads (list out of date)"
        except toktool.ToktoolError as exc:
            why = "refused: " + str(exc).split(": ", 1)[-1].splitlines()[0][:140]
        rows.append(f"| {name} | {why} | | | |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "EXACTNESS.md")
    ap.add_argument("--corpus-bytes", type=int, default=1_000_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    corpus = chunks(args.corpus_bytes)
    parts = [
        BEGIN,
        f"Generated by `python bench/exactness_report.py --corpus-bytes {args.corpus_bytes}` "
        "(tables 1-2: toktool vs HF `tokenizers` ids; table 2 also compares pre-token pieces).",
        "", "### 1. Real tokenizer files", "", *real_files(corpus),
        "", "### 2. Split patterns read as Oniguruma reads them", "", *patterns(corpus),
        "", "### 3. llama.cpp's GGUF test vocabularies (llama-cpp-python 0.3.36 sdist)", "", *gguf_vocabs(),
        "", END,
    ]
    write_section(args.out, "\n".join(parts), BEGIN, END, "Exactness")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
