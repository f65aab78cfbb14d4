"""The one place that imports PyTorch for the features that need it (hf, merge, zett).

torch is an optional dependency (the ``torch`` extra); importing it lazily keeps ``import toktool``
fast and lets the tokenizer work without it.
"""

from __future__ import annotations

from typing import Any

from toktool.errors import MissingDependencyError


def load_torch() -> Any:
    """The ``torch`` module, or :class:`MissingDependencyError` saying how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            "this feature needs PyTorch, which is not installed: pip install 'toktool[torch]'"
        ) from exc
    return torch


def module_base() -> Any:
    """``torch.nn.Module``, as the base in a class statement of toktool's torch modules (the
    modules that define them are imported only when a torch feature is used)."""
    return load_torch().nn.Module
