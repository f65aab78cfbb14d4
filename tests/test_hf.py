"""The transformers adapter (toktool.hf.HFTokenLM) on a tiny random Llama: every row it serves,
from a cache it extended, cropped or branched, equals a forward pass over the whole context
without any cache. Runs on every transformers version pyproject allows
(scripts/test-oldest-transformers.sh runs it on the oldest), with FutureWarning as an error:
a deprecated cache spelling fails here."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from toktool.hf import HFTokenLM  # noqa: E402

VOCAB = 48


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    model.eval()
    return model


def uncached(model: Any, full: list[int]) -> np.ndarray:
    """Next-token log-probs after ``full``, from one cache-free forward pass."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([full]), use_cache=False).logits
    return torch.log_softmax(logits[0, -1].double(), dim=-1).numpy()


def check(lm: HFTokenLM, model: Any, contexts: list[list[int]]) -> None:
    rows = lm(contexts)
    bos = [lm.bos_id] if lm.bos_id is not None else []
    for row, context in zip(rows, contexts):
        np.testing.assert_allclose(row, uncached(model, bos + context), atol=1e-5)


def test_rows_match_uncached_forwards_after_extend_crop_and_branch(tiny_model: Any) -> None:
    lm = HFTokenLM(tiny_model, bos_id=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        check(lm, tiny_model, [[5, 6, 7]])  # fresh cache
        check(lm, tiny_model, [[5, 6, 7, 8, 9]])  # extends it
        check(lm, tiny_model, [[5, 6]])  # served from the cached positions
        check(lm, tiny_model, [[5, 6, 10, 11]])  # crops back to [bos, 5, 6], then extends
        calls = lm.forward_calls
        check(lm, tiny_model, [[5, 6, 12], [5, 6, 13, 14], [5, 6, 15, 16, 17]])  # branches
        assert lm.forward_calls == calls + 1  # one batched forward for all three branches
        check(lm, tiny_model, [[20, 21, 22]])  # nothing shared: a new cache
    assert lm.tokens_processed > 0


def test_score_equals_the_sum_of_uncached_rows(tiny_model: Any) -> None:
    lm = HFTokenLM(tiny_model, bos_id=1)
    ids = [7, 8, 9, 10]
    expected = sum(float(uncached(tiny_model, [1] + ids[:i])[t]) for i, t in enumerate(ids))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        assert abs(lm.score(ids) - expected) < 1e-5


def test_empty_context_without_bos_reads_the_row_after_eos(tiny_model: Any) -> None:
    lm = HFTokenLM(tiny_model)
    row = lm([[]])[0]
    np.testing.assert_allclose(row, uncached(tiny_model, [2]), atol=1e-5)
