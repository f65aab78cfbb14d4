"""Input alignment of the ZeTT hypernetwork for dynamic merging (:mod:`toktool.zett.align`), on
the tiny LM of :func:`toktool.testing.tiny_causal_lm`: the LM reading merged windows is
trained to reach the states it reaches on their parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import toktool  # noqa: E402
from toktool.zett.align import (  # noqa: E402
    AlignConfig,
    align_batch,
    align_loss,
    held_out_batches,
    held_out_loss,
    input_parameters,
    teacher_states,
    run_phase,
    train_alignment,
)
from toktool.zett.model import read_checkpoint_meta  # noqa: E402
from toktool.zett.train import FrozenLM, TrainConfig, train  # noqa: E402

SMALL = dict(windows=2, window=48, learn_windows=4, learn_window=96)


def _tok(path: Path) -> toktool.Tokenizer:
    return toktool.Tokenizer.from_file(path / "tokenizer.json")


def _lm(path: Path) -> FrozenLM:
    from toktool.hf import load_causal_lm

    return FrozenLM(load_causal_lm(path))


def _docs() -> dict[str, str]:
    """Two 'documents' the tiny model was not trained on (its corpus is the stdlib's start)."""
    from toktool import artifacts

    text = "".join(artifacts.stdlib_corpus(1_200_000))[600_000:]
    return {"a": text[:200_000], "b": text[200_000:400_000]}


def _windows(tok: toktool.Tokenizer, n: int = 6, length: int = 48) -> list[list[int]]:
    ids = tok.encode(_docs()["a"])
    return [ids[k * length: (k + 1) * length] for k in range(n)]


def test_align_batch_spells_the_windows(tiny_dir: Path) -> None:
    tok = _tok(tiny_dir)
    windows = _windows(tok)
    batch = align_batch(tok, windows[:2], windows[2:], 40)
    assert batch.new_tokens and 0 < batch.fewer < 1
    for original, merged, ends in zip(batch.original, batch.merged, batch.ends):
        spelled: list[int] = []
        for t in merged:
            spelled.extend(batch.new_tokens[t - tok.vocab_size] if t >= tok.vocab_size else [t])
        assert spelled == original
        # ends are where each merged token stops in the original window
        lengths = [len(batch.new_tokens[t - tok.vocab_size]) if t >= tok.vocab_size else 1
                   for t in merged]
        assert ends == np.cumsum(lengths).tolist()
    # no merges: nothing is scored
    none = align_batch(tok, windows[:2], windows[2:], 0)
    assert none.merged == none.original and not none.new_tokens


def test_align_loss_is_the_kl_of_the_two_readings(tiny_dir: Path) -> None:
    tok, lm = _tok(tiny_dir), _lm(tiny_dir)
    hypernet = lm.new_hypernet(residual="mean", output_tower=True)
    windows = _windows(tok)
    batch = align_batch(tok, windows[:2], windows[2:], 40)
    loss, n = align_loss(hypernet, lm, batch, last_part=0.25)
    # brute force: each window alone, the student's rows built by hand
    emb = lm.input_embeddings
    with torch.no_grad():
        rows, _ = hypernet.predict(*_decomposition(hypernet, batch.new_tokens))
        last = emb[[p[-1] for p in batch.new_tokens]]
        rows = 0.75 * rows + 0.25 * last
        # merged windows: the first difference is the first merged token
        firsts = [next(j for j, t in enumerate(m) if t >= tok.vocab_size) for m in batch.merged]
        total, count = _brute_kl(lm, batch, torch.cat([emb, rows]), firsts)
    assert n == count > 0
    assert float(loss.detach()) == pytest.approx(total / count, rel=1e-4, abs=1e-6)
    # gradients reach the input tower only
    loss.backward()
    trained = {id(p) for p in input_parameters(hypernet)}
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0
               for p in hypernet.parameters() if id(p) in trained)
    assert all(p.grad is None for p in hypernet.output_tower.parameters())
    assert all(p.grad is None for p in lm.model.parameters())


