"""ZeTT hypernetwork: checkpoints, residual form, bucketing, training, DDP and model transfer.

Everything runs on a tiny Llama-architecture LM trained in seconds on stdlib code
(:func:`toktool.testing.tiny_causal_lm`) and a tiny hypernetwork, on the CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import toktool  # noqa: E402
from toktool.zett.model import (  # noqa: E402
    CheckpointError,
    load_hypernet,
    save_hypernet,
)
from toktool.zett.train import (  # noqa: E402
    Batch,
    FrozenLM,
    TrainConfig,
    VocabPredictor,
    make_batch,
    text_chunks,
    train,
    train_step,
)
from toktool.zett.transfer import convert_model, new_embeddings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def untied_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from toktool.testing import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "untied", steps=20, tied=False)


@pytest.fixture(scope="session")
def new_tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A different byte-level BPE (trained on other text, other specials) to transfer to."""
    from toktool import artifacts
    from toktool.testing import train_byte_level_bpe

    texts = artifacts.stdlib_corpus(1_500_000)[-200:]
    json_text = train_byte_level_bpe(texts, 700, ["<s>", "<|endoftext|>", "<pad>"])
    path = tmp_path_factory.mktemp("newtok") / "tokenizer.json"
    path.write_text(json_text)
    return path


def _lm(path: Path) -> FrozenLM:
    from toktool.hf import load_causal_lm

    return FrozenLM(load_causal_lm(path))


def _tok(path: Path) -> toktool.Tokenizer:
    return toktool.Tokenizer.from_file(path / "tokenizer.json")


def _corpus() -> list[str]:
    from toktool import artifacts

    return artifacts.stdlib_corpus(300_000)


# ------------------------------------------------------------------------------------------------
# the network
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("residual", ["first", "mean"])
@pytest.mark.parametrize("tied", [True, False])
def test_residual_form_copies_single_tokens_at_init(
    tiny_dir: Path, untied_dir: Path, residual: str, tied: bool
) -> None:
    lm = _lm(tiny_dir if tied else untied_dir)
    torch.manual_seed(1)
    hn = lm.new_hypernet(num_layers=2, residual=residual, max_length=4)
    ids = np.array([[5, -1, -1], [17, -1, -1], [300, -1, -1], [5, 9, -1], [7, 8, 9]])
    lengths = np.array([1, 1, 1, 2, 3])
    with torch.no_grad():
        rows_in, rows_out = hn.predict(ids, lengths)
    assert torch.equal(rows_in[:3], lm.input_embeddings[[5, 17, 300]])
    if tied:
        assert rows_out is None
    else:
        assert torch.equal(rows_out[:3], lm.output_embeddings[[5, 17, 300]])
    first = lm.input_embeddings[[5, 7]]
    mean = torch.stack([lm.input_embeddings[[5, 9]].mean(0), lm.input_embeddings[[7, 8, 9]].mean(0)])
    expected = first if residual == "first" else mean
    assert torch.allclose(rows_in[3:], expected, atol=1e-6)


def test_bucketed_prediction_equals_padded_forward(tiny_dir: Path) -> None:
    lm = _lm(tiny_dir)
    torch.manual_seed(2)
    hn = lm.new_hypernet(num_layers=2, residual="none", max_length=5)
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 6, size=40)
    ids = np.full((40, 5), -1)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(0, lm.vocab_size, size=n)
    with torch.no_grad():
        bucketed, _ = hn.predict(ids, lengths, batch_tokens=7)
        padded, _ = hn(torch.as_tensor(ids))
    assert torch.allclose(bucketed, padded, atol=1e-5)


def test_hypernet_rejects_bad_input(tiny_dir: Path) -> None:
    lm = _lm(tiny_dir)
    hn = lm.new_hypernet(num_layers=1, max_length=3)
    with pytest.raises(toktool.InvalidInputError):
        hn(torch.tensor([[1, 2, 3, 4]]))
    with pytest.raises(toktool.InvalidInputError):
        hn(torch.tensor([[-1, -1, -1]]))
    with pytest.raises(toktool.InvalidInputError):
        lm.new_hypernet(residual="last")
    with pytest.raises(toktool.InvalidInputError):
        lm.new_hypernet(num_heads=7)


# ------------------------------------------------------------------------------------------------
# checkpoints
# ------------------------------------------------------------------------------------------------


