"""Package-level contracts: version, public names, type stub, parallelism switch, fork safety."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import toktool

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_defined_once_in_cargo() -> None:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert toktool.__version__ == cargo["workspace"]["package"]["version"]


def test_public_names_are_exported() -> None:
    for name in toktool.__all__:
        assert hasattr(toktool, name), name
    assert toktool.Tokenizer.__module__ == "toktool._toktool"


def test_stub_matches_compiled_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "toktool._toktool"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


_MISUSES = """
from toktool import _toktool
tok = _toktool.Tokenizer.from_str("{}")
merged = _toktool.merge_batch(tok, [[1, 2]])
ok_ids = merged.merged.ids.tolist()
merged.idz  # MISUSE: no such field
pieces: list[int] = _toktool.zett_decompose(tok, [b"a"], 4).ids  # MISUSE: an array, not a list
ids, removed, constraint, prompt_ids = _toktool.TokenHealer(tok).heal(b"x")  # MISUSE: no tuple
_toktool.CoverSearch(tok).covers(b"ab")["groups"]  # MISUSE: a class, not a dict
for group in _toktool.CoverSearch(tok).covers(b"ab").groups:
    group.last.sum()
"""


def test_stub_lets_mypy_catch_misuse_of_the_results(tmp_path: Path) -> None:
    """The stub types every result class, so mypy flags each misuse line and nothing else."""
    from mypy import api

    script = tmp_path / "misuse.py"
    script.write_text(_MISUSES)
    out, err, _ = api.run([str(script), "--no-incremental", "--cache-dir", str(tmp_path / "c"),
                           "--python-version", "3.11"])
    flagged = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    expected = {i + 1 for i, line in enumerate(_MISUSES.splitlines()) if "MISUSE" in line}
    assert flagged == expected, out + err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_batch_encoding_works_in_a_forked_child() -> None:
    tok = toktool.Tokenizer.from_str(toktool.testing.tiny_tokenizer_json())
    texts = ["hello world"] * 64
    expected = tok.encode_batch(texts)  # warms up the thread pool in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: parallelism is off, batch still works and agrees
        ok = (not toktool.parallelism()) and tok.encode_batch(texts) == expected
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert status == 0
    assert toktool.parallelism()


def test_tokenizer_is_shareable_across_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    tok = toktool.Tokenizer.from_str(toktool.testing.tiny_tokenizer_json())
    texts = [("hello world " * (i % 7 + 1)).strip() for i in range(200)]
    serial = [tok.encode(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(tok.encode, texts))
    assert threaded == serial