def _brute_kl(lm, batch, table, firsts):
    """Total KL and positions, each window read alone (original ids against ``table`` rows of
    the merged ids), from ``firsts[s]`` on, where a token ends on an original boundary."""
    emb, out = lm.input_embeddings, lm.output_embeddings

    def states(inputs):
        bos = emb[lm.bos_id].view(1, 1, -1)
        x = torch.cat([bos, inputs.unsqueeze(0)], dim=1)
        return lm.hidden(x, torch.ones(x.shape[:2], dtype=torch.long))[0]

    total, count = 0.0, 0
    for first, original, merged, ends in zip(firsts, batch.original, batch.merged, batch.ends):
        p = torch.log_softmax(states(emb[original]) @ out.T, -1)
        q = torch.log_softmax(states(table[merged]) @ out.T, -1)
        for j in range(first, len(merged)):
            if ends[j] >= 0:
                pt, qs = p[ends[j]], q[j + 1]
                total += float((pt.exp() * (pt - qs)).sum())
                count += 1
    return total, count


def _decomposition(hypernet, new_tokens):
    limit = hypernet.config.max_length
    ids = np.full((len(new_tokens), limit), -1, dtype=np.int64)
    lengths = np.zeros(len(new_tokens), dtype=np.int64)
    for r, parts in enumerate(new_tokens):
        cut = list(parts)[:limit]
        ids[r, : len(cut)] = cut
        lengths[r] = len(cut)
    return ids, lengths


def test_alignment_lowers_the_held_out_kl(tiny_dir: Path) -> None:
    tok, lm = _tok(tiny_dir), _lm(tiny_dir)
    torch.manual_seed(0)
    hypernet = lm.new_hypernet(residual="mean", output_tower=True)
    tower_before = {k: v.clone() for k, v in hypernet.output_tower.state_dict().items()}
    docs = _docs()
    config = AlignConfig(steps=30, lr=2e-3, warmup=2, eval_every=30, budgets=(30, None),
                         held_budgets=(30, None),
                         **SMALL)
    best: list[tuple[int, float]] = []
    result = train_alignment(hypernet, lm, tok, {"a": docs["a"]}, config,
                             held_texts={"b": docs["b"]}, progress=False,
                             on_best=lambda s, v: best.append((s, v)))
    held = result["held_out"]
    assert set(held) == {0, 30}
    assert held[30] < 0.9 * held[0]
    assert best[0][0] == 0 and best[-1] == (30, held[30])
    assert 0 < result["fewer"] < 1
    # the output tower is untouched
    for k, v in hypernet.output_tower.state_dict().items():
        assert torch.equal(v, tower_before[k])
    # held_out_loss recomputes the same number
    batches = held_out_batches(tok, {"b": docs["b"]}, config)
    teachers = [teacher_states(lm, b) for b in batches]
    assert held_out_loss(hypernet, lm, batches, teachers, config.last_part) == pytest.approx(
        held[30], rel=1e-5)


def test_config_refuses_nonsense() -> None:
    with pytest.raises(toktool.InvalidInputError):
        AlignConfig(budgets=())
    with pytest.raises(toktool.InvalidInputError):
        AlignConfig(last_part=1.5)
    with pytest.raises(toktool.InvalidInputError):
        AlignConfig(windows=0)


def _drawn(config: AlignConfig, names: list[str]) -> list[str]:
    """The documents a phase's steps draw (a step that does nothing but record its name)."""
    seen: list[str] = []

    def step(step: int, rng: object, name: str) -> tuple[float, float]:
        seen.append(name)
        return 0.0, 0.0

    run_phase(torch.nn.Linear(1, 1), config, names, step, None, None, start=0, salt=13,
              desc="", metric="kl", progress=False, on_save=None, save_every=1)
    return seen


