"""Dynamic batch merging: the Rust merger against the paper's loop (tests/merge_reference.py),
boundary recovery on real tokenizers, the invariants of the issue, the embedding layer and the
CLI."""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toktool
from toktool import artifacts
from toktool.merge import (
    DynamicTokenizer,
    apply_merges,
    Embedder,
    FittedEmbedder,
    FVTEmbedder,
    Reduction,
    fit_new_rows,
    merge_batch,
    merge_batches,
    merge_units,
    merged_bits,
    merged_log_softmax,
    prefill_bits,
    prefill_generate,
    token_windows,
    unigram_bias,
)

sys.path.insert(0, str(Path(__file__).parent))
from merge_reference import reference_apply, reference_merge  # noqa: E402

EXAMPLES = int(os.environ.get("TOKTOOL_EXAMPLES", "200"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@functools.lru_cache(maxsize=None)
def load(name: str) -> toktool.Tokenizer:
    return toktool.load_tokenizer(name)


@functools.lru_cache(maxsize=None)
def corpus() -> dict[str, str]:
    return artifacts.multilingual_corpus()


def units_of(batch: list[list[int]], tok: toktool.Tokenizer, boundary: str = "pretoken"):
    """The units merge_batch uses (word_ids of the unmerged batch)."""
    return merge_batch(batch, tok, 0, boundary).word_ids


# ---------------------------------------------------------------------------------------------
# the bare algorithm against the reference loop
# ---------------------------------------------------------------------------------------------

# Small alphabets make many equal counts, so tie-breaking is exercised constantly.
token = st.integers(0, 4)
unit_step = st.sampled_from(["same", "same", "same", "new", "special"])


@st.composite
def unit_batches(draw):
    batch, units = [], []
    for _ in range(draw(st.integers(0, 6))):
        steps = draw(st.lists(st.tuples(token, unit_step), max_size=40))
        unit, ids, us = 0, [], []
        for tid, step in steps:
            if step == "new":
                unit += 1
            ids.append(tid)
            us.append(None if step == "special" else unit)
        batch.append(ids)
        units.append(us)
    return batch, units


@SETTINGS
@given(unit_batches(), st.one_of(st.none(), st.integers(0, 80)), st.integers(1, 3))
def test_merger_equals_the_reference_loop(data, max_merges, min_count) -> None:
    batch, units = data
    ours = merge_units(batch, units, 1000, max_merges, min_count=min_count)
    ref = reference_merge(batch, units, 1000, max_merges, min_count)
    assert ours == ref


def test_ties_go_to_the_first_occurrence() -> None:
    batch = [[7, 8, 1, 2], [1, 2, 7, 8]]
    units = [[0, 0, 1, 1], [0, 0, 1, 1]]
    _, _, merges = merge_units(batch, units, 100, 1)
    assert merges == [(7, 8, 2)]
    _, _, merges = merge_units(batch[::-1], units, 100, 1)
    assert merges == [(1, 2, 2)]


def test_overlapping_pairs_count_twice_and_merge_left_to_right() -> None:
    ids, starts, merges = merge_units([[3, 3, 3]], [[0, 0, 0]], 10, 1)
    assert merges == [(3, 3, 2)] and ids == [[10, 3]] and starts == [[0, 2]]


def test_merger_rejects_bad_input() -> None:
    with pytest.raises(toktool.InvalidTokenIdError):
        merge_units([[5]], [[0]], 5)
    with pytest.raises(toktool.InvalidInputError):
        merge_units([[1, 2]], [[0]], 5)
    with pytest.raises(toktool.InvalidInputError):
        merge_units([[1, 2]], [[0, 0]], 5, -1)
    with pytest.raises(toktool.InvalidInputError):
        merge_units([[1, 2]], [[0, 0]], 5, min_count=0)


# ---------------------------------------------------------------------------------------------
# real tokenizers: oracle, invariants, boundaries
# ---------------------------------------------------------------------------------------------

TOKENIZERS = ["smollm2", "cl100k", "mistral-sp", "llama3"]

words = st.sampled_from(
    ["the", " the", " theory", " there", "ization", " international", " nation", "al", "ly",
     ",", ".", ". ", "!\n", "\n\n", " ", "  ", "\t", "'s", " don't", "123", "4567", " 89",
     "中文", "日本語の", "テキスト", "。", "é", "😀", "<|endoftext|>", "(x)", " +=",
     "Ünï"]
)
texts = st.lists(st.lists(words, max_size=30).map("".join), min_size=1, max_size=6)


@pytest.mark.parametrize("name", TOKENIZERS)
@settings(max_examples=max(EXAMPLES // 4, 10), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.one_of(st.none(), st.integers(0, 40)))
def test_merge_batch_equals_the_reference_loop(name, batch_texts, max_merges) -> None:
    tok = load(name)
    batch = [tok.encode(t) for t in batch_texts]
    result = merge_batch(batch, tok, max_merges)
    units = units_of(batch, tok)
    ids, starts, merges = reference_merge(batch, units, tok.vocab_size, max_merges)
    assert result.ids == ids
    assert result.merges == merges
    assert [[s for s, _ in seq] for seq in result.spans] == starts
    # new_tokens: the k-th entry is what id vocab_size + k stands for
    for k, (left, right, _) in enumerate(result.merges):
        assert result.new_tokens[k] == tuple(result.expand([left]) + result.expand([right]))


@pytest.mark.parametrize("name", ["smollm2", "cl100k"])
@settings(max_examples=max(EXAMPLES // 4, 10), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(texts, texts, st.one_of(st.none(), st.integers(0, 40)))
def test_apply_merges_equals_applying_them_in_order(name, learn_texts, other_texts,
                                                    max_merges) -> None:
    tok = load(name)
    learn = [tok.encode(t) for t in learn_texts]
    other = [tok.encode(t) for t in other_texts]
    learned = merge_batch(learn, tok, max_merges)
    # a batch's own merges give its output back
    again = apply_merges(learn, tok, learned.merges)
    assert again.ids == learned.ids and again.merges == learned.merges
    # elsewhere: the loop's merge_pair, merge by merge
    applied = apply_merges(other, tok, learned.merges)
    ids, merges = reference_apply(other, units_of(other, tok), tok.vocab_size, learned.merges)
    assert applied.ids == ids and applied.merges == merges
    assert applied.new_tokens == learned.new_tokens
    for s, seq in enumerate(applied.ids):
        assert applied.expand(seq) == other[s]


def test_apply_merges_rejects_ids_made_later() -> None:
    tok = load("smollm2")
    with pytest.raises(toktool.InvalidInputError):
        apply_merges([[1, 2]], tok, [(tok.vocab_size, 2)])


def check_invariants(tok: toktool.Tokenizer, batch: list[list[int]], boundary: str) -> None:
    special = set(tok.special_tokens.values())
    lengths = None
    results = [merge_batch(batch, tok, m, boundary) for m in (0, 1, 5, 20, 100, None)]
    for result in results:
        # decode(merged) == decode(original), and spans/offsets tile the sequence
        for s, seq in enumerate(result.ids):
            assert result.expand(seq) == batch[s]
            assert tok.decode_bytes(result.expand(seq)) == tok.decode_bytes(batch[s])
            assert result.spans[s][0][0] == 0 if seq else True
            assert all(a[1] == b[0] for a, b in zip(result.spans[s], result.spans[s][1:]))
            assert all(a[1] == b[0] for a, b in zip(result.offsets[s], result.offsets[s][1:]))
            if seq:
                assert result.offsets[s][-1][1] == len(tok.decode_bytes(batch[s]))
        # specials are never merged
        for t in result.new_tokens:
            assert not special.intersection(t)
        # length is non-increasing in the budget, per sequence
        now = result.lengths
        if lengths is not None:
            assert all(a <= b for a, b in zip(now, lengths))
        lengths = now
    # budgets give prefixes of one merge sequence
    full = results[-1].merges
    for result in results:
        assert result.merges == full[: len(result.merges)]
    # saturation: one token per unit
    saturated = results[-1]
    assert saturated.reduction.tokens_after == saturated.reduction.units
    assert saturated.reduction.to_saturation == 1.0


@pytest.mark.parametrize("boundary", ["pretoken", "word", "sentence"])
@pytest.mark.parametrize("name", TOKENIZERS)
@settings(max_examples=max(EXAMPLES // 10, 5), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_invariants_on_random_text(name, boundary, batch_texts) -> None:
    tok = load(name)
    check_invariants(tok, [tok.encode(t) for t in batch_texts], boundary)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_invariants_on_the_multilingual_corpus(name) -> None:
    tok = load(name)
    batch = [tok.encode(text[20_000:23_000]) for text in corpus().values()]
    for boundary in ("pretoken", "word", "sentence"):
        check_invariants(tok, batch, boundary)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_merged_tokens_stay_inside_one_pretoken(name) -> None:
    tok = load(name)
    texts_ = [text[50_000:52_000] for text in corpus().values()] + [
        "Hello<|endoftext|>world, it's 2024!\n\n  indented  text",
        "a.b. c! d? e… 中文。日本",
    ]
    pairs = [tok.encode_with_pretokens(t) for t in texts_]
    batch = [ids for ids, _ in pairs]
    result = merge_batch(batch, tok, None)
    assert set(result.recovery) == {"exact"}
    for (ids, pretokens), spans, merged in zip(pairs, result.spans, result.ids):
        # saturation equals the pre-token count (special tokens are pre-tokens of their own)
        assert len(merged) == len(set(pretokens))
        for start, end in spans:
            assert len(set(pretokens[start:end])) == 1


@pytest.mark.parametrize("name", ["smollm2", "cl100k"])
def test_word_and_sentence_units(name) -> None:
    tok = load(name)
    text = ("The quick brown fox. It jumped, didn't it? Yes!\n\nNext paragraph: e.g. this one."
            "\n中文句子。第二句！ Done.")
    batch = [tok.encode(text)]
    word = merge_batch(batch, tok, None, "word")
    sentence = merge_batch(batch, tok, None, "sentence")
    pretoken = merge_batch(batch, tok, None, "pretoken")
    assert len(pretoken.ids[0]) > len(word.ids[0]) > len(sentence.ids[0])
    shown = [word.token_bytes(tok, i).decode() for i in word.ids[0]]
    for w in shown:  # no whitespace between two non-whitespace characters
        assert not any(c.isspace() for c in w.strip()), w
    assert " jumped," in shown and " didn't" in shown
    sentences = [sentence.token_bytes(tok, i).decode() for i in sentence.ids[0]]
    assert "".join(sentences) == text
    for s in sentences:
        assert not re.search(r"[.!?]\s+\S", s.rstrip()) or "e.g. " in s, s
    assert any(s.lstrip().startswith("中文句子。") for s in sentences)
    assert sentence.reduction.to_word_level > 1.0


def test_special_tokens_are_never_merged() -> None:
    tok = load("smollm2")
    eos = tok.special_tokens["<|endoftext|>"]
    body = tok.encode("repeat repeat repeat")
    batch = [[eos, *body, eos, eos, *body, eos]] * 3
    result = merge_batch(batch, tok, None)
    for seq, word_ids in zip(result.ids, result.word_ids):
        assert seq.count(eos) == 4
        assert all((w is None) == (i == eos) for i, w in zip(seq, word_ids))
    # also when the caller's word ids would allow it
    result = merge_batch(batch, tok, None, word_ids=[[0] * len(s) for s in batch])
    assert all(seq.count(eos) == 4 for seq in result.ids)


def test_cut_windows_and_broken_utf8_are_aligned() -> None:
    tok = load("smollm2")
    ids = tok.encode(corpus()["ja"][:20_000])
    batch = token_windows(ids[3:], 97, 8)
    assert not all(tok.is_canonical(w) for w in batch)
    result = merge_batch(batch, tok, None)
    assert "aligned" in result.recovery
    assert all(r in ("exact", "aligned") for r in result.recovery)
    for s, seq in enumerate(result.ids):
        assert result.expand(seq) == batch[s]


def test_normalizing_tokenizers_fall_back_to_whitespace() -> None:
    from toktool.testing import bpe_tokenizer_json

    pieces = ["h", "e", "l", "o", "w", "r", "d", " ", "H"]
    tok = toktool.Tokenizer.from_str(bpe_tokenizer_json(
        {p: i for i, p in enumerate(pieces)}, [], normalizer={"type": "Lowercase"}))
    batch = [[8, 1, 2, 2, 3, 7, 4, 3, 5, 2, 6]]  # "Hello world": re-encodes as "hello world"
    result = merge_batch(batch, tok, None)
    assert result.recovery == ["whitespace"]
    assert [result.token_bytes(tok, i) for i in result.ids[0]] == [b"Hello", b" ", b"world"]


def test_given_word_ids() -> None:
    tok = load("smollm2")
    batch = [tok.encode("internationalization internationalization")]
    n = len(batch[0])
    everything = merge_batch(batch, tok, None, word_ids=[[0] * n])
    assert everything.ids == [[tok.vocab_size + len(everything.merges) - 1]]
    assert everything.recovery == ["given"]
    nothing = merge_batch(batch, tok, None, word_ids=[[None] * n])
    assert nothing.ids == batch and nothing.merges == []
    with pytest.raises(toktool.InvalidInputError):
        merge_batch(batch, tok, None, word_ids=[[0]])


def test_reduction_fields() -> None:
    r = Reduction(tokens_before=100, tokens_after=80, units=60, words=50)
    assert r.fewer == pytest.approx(0.2)
    assert r.to_saturation == pytest.approx(0.5)
    assert r.to_word_level == pytest.approx(0.4)
    assert Reduction(10, 10, 10, 10).to_word_level == 1.0
    assert Reduction(0, 0, 0, 0).fewer == 0.0


def test_batches_in_parallel_equal_one_by_one() -> None:
    tok = load("cl100k")
    batches = [[tok.encode(t[i : i + 1500]) for i in range(0, 6000, 1500)]
               for t in corpus().values()]
    together = merge_batches(batches, tok, 50, "word")
    assert together == [merge_batch(b, tok, 50, "word") for b in batches]
    toktool.set_parallelism(False)
    try:
        assert merge_batches(batches, tok, 50, "word") == together
    finally:
        toktool.set_parallelism(True)
    with pytest.raises(toktool.InvalidInputError):
        merge_batch(batches[0], tok, 5, "paragraph")


def test_threads_share_the_merger() -> None:
    from concurrent.futures import ThreadPoolExecutor

    tok = load("smollm2")
    batches = [[tok.encode(t[i : i + 2000])] for t in corpus().values() for i in (0, 9000)]
    serial = [merge_batch(b, tok, None) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda b: merge_batch(b, tok, None), batches)) == serial


def test_numpy_batches_equal_lists() -> None:
    import numpy as np

    tok = load("smollm2")
    batch = token_windows(tok.encode(corpus()["it"][:30_000]), 128, 8)
    units = [[-1 if u is None else u for u in us] for us in units_of(batch, tok)]
    for dtype in (np.int64, np.int32, np.uint32):
        array = np.array(batch, dtype=dtype)
        assert merge_batch(array, tok, 50) == merge_batch(batch, tok, 50)
        assert merge_units(array, np.array(units), tok.vocab_size) == merge_units(
            batch, units, tok.vocab_size)
    with pytest.raises(toktool.InvalidTokenIdError):
        merge_batch(np.array([[1, -2]]), tok, 5)


def test_token_windows() -> None:
    assert token_windows(list(range(10)), 4, 5) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert token_windows([1, 2], 4, 5) == [[1, 2]]
    assert token_windows(list(range(10)), 2, 2) == [[0, 1], [2, 3]]


# ---------------------------------------------------------------------------------------------
# embeddings
# ---------------------------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def fake_matrix(vocab: int, hidden: int = 8) -> "torch.Tensor":
    generator = torch.Generator().manual_seed(0)
    return torch.randn(vocab, hidden, generator=generator)


def test_fvt_is_the_mean_of_the_parts() -> None:
    matrix = fake_matrix(20)
    fvt = FVTEmbedder(matrix)
    assert isinstance(fvt, Embedder)
    out = fvt.embed([(1, 2), (3, 4, 5, 5)])
    assert torch.allclose(out[0], (matrix[1] + matrix[2]) / 2)
    assert torch.allclose(out[1], (matrix[3] + matrix[4] + 2 * matrix[5]) / 4)
    assert fvt.embed([]).shape == (0, 8)


def test_dynamic_tokenizer_embeds_the_merged_batch() -> None:
    tok = load("smollm2")
    matrix = fake_matrix(tok.vocab_size)
    texts = [corpus()["de"][i : i + 800] for i in range(0, 8000, 800)]
    dyn = DynamicTokenizer(tok, FVTEmbedder(matrix), max_merges=60, bos_id=0)
    batch = dyn(texts)
    result = batch.result
    assert len(result.merges) == 60
    assert batch.input_ids.shape[0] == len(texts)
    assert batch.inputs_embeds.shape == (*batch.input_ids.shape, 8)
    for b, seq in enumerate(result.ids):
        n = len(seq) + 1
        assert batch.attention_mask[b].tolist() == [1] * n + [0] * (batch.input_ids.shape[1] - n)
        assert batch.input_ids[b, 1:n].tolist() == seq
        for j, i in enumerate(seq):
            parts = result.expand([i])
            expected = matrix[parts].mean(0)
            assert torch.allclose(batch.inputs_embeds[b, j + 1], expected, atol=1e-6)
        assert torch.all(batch.inputs_embeds[b, n:] == 0)
    assert set(batch.model_inputs()) == {"inputs_embeds", "attention_mask"}


def test_cache_on_and_off_give_identical_embeddings() -> None:
    tok = load("cl100k")
    matrix = fake_matrix(tok.vocab_size)
    texts = [corpus()["fr"][i : i + 1000] for i in range(0, 6000, 1000)]
    cached = DynamicTokenizer(tok, FVTEmbedder(matrix), max_merges=80, cache_size=1000)
    uncached = DynamicTokenizer(tok, FVTEmbedder(matrix), max_merges=80, cache_size=0)
    tiny = DynamicTokenizer(tok, FVTEmbedder(matrix), max_merges=80, cache_size=3)
    for chunk in (texts, texts[2:], texts[::-1]):
        a, b, c = cached(chunk), uncached(chunk), tiny(chunk)
        assert torch.equal(a.inputs_embeds, b.inputs_embeds)
        assert torch.equal(a.inputs_embeds, c.inputs_embeds)
    assert cached.cache.hits > 0 and uncached.cache.hits == 0
    assert len(tiny.cache.rows) == 3 and len(cached.cache.rows) <= 1000


def test_dynamic_tokenizer_truncates_and_selects_rows() -> None:
    tok = load("smollm2")
    dyn = DynamicTokenizer(tok, FVTEmbedder(fake_matrix(tok.vocab_size)), max_merges=5,
                           max_length=7)
    result = dyn.merge(["a long text " * 20, "short"])
    assert result.original_lengths == [7, len(tok.encode("short"))]
    batch = dyn.embed(result, [1])
    assert batch.sequences == [1] and batch.input_ids.shape[0] == 1 and batch.n_bytes == [5]
    assert batch.input_ids[0].tolist() == result.ids[1]


@functools.lru_cache(maxsize=None)
def tiny_model(vocab: int):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True,
        max_position_embeddings=512,
    )
    return transformers.LlamaForCausalLM(config).eval()


def test_merged_bits_without_merges_equal_the_model() -> None:
    tok = load("smollm2")
    model = tiny_model(tok.vocab_size)
    fvt = FVTEmbedder.from_model(model)
    texts = ["Hello world, this is a test.", "Bits per byte, never per token."]
    dyn = DynamicTokenizer(tok, fvt, max_merges=0, bos_id=0)
    batch = dyn(texts)
    bits = merged_bits(model, batch, FVTEmbedder.from_model(model, output=True))
    for b, text in enumerate(texts):
        ids = [0, *tok.encode(text)]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1, : tok.vocab_size]
        logp = torch.log_softmax(logits.double(), -1)
        expected = -logp.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).sum() / torch.log(
            torch.tensor(2.0, dtype=torch.float64))
        assert bits[b] == pytest.approx(float(expected), rel=1e-4)
    # a logit bias is added to every prediction before the softmax
    bias = torch.linspace(-1.0, 1.0, tok.vocab_size, dtype=torch.float64)
    biased = merged_bits(model, batch, FVTEmbedder.from_model(model, output=True), bias=bias)
    ids = [0, *tok.encode(texts[0])]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1, : tok.vocab_size]
    logp = torch.log_softmax(logits.double() + bias, -1)
    expected = -logp.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).sum() / math.log(2)
    assert biased[0] == pytest.approx(float(expected), rel=1e-4)
    with pytest.raises(toktool.InvalidInputError):
        merged_bits(model, batch, fvt, bias=bias[:-1])
    merged = dyn.embed(merge_batch([tok.encode(t) for t in texts], tok, None))
    merged_b = merged_bits(model, merged, FVTEmbedder.from_model(model, output=True))
    assert all(b > 0 for b in merged_b)
    with pytest.raises(toktool.InvalidInputError):
        merged_bits(model, DynamicTokenizer(tok, fvt)(texts), fvt)


def test_prefill_bits_score_the_continuation_over_the_original_vocabulary() -> None:
    tok = load("smollm2")
    model = tiny_model(tok.vocab_size)
    fvt = FVTEmbedder.from_model(model)
    texts = ["The first context, and then", "Bits per byte, never per token, after"]
    tails = [" a continuation of it.", " the context is merged."]
    contexts = [tok.encode(t) for t in texts]
    conts = [tok.encode(t) for t in tails]

    def direct(ctx: list[int], cont: list[int]) -> float:
        ids = [0, *ctx, *cont]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, :, : tok.vocab_size]
        logp = torch.log_softmax(logits.double(), -1)[len(ctx) : len(ids) - 1]
        return float(-logp.gather(1, torch.tensor(cont).unsqueeze(1)).sum()) / math.log(2)

    dyn = DynamicTokenizer(tok, fvt, max_merges=0, bos_id=0)
    unmerged = dyn.embed(merge_batch(contexts, tok, 0))
    bits = prefill_bits(model, unmerged, conts)
    for b in range(2):  # rows of different lengths: the padding never reaches the scores
        assert bits[b] == pytest.approx(direct(contexts[b], conts[b]), rel=1e-4)
    # merged contexts: the continuation is still original ids after the merged row
    merged = dyn.embed(merge_batch(contexts, tok, None))
    assert merged.input_ids.shape[1] < unmerged.input_ids.shape[1]
    merged_b = prefill_bits(model, merged, conts)
    one = prefill_bits(model, dyn.embed(merged.result, [1]), conts[1:])
    assert one[0] == pytest.approx(merged_b[1], rel=1e-5)
    assert all(b > 0 for b in merged_b) and merged_b != pytest.approx(bits)
    assert prefill_bits(model, merged, [[], conts[1]])[0] == 0.0
    with pytest.raises(toktool.InvalidInputError):
        prefill_bits(model, merged, conts[:1])
    with pytest.raises(toktool.InvalidInputError):
        prefill_bits(model, merged, [conts[0], [tok.vocab_size]])


def test_fitted_embedder_gives_fitted_rows_by_parts_and_the_base_elsewhere() -> None:
    matrix = fake_matrix(20)
    base = FVTEmbedder(matrix)
    rows = torch.arange(16, dtype=torch.float32).reshape(2, 8)
    fitted = FittedEmbedder(base, [(1, 2), (3, 4, 5)], rows)
    assert isinstance(fitted, Embedder) and torch.equal(fitted.embedding_matrix, matrix)
    out = fitted.embed([(3, 4, 5), (6, 7), (1, 2)])
    assert torch.equal(out[0], rows[1]) and torch.equal(out[2], rows[0])
    assert torch.allclose(out[1], (matrix[6] + matrix[7]) / 2)
    assert fitted.embed([]).shape == (0, 8)
    with pytest.raises(toktool.InvalidInputError):
        FittedEmbedder(base, [(1, 2)], rows)


def fit_setup():
    tok = load("smollm2")
    model = tiny_model(tok.vocab_size)
    texts = [corpus()["de"][i : i + 300] for i in range(0, 3000, 300)]
    learned = merge_batch([tok.encode(t) for t in texts], tok, 40)
    fvt_in, fvt_out = FVTEmbedder.from_model(model), FVTEmbedder.from_model(model, output=True)
    dyn = DynamicTokenizer(tok, fvt_in, max_merges=40, bos_id=0, cache_size=0)
    return tok, model, learned, dyn, fvt_in, fvt_out


def test_fit_new_rows_lowers_the_loss_it_fits_and_moves_only_the_new_rows() -> None:
    tok, model, learned, dyn, fvt_in, fvt_out = fit_setup()
    batch = dyn.embed(learned)
    before = sum(merged_bits(model, batch, fvt_out))
    params = [p.detach().clone() for p in model.parameters()]
    fit_in, fit_out = fit_new_rows(model, batch, fvt_in, fvt_out, steps=40, lr=0.1, min_count=1)
    refit = dyn.embed(learned)  # original rows untouched: the same batch again
    assert torch.equal(refit.inputs_embeds, batch.inputs_embeds)
    fitted_batch = DynamicTokenizer(tok, fit_in, max_merges=40, bos_id=0,
                                    cache_size=0).embed(learned)
    after = sum(merged_bits(model, fitted_batch, fit_out))
    assert after < before - 1.0
    # the model is frozen while fitting and left as it was
    assert all(torch.equal(p, q) for p, q in zip(params, model.parameters()))
    assert all(p.requires_grad for p in model.parameters())
    # new tokens at their positions read the fitted rows; original ids keep the model's rows
    new = fitted_batch.input_ids >= tok.vocab_size
    assert new.any()
    assert torch.equal(fitted_batch.inputs_embeds[~new], batch.inputs_embeds[~new])
    index = {t: k for k, t in enumerate(learned.new_tokens)}
    b, j = (int(x) for x in new.nonzero()[0])
    token = learned.new_tokens[int(fitted_batch.input_ids[b, j]) - tok.vocab_size]
    assert torch.equal(fitted_batch.inputs_embeds[b, j], fit_in.rows[index[token]])
    assert not fit_in.rows.requires_grad and not fit_out.rows.requires_grad


def test_fit_new_rows_sides_and_errors() -> None:
    tok, model, learned, dyn, fvt_in, fvt_out = fit_setup()
    batch = dyn.embed(learned)
    start_in, start_out = fvt_in.embed(learned.new_tokens), fvt_out.embed(learned.new_tokens)
    same_in, same_out = fit_new_rows(model, batch, fvt_in, fvt_out, steps=0)
    assert torch.equal(same_in.rows, start_in) and torch.equal(same_out.rows, start_out)
    out_in, out_out = fit_new_rows(model, batch, fvt_in, fvt_out, steps=5, sides="output",
                                   min_count=1)
    assert torch.equal(out_in.rows, start_in) and not torch.equal(out_out.rows, start_out)
    in_in, in_out = fit_new_rows(model, batch, fvt_in, fvt_out, steps=5, sides="input",
                                 min_count=1)
    assert not torch.equal(in_in.rows, start_in) and torch.equal(in_out.rows, start_out)
    # the same seed, the same fit
    again, _ = fit_new_rows(model, batch, fvt_in, fvt_out, steps=5, sides="input", min_count=1)
    assert torch.equal(again.rows, in_in.rows)
    # only tokens that occur at least min_count times in the batch are fitted
    counts = np.bincount([i - tok.vocab_size for seq in learned.ids for i in seq
                          if i >= tok.vocab_size], minlength=len(learned.new_tokens))
    cut = int(np.median(counts)) + 1
    assert 0 < (counts >= cut).sum() < len(counts)
    some_in, some_out = fit_new_rows(model, batch, fvt_in, fvt_out, steps=10, min_count=cut)
    for k, c in enumerate(counts):
        for fitted_rows, start in ((some_in.rows, start_in), (some_out.rows, start_out)):
            assert torch.equal(fitted_rows[k], start[k]) == (c < cut), (k, c)
    # the output-only fit (hidden states computed once per sequence) lowers the loss too
    fitted = sum(merged_bits(model, batch, out_out))
    assert fitted < sum(merged_bits(model, batch, fvt_out))
    no_bos = DynamicTokenizer(tok, fvt_in, max_merges=40, cache_size=0).embed(learned)
    with pytest.raises(toktool.InvalidInputError):
        fit_new_rows(model, no_bos, fvt_in, fvt_out)
    with pytest.raises(toktool.InvalidInputError):
        fit_new_rows(model, batch, fvt_in, fvt_out, sides="middle")
    with pytest.raises(toktool.InvalidInputError):
        fit_new_rows(model, batch, fvt_in, fvt_out, steps=-1)


def test_prefill_generate_equals_generate_on_unmerged_prompts() -> None:
    tok = load("smollm2")
    model = tiny_model(tok.vocab_size)
    fvt = FVTEmbedder.from_model(model)
    prompts = ["Hello world, this is", "A much longer prompt that goes on and on, then"]
    dyn = DynamicTokenizer(tok, fvt, max_merges=0, bos_id=0)
    # rows of different lengths: left padding must not change what each row generates
    got = prefill_generate(model, dyn(prompts), max_new_tokens=6, do_sample=False)
    for prompt, g in zip(prompts, got):
        ids = torch.tensor([[0, *tok.encode(prompt)]])
        with torch.no_grad():
            ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 max_new_tokens=6, do_sample=False)[0, ids.shape[1] :]
        assert g == ref.tolist()
    texts = [corpus()["de"][i : i + 300] for i in range(0, 1800, 300)]
    merged = DynamicTokenizer(tok, fvt, max_merges=None, bos_id=0)(texts)
    assert merged.result.n_merges > 0
    out = prefill_generate(model, merged, max_new_tokens=4, do_sample=False)
    assert len(out) == 6 and all(len(o) == 4 and max(o) < tok.vocab_size for o in out)


