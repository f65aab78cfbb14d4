"""The counted continuation prior of toktool.zett.continuation and its use at transfer."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import toktool  # noqa: E402
from toktool.zett.continuation import (  # noqa: E402
    ContinuationCounts,
    continuation_prior,
    mix_output_rows,
    sample_texts,
    unigram_shift,
)

TEXTS = [
    "def main():\n    print('hello world')\n    return 0\n",
    "The hello of the world, and the other hello there. Theory and thesis.\n",
    "for x in range(10):\n    print(x)\n",
]


def _boundary_count(tok: toktool.Tokenizer, texts: list[str], piece: bytes) -> int:
    """The oracle: occurrences of ``piece`` at the start of a token of ``tok``'s encoding."""
    n = 0
    for text in texts:
        raw = text.encode()
        at = 0
        for i in tok.encode(text):
            if raw[at:at + len(piece)] == piece:
                n += 1
            at += len(tok.token_bytes(i))
    return n


def test_counts_are_occurrences_at_token_boundaries() -> None:
    tok = toktool.load_tokenizer("smollm2")
    counts = ContinuationCounts(tok, TEXTS, max_bytes=12)
    pieces = [b" hello", b"hello", b"ello", b" the", b"Th", b"    print", b"print(", b"\n",
              b"    ", b"or", b"zzz", b"", b"x" * 13]
    got = counts.count(pieces)
    for piece, n in zip(pieces, got):
        expected = 0 if not piece or len(piece) > 12 else _boundary_count(tok, TEXTS, piece)
        assert n == expected, piece
    # inside a token is not a boundary: "ello" never starts a token here
    assert got[2] == 0 and _boundary_count(tok, TEXTS, b" hello") > 0


def test_prior_falls_back_to_the_length_prior_for_unseen_first_parts() -> None:
    tok = toktool.load_tokenizer("smollm2")
    counts = ContinuationCounts(tok, TEXTS)
    prior = continuation_prior(counts, [b"qqqxyz", b" hello", b" hello"],
                               [b"qqq", b" hel", b" hello"], np.array([3, 2, 1]), -1.5)
    assert math.isclose(prior[0], -3.0)  # ln(1 * e^-3 / 1)
    full = _boundary_count(tok, TEXTS, b" hello")
    first = _boundary_count(tok, TEXTS, b" hel")
    assert math.isclose(prior[1], math.log((full + math.exp(-1.5)) / (first + 1.0)))
    assert prior[1] <= 0 and prior[2] == 0.0  # one-part tokens: no prior
    with pytest.raises(toktool.InvalidInputError):
        continuation_prior(counts, [b"a"], [b"a"], np.array([1]), -1.5, smoothing=0.0)
    with pytest.raises(toktool.InvalidInputError):
        ContinuationCounts(tok, ["", ""])


def test_mix_keeps_one_part_rows_and_interpolates_the_rest() -> None:
    tower = torch.randn(3, 4)
    first = torch.randn(3, 4)
    direction = torch.randn(4)
    prior = np.array([0.0, -1.0, -2.0])
    parts = np.array([1, 2, 3])
    same = mix_output_rows(tower, first, prior, direction, parts, mix=0.0)
    assert torch.equal(same, tower)
    full = mix_output_rows(tower, first, prior, direction, parts, mix=1.0)
    assert torch.equal(full[0], tower[0])
    assert torch.allclose(full[2], first[2] - 2.0 * direction)
    half = mix_output_rows(tower, first, prior, direction, parts, mix=0.5)
    assert torch.allclose(half[1], 0.5 * tower[1] + 0.5 * (first[1] - direction))
    with pytest.raises(toktool.InvalidInputError):
        mix_output_rows(tower, first, prior, direction, parts, mix=1.5)


def test_sample_texts_is_seeded_and_bounded() -> None:
    texts = [f"text {i} " * 50 for i in range(200)]
    a = sample_texts(texts, megabytes=0.01, seed=1)
    assert a == sample_texts(texts, megabytes=0.01, seed=1)
    assert sum(len(t) for t in a[:-1]) < 10_000 <= sum(len(t) for t in a) + 1


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from toktool.testing import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm", steps=20)


