"""Digit tokenization: right-to-left grouping, tokenizer conversion, inference-time separators.

Tokenizers that cut digit runs into groups of three from the left (cl100k, o200k, Llama 3) put
token boundaries where they have no place value: ``12345`` becomes ``123 45``. Singh & Strouse
("Tokenization counts", 2024) show that grouping from the right (``12 345``) -- or forcing it at
inference by writing ``12,345`` -- improves arithmetic markedly. This module offers both:

- :func:`convert_tokenizer_json` / :func:`convert_tokenizer_file` rewrite a ``tokenizer.json``'s
  pre-tokenizer so that every digit run is split right-to-left (``"r2l"``), left-to-right
  (``"l2r"``) or into single digits (``"single"``). The result uses only built-in Hugging Face
  components (a ``Split`` with a look-ahead regex), so ``tokenizers`` and ``transformers`` load it
  unchanged; toktool recognizes the regex and runs a linear-time splitter instead of it. The
  vocabulary and merges are untouched: ids stay valid for the model.
- :func:`insert_separators` / :func:`strip_separators` enforce the grouping for an unconverted
  model at inference time (``"12345"`` -> ``"12,345"`` and back).

What counts as a digit, and how the edge cases go (identically in HF and toktool):

- A digit is a Unicode decimal digit, ``\\p{Nd}`` (``0-9``, ``٠-٩``, ``०-९``, ``０-９``, ...):
  the characters with a place value. Other numeric characters (``\\p{Nl}``, ``\\p{No}``: ``²``,
  ``½``, ``Ⅻ``, ``①``) are never grouped; the converted pre-tokenizer keeps them apart from digit
  groups and otherwise leaves them to the tokenizer's own rules. (``\\d`` would mean the same in
  both engines, but is spelled ``\\p{Nd}`` so nobody has to know that.)
- A digit run is a maximal run of digits, whatever surrounds it: digits glued to letters
  (``abc12345`` -> ``abc 12 345``), signs (``-12345`` -> ``- 12 345``) and every part of a
  decimal (``3.14159`` -> ``3 . 14 159``) are grouped as runs of their own. Fractional digits are
  thus grouped from the right too; use ``single`` if fractions matter to you.
- Text without digits is pre-tokenized exactly as before (tested). Where the tokenizer's own
  regex isolates numbers (cl100k, o200k, Llama 3, GPT-2 style), the first group travels with
  the text before it (``MergedWithPrevious``) so that the regex sees the same context as before
  and spaces before a number split as they always did; GPT-2 style tokenizers keep their space
  in front of the first group (`` 12`` ``345``). Elsewhere groups are isolated.
"""

from __future__ import annotations

from toktool.byte_level import bytes_to_unicode  # GPT-2's byte table, one definition

import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, cast

from toktool import _toktool
from toktool._io import atomic_write

from toktool.errors import (
    InvalidInputError,
    TokenizerFormatError,
    ToktoolIOError,
    UnsupportedComponentError,
)

__all__ = [
    "DIGIT",
    "MAX_GROUP",
    "MODES",
    "OTHER_NUMERIC",
    "Conversion",
    "Reachability",
    "convert",
    "convert_tokenizer_file",
    "convert_tokenizer_json",
    "digit_pattern",
    "digit_token_reachability",
    "group_digits",
    "insert_separators",
    "parse_digit_pattern",
    "split_digit_runs",
    "strip_separators",
]

Mode = Literal["r2l", "l2r", "single"]
Other = Literal["ignore", "single", "run"]
MODES: tuple[str, ...] = ("r2l", "l2r", "single")

#: The digit class of every pattern the converter writes (the Rust core's grammar).
DIGIT: str = _toktool.DIGIT
#: Numeric characters that are not decimal digits.
OTHER_NUMERIC: str = _toktool.OTHER_NUMERIC
#: Largest group size of a canonical pattern.
MAX_GROUP: int = _toktool.MAX_GROUP

# Python's `\d` on str is exactly Unicode category Nd.
_DIGIT_RUN = re.compile(r"\d+")


# --------------------------------------------------------------------------
# grouping
# --------------------------------------------------------------------------


