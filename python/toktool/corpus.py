"""Corpus-scale encoding: text and JSONL files into one flat token file, and reading it back.

``Tokenizer.encode_files(paths, out)`` (the Rust core: chunks of documents encoded on all cores
with the GIL released, memory bounded by ``chunk_bytes``) writes three files:

- ``out`` (say ``tokens.bin``): the ids of every document end to end, little-endian ``uint16``
  when the vocabulary has at most 65,536 ids, else ``uint32`` (``dtype=`` overrides);
- ``tokens.idx`` (``out`` with the extension ``.idx``): little-endian ``uint64``, ``n_docs + 1``
  entries, so document ``i`` is ``tokens[idx[i]:idx[i + 1]]``;
- ``tokens.manifest.json``: the tokenizer's fingerprint, the options, every input with its size,
  mtime and document count, how far the run got, and whether it is complete.

A document is a whole text file (``split="file"``), a line of one (``split="lines"``; the line
end is not part of it, empty lines are empty documents), or the ``jsonl_field`` of a line of a
``.jsonl``/``.ndjson`` file (blank lines skipped). ``.gz`` files are decompressed on the fly.
Its ids are exactly ``Tokenizer.encode(document)``, with ``bos``/``eos`` (an id or a token
string) around them if given. Rerunning an interrupted call (Ctrl-C, a crash, a killed job) with
the same arguments continues after the last finished chunk and leaves byte-identical files.

:func:`read_tokens` maps the result back into NumPy without reading it into memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from toktool._toktool import EncodeFilesProgress, EncodeFilesSummary
from toktool.errors import InvalidInputError, ToktoolIOError

__all__ = [
    "EncodeFilesProgress",
    "EncodeFilesSummary",
    "ProgressBar",
    "TokenFile",
    "output_paths",
    "read_tokens",
]


def output_paths(out: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """``(tokens, index, manifest)`` paths of the token file ``out``, as ``encode_files`` names
    them: ``tokens.bin`` -> ``tokens.idx``, ``tokens.manifest.json``."""
    tokens = Path(out)
    return tokens, tokens.with_suffix(".idx"), tokens.with_suffix(".manifest.json")


@dataclass(frozen=True)
class TokenFile:
    """An ``encode_files`` output: ``tokens`` (a read-only memory map), ``offsets``
    (``len(self) + 1`` document starts) and the ``manifest`` dict."""

    tokens: npt.NDArray[np.unsignedinteger[Any]]
    offsets: npt.NDArray[np.uint64]
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, document: int) -> npt.NDArray[np.unsignedinteger[Any]]:
        """The ids of one document (a view into the memory map)."""
        if not -len(self) <= document < len(self):
            raise IndexError(f"document {document} of {len(self)}")
        document %= len(self)
        return self.tokens[int(self.offsets[document]) : int(self.offsets[document + 1])]

    def __iter__(self) -> Iterator[npt.NDArray[np.unsignedinteger[Any]]]:
        return (self[i] for i in range(len(self)))


def read_tokens(out: str | os.PathLike[str], *, partial: bool = False) -> TokenFile:
    """Open the token file ``out`` written by ``Tokenizer.encode_files`` (memory-mapped).

    An output whose run was interrupted is refused unless ``partial=True``, which gives the
    documents finished so far.

    >>> data = toktool.read_tokens("tokens.bin")  # doctest: +SKIP
    >>> len(data), data[0], data.tokens.dtype  # doctest: +SKIP
    (1000, memmap([...], dtype=uint16), dtype('uint16'))
    """
    tokens_path, index_path, manifest_path = output_paths(out)
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise ToktoolIOError(f"{manifest_path}: no manifest; is {tokens_path} an encode_files "
                             "output?") from None
    except ValueError as e:
        raise ToktoolIOError(f"{manifest_path}: not a manifest ({e})") from None
    if not manifest.get("complete") and not partial:
        raise InvalidInputError(
            f"{tokens_path}: the run that writes it is not finished ({manifest.get('documents')} "
            "documents so far); run the same command again to finish it, or pass partial=True"
        )
    documents, count = int(manifest["documents"]), int(manifest["tokens"])
    dtype = np.dtype({"uint16": "<u2", "uint32": "<u4"}[manifest["dtype"]])
    for path, need in ((tokens_path, count * dtype.itemsize), (index_path, 8 * (documents + 1))):
        size = path.stat().st_size if path.exists() else -1
        if size < need:
            raise ToktoolIOError(f"{path}: {max(size, 0)} bytes, fewer than the {need} its "
                                 "manifest says were written")
    offsets = np.fromfile(index_path, dtype="<u8", count=documents + 1)
    ids = (np.memmap(tokens_path, dtype=dtype, mode="r", shape=(count,)) if count
           else np.zeros(0, dtype=dtype))
    return TokenFile(tokens=ids, offsets=offsets, manifest=manifest)


class ProgressBar:
    """The terminal bar behind ``encode_files(progress=True)``: input bytes read, MB/s, time
    left and documents, on stderr (``rich``, which Typer brings). Any callable taking an
    :class:`EncodeFilesProgress` works as ``progress=`` too."""

    def __init__(self, description: str = "encoding") -> None:
        # rich is imported here, before the run, not in the first callback: a Ctrl-C in the
        # middle of an import would surface as a confusing RuntimeError from the import.
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)

        self._bar: Any = Progress(TextColumn(description), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(),
                                  TextColumn("{task.fields[documents]:,} docs"),
                                  console=Console(stderr=True))
        self._task: Any = None
        self.description = description

    def __call__(self, progress: EncodeFilesProgress) -> None:
        if self._task is None:
            self._task = self._bar.add_task(self.description, total=progress.bytes_total,
                                            completed=progress.bytes_at_start, documents=0)
            self._bar.start()
        self._bar.update(self._task, completed=progress.bytes_done,
                         documents=progress.documents)

    def close(self) -> None:
        """Stop redrawing (``encode_files`` calls it when the run ends, however it ends)."""
        if self._task is not None:
            self._bar.stop()
            self._task = None
