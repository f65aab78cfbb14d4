"""Bad input gives a typed toktool error, never a crash or a silent wrong answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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
        # merges naming unknown tokens: a part, or the merged result
        ('{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}', '"ab"'),
        ('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}}', "merges[0]"),
        # out-of-range ids in the file
        ('{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}', "vocab"),
        ('{"model": {"type": "BPE", "vocab": {"a": 1.5}, "merges": []}}', "vocab"),
        ('{"model": {"type": "BPE", "vocab": {"a": 1073741824}, "merges": []}}', "2^30"),
        ('{"model": {"type": "BPE", "vocab": {"a": 1e400}, "merges": []}}', "line 1"),
        ('{"added_tokens": [{"id": -3, "content": "x"}], '
         '"model": {"type": "BPE", "vocab": {}, "merges": []}}', "added_tokens[0].id"),
        ('{"added_tokens": [{"id": 0, "content": ""}], '
         '"model": {"type": "BPE", "vocab": {}, "merges": []}}', "empty added token"),
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


def test_sparse_ids_are_refused_before_allocating() -> None:
    # One id near 2^30 would otherwise allocate a dense table of a billion entries.
    text = bpe_tokenizer_json({"a": 0, "b": 2**30 - 1}, [])
    with pytest.raises(toktool.UnsupportedComponentError, match="unused ids"):
        toktool.Tokenizer.from_str(text)
    text = bpe_tokenizer_json({"a": 0}, [], added_tokens=[
        {"id": 2**29, "content": "<x>", "special": True}])
    with pytest.raises(toktool.UnsupportedComponentError, match="unused ids"):
        toktool.Tokenizer.from_str(text)


def test_missing_vocab_entries_leave_holes_that_are_invalid_ids() -> None:
    # ids 1 and 2 are defined nowhere: they count in vocab_size but name no token
    tok = toktool.Tokenizer.from_str(bpe_tokenizer_json({"a": 0, "b": 3}, []))
    assert tok.vocab_size == 4
    assert tok.all_token_bytes() == [b"a", None, None, b"b"]
    for hole in (1, 2):
        with pytest.raises(toktool.InvalidTokenIdError):
            tok.token_bytes(hole)
        with pytest.raises(toktool.InvalidTokenIdError):
            tok.decode_bytes([0, hole])
        with pytest.raises(toktool.InvalidTokenIdError):
            tok.id_to_token(hole)


def test_duplicate_vocab_keys_keep_the_last_like_hf() -> None:
    from tokenizers import Tokenizer as HFTokenizer

    text = bpe_tokenizer_json({"a": 0, "b": 1, "c": 2}, []).replace('"c": 2', '"a": 2')
    assert text.count('"a"') == 2
    tok = toktool.Tokenizer.from_str(text)
    hf = HFTokenizer.from_str(text)
    assert tok.token_to_id("a") == hf.token_to_id("a") == 2
    assert tok.encode("ab") == hf.encode("ab", add_special_tokens=False).ids == [2, 1]
    with pytest.raises(toktool.InvalidTokenIdError):  # the first spelling's id is a hole now
        tok.token_bytes(0)


def test_non_utf8_file_is_a_format_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b"\xef\xbb\xbf" + tiny_tokenizer_json().encode()[:40] + b"\xff\xfe" + b"}")
    with pytest.raises(toktool.TokenizerFormatError, match="UTF-8"):
        toktool.Tokenizer.from_file(path)
    with pytest.raises(toktool.ToktoolIOError):
        toktool.Tokenizer.from_file(tmp_path)  # a directory


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


@pytest.mark.parametrize("bad", [-1, 15, 2**32, 2**70])
def test_invalid_ids_raise_everywhere(bad: int) -> None:
    tok = tiny()
    with pytest.raises(toktool.InvalidTokenIdError):
        tok.id_to_token(bad)
    search = toktool.CoverSearch(tok)
    with pytest.raises(toktool.InvalidTokenIdError):
        search.valid_among(b"he", [bad], True, [0])
    with pytest.raises(toktool.InvalidTokenIdError):
        search.valid_among(b"he", [], True, [bad])

def test_invalid_ids_in_numpy_arrays_raise() -> None:
    tok = tiny()
    for array in (np.array([0, 2**40], dtype=np.uint64), np.array([0, -1], dtype=np.int64)):
        with pytest.raises(toktool.InvalidTokenIdError):
            tok.decode_bytes(array)
    assert tok.decode_bytes(np.array([0, 1], dtype=np.int32)) == b"helloworld"


@pytest.mark.parametrize(
    "bad, why",
    [(-1, "token id -1 is negative"), (2**32, "token id 4294967296 is not below 2^32")],
)
def test_ids_outside_u32_are_reported_as_written(bad: int, why: str) -> None:
    """A negative id is said as negative, not as 2^64 - 1 of a vocabulary of size 0."""
    tok = tiny()
    for call in (lambda: tok.token_bytes(bad), lambda: tok.id_to_token(bad)):
        with pytest.raises(toktool.InvalidTokenIdError) as info:
            call()
        message = str(info.value)
        assert message.startswith(why) and f"(vocab_size = {tok.vocab_size})" in message
        assert "18446744073709551615" not in message
    for ids in ([0, bad], np.array([0, bad], dtype=np.int64)):
        with pytest.raises(toktool.InvalidTokenIdError) as info:
            tok.decode_bytes(ids)
        message = str(info.value)
        assert message.startswith(why.replace(" is ", " at position 1 is ")), message
        assert "vocab_size = 0" not in message and "18446744073709551615" not in message


def test_every_public_error_is_a_toktool_error() -> None:
    """The README's claim: one hierarchy under ``toktool.ToktoolError``."""
    from toktool import artifacts, errors

    assert artifacts.ArtifactError is toktool.ArtifactError
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), toktool.ToktoolError), name
        assert getattr(toktool, name) is getattr(errors, name), name
    assert issubclass(toktool.ArtifactError, RuntimeError)
    assert issubclass(toktool.MissingDependencyError, ImportError)
    assert not issubclass(toktool.MissingDependencyError, OSError)


