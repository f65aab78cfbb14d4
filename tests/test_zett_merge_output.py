"""Output alignment of the ZeTT hypernetwork on merged windows (:mod:`toktool.zett.merge_output`),
on the tiny LM of :func:`toktool.testing.tiny_causal_lm`: the output tower is trained on the
cross-entropy that docs/MERGE.md's bits per byte measure."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import toktool  # noqa: E402
from toktool.merge import merged_bits  # noqa: E402
from toktool.zett.continuation import ContinuationCounts  # noqa: E402
from toktool.zett.merge_output import (  # noqa: E402
    MergeOutputConfig,
    _output_rows,
    merge_output_batch,
    merge_output_loss,
    merged_states,
    output_embedder,
    train_merge_output,
)
from toktool.zett.model import HypernetEmbedder, read_checkpoint_meta  # noqa: E402
from toktool.zett.train import FrozenLM, TrainConfig, train  # noqa: E402

SMALL = dict(windows=2, window=48, learn_windows=4, learn_window=96)


def _tok(path: Path) -> toktool.Tokenizer:
    return toktool.Tokenizer.from_file(path / "tokenizer.json")


def _docs() -> dict[str, str]:
    """Two 'documents' the tiny model was not trained on (its corpus is the stdlib's start)."""
    from toktool import artifacts

    text = "".join(artifacts.stdlib_corpus(1_200_000))[600_000:]
    return {"a": text[:200_000], "b": text[200_000:400_000]}


def _setup(tiny_dir: Path):
    from toktool.hf import load_causal_lm

    tok = _tok(tiny_dir)
    model = load_causal_lm(tiny_dir)
    lm = FrozenLM(model)
    torch.manual_seed(0)
    hypernet = lm.new_hypernet(residual="mean", output_tower=True)
    # a tower that is not at its initial state, so the rows differ from the plain prior
    with torch.no_grad():
        for p in hypernet.output_tower.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return tok, model, lm, hypernet


@pytest.mark.parametrize("mix,floor", [(0.5, None), (0.0, None), (0.5, 0.01), (0.5, 0.5)])
def test_loss_is_the_merged_models_cross_entropy(tiny_dir: Path, mix: float,
                                                 floor: float | None) -> None:
    """The phase's loss, from cached states and a fixed log-sum-exp, equals what
    toktool.merge.merged_bits computes on its own path (the model run on the embedded batch);
    with a floor, as its canonical scoring (toktool.merge.merged_log_softmax) computes it."""
    tok, model, lm, hypernet = _setup(tiny_dir)
    ids = tok.encode(_docs()["a"])
    windows = [ids[k * 48: (k + 1) * 48] for k in range(2)]
    learn = [ids[200 + k * 96: 200 + (k + 1) * 96] for k in range(4)]
    item = merge_output_batch(tok, windows, learn, 30)
    assert item.batch.new_tokens and any(t >= tok.vocab_size for s in item.batch.merged for t in s)
    config = MergeOutputConfig(mix=mix, **SMALL)
    states = merged_states(hypernet, lm, item.batch, config.last_part)
    with torch.no_grad():
        rows = _output_rows(output_embedder(hypernet, tok, config), item, config)
        canonical = None
        if floor is not None:
            canonical = (item.batch.lefts, lm.output_embeddings[:tok.vocab_size].float(), floor)
            # chained merges: some left part is itself a merged token
            assert any(left >= tok.vocab_size for left in item.batch.lefts)
        loss = merge_output_loss(rows, states, tok.vocab_size, canonical)
    positions = sum(map(len, item.batch.merged))
    assert len(states.targets) == positions
    # the same merges through the library's inference path
    learned = toktool.merge_batch(learn, tok, 30)
    counts = ContinuationCounts(tok, item.learn_texts)
    out = (HypernetEmbedder(hypernet, output=True, continuation=counts, tokenizer=tok, mix=mix)
           if mix else HypernetEmbedder(hypernet, output=True))
    dyn = toktool.DynamicTokenizer(tok, HypernetEmbedder(hypernet, last_part=config.last_part),
                                   max_merges=30, bos_id=lm.bos_id)
    batch = dyn.embed(toktool.apply_merges(windows, tok, learned.merges))
    bits = (merged_bits(model, batch, out) if floor is None
            else merged_bits(model, batch, out, canonical=True, floor=floor))
    assert float(loss) * positions == pytest.approx(sum(bits) * math.log(2), rel=1e-4)


def test_training_lowers_the_held_out_loss_and_moves_only_the_tower(tiny_dir: Path) -> None:
    tok, _model, lm, hypernet = _setup(tiny_dir)
    tower_ids = {id(p) for p in hypernet.output_tower.parameters()}
    before = {k: v.clone() for k, v in hypernet.named_parameters()}
    docs = _docs()
    config = MergeOutputConfig(steps=24, lr=2e-3, warmup=2, eval_every=12, budgets=(30, None),
                               held_budgets=(30, None), **SMALL)
    best: list[tuple[int, float]] = []
    result = train_merge_output(hypernet, lm, tok, {"a": docs["a"]}, config,
                                held_texts={"b": docs["b"]}, progress=False,
                                on_best=lambda s, v: best.append((s, v)))
    held = result["held_out"]
    assert set(held) == {0, 12, 24}
    assert min(held[12], held[24]) < held[0] - 0.01
    assert best[0][0] == 0 and best[-1][1] == min(held.values())
    assert 0 < result["fewer"] < 1
    moved = {k for k, p in hypernet.named_parameters() if not torch.equal(p, before[k])}
    assert moved and all(id(dict(hypernet.named_parameters())[k]) in tower_ids for k in moved)


def test_config_refuses_nonsense() -> None:
    with pytest.raises(toktool.InvalidInputError):
        MergeOutputConfig(mix=1.5)
    with pytest.raises(toktool.InvalidInputError):
        MergeOutputConfig(vocabularies="sampled")
    with pytest.raises(toktool.InvalidInputError):
        MergeOutputConfig(budgets=())
    with pytest.raises(toktool.InvalidInputError):
        MergeOutputConfig(canonical_floor=0.0)


def test_train_runs_the_phase_and_resumes(tiny_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import toktool.zett.merge_output as merge_output
    from toktool.hf import load_causal_lm

    original = merge_output.MergeOutputConfig

    def small(**kwargs):
        return original(**{**kwargs, **SMALL, "eval_every": 2, "budgets": (30,),
                           "held_budgets": (30,)})

    monkeypatch.setattr(merge_output, "MergeOutputConfig", small)
    tok = _tok(tiny_dir)
    docs = _docs()
    config = TrainConfig(steps=0, reconstruct_steps=2, reconstruct_batch=16, output_tower=True,
                         output_texts=24, merge_output_steps=3, residual="mean")
    corpus = [docs["a"][:50_000]]
    result = train(load_causal_lm(tiny_dir), tok, corpus, config, tmp_path, progress=False,
                   align_texts={"a": docs["a"]}, align_held={"b": docs["b"]})
    summary = result.reconstruction["merge_output"]
    assert summary["steps_run"] == 3 and set(summary["held_out"]) == {0, 2, 3}
    assert (tmp_path / "merge-output" / "hypernet.json").exists()
    best = read_checkpoint_meta(tmp_path / "merge-output-best")
    assert best["merge-output_best"]["step"] == summary["best"]["step"]
    assert read_checkpoint_meta(tmp_path / "checkpoint")["train"]["merge_output_steps"] == 3
    # a second call finds the phase done and resumes nothing
    again = train(load_causal_lm(tiny_dir), tok, corpus, config, tmp_path, progress=False,
                  align_texts={"a": docs["a"]}, align_held={"b": docs["b"]})
    assert again.reconstruction["merge_output"]["best"] == summary["best"]
    with pytest.raises(toktool.InvalidInputError, match="align_texts"):
        train(load_causal_lm(tiny_dir), tok, corpus, config, tmp_path / "other", progress=False)


def test_focus_phases_run_after_the_alignments_and_resume(
        tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Phase 1e: output then input alignment again, on draws weighted by document."""
    import toktool.zett.align as align
    import toktool.zett.merge_output as merge_output
    from toktool.hf import load_causal_lm

    def small(original):
        return lambda **kwargs: original(**{**kwargs, **SMALL, "eval_every": 2,
                                            "budgets": (30,), "held_budgets": (30,)})

    monkeypatch.setattr(merge_output, "MergeOutputConfig", small(merge_output.MergeOutputConfig))
    monkeypatch.setattr(align, "AlignConfig", small(align.AlignConfig))
    tok = _tok(tiny_dir)
    docs = _docs()
    texts = {"a": docs["a"][:100_000], "c": docs["a"][100_000:]}
    config = TrainConfig(steps=0, reconstruct_steps=2, reconstruct_batch=16, output_tower=True,
                         output_texts=24, merge_output_steps=2, focus_output_steps=3,
                         focus_align_steps=2, focus_weights={"c": 0.0}, residual="mean")
    corpus = [docs["a"][:50_000]]
    kwargs = dict(progress=False, align_texts=texts, align_held={"b": docs["b"]})
    result = train(load_causal_lm(tiny_dir), tok, corpus, config, tmp_path, **kwargs)
    focus_output = result.reconstruction["focus_output"]
    focus_align = result.reconstruction["focus_align"]
    assert focus_output["focus_output_step"] == 3 and focus_output["steps_run"] == 3
    assert focus_align["focus_align_step"] == 2 and set(focus_align["held_out"]) == {0, 2}
    # each phase keeps its own checkpoints; the focus phases start where phase 1d ended
    for name in ("merge-output", "focus-output", "focus-align"):
        assert (tmp_path / f"{name}-best" / "hypernet.json").exists(), name
    first_ce = focus_output["held_out"][0]
    assert first_ce == pytest.approx(min(result.reconstruction["merge_output"]["held_out"]
                                         .values()), rel=1e-5)
    meta = read_checkpoint_meta(tmp_path / "checkpoint")["train"]
    assert meta["focus_weights"] == {"c": 0.0} and meta["focus_align_steps"] == 2
    again = train(load_causal_lm(tiny_dir), tok, corpus, config, tmp_path, **kwargs)
    assert again.reconstruction["focus_align"]["best"] == focus_align["best"]
    # weights for a document that is not there, or without focus steps: refused before work
    for bad in (dataclasses.replace(config, focus_weights={"zz": 2.0}),
                dataclasses.replace(config, focus_output_steps=0, focus_align_steps=0)):
        with pytest.raises(toktool.InvalidInputError, match="not there|focus_weights"):
            train(load_causal_lm(tiny_dir), tok, corpus, bad, tmp_path / "other", **kwargs)
        assert not (tmp_path / "other").exists()


def test_cli_trains_the_phase_and_reports(tiny_dir: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from toktool.cli.app import app

    docs = _docs()
    corpus = tmp_path / "corpus.py"
    corpus.write_text(docs["a"][:60_000])
    align = tmp_path / "align.txt"
    align.write_text(docs["a"] + docs["b"])
    args = ["zett", "train", "--model", str(tiny_dir), "--corpus", str(corpus),
            "--out", str(tmp_path / "hn"), "--layers", "1", "--reconstruct-steps", "2",
            "--output-texts", "24", "--merge-output-steps", "2", "--align-corpus", str(align)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "output alignment, held-out cross-entropy" in res.output
    meta = json.loads((tmp_path / "hn" / "checkpoint" / "hypernet.json").read_text())
    assert meta["train"]["merge_output_steps"] == 2
    assert meta["reconstruction"]["merge_output"]["steps_run"] == 2
    # the output tower is needed: refused before any work, exit code 2
    args[args.index(str(tmp_path / "hn"))] = str(tmp_path / "hn2")
    res = CliRunner().invoke(app, [*args, "--no-output-tower"])
    assert res.exit_code == 2 and "output tower" in res.output, res.output
    assert "--merge-output-steps" in CliRunner().invoke(app, ["zett", "train", "--help"]).output


def test_cli_focus_phase_weighs_named_documents(tiny_dir: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from toktool.cli.app import app

    docs = _docs()
    corpus = tmp_path / "corpus.py"
    corpus.write_text(docs["a"][:60_000])
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(docs["a"])
    second.write_text(docs["b"])
    args = ["zett", "train", "--model", str(tiny_dir), "--corpus", str(corpus),
            "--out", str(tmp_path / "hn"), "--layers", "1", "--reconstruct-steps", "2",
            "--output-texts", "24", "--focus-output-steps", "2", "--align-corpus", str(first),
            "--align-corpus", str(second)]
    res = CliRunner().invoke(app, [*args, "--focus-weights", "doc1=3"])
    assert res.exit_code == 0, res.output
    assert "focus output alignment, held-out cross-entropy" in res.output
    meta = json.loads((tmp_path / "hn" / "checkpoint" / "hypernet.json").read_text())
    assert meta["train"]["focus_weights"] == {"doc1": 3.0}
    assert meta["reconstruction"]["focus_output"]["steps_run"] == 2
    for weights, message in (("ja=4", "not there"), ("doc1", "NAME=WEIGHT"),
                             ("doc1=-1", ">= 0")):
        args[args.index("--out") + 1] = str(tmp_path / "hn2")
        res = CliRunner().invoke(app, [*args, "--focus-weights", weights])
        assert res.exit_code == 2 and message in res.output, (weights, res.output)
        assert not (tmp_path / "hn2").exists()