def test_transfer_mixes_only_multi_part_output_rows(tiny_dir: Path) -> None:
    from toktool.hf import load_causal_lm
    from toktool.zett.decompose import decompose_vocab
    from toktool.zett.train import FrozenLM
    from toktool.zett.transfer import new_embeddings

    model = load_causal_lm(tiny_dir)
    lm = FrozenLM(model)
    hypernet = lm.new_hypernet(num_layers=1, max_length=6, residual="mean", output_tower=True)
    hypernet.output_tower.logit_direction.fill_(0.01)
    original = toktool.Tokenizer.from_file(tiny_dir / "tokenizer.json")
    new = toktool.load_tokenizer("cl100k")
    counts = ContinuationCounts(original, TEXTS * 5)
    plain = new_embeddings(model, original, new, hypernet=hypernet)
    mixed = new_embeddings(model, original, new, hypernet=hypernet, continuation=counts,
                           unigram_shift=0.0)
    parts = decompose_vocab(new, original, 6)
    multi = torch.as_tensor(np.asarray(parts.lengths) > 1)
    assert torch.equal(plain.input_rows, mixed.input_rows)
    assert torch.equal(plain.output_rows[~multi], mixed.output_rows[~multi])
    assert not torch.allclose(plain.output_rows[multi], mixed.output_rows[multi])
    with pytest.raises(toktool.InvalidInputError):
        new_embeddings(model, original, new, method="fvt", continuation=counts)
    # the label shift moves every row (specials aside) along the logit direction
    shifted = new_embeddings(model, original, new, hypernet=hypernet, continuation=counts,
                             unigram_shift=0.75)
    lengths = np.asarray(parts.lengths)
    ids = np.asarray(parts.ids)
    prior = continuation_prior(counts, [bytes(b or b"") for b in new.all_token_bytes()],
                               [original.token_bytes(int(i)) if n else b""
                                for i, n in zip(ids[:, 0], lengths)],
                               lengths, float(hypernet.output_tower.length_bias.detach()))
    shift = unigram_shift(counts, new, np.where(lengths > 0, ids[:, 0], 0), lengths, prior)
    expected = mixed.output_rows + 0.75 * torch.as_tensor(shift, dtype=torch.float32)[:, None] \
        * hypernet.output_tower.logit_direction.detach()[None]
    ordinary = torch.ones(new.vocab_size, dtype=torch.bool)
    ordinary[list(new.special_tokens.values())] = False
    assert torch.allclose(shifted.output_rows[ordinary], expected[ordinary], atol=1e-5)
    assert not torch.allclose(shifted.output_rows[ordinary], mixed.output_rows[ordinary])
    with pytest.raises(toktool.InvalidInputError):
        new_embeddings(model, original, new, hypernet=hypernet, continuation=counts,
                       unigram_shift=-1.0)


def test_unigram_shift_is_the_log_ratio_of_token_frequencies() -> None:
    import collections

    original = toktool.load_tokenizer("smollm2")
    new = toktool.load_tokenizer("cl100k")
    texts = TEXTS * 3
    counts = ContinuationCounts(original, texts)
    emitted = collections.Counter(i for t in texts for i in new.encode(t))
    orig = collections.Counter(i for t in texts for i in original.encode(t))
    assert list(np.nonzero(counts.token_counts)[0]) == sorted(orig)
    n_new, n_orig = sum(emitted.values()), sum(orig.values())
    one = new.encode(" hello")  # one token in both vocabularies
    assert len(one) == 1 and len(original.encode(" hello")) == 1
    unseen = new.encode(" zebra")[0]
    first_ids = np.array([original.encode(" hello")[0], original.encode(" z")[0],
                          original.encode("for")[0]])
    prior = np.array([0.0, 0.0, -0.7])
    tokens = [one[0], unseen, new.encode("for")[0]]
    n_parts = np.zeros(new.vocab_size, dtype=np.int64)
    firsts = np.zeros(new.vocab_size, dtype=np.int64)
    priors = np.zeros(new.vocab_size)
    n_parts[tokens] = [1, 1, 2]
    firsts[tokens] = first_ids
    priors[tokens] = prior
    shift = unigram_shift(counts, new, firsts, n_parts, priors)
    for k, t in enumerate(tokens):
        implied = orig[int(first_ids[k])] * math.exp(prior[k])
        want = math.log((emitted[t] + 1) / n_new) - math.log((implied + 1) / n_orig)
        assert math.isclose(shift[t], want, rel_tol=1e-9), k
    assert shift[new.encode(" world")[0]] == 0.0  # no parts given: no shift


def test_merge_embedder_mixes_the_prior_into_merged_output_rows(tiny_dir: Path) -> None:
    from toktool.zett.model import HypernetEmbedder
    from toktool.zett.train import FrozenLM

    from toktool.hf import load_causal_lm

    lm = FrozenLM(load_causal_lm(tiny_dir))
    hypernet = lm.new_hypernet(num_layers=1, max_length=6, residual="mean", output_tower=True)
    hypernet.output_tower.logit_direction.fill_(0.01)
    tok = toktool.Tokenizer.from_file(tiny_dir / "tokenizer.json")
    counts = ContinuationCounts(tok, TEXTS * 5)
    a, b = tok.encode("hello")[0], tok.encode(" world")[0]
    new_tokens = [(a,), (a, b), (b, a, b)]
    plain = HypernetEmbedder(hypernet, output=True).embed(new_tokens)
    mixed = HypernetEmbedder(hypernet, output=True, continuation=counts, tokenizer=tok,
                             mix=1.0).embed(new_tokens)
    assert torch.equal(plain[0], mixed[0])  # one part: unchanged
    whole = tok.token_bytes(a) + tok.token_bytes(b)
    prior = continuation_prior(counts, [whole], [tok.token_bytes(a)], np.array([2]),
                               float(hypernet.output_tower.length_bias.detach()))
    expected = hypernet.input_embeddings[a] + float(prior[0]) * hypernet.output_tower.logit_direction
    assert torch.allclose(mixed[1], expected, atol=1e-6)
    emb = HypernetEmbedder(hypernet, output=True, continuation=counts, tokenizer=tok)
    assert emb.continuation_prior(new_tokens)[1] == pytest.approx(float(prior[0]))
    assert emb.continuation_prior(new_tokens)[0] == 0.0
    with pytest.raises(toktool.InvalidInputError):
        HypernetEmbedder(hypernet, output=True).continuation_prior(new_tokens)
    with pytest.raises(toktool.InvalidInputError):
        HypernetEmbedder(hypernet, output=False, continuation=counts, tokenizer=tok)
    with pytest.raises(toktool.InvalidInputError):
        HypernetEmbedder(hypernet, output=True, continuation=counts)
