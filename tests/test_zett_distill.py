"""Output distillation of the ZeTT hypernetwork (a tied model's output side trained on the LM's
cached hidden states), on the tiny LM of :func:`toktool.testing.tiny_causal_lm`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import toktool  # noqa: E402
from toktool.zett.distill import (  # noqa: E402
    OutputConfig,
    boundary_targets,
    cache_hidden_states,
    calibrate_output_prior,
    held_out_loss,
    load_hidden_states,
    save_hidden_states,
    train_output,
)
from toktool.zett.model import HypernetConfig, load_hypernet, save_hypernet  # noqa: E402
from toktool.zett.sampler import sample_tokenizer  # noqa: E402
from toktool.zett.train import FrozenLM, TrainConfig, text_chunks, train  # noqa: E402


def _tok(path: Path) -> toktool.Tokenizer:
    return toktool.Tokenizer.from_file(path / "tokenizer.json")


def _lm(path: Path) -> FrozenLM:
    from toktool.hf import load_causal_lm

    return FrozenLM(load_causal_lm(path))


def _texts(n: int = 48) -> list[str]:
    from toktool import artifacts

    return text_chunks(artifacts.stdlib_corpus(400_000), 384)[:n]


@pytest.fixture(scope="module")
def cache(tiny_dir: Path):
    return cache_hidden_states(_lm(tiny_dir), _tok(tiny_dir), _texts(), progress=False)


def test_cached_states_are_the_lms_own_next_token_states(tiny_dir: Path, cache) -> None:
    lm, tok = _lm(tiny_dir), _tok(tiny_dir)
    assert cache.states.shape == (int(cache.offsets[-1]), lm.hidden_size)
    for j in (0, 7):
        text = cache.texts[j]
        ids = tok.encode(text)
        begin, end = int(cache.offsets[j]), int(cache.offsets[j + 1])
        assert end - begin == len(ids)
        # the byte offsets spell the text token by token
        raw = text.encode()
        for k, i in enumerate(ids):
            at = int(cache.starts[begin + k])
            assert raw[at : at + len(tok.token_bytes(i))] == tok.token_bytes(i)
        # the cached state scores the next token exactly as the LM does on this text alone
        emb = lm.input_embeddings
        seq = torch.tensor([ids])
        inputs = torch.cat([emb[lm.bos_id].view(1, 1, -1), emb[seq][:, :-1]], dim=1)
        with torch.no_grad():
            hidden = lm.hidden(inputs, torch.ones_like(seq))[0]
        assert torch.allclose(hidden, cache.states[begin:end], atol=1e-4)


def test_cache_roundtrip_and_refusal(cache, tmp_path: Path) -> None:
    path = tmp_path / "hidden.safetensors"
    save_hidden_states(cache, path)
    again = load_hidden_states(path)
    assert torch.equal(again.states, cache.states)
    assert again.texts == cache.texts and np.array_equal(again.starts, cache.starts)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["texts"][0] += "x"
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(toktool.CheckpointError, match="do not match"):
        load_hidden_states(path)


def test_boundary_targets_are_sampled_tokens_at_original_boundaries(tiny_dir: Path, cache) -> None:
    tok = _tok(tiny_dir)
    texts = [0, 3, 5]
    sampled = sample_tokenizer(tok, [cache.texts[i] for i in texts], 600, seed=1)
    rows, targets = boundary_targets(cache, texts, sampled)
    assert len(rows) == len(targets) > 0
    n_sampled = sum(len(sampled.ids[j]) for j in range(len(texts)))
    assert len(rows) <= n_sampled
    for row, target in zip(rows.tolist(), targets.tolist()):
        j = int(np.searchsorted(cache.offsets, row, side="right")) - 1
        raw = cache.texts[j].encode()
        at = int(cache.starts[row])
        piece = bytes(sampled.vocab[target])
        assert raw[at : at + len(piece)] == piece
    # a brute-force count of the aligned positions agrees
    lengths = [len(b) for b in sampled.vocab]
    expected = 0
    for j, text in enumerate(texts):
        at, starts = 0, set(cache.starts[cache.offsets[text] : cache.offsets[text + 1]].tolist())
        for i in sampled.ids[j].tolist():
            expected += at in starts
            at += lengths[i]
    assert expected == len(rows)


def test_output_tower_starts_at_fvt_and_checkpoints(tiny_dir: Path, tmp_path: Path) -> None:
    lm = _lm(tiny_dir)
    hn = lm.new_hypernet(num_layers=1, max_length=6, residual="mean", output_tower=True)
    ids = torch.tensor([[5, 9, -1], [17, -1, -1]])
    rows_in, rows_out = hn(ids)
    emb = lm.input_embeddings
    fvt = torch.stack([(emb[5] + emb[9]) / 2, emb[17]])
    assert torch.allclose(rows_in, fvt, atol=1e-6)
    assert torch.allclose(rows_out, fvt, atol=1e-6)  # logit_direction is zero until distilled
    with torch.no_grad():
        hn.output_tower.logit_direction.fill_(0.5)
    _, shifted = hn(ids)
    assert torch.allclose(shifted[1], fvt[1], atol=1e-6)  # one part: no length shift
    with torch.no_grad():
        hn.output_tower.head.bias.normal_()
    assert torch.equal(hn(ids)[1][1], emb[17])  # nor a correction: one part is the original
    with torch.no_grad():
        hn.output_tower.head.bias.zero_()
    assert torch.allclose(shifted[0], fvt[0] - 2.0 * 0.5, atol=1e-5)
    nothing, only = hn.predict(ids.numpy(), np.array([2, 1]), output_only=True)
    assert nothing is None and torch.allclose(only, shifted, atol=1e-6)
    with pytest.raises(toktool.InvalidInputError, match="output tower"):
        lm.new_hypernet(num_layers=1, max_length=6).predict(ids.numpy(), np.array([2, 1]),
                                                           output_only=True)
    save_hypernet(hn, tmp_path / "hn")
    again = load_hypernet(tmp_path / "hn", lm.input_embeddings)
    assert again.config.output_tower
    assert torch.allclose(again(ids)[1], shifted, atol=1e-6)
    with pytest.raises(toktool.InvalidInputError, match="tied"):
        HypernetConfig(hidden_size=8, original_vocab_size=10, tied=False, output_tower=True)


def test_distillation_lowers_the_held_out_loss_and_leaves_inputs(tiny_dir: Path, cache) -> None:
    lm, tok = _lm(tiny_dir), _tok(tiny_dir)
    torch.manual_seed(0)
    hn = lm.new_hypernet(num_layers=1, max_length=6, residual="mean", output_tower=True)
    before_in = {k: v.clone() for k, v in hn.state_dict().items() if not k.startswith("output")}
    config = OutputConfig(steps=40, texts_per_step=16, positions=1024, vocab_size=600, lr=2e-3,
                          warmup=5, eval_every=20, holdout=0.2, vocab_from="batch",
                          trainable="all")
    fvt = held_out_loss(hn, tok, cache, config)
    prior = calibrate_output_prior(hn, tok, cache, vocab_size=600, positions=2000, holdout=0.2)
    losses = prior["losses"]
    assert prior["length_bias"] == min(losses, key=lambda v: losses[v]) and len(losses) == 9
    assert float(hn.output_tower.length_bias) == prior["length_bias"]
    assert losses[0.0] > min(losses.values())  # one extra part is not worth a free logit
    best: list[tuple[int, float]] = []
    result = train_output(hn, tok, cache, config, progress=False,
                          on_best=lambda step, value: best.append((step, value)))
    after = held_out_loss(hn, tok, cache, config)
    start = result["held_out"][0]  # FVT plus the calibrated length prior
    assert start < fvt, (fvt, start)
    assert after < start - 0.05, (fvt, start, after)
    assert best[0][0] == 0 and best[-1][1] == min(result["held_out"].values())
    assert float(hn.output_tower.logit_direction.abs().sum()) > 0
    for k, v in hn.state_dict().items():
        if k in before_in:
            assert torch.equal(v, before_in[k]), k


def test_prior_head_starts_at_the_length_prior_and_only_it_trains(tiny_dir: Path,
                                                                 cache) -> None:
    lm, tok = _lm(tiny_dir), _tok(tiny_dir)
    torch.manual_seed(0)
    plain = lm.new_hypernet(num_layers=1, max_length=6, residual="mean", output_tower=True)
    hn = lm.new_hypernet(num_layers=1, max_length=6, residual="mean", output_tower=True,
                         output_prior_head=True)
    hn.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        for h in (plain, hn):
            h.output_tower.logit_direction.fill_(0.25)
    ids = torch.tensor([[5, 9, -1], [17, -1, -1], [3, 4, 8]])
    assert torch.equal(hn(ids)[1], plain(ids)[1])  # zero-initialised: the length prior alone
    with torch.no_grad():
        hn.output_tower.prior_head.bias.fill_(-2.0)
    moved = hn(ids)[1]
    assert torch.allclose(moved[0], plain(ids)[1][0] - 2.0 * 0.25, atol=1e-5)
    assert torch.equal(moved[1], lm.input_embeddings[17])  # one part: the original row
    with torch.no_grad():
        hn.output_tower.prior_head.bias.zero_()
    config = OutputConfig(steps=40, texts_per_step=16, positions=1024, vocab_size=600, lr=2e-3,
                          warmup=5, eval_every=20, holdout=0.2)
    assert (config.vocab_from, config.trainable) == ("pool", "prior")  # the defaults
    calibrate_output_prior(hn, tok, cache, vocab_size=600, positions=2000, holdout=0.2)
    before = {k: v.clone() for k, v in hn.state_dict().items()}
    result = train_output(hn, tok, cache, config, progress=False)
    assert min(result["held_out"].values()) < result["held_out"][0] - 0.02, result["held_out"]
    after = hn.state_dict()
    assert not torch.equal(after["output_tower.prior_head.weight"],
                           before["output_tower.prior_head.weight"])
    for k, v in after.items():  # the vector correction stays zero, the input side as it was
        if k.startswith("output_tower.head.") or not k.startswith("output_tower."):
            assert torch.equal(v, before[k]), k
    with pytest.raises(toktool.InvalidInputError, match="prior head"):
        train_output(plain, tok, cache, config, progress=False)
    with pytest.raises(toktool.InvalidInputError, match="vocab_from"):
        OutputConfig(vocab_from="text")
    with pytest.raises(toktool.InvalidInputError, match="output_tower"):
        HypernetConfig(hidden_size=8, original_vocab_size=10, output_prior_head=True)


def test_pool_vocabulary_segments_the_step_texts_with_one_pool_wide_vocabulary(
        tiny_dir: Path, cache) -> None:
    from toktool.zett.distill import _step_batch

    tok = _tok(tiny_dir)
    config = OutputConfig(vocab_size=600)
    texts = np.array([3, 11, 20])
    pool = np.arange(len(cache))
    rows, targets, parts = _step_batch(tok, cache, texts, config, 7, 6, pool)
    whole = sample_tokenizer(tok, list(cache.texts), 600, seed=7)
    assert len(parts.lengths) == len(whole.vocab)  # the vocabulary of the whole pool
    expect_rows, expect_targets = boundary_targets(
        cache, [3, 11, 20], type(whole)(vocab=whole.vocab, scores=whole.scores,
                                        ids=[whole.ids[3], whole.ids[11], whole.ids[20]]))
    assert np.array_equal(rows, expect_rows) and np.array_equal(targets, expect_targets)
    assert set(rows.tolist()) <= set(range(int(cache.offsets[3]), int(cache.offsets[21])))


def test_train_runs_output_distillation_and_resumes(tiny_dir: Path, tmp_path: Path) -> None:
    from toktool.hf import load_causal_lm

    config = TrainConfig(steps=0, num_layers=1, max_length=6, residual="mean",
                         reconstruct_steps=10, reconstruct_batch=32, save_every=10,
                         output_tower=True, output_steps=20, output_texts=24,
                         output_vocab_size=600)
    corpus = _texts(60)
    result = train(load_causal_lm(tiny_dir), _tok(tiny_dir), corpus, config, tmp_path / "run",
                   progress=False)
    out = result.reconstruction["output"]
    assert out["output_step"] == 20 and out["cached_texts"] == 24
    assert (tmp_path / "run" / "hidden.safetensors").exists()
    meta = json.loads((tmp_path / "run" / "checkpoint" / "hypernet.json").read_text())
    assert meta["config"]["output_tower"] is True
    hn = _lm(tiny_dir).load_hypernet(tmp_path / "run" / "checkpoint")
    best = _lm(tiny_dir).load_hypernet(tmp_path / "run" / "output-best")
    for (name, a), (_, b) in zip(hn.state_dict().items(), best.state_dict().items()):
        assert torch.equal(a, b), name  # the run ends with its best held-out step
    # a different setting is refused on resume
    assert out["prior"]["length_bias"] in out["prior"]["losses"]
    with pytest.raises(toktool.CheckpointError, match="output_tower"):
        train(load_causal_lm(tiny_dir), _tok(tiny_dir), corpus,
              TrainConfig(steps=0, num_layers=1, max_length=6, residual="mean"),
              tmp_path / "run", progress=False)


def test_converted_model_with_an_output_tower_is_untied(tiny_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from toktool.testing import train_byte_level_bpe
    from toktool.zett.transfer import convert_model

    lm = _lm(tiny_dir)
    torch.manual_seed(1)
    hn = lm.new_hypernet(num_layers=1, max_length=8, residual="mean", output_tower=True)
    with torch.no_grad():
        hn.output_tower.logit_direction.normal_()
        hn.output_tower.head.bias.normal_()
    path = save_hypernet(hn, tmp_path / "hn")
    out = tmp_path / "converted"
    new = tmp_path / "new.json"
    new.write_text(train_byte_level_bpe(_texts(200), 700, ["<|endoftext|>"]))
    transfer = convert_model(tiny_dir, new, out, method="hypernet", hypernet_path=path)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not model.config.tie_word_embeddings
    emb_in = model.get_input_embeddings().weight
    emb_out = model.get_output_embeddings().weight
    assert torch.allclose(emb_in, transfer.input_rows, atol=1e-6)
    assert torch.allclose(emb_out, transfer.output_rows, atol=1e-6)
    assert not torch.allclose(emb_in, emb_out)


def test_cli_trains_the_output_tower(tiny_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from toktool.cli.app import app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k, text in enumerate(_texts(80)):
        (corpus / f"{k}.py").write_text(text)
    res = CliRunner().invoke(app, [
        "zett", "train", "--model", str(tiny_dir), "--corpus", str(corpus),
        "--out", str(tmp_path / "hn"), "--layers", "1", "--reconstruct-steps", "5",
        "--output-steps", "6", "--output-texts", "60"])  # --output-tower: on (tied)
    assert res.exit_code == 0, res.output
    assert "output distillation, held-out loss" in res.output
    assert "length prior" in res.output
    meta = json.loads((tmp_path / "hn" / "checkpoint" / "hypernet.json").read_text())
    assert meta["config"]["output_tower"] and meta["train"]["output_steps"] == 6
    assert meta["config"]["output_prior_head"] and meta["train"]["output_trainable"] == "prior"
    assert meta["train"]["output_vocab_from"] == "pool"
    help_text = CliRunner().invoke(app, ["zett", "train", "--help"]).output
    assert "--output-steps" in help_text


def test_phase_checkpoint_of_another_shape_is_refused(tiny_dir: Path, tmp_path: Path) -> None:
    from toktool.hf import load_causal_lm

    corpus = _texts(60)
    base = dict(steps=0, num_layers=1, max_length=6, residual="mean", reconstruct_steps=10,
                reconstruct_batch=32, save_every=10, output_tower=True, output_texts=24,
                output_vocab_size=600)
    train(load_causal_lm(tiny_dir), _tok(tiny_dir), corpus,
          TrainConfig(**base, output_steps=0), tmp_path / "run", progress=False)
    import shutil

    shutil.rmtree(tmp_path / "run" / "checkpoint")  # as if stopped after phase 1
    # phase 1 again from its checkpoint, now with a prior head: refused by name, not a torch error
    with pytest.raises(toktool.CheckpointError, match="another hypernetwork shape"):
        train(load_causal_lm(tiny_dir), _tok(tiny_dir), corpus,
              TrainConfig(**base, output_steps=5), tmp_path / "run", progress=False)
    with pytest.raises(toktool.InvalidInputError, match="trainable"):
        train(load_causal_lm(tiny_dir), _tok(tiny_dir), corpus,
              TrainConfig(**base, output_steps=5, output_trainable="head"), tmp_path / "r2",
              progress=False)


def test_cli_corpus_names_cover_every_debian_language() -> None:
    from toktool import artifacts
    from toktool.cli.zett import read_corpus

    docs = artifacts.multilingual_corpus()
    assert read_corpus(["debian-ja"]) == [docs["ja"]]
    assert read_corpus(["debian"]) == list(docs.values())
    with pytest.raises(toktool.InvalidInputError, match="zh-cn"):
        read_corpus(["debian-klingon"])