def test_checkpoint_roundtrip_and_refusals(tiny_dir: Path, untied_dir: Path, tmp_path: Path) -> None:
    lm = _lm(tiny_dir)
    torch.manual_seed(3)
    hn = lm.new_hypernet(num_layers=1, residual="none", max_length=4)
    ckpt = save_hypernet(hn, tmp_path / "ckpt")
    back = lm.load_hypernet(ckpt)
    ids, lengths = np.array([[3, 4, -1, -1], [9, 10, 11, 12]]), np.array([2, 4])
    with torch.no_grad():
        assert torch.equal(hn.predict(ids, lengths)[0], back.predict(ids, lengths)[0])

    weights = ckpt / "hypernet.safetensors"
    # truncated
    bad = tmp_path / "truncated"
    shutil.copytree(ckpt, bad)
    data = (bad / "hypernet.safetensors").read_bytes()
    (bad / "hypernet.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|not a valid"):
        lm.load_hypernet(bad)
    # a pickle is refused before anything is deserialized
    pickled = tmp_path / "pickled"
    shutil.copytree(ckpt, pickled)
    torch.save(hn.state_dict(), pickled / "hypernet.safetensors")
    with pytest.raises(CheckpointError, match="pickle"):
        lm.load_hypernet(pickled)
    # another model's embeddings
    with pytest.raises(CheckpointError, match="other embeddings|trained for"):
        _lm(untied_dir).load_hypernet(ckpt)
    other = tiny_dir.parent / "other-weights"
    with pytest.raises(CheckpointError, match="other embeddings"):
        load_hypernet(ckpt, lm.input_embeddings * 1.5)
    assert load_hypernet(ckpt, lm.input_embeddings * 1.5, strict=False) is not None
    # a config that does not match the weights
    mismatched = tmp_path / "mismatched"
    shutil.copytree(ckpt, mismatched)
    meta = json.loads((mismatched / "hypernet.json").read_text())
    meta["config"]["num_layers"] = 2
    (mismatched / "hypernet.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not match"):
        lm.load_hypernet(mismatched)
    # missing / garbage config, a file instead of a directory
    with pytest.raises(CheckpointError, match="missing"):
        lm.load_hypernet(tmp_path / "nowhere")
    garbage = tmp_path / "garbage"
    shutil.copytree(ckpt, garbage)
    (garbage / "hypernet.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        lm.load_hypernet(garbage)
    with pytest.raises(CheckpointError, match="directory"):
        lm.load_hypernet(weights)
    assert not other.exists()


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------


def test_batches_come_from_the_sampler(tiny_dir: Path) -> None:
    tok = _tok(tiny_dir)
    texts = text_chunks(_corpus(), 600)[:4]
    batch = make_batch(tok, texts, vocab_size=600, seq_len=64, max_length=6, noise=1.0, seed=5)
    assert batch.ids.shape == (4, 64)
    assert batch.parts.shape[1] == 6 and len(batch.lengths) == batch.parts.shape[0] <= 600
    ok = batch.lengths > 0
    assert ok[batch.ids[batch.mask].numpy()].all()  # every used token has a decomposition
    again = make_batch(tok, texts, vocab_size=600, seq_len=64, max_length=6, noise=1.0, seed=5)
    assert torch.equal(batch.ids, again.ids)


def test_loss_decreases_over_50_steps(tiny_dir: Path, tmp_path: Path) -> None:
    from toktool.hf import load_causal_lm

    config = TrainConfig(
        steps=50, batch_size=4, seq_len=64, chunk_bytes=400, vocab_size=512, noise=0.5,
        lr=3e-3, warmup=5, num_layers=1, max_length=6, residual="none", save_every=25, seed=0,
    )
    result = train(load_causal_lm(tiny_dir), _tok(tiny_dir), _corpus(), config, tmp_path / "run",
                   progress=False)
    assert len(result.losses) == 50 and all(np.isfinite(result.losses))
    first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
    assert last < first - 0.3, (first, last)
    assert result.checkpoint == tmp_path / "run" / "checkpoint"
    # resume: a longer run continues from step 50, with its optimizer state
    more = dataclasses_replace(config, steps=53)
    resumed = train(load_causal_lm(tiny_dir), _tok(tiny_dir), _corpus(), more, tmp_path / "run",
                    progress=False)
    assert resumed.steps == 3 and len(resumed.losses) == 3
    meta = json.loads((tmp_path / "run" / "checkpoint" / "hypernet.json").read_text())
    assert meta["step"] == 53
    with pytest.raises(CheckpointError, match="num_layers"):
        train(load_causal_lm(tiny_dir), _tok(tiny_dir), _corpus(),
              dataclasses_replace(config, steps=60, num_layers=2), tmp_path / "run", progress=False)


def dataclasses_replace(config: TrainConfig, **changes: object) -> TrainConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)


