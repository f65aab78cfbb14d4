"""Fixtures shared by several test files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny tied Llama LM of :func:`toktool.testing.tiny_causal_lm` (150 steps), trained once
    per session (needs torch and transformers; the test files that use it skip without them)."""
    from toktool.testing import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm", steps=150)
