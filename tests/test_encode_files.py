"""``Tokenizer.encode_files`` / ``toktool encode --out``: every document's ids equal ``encode``
and HF ``tokenizers`` on real files, batch equals single, interrupted runs resume to the same
bytes, and errors name what was wrong and where."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer

import toktool
from toktool import artifacts
from toktool.corpus import output_paths


@pytest.fixture(scope="module")
def cl100k() -> toktool.Tokenizer:
    return toktool.load_tokenizer("cl100k")


@pytest.fixture(scope="module")
def smollm2() -> toktool.Tokenizer:
    return toktool.load_tokenizer("smollm2")


def stdlib_files(root: Path, max_bytes: int = 400_000) -> tuple[list[Path], list[str]]:
    """Real CPython sources as one file each (one document per file)."""
    texts = artifacts.stdlib_corpus(max_bytes=max_bytes)
    paths = []
    for i, text in enumerate(texts):
        path = root / f"src{i:03d}.py"
        path.write_bytes(text.encode("utf-8"))  # newlines exactly as in the source
        paths.append(path)
    return paths, texts


def multilingual_lines(max_lines: int = 400) -> list[str]:
    """Lines of Debian's guide in nine languages (CJK, accents), empty lines included."""
    lines: list[str] = []
    for text in artifacts.multilingual_corpus().values():
        lines.extend(text.split("\n")[:max_lines])
    return lines


def write_jsonl(path: Path, docs: list[str]) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for i, doc in enumerate(docs):
            f.write(json.dumps({"id": i, "text": doc, "meta": {"text": None}}, ensure_ascii=i % 2 == 0) + "\n")
            if i % 50 == 49:
                f.write("\n \n")  # blank lines hold no document


def documents(out: Path) -> list[list[int]]:
    return [doc.tolist() for doc in toktool.read_tokens(out)]