def _ddp_reference(tiny_dir: Path) -> dict[str, torch.Tensor]:
    """One SGD step of one process on the whole (doubled) batch."""
    lm = _lm(tiny_dir)
    batch = _ddp_batch(tiny_dir)
    torch.manual_seed(0)
    hn = lm.new_hypernet(num_layers=1, residual="none", max_length=6)
    optimizer = torch.optim.SGD(hn.parameters(), lr=0.5)
    train_step(VocabPredictor(hn), lm, batch, optimizer, clip=0.0)
    return {k: v.detach().clone() for k, v in hn.state_dict().items()}


def _ddp_batch(tiny_dir: Path) -> Batch:
    texts = text_chunks(_corpus(), 2000)[:4]
    batch = make_batch(_tok(tiny_dir), texts, vocab_size=512, seq_len=48, max_length=6,
                       noise=1.0, seed=11)
    assert bool(batch.mask.all())  # equal token counts per half: mean of means == mean
    return batch


def test_ddp_two_gloo_processes_equal_one_process_on_the_doubled_batch(
    tiny_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "tests")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "zett_ddp_worker.py"), str(tiny_dir), str(out)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    from safetensors.torch import load_file

    ddp = load_file(str(out))
    reference = _ddp_reference(tiny_dir)
    assert set(ddp) == set(reference)
    changed = 0
    for name, value in reference.items():
        assert torch.allclose(ddp[name], value, atol=1e-6, rtol=1e-5), name
        changed += int(not torch.equal(value, _initial(tiny_dir)[name]))
    assert changed > 3  # the step really moved the weights


_INITIAL: dict[str, dict[str, torch.Tensor]] = {}


def _initial(tiny_dir: Path) -> dict[str, torch.Tensor]:
    key = str(tiny_dir)
    if key not in _INITIAL:
        torch.manual_seed(0)
        hn = _lm(tiny_dir).new_hypernet(num_layers=1, residual="none", max_length=6)
        _INITIAL[key] = {k: v.detach().clone() for k, v in hn.state_dict().items()}
    return _INITIAL[key]


# ------------------------------------------------------------------------------------------------
# transfer
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fvt", "copy", "hypernet"])
def test_converted_directory_loads_in_transformers(
    tiny_dir: Path, new_tokenizer_file: Path, tmp_path: Path, method: str
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hypernet = None
    if method == "hypernet":
        torch.manual_seed(4)
        hypernet = save_hypernet(_lm(tiny_dir).new_hypernet(num_layers=1, max_length=8),
                                 tmp_path / "hn")
    out = tmp_path / f"converted-{method}"
    transfer = convert_model(tiny_dir, new_tokenizer_file, out, method=method,
                             hypernet_path=hypernet)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    new = toktool.Tokenizer.from_file(new_tokenizer_file)
    assert model.config.vocab_size == new.vocab_size == transfer.input_rows.shape[0]
    text = "def main(argv):\n    return 0\n"
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert ids[0].tolist() == new.encode(text)
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], new.vocab_size)
    assert torch.isfinite(logits).all()
    generated = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 5
    # special tokens copied from the original: same content, else same role
    original = _lm(tiny_dir).input_embeddings
    emb = model.get_input_embeddings().weight
    eot = new.token_to_id("<|endoftext|>")
    assert torch.equal(emb[eot], original[0])
    assert torch.equal(emb[new.token_to_id("<s>")], original[0])  # role bos -> bos id 0
    assert model.config.eos_token_id == eot
    assert json.loads((out / "toktool_transfer.json").read_text())["toktool_transfer"]["method"] == method
    # existing output refused; nothing half-written next to it
    with pytest.raises(toktool.ToktoolIOError, match="exists"):
        convert_model(tiny_dir, new_tokenizer_file, out, method="fvt")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_transfer_methods_agree_on_shared_tokens(tiny_dir: Path, new_tokenizer_file: Path) -> None:
    from toktool.hf import load_causal_lm

    model = load_causal_lm(tiny_dir)
    original, new = _tok(tiny_dir), toktool.Tokenizer.from_file(new_tokenizer_file)
    fvt = new_embeddings(model, original, new, method="fvt")
    copy = new_embeddings(model, original, new, method="copy")
    emb = model.get_input_embeddings().weight
    shared = 0
    for token_id in range(new.vocab_size):
        raw = new.token_bytes(token_id)
        ids = original.bpe_bytes(raw) if raw else []
        if len(ids) == 1 and token_id not in new.special_tokens.values():
            shared += 1
            assert torch.equal(fvt.input_rows[token_id], emb[ids[0]])
            assert torch.equal(copy.input_rows[token_id], emb[ids[0]])
        elif len(ids) > 1 and token_id not in new.special_tokens.values():
            expected = emb[ids].mean(0)
            assert torch.allclose(fvt.input_rows[token_id], expected, atol=1e-6)
    assert shared > 50


