"""Reconstruction pretraining of the ZeTT hypernetwork (the original vocabulary as solved
composition examples), on the tiny LM of :func:`toktool.testing.tiny_causal_lm`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import toktool  # noqa: E402
from toktool.zett.reconstruct import (  # noqa: E402
    ReconConfig,
    held_out_ids,
    identity_rows,
    reconstruction_metrics,
    row_weights,
    split_rows,
    token_decompositions,
    train_reconstruction,
)
from toktool.zett.train import FrozenLM, TrainConfig, train  # noqa: E402


def _tok(path: Path) -> toktool.Tokenizer:
    return toktool.Tokenizer.from_file(path / "tokenizer.json")


def _lm(path: Path) -> FrozenLM:
    from toktool.hf import load_causal_lm

    return FrozenLM(load_causal_lm(path))


@pytest.mark.parametrize("name", ["smollm2", "cl100k"])
def test_decompositions_spell_the_token_with_smaller_tokens(name: str) -> None:
    tok = toktool.load_tokenizer(name)
    vocab = tok.all_token_bytes()
    ids = list(range(0, tok.vocab_size, 37))
    rows = token_decompositions(tok, cuts_per_token=3, max_length=8, seed=1, token_ids=ids)
    assert len(rows) > len(ids)  # several granularities per token
    assert set(np.unique(rows.kinds)) == {0, 1}
    for r in range(len(rows)):
        parts = rows.ids[r, : rows.lengths[r]]
        assert 2 <= len(parts) <= 8 and (rows.ids[r, rows.lengths[r]:] == -1).all()
        target = int(rows.targets[r])
        assert target not in parts.tolist()
        assert b"".join(vocab[int(i)] for i in parts) == vocab[target]


def test_holdout_is_a_fixed_share_of_ids() -> None:
    held = held_out_ids(49152, 0.05)
    assert 0.04 < held.mean() < 0.06
    assert (held == held_out_ids(49152, 0.05)).all()


def test_reconstruction_loss_falls_and_held_out_beats_fvt(tiny_dir: Path) -> None:
    lm = _lm(tiny_dir)
    tok = _tok(tiny_dir)
    torch.manual_seed(0)
    hn = lm.new_hypernet(num_layers=1, residual="mean", max_length=6)
    config = ReconConfig(steps=150, batch_size=64, lr=2e-3, warmup=10, holdout=0.1)
    result = train_reconstruction(hn, tok, config, progress=False)
    losses = result["losses"]
    assert len(losses) == 150 and np.isfinite(losses).all()
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    before, after = result["held_out_before"], result["held_out_after"]
    assert before["hypernet_cos"] == pytest.approx(before["fvt_cos"], abs=1e-5)  # FVT at init
    assert after["hypernet_cos"] > after["fvt_cos"]
    assert after["hypernet_mse"] < after["fvt_mse"]
    # held-out rows are never among the training rows' targets
    rows = token_decompositions(tok, max_length=6, seed=config.seed)
    tr, he = split_rows(rows, lm.vocab_size, config.holdout)
    assert not set(tr.targets.tolist()) & set(he.targets.tolist())
    measured = reconstruction_metrics(hn, he)
    assert measured == pytest.approx({k: after[k] for k in measured})
    # the held-out identity rows (a token predicted from itself) are scored too
    assert 0.0 < after["identity_cos"] <= 1.0 + 1e-6 and after["identity_mse"] >= 0.0


def test_train_runs_the_reconstruction_phase_first_and_resumes(tiny_dir: Path,
                                                               tmp_path: Path) -> None:
    from toktool.hf import load_causal_lm
    from toktool.zett.decompose import decompose_vocab

    config = TrainConfig(steps=0, num_layers=1, max_length=6, residual="mean",
                         reconstruct_steps=30, reconstruct_batch=32, save_every=10)
    corpus = ["def f(x):\n    return x + 1\n" * 40]
    train(load_causal_lm(tiny_dir), _tok(tiny_dir), corpus, config, tmp_path / "run",
          progress=False)
    meta = json.loads((tmp_path / "run" / "reconstruct" / "hypernet.json").read_text())
    assert meta["reconstruct_step"] == 30
    assert json.loads((tmp_path / "run" / "checkpoint" / "hypernet.json").read_text())["step"] == 0
    lm = _lm(tiny_dir)
    hn = lm.load_hypernet(tmp_path / "run" / "checkpoint")
    parts = decompose_vocab(_tok(tiny_dir), _tok(tiny_dir), max_len=6)
    # no longer FVT: the correction head was trained
    assert any(float(p.abs().sum()) > 0 for p in hn.head.parameters())
    # an interrupted phase 1 resumes from OUT/reconstruct: same weights as an uninterrupted run
    import toktool.zett.reconstruct as recon

    real, calls = recon.reconstruction_loss, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 15:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    recon.reconstruction_loss = failing
    try:
        with pytest.raises(KeyboardInterrupt):
            train(load_causal_lm(tiny_dir), _tok(tiny_dir), corpus, config, tmp_path / "half",
                  progress=False)
    finally:
        recon.reconstruction_loss = real
    assert not (tmp_path / "half" / "checkpoint").exists()
    half = json.loads((tmp_path / "half" / "reconstruct" / "hypernet.json").read_text())
    assert half["reconstruct_step"] == 10
    train(load_causal_lm(tiny_dir), _tok(tiny_dir), corpus, config, tmp_path / "half",
          progress=False)
    resumed = lm.load_hypernet(tmp_path / "half" / "checkpoint")
    for (name, a), (_, b) in zip(hn.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-5), name
    assert parts.ids.shape[1] == 6


def test_identity_rows_are_every_plain_token_as_its_own_part() -> None:
    tok = toktool.load_tokenizer("smollm2")
    rows = identity_rows(tok, max_length=8)
    specials = set(int(i) for i in tok.special_tokens.values())
    vocab = tok.all_token_bytes()
    expected = [i for i, b in enumerate(vocab) if b and i not in specials]
    assert rows.targets.tolist() == expected
    assert (rows.lengths == 1).all() and (rows.kinds == 2).all()
    assert (rows.ids[:, 0] == rows.targets).all() and (rows.ids[:, 1:] == -1).all()
    # single bytes are included: phase 1's other rows never train one-part tokens
    assert any(len(vocab[i]) == 1 for i in rows.targets[:300].tolist())


def test_identity_rows_keep_single_part_tokens_close_to_their_embeddings(tiny_dir: Path) -> None:
    """Without identity rows the correction learnt for compositions also moves one-part
    tokens (the 'floor' of docs/ZETT.md); with them, held-out one-part tokens stay closer."""
    lm, tok = _lm(tiny_dir), _tok(tiny_dir)
    results = {}
    for share in (0.0, 0.25):
        torch.manual_seed(0)
        hn = lm.new_hypernet(num_layers=1, residual="mean", max_length=6)
        config = ReconConfig(steps=80, batch_size=64, lr=2e-3, warmup=10, holdout=0.1,
                             identity_share=share)
        results[share] = train_reconstruction(hn, tok, config, progress=False)
    before = results[0.0]["held_out_before"]
    assert before["identity_mse"] == pytest.approx(0.0, abs=1e-8)  # residual mean: exact at init
    plain, ident = results[0.0]["held_out_after"], results[0.25]["held_out_after"]
    assert ident["identity_mse"] < 0.5 * plain["identity_mse"]
    assert ident["identity_cos"] > plain["identity_cos"]
    # and it still learns the compositions
    assert ident["hypernet_cos"] > ident["fvt_cos"]


def test_identity_share_must_leave_room_for_compositions(tiny_dir: Path) -> None:
    lm, tok = _lm(tiny_dir), _tok(tiny_dir)
    hn = lm.new_hypernet(num_layers=1, residual="mean", max_length=6)
    with pytest.raises(toktool.InvalidInputError, match="identity_share"):
        train_reconstruction(hn, tok, ReconConfig(steps=1, identity_share=1.0), progress=False)


def test_row_weights_follow_the_target_counts() -> None:
    rows = token_decompositions(toktool.load_tokenizer("smollm2"), max_length=8)
    assert row_weights(rows, None, 0.5) is None
    counts = np.zeros(49152, dtype=np.int64)
    counts[rows.targets[0]] = 99
    assert row_weights(rows, counts, 0.0) is None
    w = row_weights(rows, counts, 0.5)
    assert w is not None and w.shape == (len(rows),) and np.isclose(w.sum(), 1.0)
    heavy = rows.targets == rows.targets[0]
    # (99 + 1) ** 0.5 = 10 times the weight of a row whose target was never seen
    assert np.allclose(w[heavy] / w[~heavy].max(), 10.0)
    with pytest.raises(toktool.InvalidInputError):
        row_weights(rows, counts, -1.0)


def test_train_counts_tokens_for_frequency_weighted_reconstruction(tiny_dir: Path) -> None:
    from toktool.zett.train import token_counts

    tok = _tok(tiny_dir)
    texts = ["def f(x):\n    return x + 1\n", "hello world"]
    counts = token_counts(tok, texts)
    assert counts.shape == (tok.vocab_size,)
    expected = np.bincount(np.concatenate([tok.encode(t) for t in texts]),
                           minlength=tok.vocab_size)
    assert np.array_equal(counts, expected)
    config = ReconConfig(steps=3, batch_size=16, frequency_power=1.0, token_counts=counts)
    hypernet = _lm(tiny_dir).new_hypernet(num_layers=1, max_length=6, residual="mean")
    result = train_reconstruction(hypernet, tok, config, progress=False)
    assert len(result["losses"]) == 3 and all(np.isfinite(result["losses"]))