def test_unigram_bias_is_the_log_ratio_of_frequencies_after_and_before() -> None:
    import collections

    tok = load("smollm2")
    learn = [tok.encode(t) for t in corpus()["de"][:6000].split("\n\n") if t][:12]
    learned = merge_batch(learn, tok, 20)
    vocab, k = tok.vocab_size, learned.n_merges
    before = collections.Counter(i for s in learn for i in s)
    after = collections.Counter(i for s in learned.ids for i in s)
    n_b, n_a = sum(before.values()), sum(after.values())
    prior = np.linspace(-2.0, 0.0, k)
    bias = unigram_bias(learned, learn, 0.5, prior, smoothing=1.0)
    assert bias.shape == (vocab + k,)
    first_left = learned.new_tokens[0][0]  # the first merge's left part became rarer
    for t in (first_left, learn[0][0], 0):
        want = 0.5 * (math.log((after[t] + 1) / n_a) - math.log((before[t] + 1) / n_b))
        assert bias[t] == pytest.approx(want, rel=1e-9), t
    assert bias[first_left] < 0
    for j in (0, k - 1):
        m = vocab + j
        implied = before[learned.new_tokens[j][0]] * math.exp(prior[j])
        want = 0.5 * (math.log((after[m] + 1) / n_a) - math.log((implied + 1) / n_b))
        assert bias[m] == pytest.approx(want, rel=1e-9)
    assert not unigram_bias(learned, learn, 0.5)[vocab:].any()  # no prior: merged tokens 0
    assert np.allclose(unigram_bias(learned, learn, 1.0, prior, smoothing=1.0), 2 * bias)
    smoothed = unigram_bias(learned, learn, 0.5, prior)  # 5 pseudo-occurrences by default
    t = learn[0][0]
    assert smoothed[t] == pytest.approx(
        0.5 * (math.log((after[t] + 5) / n_a) - math.log((before[t] + 5) / n_b)), rel=1e-9)
    with pytest.raises(toktool.InvalidInputError):
        unigram_bias(learned, learn, -1.0)
    with pytest.raises(toktool.InvalidInputError):
        unigram_bias(learned, learn, 0.5, prior[:-1])


