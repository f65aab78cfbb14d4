"""Type stub of the compiled extension ``toktool._toktool`` (checked by ``mypy.stubtest``)."""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, final, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "DIGIT",
    "MAX_GROUP",
    "OTHER_NUMERIC",
    "CoverSearch",
    "TokenHealer",
    "Tokenizer",
    "__version__",
    "BOUNDARIES",
    "CoverGroup",
    "Covers",
    "Decomposition",
    "EncodeFilesProgress",
    "EncodeFilesSummary",
    "Healed",
    "MergedBatch",
    "SampledTokenizer",
    "TokenizedMerge",
    "_panic_for_tests",
    "apply_merges",
    "check_boundary",
    "digit_pattern",
    "merge_batch",
    "merge_batches",
    "merge_units",
    "parallelism",
    "parse_digit_pattern",
    "set_parallelism",
    "set_pretoken_cache",
    "pretoken_cache",
    "zett_decompose",
    "zett_decompose_vocab",
    "zett_sample_unigram",
]
__version__: str

@final
class Tokenizer:
    """A BPE tokenizer loaded from a Hugging Face ``tokenizer.json``, giving HF-exact ids."""

    @staticmethod
    def from_file(path: str | os.PathLike[str]) -> Tokenizer: ...
    @staticmethod
    def from_str(json: str) -> Tokenizer: ...
    @staticmethod
    def from_gguf(path: str | os.PathLike[str]) -> Tokenizer: ...
    @staticmethod
    def from_hf(tokenizer: Any) -> Tokenizer: ...
    def to_hf(self) -> Any: ...
    def to_str(self) -> str: ...
    @overload
    def encode(self, text: str, as_array: Literal[False] = False) -> list[int]: ...
    @overload
    def encode(self, text: str, as_array: Literal[True]) -> npt.NDArray[np.uint32]: ...
    @overload
    def encode_batch(
        self, texts: Iterable[str], as_array: Literal[False] = False
    ) -> list[list[int]]: ...
    @overload
    def encode_batch(
        self, texts: Iterable[str], as_array: Literal[True]
    ) -> list[npt.NDArray[np.uint32]]: ...
    def encode_with_pretokens(self, text: str) -> tuple[list[int], list[int]]: ...
    def encode_files(
        self,
        paths: Sequence[str | os.PathLike[str]],
        out: str | os.PathLike[str],
        *,
        split: Literal["file", "lines"] = "file",
        jsonl_field: str = "text",
        format: Literal["text", "jsonl"] | None = None,
        dtype: Literal["auto", "uint16", "uint32"] = "auto",
        bos: int | str | None = None,
        eos: int | str | None = None,
        chunk_bytes: int = 16777216,
        resume: bool = True,
        progress: bool | Callable[[EncodeFilesProgress], object] | None = None,
        name: str | None = None,
    ) -> EncodeFilesSummary: ...
    def bpe_bytes(self, piece: bytes) -> list[int]: ...
    def decode_bytes(self, ids: Sequence[int]) -> bytes: ...
    def token_bytes(self, id: int) -> bytes: ...
    def all_token_bytes(self) -> list[bytes | None]: ...
    def is_canonical(self, ids: Sequence[int]) -> bool: ...
    def id_to_token(self, id: int) -> str: ...
    def token_to_id(self, token: str) -> int: ...
    @property
    def implicit_prefix(self) -> bytes: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def special_tokens(self) -> dict[str, int]: ...
    def info(self) -> dict[str, Any]: ...

@final
class CoverSearch:
    """Finds the covers of a byte string (see ``toktool.bytes``)."""

    def __new__(cls, tokenizer: Tokenizer) -> CoverSearch: ...
    def covers(self, y: bytes, validate: bool = True) -> Covers: ...
    def valid_next(
        self, tail: bytes, prefix: Sequence[int], at_start: bool
    ) -> npt.NDArray[np.bool_]: ...
    def valid_among(
        self,
        tail: bytes,
        prefix: Sequence[int],
        at_start: bool,
        ids: Sequence[int] | npt.NDArray[np.integer[Any]],
    ) -> npt.NDArray[np.bool_]: ...
    def tokens_with_prefix(self, prefix: bytes) -> list[int]: ...

