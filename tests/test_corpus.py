"""``toktool.corpus.encode_files``: ids per document equal ``encode`` (and HF), and resuming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer as HFTokenizer

import toktool
from toktool import artifacts
from toktool.corpus import encode_files, read_documents


def write_inputs(tmp_path: Path) -> tuple[list[Path], list[str]]:
    texts = artifacts.stdlib_corpus(max_bytes=300_000)
    docs: list[str] = []
    jsonl = tmp_path / "a.jsonl"
    with jsonl.open("w") as f:
        for text in texts[: len(texts) // 2]:
            f.write(json.dumps({"text": text, "id": 1}) + "\n")
            docs.append(text)
    txt = tmp_path / "b.txt"
    lines = "".join(texts[len(texts) // 2 :]).split("\n")
    txt.write_text("\n".join(lines) + "\n")
    docs.extend(lines)
    return [jsonl, txt], docs


def documents(out: Path) -> list[list[int]]:
    tokens, offsets = read_documents(out)
    return [tokens[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def test_encode_files_gives_encode_ids_per_document(tmp_path: Path) -> None:
    path = artifacts.tokenizer_json("cl100k")
    tok = toktool.Tokenizer.from_file(path)
    hf = HFTokenizer.from_file(str(path))
    inputs, docs = write_inputs(tmp_path)
    out = tmp_path / "tokens.bin"
    summary = encode_files(tok, inputs, out, batch_bytes=20_000)
    got = documents(out)
    assert len(got) == len(docs) == summary["documents"]
    assert got == [tok.encode(d) for d in docs]
    assert got[:50] == [e.ids for e in hf.encode_batch(docs[:50], add_special_tokens=False)]
    assert summary["tokens"] == sum(map(len, got))


class FailingAfter:
    """A tokenizer whose ``encode_batch`` fails after ``calls`` batches (an interrupted run)."""

    def __init__(self, tok: toktool.Tokenizer, calls: int) -> None:
        self.tok, self.calls = tok, calls

    def encode_batch(self, texts: list[str], as_array: bool = False) -> Any:
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return self.tok.encode_batch(texts, as_array=as_array)


def test_encode_files_resumes_to_the_same_output(tmp_path: Path) -> None:
    tok = toktool.load_tokenizer("smollm2")
    inputs, _ = write_inputs(tmp_path)
    whole = tmp_path / "whole.bin"
    encode_files(tok, inputs, whole, batch_bytes=15_000)
    out = tmp_path / "resumed.bin"
    for calls in (3, 7):
        with pytest.raises(KeyboardInterrupt):
            encode_files(FailingAfter(tok, calls), inputs, out, batch_bytes=15_000)  # type: ignore[arg-type]
        with out.open("ab") as f:  # a crash may leave a partly written batch behind
            f.write(b"\xff" * 12)
    encode_files(tok, inputs, out, batch_bytes=15_000)
    assert out.read_bytes() == whole.read_bytes()
    offsets = Path(str(out) + ".offsets")
    assert offsets.read_bytes() == Path(str(whole) + ".offsets").read_bytes()


def test_encode_files_refuses_a_state_of_other_inputs(tmp_path: Path) -> None:
    tok = toktool.load_tokenizer("smollm2")
    inputs, _ = write_inputs(tmp_path)
    out = tmp_path / "t.bin"
    with pytest.raises(KeyboardInterrupt):
        encode_files(FailingAfter(tok, 1), inputs, out, batch_bytes=15_000)  # type: ignore[arg-type]
    with pytest.raises(toktool.errors.InvalidInputError, match="other inputs"):
        encode_files(tok, inputs[:1], out)


def test_encode_files_reports_bad_jsonl_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(toktool.errors.InvalidInputError, match="bad.jsonl:2"):
        encode_files(toktool.load_tokenizer("smollm2"), [bad], tmp_path / "o.bin")


def test_cli_encode_files_writes_the_same_output(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from toktool.cli.app import app

    tok = toktool.load_tokenizer("cl100k")
    inputs, docs = write_inputs(tmp_path)
    out = tmp_path / "cli.bin"
    args = ["encode", "-t", "cl100k", "--files", str(inputs[0]), "--files", str(inputs[1]),
            "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{len(docs)} documents" in result.output
    assert documents(out) == [tok.encode(d) for d in docs]
