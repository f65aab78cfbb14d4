"""The tour's shared output handling (toktool.demo.quiet_third_party): other libraries' warnings,
transformers' log level and progress bars are held back inside it and restored after it;
toktool's own warnings still show."""

from __future__ import annotations

import warnings

import pytest

from toktool import demo


def _warn_from(module: str) -> None:
    warnings.warn_explicit("noise", UserWarning, "x.py", 1, module=module)


def test_third_party_warnings_are_held_back_and_toktool_ones_show() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with demo.quiet_third_party():
            _warn_from("transformers.modeling_utils")
            _warn_from("toktool.bytes")
        _warn_from("transformers.modeling_utils")  # outside: shows again
    assert [w.filename for w in caught] == ["x.py", "x.py"]


def test_transformers_verbosity_and_progress_bars_are_restored() -> None:
    hf_logging = pytest.importorskip("transformers.utils.logging")
    gguf_utils = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    bar = gguf_utils.tqdm
    hf_logging.enable_progress_bar()
    try:
        with demo.quiet_third_party():
            assert hf_logging.get_verbosity() == hf_logging.ERROR
            assert not hf_logging.is_progress_bar_enabled()
            assert gguf_utils.tqdm([1], desc="GGUF").disable  # called as transformers does: off
        assert hf_logging.get_verbosity() == level
        assert hf_logging.is_progress_bar_enabled()
        assert gguf_utils.tqdm is bar
    finally:
        hf_logging.set_verbosity(level)
        if not bars:
            hf_logging.disable_progress_bar()
