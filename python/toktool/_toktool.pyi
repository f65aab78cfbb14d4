"""Type stub of the compiled extension ``toktool._toktool`` (checked by ``mypy.stubtest``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
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
    "_panic_for_tests",
    "_time_merge_units",
    "apply_merges",
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
    def covers(self, y: bytes, validate: bool = True) -> dict[str, Any]: ...
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
    def heal(self, prompt: bytes) -> tuple[list[int], list[int], bytes, list[int]]: ...
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

# Dynamic batch merging (wrapped by toktool.merge; raw dicts with keys ids, merges, new_tokens,
# starts, units, byte_starts (packed little-endian u32), n_units, n_words, n_bytes, recovery).
def merge_batch(
    tokenizer: Tokenizer,
    batch: Iterable[Sequence[int]],
    max_merges: int | None = None,
    boundary: str = "pretoken",
    min_count: int = 1,
    word_ids: Sequence[Sequence[int | None]] | None = None,
) -> dict[str, Any]: ...
def apply_merges(
    tokenizer: Tokenizer,
    batch: Iterable[Sequence[int]],
    merges: Sequence[tuple[int, int]],
    boundary: str = "pretoken",
    word_ids: Sequence[Sequence[int | None]] | None = None,
) -> dict[str, Any]: ...
def merge_batches(
    tokenizer: Tokenizer,
    batches: Iterable[Iterable[Sequence[int]]],
    max_merges: int | None = None,
    boundary: str = "pretoken",
    min_count: int = 1,
) -> list[dict[str, Any]]: ...
def merge_units(
    batch: Iterable[Sequence[int]],
    units: Sequence[Sequence[int | None]],
    first_new_id: int,
    max_merges: int | None = None,
    min_count: int = 1,
) -> tuple[list[list[int]], list[list[int]], list[tuple[int, int, int]]]: ...
def _time_merge_units(
    batch: Iterable[Sequence[int]],
    units: Sequence[Sequence[int | None]],
    first_new_id: int,
    max_merges: int | None = None,
    repeats: int = 10,
) -> float: ...

# ZeTT data functions (wrapped by toktool.zett.decompose and toktool.zett.sampler): ids and
# lengths come as packed little-endian u32, scores as packed little-endian f64.
def zett_decompose(
    tokenizer: Tokenizer, pieces: Iterable[bytes], max_len: int
) -> tuple[bytes, bytes, int, int]: ...
def zett_decompose_vocab(
    new: Tokenizer, original: Tokenizer, max_len: int
) -> tuple[bytes, bytes, int, int]: ...
def zett_sample_unigram(
    tokenizer: Tokenizer,
    texts: Iterable[str],
    vocab_size: int,
    max_token_bytes: int,
    noise: float,
    min_count: int,
    seed: int,
) -> tuple[list[bytes], bytes, bytes, bytes]: ...
