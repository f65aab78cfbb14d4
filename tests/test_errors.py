"""Bad input gives a typed toktool error, never a crash or a silent wrong answer."""

from __future__ import annotations

import json
import os

import pytest

import toktool
from toktool.testing import bpe_tokenizer_json, tiny_tokenizer_json


def tiny() -> toktool.Tokenizer:
    return toktool.Tokenizer.from_str(tiny_tokenizer_json())


def test_error_hierarchy() -> None:
    assert issubclass(toktool.TokenizerFormatError, toktool.ToktoolError)
    assert issubclass(toktool.TokenizerFormatError, ValueError)
    assert issubclass(toktool.UnsupportedComponentError, ValueError)
    assert issubclass(toktool.InvalidTokenIdError, KeyError)
    assert issubclass(toktool.ToktoolIOError, OSError)
    assert issubclass(toktool.InternalError, toktool.ToktoolError)


@pytest.mark.parametrize(
    "text, where",
    [
        ("{", "line 1"),
        ("[]", "$"),
        ('{"model": 3}', "$.model"),
        ('{"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}}', "vocab"),
        ('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}', "merges[0]"),
        ('{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}', "already used"),
        ('{"model": {"type": "BPE", "vocab": {"a": 0}}}', "merges"),
    ],
)
def test_malformed_json_names_the_place(text: str, where: str) -> None:
    with pytest.raises(toktool.TokenizerFormatError) as info:
        toktool.Tokenizer.from_str(text)
    assert where in str(info.value)


def test_truncated_file_is_a_format_error() -> None:
    text = tiny_tokenizer_json()
    for cut in (1, len(text) // 3, len(text) - 1):
        with pytest.raises(toktool.TokenizerFormatError):
            toktool.Tokenizer.from_str(text[:cut])


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    with pytest.raises(toktool.TokenizerFormatError):
        toktool.Tokenizer.from_str("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    "component, doc_patch",
    [
        ("model", {"model": {"type": "WordPiece", "vocab": {}}}),
        ("model", {"model": {"type": "Unigram", "vocab": []}}),
        ("normalizer", {"normalizer": {"type": "BertNormalizer"}}),
        ("pre_tokenizer", {"pre_tokenizer": {"type": "BertPreTokenizer"}}),
        ("pre_tokenizer", {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "ByteLevel"}, {"type": "Digits"}]}}),
        ("dropout", {"model_dropout": 0.1}),
        ("truncation", {"truncation": {"max_length": 8}}),
    ],
)
def test_unsupported_components_are_refused_by_name(component: str, doc_patch: dict) -> None:
    doc = json.loads(tiny_tokenizer_json())
    if "model_dropout" in doc_patch:
        doc["model"]["dropout"] = doc_patch["model_dropout"]
    else:
        doc.update(doc_patch)
    with pytest.raises(toktool.UnsupportedComponentError) as info:
        toktool.Tokenizer.from_str(json.dumps(doc))
    assert component in str(info.value)


def test_bad_regex_is_a_regex_error() -> None:
    doc = json.loads(tiny_tokenizer_json())
    doc["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "(unclosed"},
                            "behavior": "Isolated", "invert": False}
    with pytest.raises(toktool.TokenizerRegexError):
        toktool.Tokenizer.from_str(json.dumps(doc))


def test_missing_file_is_an_io_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(toktool.ToktoolIOError) as info:
        toktool.Tokenizer.from_file(tmp_path / "nope.json")
    assert "nope.json" in str(info.value)


@pytest.mark.parametrize("bad", [-1, 15, 2**32, 2**70])
def test_invalid_ids_raise(bad: int) -> None:
    tok = tiny()
    with pytest.raises(toktool.InvalidTokenIdError):
        tok.decode_bytes([0, bad])
    with pytest.raises(toktool.InvalidTokenIdError):
        tok.token_bytes(bad)
    with pytest.raises(toktool.InvalidTokenIdError):
        tok.is_canonical([bad])


def test_unknown_token_string_raises_key_error() -> None:
    with pytest.raises(KeyError):
        tiny().token_to_id("not-a-token")


def test_lone_surrogates_are_invalid_input() -> None:
    with pytest.raises(toktool.InvalidInputError):
        tiny().encode("hello \ud800 world")
    with pytest.raises(toktool.InvalidInputError):
        tiny().encode_batch(["ok", "\udfff"])


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        tiny().encode(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tiny().decode_bytes("abc")  # type: ignore[arg-type]


def test_nul_bytes_and_huge_strings_encode() -> None:
    from tokenizers import Tokenizer as HFTokenizer

    tok = tiny()
    hf = HFTokenizer.from_str(tiny_tokenizer_json())
    # No token covers NUL: HF drops it (no unk_token), and so must we.
    assert tok.encode("hello\x00world") == hf.encode("hello\x00world").ids == [0, 1]
    big = "hello world " * (100 * 2**20 // 12)  # 100 MB
    ids = tok.encode(big)
    assert len(ids) == 2 * (100 * 2**20 // 12)


def test_panic_guard_turns_panics_into_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(toktool.InvalidInputError):
        toktool._toktool._panic_for_tests()
    monkeypatch.setenv("TOKTOOL_TEST_PANIC", "1")
    with pytest.raises(toktool.InternalError, match="deliberate test panic"):
        toktool._toktool._panic_for_tests()
    assert tiny().encode("hello") == [0]  # the process and the library still work


def test_unk_token_missing_from_vocab_is_refused() -> None:
    text = bpe_tokenizer_json({"a": 0}, [], unk_token="<unk>")
    with pytest.raises(toktool.TokenizerFormatError, match="unk_token"):
        toktool.Tokenizer.from_str(text)


def test_load_tokenizer_reports_unknown_names() -> None:
    with pytest.raises(toktool.ToktoolIOError, match="neither"):
        toktool.load_tokenizer(os.path.join("no", "such", "thing"))