def test_missing_torch_is_a_toktool_error_with_install_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from toktool._torch import load_torch

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(toktool.MissingDependencyError) as info:
        load_torch()
    assert "pip install 'toktool[torch]'" in str(info.value)
    assert not isinstance(info.value, OSError)


def test_missing_artifact_package_is_a_toktool_error() -> None:
    from toktool import artifacts

    with pytest.raises(toktool.ToktoolError, match=r"pip install --no-deps no-such-pkg"):
        artifacts.package_dir("no_such_module_for_toktool", "no-such-pkg")


def test_unknown_token_string_raises_key_error() -> None:
    with pytest.raises(KeyError):
        tiny().token_to_id("not-a-token")


def test_lone_surrogates_are_invalid_input() -> None:
    with pytest.raises(toktool.InvalidInputError):
        tiny().encode("hello \ud800 world")
    with pytest.raises(toktool.InvalidInputError):
        tiny().encode_batch(["ok", "\udfff"])


def test_encode_batch_raises_for_its_first_bad_item() -> None:
    tok = tiny()
    many = ["ok", "héllo"] * 500
    with pytest.raises(TypeError, match="expected str, got int"):
        tok.encode_batch([*many, 1, "\udfff"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="expected str, got bytes"):
        tok.encode_batch(iter([*many, b"x"]))  # type: ignore[list-item]
    with pytest.raises(toktool.InvalidInputError, match="lone surrogate"):
        tok.encode_batch([*many, "ok \ud800", 1])  # type: ignore[list-item]
    assert tok.encode_batch(many) == [tok.encode(t) for t in many]


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


def test_non_utf8_bytes_where_text_is_needed_are_invalid_input() -> None:
    # char-level (non byte-level) models take UTF-8 pieces only
    with pytest.raises(toktool.InvalidInputError, match="UTF-8"):
        tiny().bpe_bytes(b"\xffhello")
    # bytes no token can spell have no covers: an error, not a guess
    search = toktool.CoverSearch(tiny())
    covers = search.covers(b"\x80\x80")
    assert covers.groups == [] and covers.exact == []


@pytest.mark.parametrize("pattern", [{"String": "a"}, {"Regex": "a"}])
def test_a_normalizer_that_explodes_the_text_is_refused(pattern: dict) -> None:
    # Forty doublings: 100 bytes of text would become 10^14 bytes (HF would run out of memory).
    doubling = {"type": "Replace", "pattern": pattern, "content": "aa"}
    doc = json.loads(tiny_tokenizer_json())
    doc["normalizer"] = {"type": "Sequence", "normalizers": [doubling] * 40}
    tok = toktool.Tokenizer.from_str(json.dumps(doc))
    with pytest.raises(toktool.InvalidInputError, match="expand"):
        tok.encode("a" * 100)
    assert tok.encode("hello") == [0]  # text the chain leaves alone still encodes
    doc["normalizer"] = {"type": "Replace", "pattern": pattern, "content": "x" * 10**6}
    with pytest.raises(toktool.InvalidInputError, match="expand"):
        toktool.Tokenizer.from_str(json.dumps(doc)).encode("a" * 1000)


def test_a_regex_that_gives_up_is_invalid_input_not_a_hang() -> None:
    doc = json.loads(tiny_tokenizer_json())
    # Catastrophic backtracking in the fallback engine (a lookahead forces backtracking mode).
    doc["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "(?:(?=a)a|aa)+b"},
                            "behavior": "Isolated", "invert": False}
    tok = toktool.Tokenizer.from_str(json.dumps(doc))
    with pytest.raises(toktool.InvalidInputError, match="gave up"):
        tok.encode("a" * 100 + "c")


def test_ten_megabyte_single_word_encodes_exactly() -> None:
    tok = tiny()
    word = "hello" * (2 * 2**20)  # 10 MB, one pre-token: the heap-based merge loop
    ids = tok.encode(word)
    assert ids == [0] * (2 * 2**20)
    assert tok.decode_bytes(ids) == word.encode()


# -- writing files: output paths that exist or are unwritable, interrupted conversions ---------

def convertible_file(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """A small GPT-2-style byte-level tokenizer.json that `toktool convert` accepts."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=280, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    hf.train_from_iterator(["hello world 12345 678 hello"] * 10, trainer=trainer)
    path = tmp_path / "tokenizer.json"
    path.write_text(hf.to_str())
    return path


def test_unwritable_output_path_is_an_io_error_and_leaves_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from toktool import digits

    src = convertible_file(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(toktool.ToktoolIOError, match="cannot write"):
        digits.convert_tokenizer_file(src, blocker / "out.json", "r2l", verify=False)
    with pytest.raises(toktool.ToktoolIOError, match="directory"):
        digits.convert_tokenizer_file(src, tmp_path, "r2l", verify=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_interrupted_conversion_leaves_nothing_partial(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from toktool import artifacts, digits

    src = convertible_file(tmp_path)
    out = tmp_path / "out.json"
    out.write_text("previous contents")

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(digits.os, "fsync", interrupt)  # Ctrl-C in the middle of the write
    with pytest.raises(KeyboardInterrupt):
        digits.convert_tokenizer_file(src, out, "r2l", verify=False)
    monkeypatch.setattr(os, "chmod", interrupt)  # the artifact cache writes alike
    with pytest.raises(KeyboardInterrupt):
        artifacts.atomic_write(tmp_path / "cache" / "x.json", b"{}")
    monkeypatch.undo()
    assert out.read_text() == "previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out.json", "tokenizer.json"]
    assert list((tmp_path / "cache").iterdir()) == []


def test_killed_conversion_never_leaves_a_partial_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = convertible_file(tmp_path)
    out = tmp_path / "out.json"
    out.write_text("previous contents")
    # The child stops right before the rename (the last step) and is killed there.
    child = subprocess.Popen([sys.executable, "-c", (
        "import os, time, sys\n"
        "from toktool import digits\n"
        "os.replace = lambda *a: (print('ready', flush=True), time.sleep(600))\n"
        f"digits.convert_tokenizer_file({str(src)!r}, {str(out)!r}, 'r2l', verify=False)\n"
    )], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    finally:
        child.kill()
        child.wait()
    assert out.read_text() == "previous contents"
    # What a kill can leave is a hidden temporary file next to the output, never OUT itself.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("out.json", "tokenizer.json")]
    assert all(name.startswith(".out.json.") and name.endswith(".tmp") for name in leftovers)


def test_bad_input_matrix_names_existing_tests() -> None:
    """docs/BAD_INPUTS.md: every row names tests, and every named test exists."""
    import ast
    import re

    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "BAD_INPUTS.md").read_text()
    rows = [line for line in doc.splitlines()
            if line.startswith("| ") and not line.startswith(("| Input", "| Situation", "| Target"))]
    named = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", doc)
    assert len(rows) > 30 and len(named) >= len(rows) - 1  # the one pending row names none
    defined: dict[str, set[str]] = {}
    for path, name in named:
        if path not in defined:
            tree = ast.parse((root / path).read_text())
            defined[path] = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in defined[path], f"docs/BAD_INPUTS.md names {path}::{name}, which is gone"
    for row in rows:
        assert "tests/test_" in row or "Pending" in row or row.startswith("| `"), row