def test_merged_log_softmax_is_exact_for_exact_merged_rows() -> None:
    # A Markov chain over four tokens; merges (a, b) -> 4 and (4, c) -> 5. With the merged
    # tokens given their exact probabilities (p(a) p(b|a), p(a) p(b|a) p(c|b)), removing the
    # split mass must leave a distribution that sums to one before any renormalisation: p(a)
    # becomes "a, then not b", p(ab) "ab, then not c".
    gen = torch.Generator().manual_seed(0)
    first = torch.softmax(torch.randn(4, generator=gen, dtype=torch.float64), -1)
    trans = torch.softmax(torch.randn(4, 4, generator=gen, dtype=torch.float64), -1)
    a, b, c = 0, 1, 2
    p_ab = first[a] * trans[a, b]
    p_abc = p_ab * trans[b, c]
    logits = torch.log(torch.cat([first, torch.stack([p_ab, p_abc])]))
    merges = [(a, b, 9), (4, c, 3)]
    got = merged_log_softmax(logits, merges, 4).exp()
    want = torch.cat([first, torch.stack([p_ab, p_abc])])
    want[a] = first[a] - p_ab
    want[4] = p_ab - p_abc
    assert float(want.sum()) == pytest.approx(1.0, abs=1e-12)
    assert torch.allclose(got, want, atol=1e-12)
    # plain softmax counts the merged mass twice
    assert float(torch.softmax(logits, -1)[3]) < float(got[3])
    # without merges: the plain log-softmax; batched leading dimensions work alike
    plain = torch.randn(3, 5, 6, generator=gen)
    assert torch.allclose(merged_log_softmax(plain, [], 6),
                          torch.log_softmax(plain.double(), -1))
    batched = merged_log_softmax(logits.expand(2, 3, 6), merges, 4)
    assert torch.allclose(batched, got.log().expand(2, 3, 6), atol=1e-12)


