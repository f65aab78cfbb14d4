"""GGUF tokenizer loading: metadata reader errors, SmolLM2 ids against HF tokenizers."""

from __future__ import annotations

import pathlib

import pytest

import toktool
from toktool import artifacts, gguf
from toktool.errors import GgufFormatError, UnsupportedComponentError

tokenizers = pytest.importorskip("tokenizers")
gguf_pkg = pytest.importorskip("gguf")

TEXTS = [
    pathlib.Path("/usr/lib/python3.11/json/decoder.py"),
    pathlib.Path("/usr/lib/python3.11/textwrap.py"),
]


def _real_text() -> list[str]:
    out = [p.read_text(encoding="utf-8") for p in TEXTS if p.exists()]
    out += ["Hello world 12345 héllo 🎋 <|im_start|>user\nhi<|im_end|>", "  \n\t x  1.5e10 ", ""]
    return out


def _write_gguf(path: pathlib.Path, model: str, pre: str | None, tokens: list[str], merges: list[str]) -> None:
    w = gguf_pkg.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([1] * len(tokens))
    w.add_token_merges(merges)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()


def test_smollm2_gguf_ids_equal_hf_tokenizers() -> None:
    src = artifacts.smollm2_gguf_path()
    hf = tokenizers.Tokenizer.from_file(str(artifacts.tokenizer_json("smollm2")))
    ours = toktool.load_tokenizer(src)
    for text in _real_text():
        assert ours.encode(text) == hf.encode(text, add_special_tokens=False).ids


def test_generated_gguf_round_trips_metadata(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.gguf"
    _write_gguf(path, "gpt2", "gpt-2", ["a", "b", "ab"], ["a b"])
    meta = gguf.read_metadata(path)
    assert meta["tokenizer.ggml.tokens"] == ["a", "b", "ab"]
    assert meta["tokenizer.ggml.merges"] == ["a b"]
    assert gguf.from_gguf(path).encode("ab") == [2]


def test_truncated_gguf_is_a_format_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.gguf"
    _write_gguf(path, "gpt2", "gpt-2", ["a", "b", "ab"], ["a b"])
    data = path.read_bytes()
    for cut in (2, 10, 30, len(data) // 2):
        bad = tmp_path / f"cut{cut}.gguf"
        bad.write_bytes(data[:cut])
        with pytest.raises(GgufFormatError):
            gguf.read_metadata(bad)
    garbled = tmp_path / "garbled.gguf"
    garbled.write_bytes(b"GGML" + data[4:])
    with pytest.raises(GgufFormatError, match="magic"):
        gguf.read_metadata(garbled)


@pytest.mark.parametrize(("model", "pre", "named"), [("t5", None, "t5"), ("gpt2", "no-such-pre", "no-such-pre")])
def test_unsupported_tokenizers_are_refused_by_name(tmp_path: pathlib.Path, model: str, pre: str | None, named: str) -> None:
    path = tmp_path / "t.gguf"
    _write_gguf(path, model, pre, ["a", "b", "ab"], ["a b"])
    with pytest.raises(UnsupportedComponentError, match=named):
        gguf.from_gguf(path)