def test_document_weights_shape_the_draws() -> None:
    names = ["de", "ja", "zh"]
    uniform = _drawn(AlignConfig(steps=600), names)
    assert {n: uniform.count(n) for n in names} == pytest.approx(
        {n: 200 for n in names}, abs=45)
    weighted = _drawn(AlignConfig(steps=600, weights={"ja": 4, "zh": 4}), names)
    assert weighted.count("de") == pytest.approx(600 / 9, abs=25)
    assert weighted.count("ja") == pytest.approx(600 * 4 / 9, abs=50)
    assert set(_drawn(AlignConfig(steps=50, weights={"de": 0, "zh": 0}), names)) == {"ja"}
    # the same config draws the same documents (resume replays the stream)
    assert _drawn(AlignConfig(steps=600, weights={"ja": 4, "zh": 4}), names) == weighted
    with pytest.raises(toktool.InvalidInputError, match="not there"):
        _drawn(AlignConfig(steps=5, weights={"fr": 2}), names)
    with pytest.raises(toktool.InvalidInputError, match="0 for every"):
        _drawn(AlignConfig(steps=5, weights={n: 0 for n in names}), names)
    with pytest.raises(toktool.InvalidInputError):
        AlignConfig(weights={"de": -1})


def test_train_runs_the_phase_and_resumes(tiny_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import toktool.zett.align as align

    # the phase's windows, small enough for the tiny corpus and quick
    original = align.AlignConfig

    def small(**kwargs):
        return original(**{**kwargs, **SMALL, "eval_every": 2, "budgets": (30,),
                                   "held_budgets": (30,)})

    monkeypatch.setattr(align, "AlignConfig", small)
    from toktool.hf import load_causal_lm

    tok = _tok(tiny_dir)
    docs = _docs()
    config = TrainConfig(steps=0, reconstruct_steps=2, reconstruct_batch=16,
                         output_tower=True, output_texts=24, align_steps=3, residual="mean")
    corpus = [docs["a"][:50_000]]
    result = train(load_causal_lm(tiny_dir), tok, corpus, config, tmp_path, progress=False,
                   align_texts={"a": docs["a"]}, align_held={"b": docs["b"]})
    summary = result.reconstruction["align"]
    assert summary["steps_run"] == 3 and set(summary["held_out"]) == {0, 2, 3}
    assert (tmp_path / "align" / "hypernet.json").exists()
    assert (tmp_path / "align-best" / "hypernet.json").exists()
    assert summary["best"]["step"] in (0, 2, 3)
    meta = read_checkpoint_meta(tmp_path / "checkpoint")
    assert meta["train"]["align_steps"] == 3
    # the checkpoint holds the best step's weights
    best = read_checkpoint_meta(tmp_path / "align-best")
    assert best["align_best"]["step"] == summary["best"]["step"]
    # asking for align_steps without texts is refused before any work
    with pytest.raises(toktool.InvalidInputError, match="align_texts"):
        train(load_causal_lm(tiny_dir), tok, corpus, config, tmp_path / "other",
              progress=False)


def _cli_train_args(tiny_dir: Path, tmp_path: Path, steps: int) -> list[str]:
    """`toktool zett train` on the tiny model with `steps` of alignment on one ~400 KB document
    (80% trained on, 20% held out), into tmp_path/hn."""
    docs = _docs()
    corpus = tmp_path / "corpus.py"
    corpus.write_text(docs["a"][:60_000])
    align = tmp_path / "align.txt"
    align.write_text(docs["a"] + docs["b"])
    return ["zett", "train", "--model", str(tiny_dir), "--corpus", str(corpus),
            "--out", str(tmp_path / "hn"), "--layers", "1", "--reconstruct-steps", "2",
            "--output-texts", "24", "--align-steps", str(steps), "--align-corpus", str(align)]


def test_cli_aligns_and_reports(tiny_dir: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from toktool.cli.app import app

    args = _cli_train_args(tiny_dir, tmp_path, 2)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "input alignment, held-out KL" in res.output
    meta = json.loads((tmp_path / "hn" / "checkpoint" / "hypernet.json").read_text())
    assert meta["train"]["align_steps"] == 2
    # a document too short for one step: a clear error, exit code 2
    short = tmp_path / "short.txt"
    short.write_text("def f():\n    return 1\n")
    args[args.index(str(tmp_path / "hn"))] = str(tmp_path / "hn2")
    args[-1] = str(short)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "at least" in res.output, res.output
    assert "--align-steps" in CliRunner().invoke(app, ["zett", "train", "--help"]).output


# --- sampled vocabularies (alignment for whole-vocabulary transfer) ------------------------------


def _chunks(n: int = 12) -> list[str]:
    from toktool.zett.train import text_chunks

    return text_chunks([_docs()["a"][:60_000]], 256)[:n]


def test_sampled_batch_reads_the_same_bytes(tiny_dir: Path) -> None:
    from toktool.zett.align import sampled_batch

    tok = _tok(tiny_dir)
    chunks = _chunks()
    batch = sampled_batch(tok, chunks[:2], chunks[2:], 1024, seed=3)
    assert batch.new_tokens  # some sampled tokens are not one original token
    vocab = tok.vocab_size
    scored = 0
    for text, original, merged, ends in zip(chunks, batch.original, batch.merged, batch.ends):
        assert original == tok.encode(text)
        pieces = [b"".join(tok.token_bytes(p) for p in batch.new_tokens[t - vocab])
                  if t >= vocab else tok.token_bytes(t) for t in merged]
        assert b"".join(pieces) == text.encode()
        assert all(len(batch.new_tokens[t - vocab]) > 1 for t in merged if t >= vocab)
        # ends: the original tokens up to a shared boundary, -1 inside an original token
        cut = np.cumsum([len(tok.token_bytes(i)) for i in original]).tolist()
        at = np.cumsum([len(p) for p in pieces]).tolist()
        assert ends == [cut.index(b) + 1 if b in cut else -1 for b in at]
        scored += sum(e >= 0 for e in ends)
        assert -1 in ends or merged != original
    assert scored


def test_sampled_align_loss_scores_shared_boundaries(tiny_dir: Path) -> None:
    from toktool.zett.align import sampled_batch

    tok, lm = _tok(tiny_dir), _lm(tiny_dir)
    hypernet = lm.new_hypernet(residual="mean", output_tower=True)
    chunks = _chunks()
    batch = sampled_batch(tok, chunks[:2], chunks[2:], 1024, seed=3)
    loss, n = align_loss(hypernet, lm, batch, last_part=0.0)
    with torch.no_grad():
        rows, _ = hypernet.predict(*_decomposition(hypernet, batch.new_tokens))
        firsts = [next(j for j, (t, o) in enumerate(zip(m, orig)) if t != o)
                  for m, orig in zip(batch.merged, batch.original)]
        total, count = _brute_kl(lm, batch, torch.cat([lm.input_embeddings, rows]), firsts)
    assert n == count > 0
    assert float(loss.detach()) == pytest.approx(total / count, rel=1e-4, abs=1e-6)


def test_sampled_alignment_lowers_the_held_out_kl(tiny_dir: Path) -> None:
    tok, lm = _tok(tiny_dir), _lm(tiny_dir)
    torch.manual_seed(0)
    hypernet = lm.new_hypernet(residual="mean", output_tower=True)
    docs = _docs()
    config = AlignConfig(steps=30, lr=2e-3, warmup=2, eval_every=30, vocabularies="sampled",
                         windows=2, learn_windows=8, window_bytes=256, vocab_sizes=(1024,))
    assert config.rows_last_part == 0.0
    result = train_alignment(hypernet, lm, tok, {"a": docs["a"][:100_000]}, config,
                             held_texts={"b": docs["b"][:50_000]}, progress=False)
    held = result["held_out"]
    # fewer of these positions read new tokens than merged windows' (most sampled tokens are
    # one original token), so the drop is smaller: 0.303 -> 0.275 when written
    assert held[30] < 0.95 * held[0]
    with pytest.raises(toktool.InvalidInputError, match="windows"):
        train_alignment(hypernet, lm, tok, {"a": "x = 1\n"}, config, progress=False)
    with pytest.raises(toktool.InvalidInputError):
        AlignConfig(vocabularies="words")


def test_cli_aligns_over_sampled_vocabularies(tiny_dir: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from toktool.cli.app import app

    # the held-out fifth is ~80 windows of 1 KB, more than the 68 a sampled batch draws from
    args = [*_cli_train_args(tiny_dir, tmp_path, 1), "--align-vocabularies", "sampled"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "hn" / "checkpoint" / "hypernet.json").read_text())
    assert meta["train"]["align_vocabularies"] == "sampled"
    assert set(meta["reconstruction"]["align"]["held_out"]) == {"0", "1"}
    args[args.index(str(tmp_path / "hn"))] = str(tmp_path / "hn2")
    args[-1] = "words"
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "vocabularies" in res.output, res.output
