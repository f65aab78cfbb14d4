"""The named tokenizers: :data:`TOKENIZERS` and :func:`tokenizer_json`, their converted
``tokenizer.json`` files in the cache.

Each name maps to a converter (source file -> ``tokenizer.json`` bytes): the
tiktoken-style and SentencePiece families live in their own modules; the two
small ones are here (SmolLM2's GGUF through toktool's own loader, Claude's file
copied as is).
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Callable

from toktool.artifacts.cache import atomic_write, cache_dir, source_file, source_fingerprint
from toktool.artifacts.hf_json import dump_json
from toktool.artifacts.sentencepiece_bpe import convert_sentencepiece
from toktool.artifacts.tiktoken_bpe import convert_tiktoken_like

__all__ = ["TOKENIZERS", "tokenizer_json"]

TOKENIZERS: tuple[str, ...] = (
    "smollm2",
    "claude",
    "cl100k",
    "o200k",
    "llama3",
    "mistral-sp",
    "mistral-sp-legacy",
    "tekken",
)


def tokenizer_json(name: str) -> pathlib.Path:
    """Path of the HF ``tokenizer.json`` for ``name`` (one of :data:`TOKENIZERS`).

    The file is converted on first use and cached under ``cache_dir()/tokenizers``;
    the cache key covers the source file (path, size, mtime) and the converter
    version, so reinstalling a package or changing a converter re-converts; a new
    conversion deletes the name's older ones beyond the :data:`KEEP_CONVERSIONS` newest.
    Raises :class:`ArtifactError` naming the pip package to install when the
    source package (or a conversion dependency) is missing.
    """
    if name not in _CONVERTERS:
        raise ValueError(f"unknown tokenizer {name!r}; expected one of {TOKENIZERS}")
    src = source_file(name)
    target = cache_dir() / "tokenizers" / f"{name}-{source_fingerprint(src, name)}.json"
    if not target.is_file():
        atomic_write(target, _CONVERTERS[name](src))
        _prune_conversions(name, target.parent)
    return target


#: Conversions of one name kept in the cache: the key changes with the source file's path and
#: mtime, so every new environment or reinstall converts again; older ones beyond these go.
KEEP_CONVERSIONS = 4


def _prune_conversions(name: str, directory: pathlib.Path) -> None:
    """Delete all but the :data:`KEEP_CONVERSIONS` newest conversions of ``name`` (by mtime).

    Only files named exactly ``{name}-{16 hex digits}.json`` count, so ``mistral-sp`` never
    touches ``mistral-sp-legacy``. A file another process deletes first is no error.
    """
    pattern = re.compile(rf"{re.escape(name)}-[0-9a-f]{{16}}\.json")
    found = []
    for path in directory.iterdir():
        if pattern.fullmatch(path.name):
            try:
                found.append((path.stat().st_mtime_ns, path))
            except FileNotFoundError:
                continue
    found.sort(reverse=True)
    for _, path in found[KEEP_CONVERSIONS:]:
        path.unlink(missing_ok=True)


def _convert_smollm2(src: pathlib.Path) -> bytes:
    """SmolLM2's HF ``tokenizer.json``, written by the GGUF loader (:meth:`Tokenizer.from_gguf`).

    Its ``tokenizer.ggml.pre == "smollm"`` maps to the published SmolLM2 pre-tokenizer
    Sequence[Digits(individual_digits=true), ByteLevel]; CONTROL tokens become special added
    tokens.  (transformers' GGUF builder knows no "smollm" and would not split digits.)

    Note: the vocabulary has only 235 of the 256 byte symbols and no unk token, so the missing
    bytes are silently dropped when encoding, exactly as with the original tokenizer.
    """
    from toktool._toktool import Tokenizer

    tok = Tokenizer.from_gguf(src)
    if tok.info().get("gguf_pre") != "smollm":
        raise ValueError(f"{src}: unexpected tokenizer.ggml.pre (expected 'smollm')")
    return dump_json(json.loads(tok.to_str()))


def _copy_file(src: pathlib.Path) -> bytes:
    data = src.read_bytes()
    json.loads(data)  # fail early on a corrupt file
    return data


_CONVERTERS: dict[str, Callable[[pathlib.Path], bytes]] = {
    "smollm2": _convert_smollm2,
    "claude": _copy_file,
    "cl100k": convert_tiktoken_like("cl100k"),
    "o200k": convert_tiktoken_like("o200k"),
    "llama3": convert_tiktoken_like("llama3"),
    "mistral-sp": convert_sentencepiece(legacy=False),
    "mistral-sp-legacy": convert_sentencepiece(legacy=True),
    "tekken": convert_tiktoken_like("tekken"),
}
assert tuple(_CONVERTERS) == TOKENIZERS