def test_stdlib_files_give_the_ids_of_encode_and_hf(tmp_path: Path, cl100k: toktool.Tokenizer) -> None:
    paths, texts = stdlib_files(tmp_path)
    out = tmp_path / "tokens.bin"
    summary = cl100k.encode_files(paths, out, chunk_bytes=50_000)
    expected = cl100k.encode_batch(texts)
    hf = HFTokenizer.from_file(str(artifacts.tokenizer_json("cl100k")))
    assert documents(out) == expected
    assert expected == [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    assert (summary.documents, summary.tokens, summary.files) == (len(texts), sum(map(len, expected)), len(paths))
    assert summary.complete and not summary.resumed and summary.dtype == "uint32"
    assert summary.text_bytes == sum(p.stat().st_size for p in paths)


def test_multilingual_lines_jsonl_and_gzip_give_encode_ids(tmp_path: Path, smollm2: toktool.Tokenizer) -> None:
    lines = multilingual_lines()
    txt = tmp_path / "debian.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    jsonl, gz = tmp_path / "debian.jsonl", tmp_path / "debian.jsonl.gz"
    write_jsonl(jsonl, lines)
    write_jsonl(gz, lines)
    expected = smollm2.encode_batch(lines)
    hf = HFTokenizer.from_file(str(artifacts.tokenizer_json("smollm2")))
    assert expected == [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
    for inputs, split in (([txt], "lines"), ([jsonl], "file"), ([gz], "file")):
        out = tmp_path / f"{inputs[0].name}.bin"
        summary = smollm2.encode_files(inputs, out, split=split, chunk_bytes=30_000)
        assert summary.dtype == "uint16"  # 49,152 ids fit
        assert documents(out) == expected, inputs


def test_bos_eos_are_put_around_every_document(tmp_path: Path, smollm2: toktool.Tokenizer) -> None:
    docs = ["first document", "", "третий"]
    jsonl = tmp_path / "d.jsonl"
    write_jsonl(jsonl, docs)
    out = tmp_path / "t.bin"
    smollm2.encode_files([jsonl], out, bos="<|im_start|>", eos=0, dtype="uint32")
    bos = smollm2.token_to_id("<|im_start|>")
    assert documents(out) == [[bos, *smollm2.encode(d), 0] for d in docs]
    assert toktool.read_tokens(out).tokens.dtype == np.dtype("<u4")


def test_batch_equals_single_for_any_chunk_size_and_without_parallelism(
    tmp_path: Path, cl100k: toktool.Tokenizer
) -> None:
    paths, _ = stdlib_files(tmp_path, max_bytes=150_000)
    jsonl = tmp_path / "lines.jsonl"
    write_jsonl(jsonl, multilingual_lines(100))
    inputs = [*paths, jsonl]
    outputs = []
    for i, chunk in enumerate((1, 7_000, 1 << 24)):
        out = tmp_path / f"t{i}.bin"
        cl100k.encode_files(inputs, out, chunk_bytes=chunk)
        outputs.append(out)
    toktool.set_parallelism(False)
    try:
        serial = tmp_path / "serial.bin"
        cl100k.encode_files(inputs, serial)
    finally:
        toktool.set_parallelism(True)
    outputs.append(serial)
    for path in outputs[1:]:
        for a, b in zip(output_paths(outputs[0])[:2], output_paths(path)[:2]):
            assert a.read_bytes() == b.read_bytes(), (a, b)


class Interrupt:
    """A progress callback that raises KeyboardInterrupt after ``chunks`` chunks."""

    def __init__(self, chunks: int) -> None:
        self.left = chunks
        self.seen: list[toktool.corpus.EncodeFilesProgress] = []

    def __call__(self, progress: toktool.corpus.EncodeFilesProgress) -> None:
        self.seen.append(progress)
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_to_the_same_bytes(tmp_path: Path, smollm2: toktool.Tokenizer) -> None:
    paths, _ = stdlib_files(tmp_path, max_bytes=200_000)
    txt = tmp_path / "lines.txt"
    txt.write_text("\n".join(multilingual_lines(200)), encoding="utf-8")
    inputs = [*paths, txt]
    whole = tmp_path / "whole.bin"
    smollm2.encode_files(inputs, whole, split="lines", eos="<|endoftext|>", chunk_bytes=20_000)
    out = tmp_path / "resumed.bin"
    for chunks in (3, 4):
        interrupt = Interrupt(chunks)
        with pytest.raises(KeyboardInterrupt):
            smollm2.encode_files(inputs, out, split="lines", eos="<|endoftext|>",
                                 chunk_bytes=20_000, progress=interrupt)
        assert [p.bytes_done for p in interrupt.seen] == sorted(p.bytes_done for p in interrupt.seen)
        with pytest.raises(toktool.InvalidInputError, match="not finished"):
            toktool.read_tokens(out)
        done = toktool.read_tokens(out, partial=True)
        assert 0 < len(done) < toktool.read_tokens(whole).offsets.size - 1
        for name in output_paths(out)[:2]:  # what a crash in the middle of a chunk leaves
            with name.open("ab") as f:
                f.write(b"\xff" * 13)
    summary = smollm2.encode_files(inputs, out, split="lines", eos="<|endoftext|>", chunk_bytes=50_000)
    assert summary.resumed and summary.complete
    for a, b in zip(output_paths(whole)[:2], output_paths(out)[:2]):
        assert a.read_bytes() == b.read_bytes()
    again = smollm2.encode_files(inputs, out, split="lines", eos="<|endoftext|>")
    assert again.resumed and again.complete and again.text_bytes == 0  # nothing left to do


KILL_AFTER_CHUNKS = """
import os, signal, sys, toktool
tok = toktool.load_tokenizer("cl100k")
chunks = 0
def progress(p):
    global chunks
    chunks += 1
    if chunks == 5:
        os.kill(os.getpid(), signal.SIGKILL)
tok.encode_files(sys.argv[2:], sys.argv[1], chunk_bytes=1, progress=progress)
"""


def test_a_killed_process_resumes_to_the_same_bytes(tmp_path: Path, cl100k: toktool.Tokenizer) -> None:
    paths, _ = stdlib_files(tmp_path, max_bytes=300_000)
    out = tmp_path / "killed.bin"
    args = [sys.executable, "-c", KILL_AFTER_CHUNKS, str(out), *map(str, paths)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    manifest = json.loads(output_paths(out)[2].read_text())
    assert not manifest["complete"] and manifest["documents"] > 0
    whole = tmp_path / "whole.bin"
    cl100k.encode_files(paths, whole, chunk_bytes=30_000)
    assert cl100k.encode_files(paths, out).resumed
    for a, b in zip(output_paths(whole)[:2], output_paths(out)[:2]):
        assert a.read_bytes() == b.read_bytes()


PEAK_MEMORY = """
import resource, sys, toktool
tok = toktool.load_tokenizer("smollm2")
small, big, out = sys.argv[1:4]
tok.encode_files([small], out, split="lines", chunk_bytes=1_000_000, resume=False)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tok.encode_files([big], out, split="lines", chunk_bytes=1_000_000, resume=False)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_memory_is_bounded_by_the_chunk_size_not_the_file_size(tmp_path: Path) -> None:
    text = "".join(artifacts.stdlib_corpus(max_bytes=2_000_000))
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text(text, encoding="utf-8")
    with big.open("w", encoding="utf-8") as f:
        for _ in range(30):  # 60 MB
            f.write(text)
    args = [sys.executable, "-c", PEAK_MEMORY, str(small), str(big), str(tmp_path / "t.bin")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    growth = int(proc.stdout.split()[-1])
    assert growth < 25_000_000, f"peak memory grew by {growth / 1e6:.1f} MB for a 60 MB file"


def _encode_in_child(paths: list[Path], out: Path, expected: bytes, queue: "multiprocessing.Queue[bool]") -> None:
    tok = toktool.load_tokenizer("smollm2")
    tok.encode_files(paths, out)
    queue.put(not toktool.parallelism() and out.read_bytes() == expected)


def test_encode_files_works_in_a_forked_child(tmp_path: Path, smollm2: toktool.Tokenizer) -> None:
    paths, _ = stdlib_files(tmp_path, max_bytes=100_000)
    parent = tmp_path / "parent.bin"
    smollm2.encode_files(paths, parent)  # the thread pool is now running in the parent
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[bool] = ctx.Queue()
    child = ctx.Process(target=_encode_in_child, args=(paths, tmp_path / "child.bin", parent.read_bytes(), queue))
    child.start()
    child.join(120)
    assert child.exitcode == 0 and queue.get(timeout=5)


def test_the_manifest_records_the_tokenizer_inputs_and_counts(tmp_path: Path, smollm2: toktool.Tokenizer) -> None:
    paths, texts = stdlib_files(tmp_path, max_bytes=60_000)
    out = tmp_path / "t.bin"
    summary = smollm2.encode_files(paths, out, name="smollm2")
    manifest = toktool.read_tokens(out).manifest
    assert manifest["complete"] and manifest["dtype"] == "uint16"
    assert manifest["tokenizer"]["name"] == "smollm2"
    assert manifest["tokenizer"]["vocab_size"] == smollm2.vocab_size
    assert [Path(i["path"]) for i in manifest["inputs"]] == [p.resolve() for p in paths]
    assert [i["size"] for i in manifest["inputs"]] == [p.stat().st_size for p in paths]
    assert [i["mtime_ns"] for i in manifest["inputs"]] == [p.stat().st_mtime_ns for p in paths]
    assert [i["documents"] for i in manifest["inputs"]] == [1] * len(paths)
    assert manifest["documents"] == summary.documents == len(texts)
    assert Path(summary.manifest_path) == output_paths(out)[2]


def test_errors_say_what_and_where(tmp_path: Path, smollm2: toktool.Tokenizer, cl100k: toktool.Tokenizer) -> None:
    out = tmp_path / "t.bin"
    with pytest.raises(toktool.ToktoolIOError, match="missing.txt"):
        smollm2.encode_files([tmp_path / "missing.txt"], out)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(toktool.InvalidInputError, match=r"bad.jsonl:2: no \"text\" field"):
        smollm2.encode_files([bad], out)
    bad.write_text('{"text": "ok"}\n{"text": "cut\n')
    with pytest.raises(toktool.InvalidInputError, match=r"bad.jsonl:2: not a JSON object"):
        smollm2.encode_files([bad], out)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9")
    with pytest.raises(toktool.InvalidInputError, match=r"latin1.txt: not UTF-8 text \(at byte 3"):
        smollm2.encode_files([latin1], out)
    good = tmp_path / "good.txt"
    good.write_text("hello")
    with pytest.raises(toktool.ToktoolIOError, match="no-such-dir"):
        smollm2.encode_files([good], tmp_path / "no-such-dir" / "t.bin")
    with pytest.raises(toktool.InvalidInputError, match="uint16 cannot hold"):
        cl100k.encode_files([good], out, dtype="uint16")
    with pytest.raises(toktool.UnknownTokenError):
        smollm2.encode_files([good], out, eos="<|no such token|>")
    with pytest.raises(toktool.InvalidTokenIdError):
        smollm2.encode_files([good], out, eos=10**6)
    with pytest.raises(toktool.InvalidInputError, match="unknown split"):
        smollm2.encode_files([good], out, split="paragraphs")  # type: ignore[arg-type]
    with pytest.raises(toktool.InvalidInputError, match="both an input and an output"):
        smollm2.encode_files([good], good)


def test_a_run_over_changed_inputs_is_not_continued(tmp_path: Path, smollm2: toktool.Tokenizer) -> None:
    paths, _ = stdlib_files(tmp_path, max_bytes=100_000)
    out = tmp_path / "t.bin"
    with pytest.raises(KeyboardInterrupt):
        smollm2.encode_files(paths, out, chunk_bytes=10_000, progress=Interrupt(2))
    with pytest.raises(toktool.InvalidInputError, match="other options"):
        smollm2.encode_files(paths, out, eos=0)
    with pytest.raises(toktool.InvalidInputError, match="another tokenizer"):
        toktool.Tokenizer.from_str(toktool.testing.tiny_tokenizer_json()).encode_files(paths, out)
    with paths[-1].open("a") as f:
        f.write("# changed\n")
    with pytest.raises(toktool.InvalidInputError, match="changed since the run started"):
        smollm2.encode_files(paths, out)
    assert smollm2.encode_files(paths, out, resume=False).complete


def test_cli_encodes_files_to_the_same_output(tmp_path: Path, cl100k: toktool.Tokenizer) -> None:
    from typer.testing import CliRunner

    from toktool.cli.app import app

    paths, texts = stdlib_files(tmp_path, max_bytes=80_000)
    jsonl = tmp_path / "more.jsonl"
    lines = multilingual_lines(50)
    write_jsonl(jsonl, lines)
    out = tmp_path / "cli.bin"
    runner = CliRunner()
    args = ["encode", "-t", "cl100k", "--eos", "<|endoftext|>", "--out", str(out),
            "--files", str(jsonl), str(tmp_path / "src*.py"), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    eot = cl100k.token_to_id("<|endoftext|>")
    assert documents(out) == [[*ids, eot] for ids in cl100k.encode_batch(lines + texts)]
    assert f"{len(lines) + len(texts):,} documents" in result.output
    assert "already complete" in runner.invoke(app, args).output
    result = runner.invoke(app, ["encode", "-t", "cl100k", "--out", str(out), str(tmp_path / "nothing*.txt")])
    assert result.exit_code == 1 and "no file matches" in result.output
    result = runner.invoke(app, ["encode", "-t", "cl100k", "--out", str(out), str(tmp_path / "absent.txt")])
    assert result.exit_code == 1 and "absent.txt" in result.output
    result = runner.invoke(app, ["encode", "-t", "cl100k", "Hello world"])
    assert result.exit_code == 0 and f"{cl100k.encode('Hello world')}" in result.output
    help_text = runner.invoke(app, ["encode", "--help"]).output
    assert "--out tokens.bin" in help_text and "read_tokens" in help_text


def test_ctrl_c_stops_the_cli_after_a_chunk_and_the_same_command_finishes(tmp_path: Path) -> None:
    import gc
    import signal
    import time

    text = tmp_path / "lines.txt"
    # 90 MB: seconds of work, so the parent still finds the run going when it sends the signal
    # even if it is held up for a while (6 MB, a fraction of a second, finished first twice in
    # the full suite, whose big test process can spend that long in a garbage collection)
    text.write_text("".join(artifacts.stdlib_corpus(max_bytes=2_000_000)) * 45, encoding="utf-8")
    out = tmp_path / "t.bin"
    command = [sys.executable, "-m", "toktool.cli", "encode", "-t", "smollm2", "--split", "lines",
               "--chunk-mb", "0.02", "--out", str(out), str(text)]
    # The child starts with Ctrl-C at its default: an ignored SIGINT is inherited across exec,
    # and a test process (or what it loaded) that ignores it would make the child ignore it too.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    manifest = output_paths(out)[2]
    deadline = time.monotonic() + 120
    gc.disable()  # no collection pauses while the run is watched
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.exists() and json.loads(manifest.read_text() or "{}").get("documents", 0):
                break
            time.sleep(0.02)
    finally:
        gc.enable()
    assert proc.poll() is None, "the run ended before a chunk was seen committed"
    proc.send_signal(signal.SIGINT)  # Ctrl-C while the core holds no GIL
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again" in err
    assert not json.loads(manifest.read_text())["complete"]
    finish = subprocess.run([*command, "--no-progress"], capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0 and "continued an interrupted run" in finish.stdout, finish.stderr
    tok = toktool.load_tokenizer("smollm2")
    whole = tmp_path / "whole.bin"
    tok.encode_files([text], whole, split="lines")
    for a, b in zip(output_paths(whole)[:2], output_paths(out)[:2]):
        assert a.read_bytes() == b.read_bytes()


def test_read_tokens_maps_documents_without_loading_them(tmp_path: Path, smollm2: toktool.Tokenizer) -> None:
    paths, texts = stdlib_files(tmp_path, max_bytes=50_000)
    out = tmp_path / "t.bin"
    smollm2.encode_files(paths, out)
    data = toktool.read_tokens(out)
    assert isinstance(data.tokens, np.memmap) and data.tokens.dtype == np.dtype("<u2")
    assert len(data) == len(texts) and data.offsets[0] == 0 and data.offsets[-1] == data.tokens.size
    assert data[-1].tolist() == smollm2.encode(texts[-1])
    with pytest.raises(IndexError):
        data[len(texts)]
    os.remove(output_paths(out)[2])
    with pytest.raises(toktool.ToktoolIOError, match="no manifest"):
        toktool.read_tokens(out)