def test_merged_log_softmax_keeps_a_floor() -> None:
    # a merged row that claims more than its left part leaves the left part floor * p(a)
    logits = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)  # p(ab) > p(a)
    out = merged_log_softmax(logits, [(0, 1, 5)], 2, floor=0.01).exp()
    p = torch.softmax(logits, -1)
    kept = torch.tensor([0.01 * p[0], p[1], p[2]])
    assert torch.allclose(out, kept / kept.sum(), atol=1e-12)
    assert float(out.sum()) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def test_cli_merge(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from toktool.cli import app

    path = tmp_path / "text.txt"
    path.write_text(corpus()["en"][:30_000], encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["merge", "--tokenizer", "smollm2", "--max-merges", "7",
                              "--seq-len", "256", str(path)])
    assert out.exit_code == 0, out.output
    assert "before:" in out.output and "after:" in out.output
    assert "with 7 merges" in out.output and "merges (7 of 7)" in out.output
    out = runner.invoke(app, ["merge", "-t", "cl100k", "--saturate", "--json", "-b", "word",
                              str(path)])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["tokens_after"] == summary["saturation"] == summary["word_level"]
    out = runner.invoke(app, ["merge", "-b", "nope", str(path)])
    assert out.exit_code == 2
    zh = tmp_path / "zh.txt"
    zh.write_text(corpus()["zh-cn"][:20_000], encoding="utf-8")
    out = runner.invoke(app, ["merge", "--whole-chars", "--json", "--show", "-1", str(zh)])
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output)["merges"]
    assert len(shown) == 100 and all("\ufffd" not in m["text"] for m in shown)
    if importlib.util.find_spec("transformers") is not None:
        prompts = tmp_path / "prompts.txt"
        prompts.write_text("Die Internationalisierung der Softwareentwicklung ist\n\n"
                           "The capital of France is\n", encoding="utf-8")
        out = runner.invoke(app, ["merge", str(prompts), "--generate", "4", "--saturate"])
        assert out.exit_code == 0, out.output
        lines = out.output.splitlines()
        assert lines[0].startswith("2 prompts, ") and "embedded by FVT" in lines[0]
        counts = [int(line.split("(")[1].split()[0]) for line in lines if "tokens):" in line]
        assert len(counts) == 4 and counts[1] < counts[0]  # the German prompt got shorter
        out = runner.invoke(app, ["merge", str(prompts), "--generate", "4", "--saturate",
                                  "--fit-steps", "2", "--fit-min-count", "1"])
        assert out.exit_code == 0, out.output
        assert "input rows fitted on the prompts (2 steps)" in out.output.splitlines()[0]
        empty = tmp_path / "empty.txt"
        empty.write_text("\n\n", encoding="utf-8")
        assert runner.invoke(app, ["merge", str(empty), "--generate", "4"]).exit_code == 2
    out = runner.invoke(app, ["merge", str(tmp_path / "missing.txt")])
    assert out.exit_code == 2