@final
class TokenHealer:
    """Token healing for one tokenizer: the back-off rule and a prefix index over its token bytes."""

    def __new__(cls, tokenizer: Tokenizer, max_backoff: int | None = None) -> TokenHealer: ...
    def heal(self, prompt: bytes) -> Healed: ...
    def encode_bytes(self, prompt: bytes) -> list[int]: ...
    def allowed(self, constraint: bytes) -> npt.NDArray[np.bool_]: ...
    def allowed_ids(self, constraint: bytes) -> npt.NDArray[np.uint32]: ...
    def allowed_bitmask(self, constraint: bytes) -> npt.NDArray[np.uint32]: ...
    def advance(self, constraint: bytes, token: int) -> bytes | None: ...
    def extensions(self, prefix: bytes) -> npt.NDArray[np.uint32]: ...
    def prefixes_of(self, text: bytes) -> list[int]: ...
    @property
    def max_backoff(self) -> int | None: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def max_token_len(self) -> int: ...

def set_parallelism(enabled: bool) -> None: ...
def parallelism() -> bool: ...
def set_pretoken_cache(enabled: bool) -> None: ...
def pretoken_cache() -> bool: ...
def _panic_for_tests() -> None: ...

# The digit-pattern grammar (wrapped by toktool.digits).
DIGIT: str
OTHER_NUMERIC: str
MAX_GROUP: int
def digit_pattern(mode: str, group: int, other: str) -> str: ...
def parse_digit_pattern(pattern: str) -> tuple[str, int, str] | None: ...

# Result classes: frozen, one per core result type. Ragged data (one sequence per text, token
# or piece) comes as one flat array plus ``lengths``.
_U32Array = npt.NDArray[np.uint32]

@final
class CoverGroup:
    """One family of straddling covers: ``head + prefix + [t]`` for each ``t`` in ``last``."""

    @property
    def prefix(self) -> list[int]: ...
    @property
    def start(self) -> int: ...
    @property
    def last(self) -> _U32Array: ...

@final
class Covers:
    """All covers of a byte string ``y``."""

    @property
    def head(self) -> list[int]: ...
    @property
    def boundary(self) -> int: ...
    @property
    def groups(self) -> list[CoverGroup]: ...
    @property
    def exact(self) -> list[list[int]]: ...
    @property
    def canonical(self) -> list[int] | None: ...

@final
class Healed:
    """A healed prompt: ``prompt_ids == ids + removed``; ``constraint`` comes first."""

    @property
    def ids(self) -> list[int]: ...
    @property
    def removed(self) -> list[int]: ...
    @property
    def constraint(self) -> bytes: ...
    @property
    def prompt_ids(self) -> list[int]: ...

@final
class EncodeFilesProgress:
    """How far ``Tokenizer.encode_files`` got; passed to its ``progress`` callback per chunk."""

    @property
    def bytes_done(self) -> int: ...
    @property
    def bytes_total(self) -> int: ...
    @property
    def bytes_at_start(self) -> int: ...
    @property
    def documents(self) -> int: ...
    @property
    def tokens(self) -> int: ...