def test_untied_transfer_writes_both_matrices(untied_dir: Path, new_tokenizer_file: Path,
                                              tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "untied-fvt"
    transfer = convert_model(untied_dir, new_tokenizer_file, out, method="fvt")
    assert transfer.output_rows is not None
    model = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(model.get_output_embeddings().weight, transfer.output_rows)
    assert torch.equal(model.get_input_embeddings().weight, transfer.input_rows)
    assert not torch.equal(transfer.input_rows, transfer.output_rows)


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------


def test_cli_train_then_convert(tiny_dir: Path, new_tokenizer_file: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from toktool.cli.app import app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k, text in enumerate(_corpus()[:30]):
        (corpus / f"{k}.py").write_text(text)
    runner = CliRunner()
    res = runner.invoke(app, ["zett", "train", "--model", str(tiny_dir), "--corpus", str(corpus),
                              "--out", str(tmp_path / "hn"), "--steps", "3", "--batch-size", "2",
                              "--seq-len", "32", "--vocab-size", "400", "--layers", "1",
                              "--residual", "first", "--reconstruct-steps", "0",
                              "--output-steps", "0"])
    assert res.exit_code == 0, res.output
    assert "3 steps on cpu" in res.output
    ckpt = tmp_path / "hn" / "checkpoint"
    res = runner.invoke(app, ["zett", "info", str(ckpt)])
    assert res.exit_code == 0 and '"step": 3' in res.output
    res = runner.invoke(app, ["convert", "model", "--model", str(tiny_dir), "--tokenizer",
                              str(new_tokenizer_file), "--method", "hypernet", "--hypernet",
                              str(ckpt), "--out", str(tmp_path / "conv")])
    assert res.exit_code == 0, res.output
    assert "special '<|endoftext|>'" in res.output
    # the counted continuation prior from the training text (tied model: an output tower)
    res = runner.invoke(app, ["convert", "model", "--model", str(tiny_dir), "--tokenizer",
                              str(new_tokenizer_file), "--hypernet", str(ckpt),
                              "--continuation-corpus", str(corpus), "--continuation-mb", "0.05",
                              "--out", str(tmp_path / "conv-cont")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["convert", "model", "--model", str(tiny_dir), "--tokenizer",
                              str(new_tokenizer_file), "--method", "fvt",
                              "--continuation-corpus", str(corpus),
                              "--out", str(tmp_path / "conv-fvt")])
    assert res.exit_code == 2 and "continuation prior needs" in res.output
    res = runner.invoke(app, ["convert", "model", "--model", str(tiny_dir), "--tokenizer",
                              str(new_tokenizer_file), "--method", "hypernet",
                              "--out", str(tmp_path / "conv2")])
    assert res.exit_code == 2 and "needs" in res.output
    res = runner.invoke(app, ["zett", "train", "--model", str(tiny_dir), "--corpus",
                              str(tmp_path / "nothing"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no such file" in res.output
    assert runner.invoke(app, ["zett", "train", "--help"]).exit_code == 0
    assert "torchrun" in runner.invoke(app, ["zett", "train", "--help"]).output


def test_cli_trains_data_parallel_under_torchrun(tiny_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.py"
    corpus.write_text("".join(_corpus()[:20]))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "toktool.cli", "zett", "train", "--model", str(tiny_dir), "--corpus", str(corpus),
           "--out", str(tmp_path / "hn"), "--steps", "2", "--batch-size", "2", "--seq-len", "32",
           "--vocab-size", "400", "--layers", "1", "--reconstruct-steps", "0",
           "--output-steps", "0"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 steps on cpu x2" in run.stdout
    meta = json.loads((tmp_path / "hn" / "checkpoint" / "hypernet.json").read_text())
    assert meta["step"] == 2


# ------------------------------------------------------------------------------------------------
# the embedder of dynamic merging
# ------------------------------------------------------------------------------------------------


def test_hypernet_embeds_dynamically_merged_tokens(tiny_dir: Path) -> None:
    from toktool.hf import load_causal_lm
    from toktool.merge import DynamicTokenizer, Embedder
    from toktool.zett.model import HypernetEmbedder

    model = load_causal_lm(tiny_dir)
    lm = FrozenLM(model)
    torch.manual_seed(5)
    hn = lm.new_hypernet(num_layers=1, residual="none", max_length=4)
    embedder = HypernetEmbedder(hn)
    assert isinstance(embedder, Embedder)
    texts = [t[:400] for t in _corpus()[:6]]
    cached = DynamicTokenizer(_tok(tiny_dir), embedder, max_merges=30, cache_size=1000)
    uncached = DynamicTokenizer(_tok(tiny_dir), embedder, max_merges=30, cache_size=0)
    a, b = cached(texts), cached(texts)
    c = uncached(texts)
    assert a.result.new_tokens and torch.equal(a.inputs_embeds, c.inputs_embeds)
    assert torch.equal(a.inputs_embeds, b.inputs_embeds) and cached.cache.hits > 0
    # a merged token's row is the hypernetwork's prediction from its parts (cut to max_length)
    parts = a.result.new_tokens[0]
    direct = embedder.embed([parts])[0]
    ids = np.full((1, 4), -1)
    cut = list(parts)[:4]
    ids[0, : len(cut)] = cut
    with torch.no_grad():
        expected, _ = hn(torch.as_tensor(ids[:, : len(cut)]))
    # the input side mixes in the last part's embedding (last_part=0.25 by default)
    last = embedder.embedding_matrix[int(parts[-1])]
    assert torch.allclose(direct, 0.75 * expected[0] + 0.25 * last, atol=1e-6)
    plain = HypernetEmbedder(hn, last_part=0.0).embed([parts])[0]
    assert torch.allclose(plain, expected[0], atol=1e-6)
    with pytest.raises(toktool.InvalidInputError):
        HypernetEmbedder(hn, last_part=1.5)
    with torch.no_grad():
        logits = model(inputs_embeds=a.inputs_embeds, attention_mask=a.attention_mask).logits
    assert torch.isfinite(logits).all()


# ------------------------------------------------------------------------------------------------
# reconstruction pretraining (phase 1)
# ------------------------------------------------------------------------------------------------


def test_reconstruction_decompositions_are_exact_and_never_the_token(tiny_dir: Path) -> None:
    from toktool.zett.reconstruct import token_decompositions

    tok = _tok(tiny_dir)
    rows = token_decompositions(tok, cuts_per_token=3, max_length=8, seed=0)
    assert len(rows) > 100
    assert set(np.unique(rows.kinds).tolist()) == {0, 1}
    specials = set(tok.special_tokens.values())
    for parts, n, target in zip(rows.ids, rows.lengths, rows.targets):
        ids = [int(i) for i in parts[:n]]
        assert 2 <= n <= 8 and all(i >= 0 for i in ids) and (parts[n:] == -1).all()
        assert int(target) not in ids and int(target) not in specials
        assert b"".join(tok.token_bytes(i) for i in ids) == tok.token_bytes(int(target))


def test_reconstruction_loss_falls_and_beats_fvt_on_held_out_tokens(tiny_dir: Path) -> None:
    from toktool.zett.reconstruct import ReconConfig, train_reconstruction

    torch.manual_seed(0)
    lm = _lm(tiny_dir)
    hypernet = lm.new_hypernet(num_layers=1, max_length=8, residual="mean")
    config = ReconConfig(steps=150, batch_size=64, lr=2e-3, warmup=10, holdout=0.15, seed=0)
    result = train_reconstruction(hypernet, _tok(tiny_dir), config, progress=False)
    losses = result["losses"]
    assert len(losses) == 150 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.1
    before, after = result["held_out_before"], result["held_out_after"]
    assert result["held_out_rows"] > 0
    # residual "mean": before training the hypernetwork is exactly FVT
    assert before["hypernet_mse"] == pytest.approx(before["fvt_mse"], rel=1e-5)
    assert after["hypernet_mse"] < after["fvt_mse"]
    assert after["hypernet_cos"] > after["fvt_cos"]


def test_train_runs_reconstruction_first_and_resumes(tiny_dir: Path, tmp_path: Path) -> None:
    from toktool.hf import load_causal_lm

    config = TrainConfig(
        steps=0, batch_size=4, seq_len=64, chunk_bytes=400, vocab_size=512, lr=1e-3, warmup=1,
        num_layers=1, max_length=6, residual="mean", save_every=25, seed=0,
        reconstruct_steps=100, reconstruct_batch=32,
    )
    run = tmp_path / "run"
    result = train(load_causal_lm(tiny_dir), _tok(tiny_dir), _corpus(), config, run,
                   progress=False)
    assert result.steps == 0 and result.checkpoint == run / "checkpoint"
    recon = result.reconstruction
    assert recon is not None and recon["reconstruct_step"] == 100 and recon["steps_run"] == 100
    meta = json.loads((run / "checkpoint" / "hypernet.json").read_text())
    assert meta["step"] == 0 and meta["reconstruction"]["reconstruct_step"] == 100
    assert json.loads((run / "reconstruct" / "hypernet.json").read_text())["reconstruct_step"] == 100
    # phase 1 resumes from OUT/reconstruct (here: 100 of 110 steps done, 10 more)
    shutil.rmtree(run / "checkpoint")
    longer = dataclasses_replace(config, reconstruct_steps=110)
    again = train(load_causal_lm(tiny_dir), _tok(tiny_dir), _corpus(), longer, run,
                  progress=False)
    assert again.reconstruction is not None and again.reconstruction["steps_run"] == 10
    # phase 2 continues the checkpoint; phase 1 is not rerun and its record is kept
    lm_steps = dataclasses_replace(longer, steps=3)
    more = train(load_causal_lm(tiny_dir), _tok(tiny_dir), _corpus(), lm_steps, run,
                 progress=False)
    assert more.steps == 3 and len(more.losses) == 3 and all(np.isfinite(more.losses))
    meta = json.loads((run / "checkpoint" / "hypernet.json").read_text())
    assert meta["step"] == 3 and meta["reconstruction"]["reconstruct_step"] == 110


def test_early_stopping_keeps_the_best_scoring_hypernetwork(tiny_dir: Path, tmp_path: Path) -> None:
    """train(evaluate=...) scores before the first LM step and every eval_every steps; OUT/best
    holds the hypernetwork of the lowest score (not the last), and a resumed run keeps it."""
    from toktool.hf import load_causal_lm

    config = TrainConfig(
        steps=6, batch_size=2, seq_len=32, chunk_bytes=200, vocab_size=300, lr=3e-3, warmup=1,
        num_layers=1, max_length=6, residual="none", save_every=3, seed=0, eval_every=2,
    )
    script = iter([5.0, 3.0, 2.5, 4.0])  # steps 0, 2, 4, 6: the best is step 4
    weights: dict[int, dict[str, torch.Tensor]] = {}

    def evaluate(hn) -> float:
        value = next(script)
        weights[len(weights) * 2] = {k: v.detach().clone() for k, v in hn.state_dict().items()}
        return value

    result = train(load_causal_lm(tiny_dir), _tok(tiny_dir), _corpus(), config, tmp_path / "run",
                   progress=False, evaluate=evaluate)
    assert result.scores == {0: 5.0, 2: 3.0, 4: 2.5, 6: 4.0}
    assert result.best == tmp_path / "run" / "best" and result.best_step == 4
    assert result.best_score == 2.5
    meta = json.loads((tmp_path / "run" / "best" / "hypernet.json").read_text())
    assert meta["step"] == 4 and meta["best_score"] == 2.5
    best = _lm(tiny_dir).load_hypernet(tmp_path / "run" / "best").state_dict()
    last = _lm(tiny_dir).load_hypernet(tmp_path / "run" / "checkpoint").state_dict()
    assert all(torch.equal(best[k], weights[4][k]) for k in weights[4])
    assert not all(torch.equal(last[k], weights[4][k]) for k in weights[4])
    # resumed: a later score must beat 2.5 to replace OUT/best
    more = dataclasses_replace(config, steps=8)
    again = train(load_causal_lm(tiny_dir), _tok(tiny_dir), _corpus(), more, tmp_path / "run",
                  progress=False, evaluate=lambda hn: 2.9)
    assert again.scores == {8: 2.9} and again.best_step == 4 and again.best_score == 2.5
