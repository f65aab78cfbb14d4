"""Exception hierarchy of toktool.

Every error toktool raises on bad input is a ``ToktoolError``. Subclasses also derive from the
built-in exception that fits their meaning, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "CheckpointError",
    "GgufFormatError",
    "InternalError",
    "InvalidInputError",
    "InvalidTokenIdError",
    "MissingDependencyError",
    "ToktoolError",
    "ToktoolIOError",
    "TokenizerFormatError",
    "TokenizerRegexError",
    "UnknownTokenError",
    "UnsupportedComponentError",
]


class ToktoolError(Exception):
    """Base class of every toktool error."""


class TokenizerFormatError(ToktoolError, ValueError):
    """A tokenizer file is not valid JSON or not shaped like a ``tokenizer.json``."""


class GgufFormatError(TokenizerFormatError):
    """A GGUF file is truncated or garbled (the message names the byte offset)."""


class TokenizerRegexError(TokenizerFormatError):
    """A regular expression in a tokenizer file does not compile."""


class UnsupportedComponentError(ToktoolError, ValueError):
    """A tokenizer file uses a component toktool cannot reproduce exactly."""


class InvalidTokenIdError(ToktoolError, KeyError):
    """A token id is negative, too large, or not defined by the tokenizer."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownTokenError(ToktoolError, KeyError):
    """A token string is not in the vocabulary."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidInputError(ToktoolError, ValueError):
    """Input text or arguments that the operation cannot accept."""


class ToktoolIOError(ToktoolError, OSError):
    """Reading or writing a file failed."""


class InternalError(ToktoolError):
    """A bug in toktool: please report it with the message."""


class CheckpointError(ToktoolIOError):
    """A hypernetwork checkpoint is missing, truncated, a pickle, or does not match the model."""


class MissingDependencyError(ToktoolError, ImportError):
    """An optional Python package a feature needs is not installed (the message says how)."""


class ArtifactError(ToktoolError, RuntimeError):
    """A package that provides an artifact (or a conversion tool) is missing."""
