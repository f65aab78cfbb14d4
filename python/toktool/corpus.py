"""Corpus-scale encoding: stream text/JSONL files into one flat ``uint32`` token file.

``encode_files(tok, paths, out)`` writes three files next to each other:

- ``out``: the ids of every document, end to end, little-endian ``uint32``;
- ``out + ".offsets"``: little-endian ``uint64``, ``offsets[0] = 0`` and ``offsets[i + 1]`` the end
  of document ``i`` (in ids), so document ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``;
- ``out + ".state.json"``: how far the run got, written after the data of each batch is on disk.

Documents: one per line of a ``.jsonl`` file (its ``text_key`` field), one per line of any other
file (like ``datasets``' text loader; the newline is not part of the document). Memory is bounded
by ``batch_bytes``; each batch runs ``encode_batch`` on all cores with the GIL released. A run
that was interrupted continues from its state file when called again with the same arguments
(``resume=True``): both outputs are cut back to the last finished batch first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toktool._toktool import Tokenizer
from toktool.errors import InvalidInputError, ToktoolIOError

__all__ = ["encode_files", "read_documents"]


def _documents(path: Path, text_key: str, skip: int) -> Iterator[tuple[str, int]]:
    """``(document, bytes read)`` of each line of ``path`` after the first ``skip`` lines."""
    jsonl = path.suffix == ".jsonl"
    with path.open("rb") as f:
        for number, raw in enumerate(f):
            if number < skip:
                continue
            line = raw.decode("utf-8", errors="strict").rstrip("\n")
            if jsonl:
                if not line.strip():
                    yield "", len(raw)
                    continue
                try:
                    record: Any = json.loads(line)
                    text = record[text_key]
                except (ValueError, KeyError, TypeError) as e:
                    raise InvalidInputError(
                        f"{path}:{number + 1}: expected a JSON object with a string {text_key!r} "
                        f"field ({e})"
                    ) from None
                if not isinstance(text, str):
                    raise InvalidInputError(f"{path}:{number + 1}: {text_key!r} is not a string")
                yield text, len(raw)
            else:
                yield line, len(raw)


def _write_state(state_path: Path, state: dict[str, Any]) -> None:
    tmp = state_path.with_name(state_path.name + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, state_path)


def encode_files(
    tokenizer: Tokenizer,
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    text_key: str = "text",
    batch_bytes: int = 8_000_000,
    resume: bool = True,
    progress: bool = False,
) -> dict[str, int]:
    """Encode every document of ``paths`` into ``out`` (see the module docstring); returns
    ``{"documents": ..., "tokens": ...}`` for the whole output."""
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise ToktoolIOError(f"{p}: no such file")
    out_path = Path(out)
    offsets_path = out_path.with_name(out_path.name + ".offsets")
    state_path = out_path.with_name(out_path.name + ".state.json")
    inputs = [str(p) for p in files]
    state: dict[str, Any] = {"inputs": inputs, "text_key": text_key, "file": 0, "line": 0,
                             "documents": 0, "tokens": 0, "bytes": 0, "done": False}
    if resume and state_path.exists():
        old = json.loads(state_path.read_text())
        if old.get("inputs") != inputs or old.get("text_key") != text_key:
            raise InvalidInputError(
                f"{state_path} belongs to a run over other inputs; remove it or pass resume=False"
            )
        state = old
    if state["done"]:
        return {"documents": state["documents"], "tokens": state["tokens"]}
    mode = "r+b" if state["documents"] else "wb"
    if mode == "r+b" and not (out_path.exists() and offsets_path.exists()):
        raise ToktoolIOError(f"{out_path}: the state file says it exists, but it does not")
    total_bytes = sum(p.stat().st_size for p in files)
    bar = _progress(total_bytes, state["bytes"]) if progress else None
    with out_path.open(mode) as tokens_f, offsets_path.open(mode) as offsets_f:
        # Cut both files back to the last finished batch (a crash may have left a partial one).
        if mode == "r+b":
            tokens_f.truncate(4 * state["tokens"])
            offsets_f.truncate(8 * (state["documents"] + 1))
            tokens_f.seek(0, os.SEEK_END)
            offsets_f.seek(0, os.SEEK_END)
        else:
            offsets_f.write(np.zeros(1, dtype="<u8").tobytes())

        def flush(batch: list[str], read: int, file_index: int, line: int) -> None:
            arrays = tokenizer.encode_batch(batch, as_array=True)
            lengths = np.fromiter((len(a) for a in arrays), dtype=np.uint64, count=len(arrays))
            if arrays:
                tokens_f.write(np.concatenate(arrays).astype("<u4", copy=False).tobytes())
            ends = np.cumsum(lengths, dtype=np.uint64) + np.uint64(state["tokens"])
            offsets_f.write(ends.astype("<u8", copy=False).tobytes())
            tokens_f.flush()
            offsets_f.flush()
            os.fsync(tokens_f.fileno())
            os.fsync(offsets_f.fileno())
            state.update(file=file_index, line=line, documents=state["documents"] + len(batch),
                         tokens=state["tokens"] + int(lengths.sum()),
                         bytes=state["bytes"] + read)
            _write_state(state_path, state)
            if bar is not None:
                bar[0].update(bar[1], completed=state["bytes"])

        try:
            for file_index in range(state["file"], len(files)):
                skip = state["line"] if file_index == state["file"] else 0
                batch: list[str] = []
                size = read = 0
                line = skip
                for text, nbytes in _documents(files[file_index], text_key, skip):
                    batch.append(text)
                    size += len(text)
                    read += nbytes
                    line += 1
                    if size >= batch_bytes:
                        flush(batch, read, file_index, line)
                        batch, size, read = [], 0, 0
                flush(batch, read, file_index + 1, 0)
        finally:
            if bar is not None:
                bar[0].stop()
    state["done"] = True
    _write_state(state_path, state)
    return {"documents": state["documents"], "tokens": state["tokens"]}


def _progress(total: int, done: int) -> Any:
    from rich.progress import (BarColumn, DownloadColumn, Progress, TimeRemainingColumn,
                               TransferSpeedColumn)

    bar = Progress("encoding", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn())
    task = bar.add_task("encode", total=total, completed=done)
    bar.start()
    return bar, task


def read_documents(out: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens, offsets)`` of an ``encode_files`` output, memory-mapped."""
    out_path = Path(out)
    tokens = np.memmap(out_path, dtype="<u4", mode="r") if out_path.stat().st_size else \
        np.zeros(0, dtype="<u4")
    offsets = np.fromfile(out_path.with_name(out_path.name + ".offsets"), dtype="<u8")
    return tokens, offsets