def _check_mode(mode: str, group: int) -> tuple[str, int]:
    if mode not in MODES:
        raise InvalidInputError(f"digit mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(group, bool) or not isinstance(group, int) or not 1 <= group <= MAX_GROUP:
        raise InvalidInputError(f"digit group size must be an integer from 1 to {MAX_GROUP}, got {group!r}")
    if mode == "single" or group == 1:
        return "single", 1
    return mode, group


def group_digits(run: str, mode: str = "r2l", group: int = 3) -> list[str]:
    """Split one digit run into its groups: ``group_digits("12345") == ["12", "345"]``."""
    mode, group = _check_mode(mode, group)
    if not run:
        return []
    if mode == "r2l":
        first = len(run) % group or group
        return [run[:first]] + [run[i : i + group] for i in range(first, len(run), group)]
    return [run[i : i + group] for i in range(0, len(run), group)]


def split_digit_runs(text: str, mode: str = "r2l", group: int = 3) -> list[str]:
    """``text`` cut before and after every digit run and between the run's groups.

    ``"".join(split_digit_runs(t)) == t``; a reference for what the converted pre-tokenizer does
    to digits (``"x12345 y"`` -> ``["x", "12", "345", " y"]``).
    """
    out: list[str] = []
    pos = 0
    for m in _DIGIT_RUN.finditer(text):
        if m.start() > pos:
            out.append(text[pos : m.start()])
        out.extend(group_digits(m.group(), mode, group))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def digit_pattern(mode: str = "r2l", group: int = 3, other: Other = "run") -> str:
    """The canonical ``Split`` regex for a digit mode (the Rust core recognizes exactly these).

    >>> digit_pattern("r2l", 3)
    '\\\\p{Nd}{1,3}(?=(?:\\\\p{Nd}{3})*(?!\\\\p{Nd}))|[\\\\p{Nl}\\\\p{No}]+'
    """
    mode, group = _check_mode(mode, group)
    return _toktool.digit_pattern(mode, group, other)


def parse_digit_pattern(pattern: str) -> tuple[str, int, Other] | None:
    """``(mode, group, other)`` if ``pattern`` is one that :func:`digit_pattern` writes."""
    found = _toktool.parse_digit_pattern(pattern)
    return None if found is None else (found[0], found[1], cast(Other, found[2]))


# --------------------------------------------------------------------------
# inference-time separators
# --------------------------------------------------------------------------


def _check_sep(sep: str) -> None:
    if not isinstance(sep, str) or not sep:
        raise InvalidInputError("the separator must be a non-empty string")
    if any(c.isnumeric() for c in sep):
        raise InvalidInputError(f"the separator {sep!r} must not contain numeric characters")


def insert_separators(
    text: str, sep: str = ",", group: int = 3, *, decimal_point: str | None = "."
) -> str:
    """Write ``sep`` between the right-to-left groups of every digit run: ``"12345"`` -> ``"12,345"``.

    For a model whose tokenizer groups digits from the left, the separators force place-value
    aligned tokens without touching the tokenizer. Rules:

    - Digits are Unicode decimal digits (``\\d``); each maximal run is grouped on its own, so
      separators already in the text are kept and each part between them is grouped by itself
      (``"12345,6"`` -> ``"12,345,6"``; ``"1,234"`` is unchanged).
    - The fractional part of a decimal -- a run right after a digit and ``decimal_point`` -- is
      left alone (``"1234.5678"`` -> ``"1,234.5678"``); ``decimal_point=None`` groups every run.
    - ``strip_separators(insert_separators(s, sep), sep) == s`` for every ``s`` without ``sep``
      between two digits; for every ``s``, ``strip(insert(s)) == strip(s)`` (so a text that
      already holds ``"1,234"`` comes back as ``"1234"``).
    """
    _check_sep(sep)
    _, group = _check_mode("r2l", group)
    if decimal_point is not None and (decimal_point == sep or not decimal_point):
        raise InvalidInputError("decimal_point must be a non-empty string other than sep (or None)")

    def repl(m: re.Match[str]) -> str:
        run = m.group()
        if decimal_point is not None:
            point = m.start() - len(decimal_point)
            if point >= 1 and text.startswith(decimal_point, point) and text[point - 1].isdecimal():
                return run
        return sep.join(group_digits(run, "r2l", group))

    return _DIGIT_RUN.sub(repl, text)


def strip_separators(text: str, sep: str = ",") -> str:
    """Remove every ``sep`` that stands between two digits: ``"12,345"`` -> ``"12345"``.

    The inverse of :func:`insert_separators` (see there for the exact contract); use it on a
    model's output, e.g. ``int(strip_separators(answer))``.
    """
    _check_sep(sep)
    return re.sub(rf"(?<=\d){re.escape(sep)}(?=\d)", "", text)


# --------------------------------------------------------------------------
# tokenizer.json conversion
# --------------------------------------------------------------------------

_BEHAVIORS = ("MergedWithPrevious", "Isolated")

# ASCII probes: every normalizer in use leaves ASCII digits, spaces and punctuation alone.
_PROBES = (
    "1234567",
    "12345678 ",
    " 1234567890",
    "a 1234567 b",
    "x  12345\n",
    "abc12345def",
    "(-12345.678)",
    "1,234,567",
    "\n\n12345",
    "$1234567.",
    "=12345;",
    "1 22 333 4444 55555 666666 7777777",
    "2024-01-15T10:30:00",
    "0x1F2A3B4C",
    "v1.2.3",
    "a1b22c333d4444e55555",
    "x\t\t987654321",
)


@dataclass
class Conversion:
    """A converted ``tokenizer.json`` and what was done to it."""

    doc: dict[str, Any]
    mode: str
    group: int
    #: ``"inserted"``, ``"replaced Digits"`` or ``"updated"`` (a file this module converted before).
    action: str
    #: The ``Split`` behavior of the digit step.
    behavior: str
    pattern: str
    #: JSON path of the digit step, e.g. ``$.pre_tokenizer.pretokenizers[0]``.
    path: str
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        what = {"single": "single digits", "r2l": f"groups of {self.group} from the right",
                "l2r": f"groups of {self.group} from the left"}[self.mode]
        text = f"digits: {what}; {self.action} Split({self.behavior}) at {self.path}"
        return "\n".join([text, *self.notes])


def _load_doc(doc_or_path: Union[dict[str, Any], str, os.PathLike[str]]) -> dict[str, Any]:
    if isinstance(doc_or_path, dict):
        return dict(doc_or_path)  # never mutated below: only $.pre_tokenizer is replaced
    path = _resolve_path(doc_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ToktoolIOError(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TokenizerFormatError(f"{path}: not UTF-8 text ({exc})") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenizerFormatError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise TokenizerFormatError(f"{path}: expected a JSON object (a tokenizer.json)")
    return doc


def _resolve_path(name_or_path: Union[str, os.PathLike[str]]) -> Path:
    """A tokenizer.json path from a path, a directory holding one, or a bundled name."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.exists():
        return path
    from toktool import artifacts

    if str(name_or_path) in artifacts.TOKENIZERS:
        return artifacts.tokenizer_json(str(name_or_path))
    known = ", ".join(artifacts.TOKENIZERS)
    raise ToktoolIOError(f"{str(name_or_path)!r} is neither a tokenizer.json path nor a known name ({known})")


def _split_step(pattern: str, behavior: str) -> dict[str, Any]:
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": behavior, "invert": False}


def _ours(step: Any) -> tuple[str, int, Other] | None:
    if not (isinstance(step, dict) and step.get("type") == "Split" and not step.get("invert")):
        return None
    pattern = step.get("pattern")
    if not isinstance(pattern, dict) or not isinstance(pattern.get("Regex"), str):
        return None
    return parse_digit_pattern(pattern["Regex"])


def _probe_tokenizer(doc: dict[str, Any]) -> Any:
    """A toktool Tokenizer with ``doc``'s normalizer and pre-tokenizer and a vocabulary of single
    units (no merges): each pre-token comes back as its own word, whatever the real vocabulary."""
    import toktool

    byte_level = _has_byte_level(doc.get("pre_tokenizer"))
    if byte_level:
        units = list(bytes_to_unicode().values())
    else:
        chars = {c for probe in _PROBES for c in probe} | {"\u2581", " "}
        units = sorted(chars)
    vocab = {u: i for i, u in enumerate(units)}
    vocab.setdefault("<unk>", len(vocab))
    probe: dict[str, Any] = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": doc.get("normalizer"),
        "pre_tokenizer": doc.get("pre_tokenizer"),
        "post_processor": None,
        "decoder": None,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None if byte_level else "<unk>",
            "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
            "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": [],
        },
    }
    return toktool.Tokenizer.from_str(json.dumps(probe))


def _has_byte_level(pre: Any) -> bool:
    if not isinstance(pre, dict):
        return False
    if pre.get("type") == "ByteLevel":
        return True
    if pre.get("type") == "Sequence":
        return any(_has_byte_level(p) for p in pre.get("pretokenizers") or [])
    return False


def _pretokens(tok: Any, text: str) -> list[str]:
    ids, words = tok.encode_with_pretokens(text)
    pieces: list[bytearray] = []
    last = None
    for i, w in zip(ids, words):
        if w != last:
            pieces.append(bytearray())
            last = w
        pieces[-1] += tok.token_bytes(i)
    return [bytes(p).decode("utf-8", "replace") for p in pieces]


_DIGIT_PIECE = re.compile(r" ?(\d+)")


def _probe_failure(doc: dict[str, Any], mode: str, group: int) -> str | None:
    """Why ``doc`` does not split the probes' digit runs as asked, or None when it does."""
    tok = _probe_tokenizer(doc)
    for text in _PROBES:
        pieces = _pretokens(tok, text)
        want = [g for run in _DIGIT_RUN.findall(text) for g in group_digits(run, mode, group)]
        got = []
        for piece in pieces:
            if not any(c.isdecimal() for c in piece):
                continue
            m = _DIGIT_PIECE.fullmatch(piece)
            if not m:
                return f"digits share a pre-token with other text: {piece!r} in {text!r}"
            got.append(m.group(1))
        if got != want:
            return f"{text!r} splits its digits into {got} instead of {want}"
    return None


def _steps_of(pre: Any) -> tuple[list[Any], bool]:
    if pre is None:
        return [], False
    if not isinstance(pre, dict) or not isinstance(pre.get("type"), str):
        raise TokenizerFormatError("$.pre_tokenizer: expected null or an object with a 'type'")
    if pre["type"] == "Sequence":
        steps = pre.get("pretokenizers")
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise TokenizerFormatError("$.pre_tokenizer.pretokenizers: expected a list of objects")
        return list(steps), True
    return [pre], False


def convert(
    doc_or_path: Union[dict[str, Any], str, os.PathLike[str]], mode: str = "r2l", group: int = 3
) -> Conversion:
    """Convert a ``tokenizer.json`` (a parsed dict, a path, or a bundled name) to ``mode``.

    The input is never modified; the result shares every member but ``pre_tokenizer`` with a
    dict input (copy it before mutating those in place). Where the digit step goes:

    - a file converted before (a ``Split`` with one of :func:`digit_pattern`'s regexes): its
      regex is replaced in place, so converting is idempotent and modes can be switched;
    - a ``Digits`` pre-tokenizer: replaced by the digit step (``Isolated``, as ``Digits`` is);
    - otherwise the step is inserted before the first step that is not a ``Metaspace``, as
      ``MergedWithPrevious`` when the tokenizer's own regex then keeps every group apart from
      other text (cl100k, o200k, Llama 3, GPT-2 style: non-digit text pre-tokenizes exactly as
      before), else ``Isolated``.

    Each candidate is checked on probe texts with toktool; if the tokenizer's own rules would
    still split or glue the groups (e.g. a regex that cuts digits one by one, asked for groups
    of 3), the conversion is refused with :class:`UnsupportedComponentError`.
    """
    mode, group = _check_mode(mode, group)
    doc = _load_doc(doc_or_path)
    model = doc.get("model")
    if not isinstance(model, dict):
        raise TokenizerFormatError("$.model: missing; not a tokenizer.json")
    if model.get("type", "BPE") != "BPE":
        raise UnsupportedComponentError(
            f"$.model.type: {model.get('type')!r}; toktool converts (and checks) BPE tokenizers only"
        )
    steps, was_sequence = _steps_of(doc.get("pre_tokenizer"))
    _probe_tokenizer(doc)  # the original's own components load (errors name its JSON paths)
    notes: list[str] = []

    ours = [i for i, s in enumerate(steps) if _ours(s)]
    digit_steps = [i for i, s in enumerate(steps) if s.get("type") == "Digits"]
    if len(ours) > 1:
        raise UnsupportedComponentError(
            "$.pre_tokenizer has several digit-grouping Split steps; convert the original file"
        )
    if ours:
        index = ours[0]
        parsed = _ours(steps[index])
        assert parsed is not None
        other = parsed[2]
        behaviors = [str(steps[index].get("behavior"))]
        action = "updated"
        if digit_steps:
            raise UnsupportedComponentError(
                "$.pre_tokenizer has both a Digits step and a digit-grouping Split; "
                "convert the original file"
            )
        del steps[index]
    elif digit_steps:
        if len(digit_steps) > 1:
            raise UnsupportedComponentError("$.pre_tokenizer has several Digits steps")
        index = digit_steps[0]
        other = "single" if steps[index].get("individual_digits") else "run"
        behaviors = ["Isolated"]
        action = "replaced Digits"
        del steps[index]
    else:
        index = 0
        while index < len(steps) and steps[index].get("type") == "Metaspace":
            index += 1
        other = "run"
        behaviors = list(_BEHAVIORS)
        action = "inserted"

    pattern = digit_pattern(mode, group, other)
    failure = None
    for behavior in behaviors:
        new_steps = [*steps[:index], _split_step(pattern, behavior), *steps[index:]]
        candidate = dict(doc)
        if was_sequence or len(new_steps) > 1:
            pre: dict[str, Any] = {"type": "Sequence", "pretokenizers": new_steps}
            path = f"$.pre_tokenizer.pretokenizers[{index}]"
        else:
            pre = new_steps[0]
            path = "$.pre_tokenizer"
        candidate["pre_tokenizer"] = pre
        failure = _probe_failure(candidate, mode, group)
        if failure is None:
            if behavior == "Isolated" and action == "inserted":
                notes.append(
                    "note: groups are isolated pre-tokens; whitespace right before a number may "
                    "pre-tokenize differently from the original tokenizer"
                )
            return Conversion(candidate, mode, group, action, behavior, pattern, path, notes)
    raise UnsupportedComponentError(
        f"cannot express --digits {mode}"
        + (f" --group {group}" if mode != "single" else "")
        + f" for this tokenizer: {failure}. Its own pre-tokenizer splits or glues digit groups "
        "after the digit step (for example a regex that cuts digits one by one, or into groups "
        "smaller than requested); toktool does not rewrite custom regexes"
    )


def convert_tokenizer_json(
    doc_or_path: Union[dict[str, Any], str, os.PathLike[str]], mode: str = "r2l", group: int = 3
) -> dict[str, Any]:
    """The converted ``tokenizer.json`` as a dict (see :func:`convert`)."""
    return convert(doc_or_path, mode, group).doc


def convert_tokenizer_file(
    src: Union[str, os.PathLike[str]],
    dst: Union[str, os.PathLike[str]],
    mode: str = "r2l",
    group: int = 3,
    *,
    verify: bool = True,
) -> Conversion:
    """Convert ``src`` (a path or bundled name) and write the result to ``dst``.

    The output is written to a temporary file beside ``dst`` and renamed, so ``dst`` is either
    the complete new file or untouched; ``src`` is never written (``dst`` may not be ``src``).
    With ``verify``, the output is loaded by toktool and by HF ``tokenizers`` and both must give
    the same ids on probe texts before anything is written.
    """
    src_path = _resolve_path(src)
    dst_path = Path(dst)
    if dst_path.is_dir():
        raise ToktoolIOError(f"{dst_path}: is a directory; give the output file's path")
    if dst_path.exists() and os.path.samefile(src_path, dst_path):
        raise ToktoolIOError(f"{dst_path}: the output must not overwrite the input tokenizer")
    conversion = convert(src_path, mode, group)
    text = json.dumps(conversion.doc, ensure_ascii=False)
    if verify:
        _verify(text)
    try:
        atomic_write(dst_path, text.encode("utf-8"))
    except ToktoolIOError:
        raise
    except OSError as exc:  # unwritable place: typed, and nothing was left behind
        raise ToktoolIOError(f"{dst_path}: cannot write the converted tokenizer: {exc}") from exc
    return conversion


def _verify(text: str) -> None:
    """Both engines load ``text`` and agree on ids for texts full of numbers."""
    import tokenizers

    import toktool

    ours = toktool.Tokenizer.from_str(text)
    try:
        theirs = tokenizers.Tokenizer.from_str(text)
    except Exception as exc:  # HF raises plain Exception subclasses
        raise UnsupportedComponentError(f"HF tokenizers cannot load the converted file: {exc}") from exc
    samples = [*_PROBES, "The sum of 12345 and 67890 is 80235.", "٣٤٥٦٧ ½ 1²³ １２３４５ x⁴"]
    rng = random.Random(0)
    samples += [" ".join(str(rng.randrange(10 ** rng.randint(1, 25))) for _ in range(6)) for _ in range(8)]
    for sample in samples:
        a = ours.encode(sample)
        b = theirs.encode(sample, add_special_tokens=False).ids
        if a != b:
            raise UnsupportedComponentError(
                f"toktool and HF tokenizers disagree on the converted file for {sample!r}; "
                "please report this (nothing was written)"
            )


# --------------------------------------------------------------------------
# digit-token reachability
# --------------------------------------------------------------------------

_DIGIT_TOKEN = re.compile(rb" ?[0-9]+")


@dataclass
class Reachability:
    """Which digit tokens (``[0-9]+`` with an optional leading space) a tokenizer can produce.

    ``reachable_*`` are measured on probes: every digit string of 1-4 digits, every digit token
    on its own, after a space and after a letter, and random numbers of 5-40 digits. After a
    conversion to groups of ``g``, a token with more than ``g`` digits is unreachable for sure
    (no pre-token holds more digits), so ``lost`` is exact for those.
    """

    digit_tokens: int
    reachable_before: int
    reachable_after: int
    lost: list[str]
    gained: list[str]

    def describe(self) -> str:
        def show(tokens: list[str]) -> str:
            head = ", ".join(repr(t) for t in tokens[:8])
            return head + (", ..." if len(tokens) > 8 else "")

        out = (
            f"digit tokens in the vocabulary: {self.digit_tokens:,}; reachable before: "
            f"{self.reachable_before:,}, after: {self.reachable_after:,}; unreachable after "
            f"conversion: {len(self.lost):,}"
        )
        if self.lost:
            out += f" ({show(self.lost)})"
        out += f"; newly reachable: {len(self.gained):,}"
        if self.gained:
            out += f" ({show(self.gained)})"
        return out


def _digit_token_ids(tok: Any) -> dict[int, bytes]:
    specials = set(tok.special_tokens.values())
    out = {}
    for i, b in enumerate(tok.all_token_bytes()):
        if b is not None and i not in specials and _DIGIT_TOKEN.fullmatch(b):
            out[i] = b
    return out


def _reach_probes(digit_tokens: Iterable[bytes]) -> list[str]:
    probes: list[str] = []
    for n in range(1, 5):
        for v in range(10**n):
            s = str(v).zfill(n)
            probes += [s, " " + s, "x" + s]
    for b in digit_tokens:
        t = b.decode("ascii")
        probes += [t, "x" + t, " " + t.lstrip(" "), t + "x"]
    rng = random.Random(0)
    for _ in range(1000):
        s = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 40)))
        probes += [s, " " + s]
    return probes


def _reached(tok: Any, probes: Sequence[str], ids: set[int]) -> set[int]:
    seen: set[int] = set()
    for enc in tok.encode_batch(probes):
        seen.update(enc)
    return seen & ids


def digit_token_reachability(original: Any, converted: Any) -> Reachability:
    """Compare which digit tokens two tokenizers with the same vocabulary can produce."""
    digit = _digit_token_ids(original)
    if _digit_token_ids(converted) != digit:
        raise InvalidInputError("the two tokenizers do not share one vocabulary")
    probes = _reach_probes(digit.values())
    ids = set(digit)
    before = _reached(original, probes, ids)
    after = _reached(converted, probes, ids)

    def names(s: set[int]) -> list[str]:
        return sorted((digit[i].decode("ascii") for i in s), key=lambda t: (len(t), t))

    return Reachability(len(ids), len(before), len(after), names(before - after), names(after - before))