def test_whole_chars_merges_spell_whole_characters() -> None:
    tok = load("smollm2")
    text = corpus()["zh-cn"]
    batch = token_windows(tok.encode(text[len(text) // 2 :]), 256, 8)

    def whole(result: toktool.MergeResult, k: int) -> bool:
        try:
            result.token_bytes(tok, tok.vocab_size + k).decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    free = merge_batch(batch, tok, 200)
    assert not all(whole(free, k) for k in range(free.n_merges))  # the option matters here
    kept = merge_batch(batch, tok, 200, whole_chars=True)
    assert kept.n_merges == 200 and all(whole(kept, k) for k in range(kept.n_merges))
    assert [tok.decode_bytes(kept.expand(s)) for s in kept.ids] == [
        tok.decode_bytes(s) for s in batch]
    # the same merges, found by the paper's loop over the pairs that spell whole characters
    ids, _, merges = reference_merge(batch[:3], units_of(batch[:3], tok), tok.vocab_size, 60,
                                     spell=tok.token_bytes)
    small = merge_batch(batch[:3], tok, 60, whole_chars=True)
    assert merges == small.merges and ids == small.ids
    assert [r.merges for r in toktool.merge_batches([batch, batch[:4]], tok, 50,
                                                    whole_chars=True)] == [
        merge_batch(batch, tok, 50, whole_chars=True).merges,
        merge_batch(batch[:4], tok, 50, whole_chars=True).merges]

