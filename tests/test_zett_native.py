"""ZeTT's data side in the Rust core: vocabulary decomposition into original ids (exactness on
real vocabularies) and the UnigramLM training tokenizer sampler (round trip, vocabulary layout,
determinism, Viterbi against a brute-force oracle, typed errors)."""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toktool
from toktool import artifacts
from toktool.errors import InvalidInputError
from toktool.zett.decompose import Decomposition, decompose, decompose_vocab
from toktool.zett.sampler import SampledTokenizer, sample_tokenizer

EXAMPLES = int(os.environ.get("TOKTOOL_EXAMPLES", "200"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def tok(name: str) -> toktool.Tokenizer:
    return toktool.load_tokenizer(name)


@functools.cache
def corpus() -> list[str]:
    return artifacts.stdlib_corpus(64 * 1024)


def spelled(original: toktool.Tokenizer, ids: np.ndarray) -> bytes:
    return b"".join(original.token_bytes(int(i)) for i in ids)


def assert_exact(d: Decomposition, new: toktool.Tokenizer, original: toktool.Tokenizer) -> int:
    """Every untruncated, non-empty row decodes to its token; returns how many were checked."""
    checked = 0
    width = d.ids.shape[1]
    for token_id, token in enumerate(new.all_token_bytes()):
        n = int(d.lengths[token_id])
        if token is None or n == 0 or n >= width:
            continue
        assert spelled(original, d.ids[token_id, :n]) == token, token_id
        assert (d.ids[token_id, n:] == -1).all()
        checked += 1
    return checked


# --- decomposition -------------------------------------------------------------------------


def test_cl100k_vocab_decomposes_exactly_under_smollm2() -> None:
    new, original = tok("cl100k"), tok("smollm2")
    d = decompose_vocab(new, original, max_len=64)
    assert d.ids.shape == (new.vocab_size, 64) and d.ids.dtype == np.int64
    assert d.truncated == 0
    holes = sum(1 for b in new.all_token_bytes() if b is None)
    # SmolLM2 lacks 21 byte tokens that cl100k has; exactly those are unspellable.
    missing = {b[0] for b in new.all_token_bytes() if b is not None and len(b) == 1} - {
        b[0] for b in original.all_token_bytes() if b is not None and len(b) == 1}
    assert d.unspellable == len(missing) == 21
    assert int((d.lengths == 0).sum()) == holes + d.unspellable
    assert assert_exact(d, new, original) == new.vocab_size - holes - d.unspellable


def test_cl100k_vocab_decomposes_exactly_under_mistral_sp_byte_fallback() -> None:
    new, original = tok("cl100k"), tok("mistral-sp")
    d = decompose_vocab(new, original, max_len=64)
    holes = sum(1 for b in new.all_token_bytes() if b is None)
    assert d.unspellable == 0  # byte fallback spells every byte
    assert assert_exact(d, new, original) == new.vocab_size - holes
    # Spaces are spelled with '▁' tokens; a lone space is the '▁' token itself.
    (space,) = d.ids[new.encode(" ")[0], : d.lengths[new.encode(" ")[0]]]
    assert original.id_to_token(int(space)) == "▁"


def test_truncation_keeps_the_first_ids_and_counts_the_cut_rows() -> None:
    new, original = tok("cl100k"), tok("smollm2")
    full = decompose_vocab(new, original, max_len=64)
    cut = decompose_vocab(new, original, max_len=2)
    assert cut.truncated == int((full.lengths > 2).sum()) > 0
    assert (cut.lengths == np.minimum(full.lengths, 2)).all()
    assert (cut.ids == full.ids[:, :2]).all()


@SETTINGS
@given(st.lists(st.one_of(st.binary(min_size=1, max_size=16),
                          st.text(min_size=1, max_size=8).map(str.encode)),
                min_size=1, max_size=20))
def test_pieces_decompose_exactly_and_batch_equals_single(pieces: list[bytes]) -> None:
    for name in ["mistral-sp", "llama3"]:
        original = tok(name)
        d = decompose(original, pieces, max_len=64)
        assert d.truncated == 0 and d.unspellable == 0
        for i, piece in enumerate(pieces):
            row = d.ids[i, : d.lengths[i]]
            assert spelled(original, row) == piece
            single = decompose(original, [piece], max_len=64)
            assert (single.ids[0] == d.ids[i]).all()


def test_decomposition_is_the_bpe_model_on_one_piece() -> None:
    original = tok("smollm2")
    for piece in [b" hello", b"internationalization", b"\n\n\t", "日本語".encode()]:
        d = decompose(original, [piece], max_len=16)
        assert list(d.ids[0, : d.lengths[0]]) == original.bpe_bytes(piece)


def test_decompose_rejects_bad_arguments_with_typed_errors() -> None:
    original = tok("smollm2")
    with pytest.raises(InvalidInputError, match="max_len"):
        decompose(original, [b"a"], max_len=0)
    with pytest.raises(InvalidInputError, match="piece 1 is empty"):
        decompose(original, [b"a", b""], max_len=4)
    with pytest.raises(InvalidInputError, match="no exact spelling"):
        decompose(original, [b"ok", b"\xc0"], max_len=4)
    with pytest.raises(TypeError, match="piece 0: expected bytes"):
        decompose(original, ["text"], max_len=4)  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="max_len"):
        decompose_vocab(tok("cl100k"), original, max_len=-1)


# --- sampler -------------------------------------------------------------------------------


def joined(sampled: SampledTokenizer, ids: np.ndarray) -> bytes:
    return b"".join(sampled.vocab[int(i)] for i in ids)


@pytest.mark.parametrize("name", ["smollm2", "mistral-sp", "mistral-sp-legacy"])
def test_sampled_ids_decode_to_the_texts(name: str) -> None:
    original = tok(name)
    sampled = sample_tokenizer(original, corpus(), 8192)
    assert len(sampled.ids) == len(corpus())
    for ids, text in zip(sampled.ids, corpus()):
        assert ids.dtype == np.int64
        # SentencePiece-style files prefix a space; byte-level ones give back the text itself.
        assert joined(sampled, ids) == original.implicit_prefix + text.encode()


def test_added_tokens_in_texts_are_plain_text() -> None:
    text = "a<|endoftext|>b <|im_start|>x"
    sampled = sample_tokenizer(tok("smollm2"), [text, text], 300, min_count=1)
    assert joined(sampled, sampled.ids[0]) == text.encode()


def test_vocab_size_and_layout_are_honoured() -> None:
    sampled = sample_tokenizer(tok("smollm2"), corpus(), 8192, max_token_bytes=12)
    assert len(sampled.vocab) == len(sampled.scores) == 8192
    assert sampled.vocab[:256] == [bytes([b]) for b in range(256)]
    assert all(2 <= len(t) <= 12 for t in sampled.vocab[256:])
    assert len(set(sampled.vocab)) == 8192
    assert sampled.scores.dtype == np.float64
    assert np.isfinite(sampled.scores).all() and (sampled.scores < 0).all()
    assert max(int(ids.max()) for ids in sampled.ids) < 8192
    # Fewer tokens than bytes: the multi-byte tokens are used.
    assert sum(len(ids) for ids in sampled.ids) < sum(len(t.encode()) for t in corpus()) / 2


def test_small_batches_give_smaller_vocabularies() -> None:
    sampled = sample_tokenizer(tok("smollm2"), ["the cat", "the hat"], 100_000)
    # Only the substrings seen twice ("th", "he", "the", "at") can enter the vocabulary.
    assert sampled.vocab[256:] and set(sampled.vocab[256:]) <= {b"th", b"he", b"the", b"at"}


def test_sampling_is_deterministic_per_seed_and_noise_changes_the_vocab() -> None:
    original, texts = tok("smollm2"), corpus()[:4]
    a = sample_tokenizer(original, texts, 2048, seed=1)
    b = sample_tokenizer(original, texts, 2048, seed=1)
    c = sample_tokenizer(original, texts, 2048, seed=2)
    assert a.vocab == b.vocab and all((x == y).all() for x, y in zip(a.ids, b.ids))
    assert set(a.vocab) != set(c.vocab)
    # Without noise the seed does not matter and the vocabulary is the most frequent substrings.
    z1 = sample_tokenizer(original, texts, 2048, noise=0.0, seed=1)
    z2 = sample_tokenizer(original, texts, 2048, noise=0.0, seed=2)
    assert z1.vocab == z2.vocab
    assert (np.diff(z1.scores[256:]) <= 0).all()
    assert set(z1.vocab) != set(a.vocab)


def brute_force_best(piece: bytes, vocab: dict[bytes, int], scores: np.ndarray,
                     longest: int) -> float:
    """The largest score sum over all segmentations of ``piece`` into vocabulary tokens."""

    @functools.cache
    def best(start: int) -> float:
        if start == len(piece):
            return 0.0
        return max(
            float(scores[vocab[piece[start:end]]]) + best(end)
            for end in range(start + 1, min(len(piece), start + longest) + 1)
            if piece[start:end] in vocab
        )

    return best(0)


@SETTINGS
@given(words=st.lists(st.text(alphabet="abc", min_size=1, max_size=8), min_size=1, max_size=30),
       query=st.text(alphabet="abc", min_size=1, max_size=12),
       noise=st.sampled_from([0.0, 1.0, 3.0]), seed=st.integers(0, 2**64 - 1))
def test_viterbi_matches_a_brute_force_oracle(words: list[str], query: str, noise: float,
                                             seed: int) -> None:
    # A text made of letters only is one GPT-2 pre-token, so its ids segment exactly `query`.
    texts = [query, " ".join(words), " ".join(words[::-1])]
    sampled = sample_tokenizer(tok("smollm2"), texts, 300, max_token_bytes=6, noise=noise,
                               min_count=2, seed=seed)
    vocab = {t: i for i, t in enumerate(sampled.vocab)}
    ids = sampled.ids[0]
    assert joined(sampled, ids) == query.encode()
    score = float(sampled.scores[ids].sum())
    best = brute_force_best(query.encode(), vocab, sampled.scores, 6)
    assert math.isclose(score, best, rel_tol=0, abs_tol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    ({"vocab_size": 255}, "vocab_size"),
    ({"vocab_size": -1}, "vocab_size"),
    ({"max_token_bytes": 0}, "max_token_bytes"),
    ({"noise": -0.5}, "noise"),
    ({"noise": float("nan")}, "noise"),
    ({"min_count": -1}, "min_count"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**64}, "seed"),
])
def test_sampler_rejects_bad_arguments_with_typed_errors(kwargs: dict, match: str) -> None:
    args = {"vocab_size": 300, **kwargs}
    vocab_size = args.pop("vocab_size")
    with pytest.raises(InvalidInputError, match=match):
        sample_tokenizer(tok("smollm2"), ["some text"], vocab_size, **args)


def test_sampler_rejects_non_text() -> None:
    with pytest.raises(TypeError, match="expected str"):
        sample_tokenizer(tok("smollm2"), [b"bytes"], 300)  # type: ignore[list-item]
