"""ByteLM on real tokenizers (byte-level BPE and SentencePiece byte fallback) and SmolLM2.

The slow reference finds covers by re-encoding: (j, t) is a cover of y when
encode(y[:j] + bytes(t)) == encode(y[:j]) + [t]. Every reference cover must be among toktool's
(toktool also finds covers that need text after them, e.g. a lone space token before a char
that does not merge with it).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import toktool
from toktool import artifacts

PROMPTS = [b"def fibon", b"import o", b"x = 12", b"hello wor", b"caf\xc3", b"na\xc3\xafve ca", b"a  ",
           b"it'", b"don't", b"y = 1234"]


def internal_encode(tok: toktool.Tokenizer, y: bytes) -> list[int] | None:
    imp = tok.implicit_prefix
    if not y.startswith(imp):
        return None
    try:
        text = y[len(imp):].decode()
    except UnicodeDecodeError:
        return None
    ids = tok.encode(text)
    return ids if b"".join(tok.token_bytes(i) for i in ids) == y else None


def reference_covers(tok: toktool.Tokenizer, search: toktool.CoverSearch, y: bytes,
                     boundary: int) -> set[tuple[int, ...]]:
    found = set()
    for j in range(boundary, len(y)):
        head = internal_encode(tok, y[:j])
        if head is None:
            continue
        for t in search.tokens_with_prefix(y[j:]):
            whole = internal_encode(tok, y[:j] + tok.token_bytes(t))
            if whole == head + [t]:
                found.add(tuple(whole))
    return found


@functools.lru_cache(maxsize=None)
def loaded(name: str) -> tuple[toktool.Tokenizer, toktool.CoverSearch]:
    tok = toktool.Tokenizer.from_file(artifacts.tokenizer_json(name))
    return tok, toktool.CoverSearch(tok)


@pytest.mark.parametrize("name", ["smollm2", "cl100k", "o200k", "llama3", "mistral-sp"])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_reference_covers_are_found(name: str, prompt: bytes) -> None:
    tok, search = loaded(name)
    y = tok.implicit_prefix + prompt
    c = search.covers(y)
    ours = {tuple(c.head) + tuple(g.prefix) + (t,) for g in c.groups for t in g.last}
    ours |= {tuple(c.head) + tuple(e) for e in c.exact}
    ref = reference_covers(tok, search, y, c.boundary)
    assert ref, "the reference finds covers for every prompt here"
    assert ref <= ours
    for cover in ours:  # every cover's bytes reach the end of y and start with it
        b = b"".join(tok.token_bytes(t) for t in cover)
        assert b.startswith(y) and len(b) - len(tok.token_bytes(cover[-1])) < len(y)


class UniformLM:
    def __init__(self, vocab: int):
        self.vocab = vocab

    def __call__(self, contexts):  # type: ignore[no-untyped-def]
        return np.full((len(contexts), self.vocab), -math.log(self.vocab))


@pytest.mark.parametrize("name", ["smollm2", "mistral-sp"])
def test_distribution_is_normalized_mid_character(name: str) -> None:
    tok, _ = loaded(name)
    blm = toktool.ByteLM(UniformLM(tok.vocab_size), tok)
    p = np.exp(blm.next_byte_logprobs(b"caf\xc3"))
    assert abs(p.sum() - 1) < 1e-9
    # after a UTF-8 lead byte only continuation bytes can follow
    assert p[:0x80].sum() < 1e-12 and p[0xC0:].sum() < 1e-12


@pytest.fixture(scope="module")
def smollm2():  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    from toktool.hf import HFTokenLM, load_causal_lm

    model = load_causal_lm("smollm2")
    tok, _ = loaded("smollm2")
    return tok, HFTokenLM(model)


def test_real_model_scores_against_reference_covers(smollm2) -> None:  # type: ignore[no-untyped-def]
    from toktool.bytes import score_sequence

    tok, lm = smollm2
    blm = toktool.ByteLM(lm, tok, eos_id=0, negligible=0)
    for prompt in [b"def fibon", b"import o"]:
        c = blm._search.covers(prompt)
        ref = reference_covers(tok, blm._search, prompt, c.boundary)
        ref_lp = float(np.logaddexp.reduce([score_sequence(lm, list(cv)) for cv in ref]))
        ours = blm.prefix_logprob(prompt)
        assert ours >= ref_lp - 1e-9  # a superset of the reference covers
        assert ours - ref_lp < 0.05  # the extra covers carry little mass


def test_real_model_after_a_chat_context_against_reference_covers(smollm2) -> None:  # type: ignore[no-untyped-def]
    """P(reply bytes | ChatML context) equals the reference covers' mass, each cover scored after
    the context; greedy exact decoding after the context follows that distribution."""
    from toktool.bytes import chat_context, score_sequence

    tok, lm = smollm2
    blm = toktool.ByteLM(lm, tok, eos_id=0, negligible=0)
    ctx = chat_context(tok, [("system", "Answer in one sentence."),
                             ("user", "What is the capital of France?")])
    prompt = b"The capital of France is Par"
    c = blm._search.covers(prompt)
    ref = reference_covers(tok, blm._search, prompt, c.boundary)
    base = score_sequence(lm, ctx)
    ref_lp = float(np.logaddexp.reduce([score_sequence(lm, ctx + list(cv)) - base for cv in ref]))
    ours = blm.prefix_logprob(prompt, context=ctx)
    assert ours >= ref_lp - 1e-9
    assert ours - ref_lp < 0.05
    # the context matters: without it the same bytes have another probability
    assert abs(blm.prefix_logprob(prompt) - ours) > 0.1
    logp = blm.next_byte_logprobs(prompt, context=ctx)
    out = blm.generate(prompt, max_bytes=3, temperature=0, context=ctx)
    assert out[:1] == bytes([int(np.argmax(logp))])
    assert out.startswith(b"is")  # "The capital of France is Par" + "is"


def test_real_model_prefers_the_right_completion(smollm2) -> None:  # type: ignore[no-untyped-def]
    tok, lm = smollm2
    blm = toktool.ByteLM(lm, tok, eos_id=0)
    logp = blm.next_byte_logprobs(b"def fibon")
    assert int(np.argmax(logp)) == ord("a")
    assert abs(np.exp(logp).sum() - 1) < 1e-9
    # naive prompting: the canonical tokens of "def fibon" end in a token boundary that the
    # model rarely saw; the exact next-byte distribution is far more confident
    assert math.exp(logp[ord("a")]) > 0.5


def test_real_model_lazy_greedy_same_bytes_fewer_forwards(smollm2) -> None:  # type: ignore[no-untyped-def]
    # Greedy with lazy rows against greedy that fetches every cover's row at every byte: the
    # same bytes after prompts cut mid-token, in fewer forward passes.
    tok, lm = smollm2
    lazy = toktool.ByteLM(lm, tok, eos_id=0)
    eager = toktool.ByteLM(lm, tok, eos_id=0, lazy_rows=False)
    prompts = [b"def fibon", b"import o", b"    for i in ran", b"The capital of France is Par"]
    outs: dict[str, list[bytes]] = {}
    forwards: dict[str, int] = {}
    for name, blm in (("lazy", lazy), ("eager", eager)):
        f0 = lm.forward_calls
        outs[name] = []
        for p in prompts:
            lm.reset()
            outs[name].append(blm.generate(p, max_bytes=12, temperature=0, stop=[b"\n"]))
        forwards[name] = lm.forward_calls - f0
    assert outs["lazy"] == outs["eager"]
    assert outs["lazy"][0].startswith(b"acci")
    assert forwards["lazy"] < forwards["eager"]


def random_cuts(n: int, seed: int) -> list[bytes]:
    """The last few bytes before random cut points of stdlib sources and the multilingual guide
    (indentation, digits, apostrophes, punctuation runs, non-Latin scripts)."""
    import random

    rng = random.Random(seed)
    texts = [t.encode() for t in artifacts.stdlib_corpus(max_bytes=400_000)]
    texts += [t.encode() for t in artifacts.multilingual_corpus().values()]
    out = []
    while len(out) < n:
        doc = rng.choice(texts)
        if len(doc) < 64:
            continue
        cut = rng.randrange(16, len(doc))
        out.append(doc[cut - rng.randrange(1, 16):cut])
    return out


@pytest.mark.parametrize("name", ["smollm2", "cl100k", "o200k", "llama3", "claude", "tekken",
                                  "mistral-sp"])
def test_valid_among_matches_the_unlocalized_reference(name: str) -> None:
    """valid_among (localized to the last certain pre-token, answers remembered, the fast
    pairwise check where the tokenizer allows it) must give the same answer as valid_next
    (every token checked with full encodes of every probe on the whole tail), asked twice so
    that the second answer comes from the memo. Hand-picked tails plus random cuts of real
    text, some of them inside a UTF-8 character."""
    tok, _ = loaded(name)
    search = toktool.CoverSearch(tok)
    everything = list(range(tok.vocab_size))
    localized = 0
    for prompt in [b"value, c", b"    def add_key", b"x = foo(", b"a  ", b"it'", b"foo.\n",
                   b"caf\xc3\xa9 ", b"na\xc3\xafve ca", b"x = 12", b"don'", b"\n\n    ",
                   # whitespace after whitespace: `\s*[\r\n]+` swallows runs (o200k, Llama 3)
                   b"x\n", b"a \n", b"x\n\n", b"(x)\r\n", b"x\t",
                   # contractions after a word (o200k attaches them)
                   b"it", b"x = I", b"x'l", b"we'v", b"they'r",
                   *random_cuts(5, seed=sum(name.encode()))]:
        y = tok.implicit_prefix + prompt
        c = search.covers(y, validate=False)
        tail, at_start = y[c.boundary:], c.boundary == 0
        for ids in c.exact:
            reference = search.valid_next(tail, ids, at_start)
            for _ in range(2):
                np.testing.assert_array_equal(
                    search.valid_among(tail, ids, at_start, everything), reference,
                    err_msg=f"{name} {y!r} {ids}")
            localized += len(ids) > 1
    assert localized > 3  # several questions had a prefix with an inner boundary to localize at
