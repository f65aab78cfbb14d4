"""toktool: a tokenizer engineering toolkit.

A Rust core (HF-exact BPE, and the algorithms built on it) with a typed Python layer and the
``toktool`` command line.

>>> import toktool
>>> tok = toktool.Tokenizer.from_str(toktool.testing.tiny_tokenizer_json())
>>> tok.encode("hello world")
[0, 1]
"""

from __future__ import annotations

import os

from toktool import _toktool, digits, errors, merge, testing
from toktool._toktool import (
    CoverSearch,
    parallelism,
    pretoken_cache,
    set_parallelism,
    set_pretoken_cache,
)
from toktool.bytes import ByteEnsemble, ByteLM, ByteState
from toktool.corpus import TokenFile, read_tokens
from toktool.errors import (
    ArtifactError,
    CheckpointError,
    InternalError,
    InvalidInputError,
    InvalidTokenIdError,
    MissingDependencyError,
    ToktoolError,
    ToktoolIOError,
    TokenizerFormatError,
    GgufFormatError,
    TokenizerRegexError,
    UnknownTokenError,
    UnsupportedComponentError,
)
from toktool.merge import (
    DynamicTokenizer,
    Embedder,
    FittedEmbedder,
    FVTEmbedder,
    MergeResult,
    apply_merges,
    fit_new_rows,
    merge_batch,
    merge_batches,
)
from toktool.healing import HealedPrompt, TokenHealer, heal_generate, naive_generate
from toktool.tokenizer import Tokenizer, load_tokenizer

__version__: str = _toktool.__version__

__all__ = [
    "ByteEnsemble",
    "ByteLM",
    "ByteState",
    "ArtifactError",
    "CheckpointError",
    "CoverSearch",
    "DynamicTokenizer",
    "Embedder",
    "FVTEmbedder",
    "FittedEmbedder",
    "HealedPrompt",
    "InternalError",
    "InvalidInputError",
    "InvalidTokenIdError",
    "MissingDependencyError",
    "MergeResult",
    "ToktoolError",
    "ToktoolIOError",
    "TokenFile",
    "TokenHealer",
    "Tokenizer",
    "TokenizerFormatError",
    "GgufFormatError",
    "TokenizerRegexError",
    "UnknownTokenError",
    "UnsupportedComponentError",
    "__version__",
    "apply_merges",
    "digits",
    "errors",
    "fit_new_rows",
    "merge",
    "load_tokenizer",
    "merge_batch",
    "merge_batches",
    "heal_generate",
    "naive_generate",
    "parallelism",
    "pretoken_cache",
    "read_tokens",
    "set_parallelism",
    "set_pretoken_cache",
    "testing",
]

# Rayon's thread pool does not survive fork(): batch calls in a child run serially.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _toktool.set_parallelism(False))
if os.environ.get("TOKTOOL_NO_PARALLELISM"):
    _toktool.set_parallelism(False)