@final
class EncodeFilesSummary:
    """What ``Tokenizer.encode_files`` wrote (totals over every run of the output)."""

    @property
    def tokens_path(self) -> Path: ...
    @property
    def index_path(self) -> Path: ...
    @property
    def manifest_path(self) -> Path: ...
    @property
    def dtype(self) -> Literal["uint16", "uint32"]: ...
    @property
    def documents(self) -> int: ...
    @property
    def tokens(self) -> int: ...
    @property
    def files(self) -> int: ...
    @property
    def text_bytes(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def resumed(self) -> bool: ...
    @property
    def complete(self) -> bool: ...
    @property
    def mb_per_s(self) -> float: ...

@final
class MergedBatch:
    """The bare merger's result: per-token arrays hold the sequences end to end."""

    @property
    def ids(self) -> _U32Array: ...
    @property
    def lengths(self) -> _U32Array: ...
    @property
    def starts(self) -> _U32Array: ...
    @property
    def merges(self) -> npt.NDArray[np.uint32]: ...  # (merges, 3): left, right, count
    @property
    def first_new_id(self) -> int: ...

@final
class TokenizedMerge:
    """A merged tokenized batch (``merged``) and what its units say: per-token arrays end to end,
    per-sequence arrays one value each."""

    @property
    def merged(self) -> MergedBatch: ...
    @property
    def units(self) -> _U32Array: ...
    @property
    def byte_starts(self) -> _U32Array: ...
    @property
    def new_tokens(self) -> _U32Array: ...
    @property
    def new_token_lengths(self) -> _U32Array: ...
    @property
    def n_units(self) -> _U32Array: ...
    @property
    def n_words(self) -> _U32Array: ...
    @property
    def n_bytes(self) -> npt.NDArray[np.uint64]: ...
    @property
    def recovery(self) -> list[str]: ...

@final
class Decomposition:
    """Pieces spelled in a tokenizer's ids: ``lengths[i]`` ids each, end to end."""

    @property
    def ids(self) -> _U32Array: ...
    @property
    def lengths(self) -> _U32Array: ...
    @property
    def truncated(self) -> int: ...
    @property
    def unspellable(self) -> int: ...

@final
class SampledTokenizer:
    """A sampled UnigramLM tokenizer and its segmentation of the batch."""

    @property
    def vocab(self) -> list[bytes]: ...
    @property
    def scores(self) -> npt.NDArray[np.float64]: ...
    @property
    def ids(self) -> _U32Array: ...
    @property
    def lengths(self) -> _U32Array: ...

_IdBatch = Iterable[Sequence[int]] | npt.NDArray[np.integer[Any]]
_UnitBatch = Sequence[Sequence[int | None]] | npt.NDArray[np.integer[Any]]

# Dynamic batch merging (wrapped by toktool.merge); the names are the core's.
BOUNDARIES: tuple[str, ...]
def check_boundary(boundary: str) -> None: ...
def merge_batch(
    tokenizer: Tokenizer,
    batch: _IdBatch,
    max_merges: int | None = None,
    boundary: str = "pretoken",
    min_count: int = 1,
    word_ids: _UnitBatch | None = None,
    whole_chars: bool = False,
) -> TokenizedMerge: ...
def apply_merges(
    tokenizer: Tokenizer,
    batch: _IdBatch,
    merges: Sequence[tuple[int, int]],
    boundary: str = "pretoken",
    word_ids: _UnitBatch | None = None,
) -> TokenizedMerge: ...
def merge_batches(
    tokenizer: Tokenizer,
    batches: Iterable[_IdBatch],
    max_merges: int | None = None,
    boundary: str = "pretoken",
    min_count: int = 1,
    whole_chars: bool = False,
) -> list[TokenizedMerge]: ...
def merge_units(
    batch: _IdBatch,
    units: _UnitBatch,
    first_new_id: int,
    max_merges: int | None = None,
    min_count: int = 1,
) -> MergedBatch: ...

# ZeTT data functions (wrapped by toktool.zett.decompose and toktool.zett.sampler).
def zett_decompose(tokenizer: Tokenizer, pieces: Iterable[bytes], max_len: int) -> Decomposition: ...
def zett_decompose_vocab(new: Tokenizer, original: Tokenizer, max_len: int) -> Decomposition: ...
def zett_sample_unigram(
    tokenizer: Tokenizer,
    texts: Iterable[str],
    vocab_size: int,
    max_token_bytes: int,
    noise: float,
    min_count: int,
    seed: int,
) -> SampledTokenizer: ...
