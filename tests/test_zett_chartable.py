"""Character tables (:mod:`toktool.zett.chartable`): learned rows for single-character merged
tokens beside the hypernetwork's prediction, and phase 1f that trains them, on SmolLM2's real
tokenizer for the keys and the tiny LM of :func:`toktool.testing.tiny_causal_lm` for the
training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import toktool  # noqa: E402
from toktool.zett.chartable import CharacterTable, character_keys  # noqa: E402
from toktool.zett.model import (  # noqa: E402
    HypernetEmbedder,
    load_hypernet,
    read_checkpoint_meta,
    save_hypernet,
)
from toktool.zett.train import FrozenLM, TrainConfig, _table_phase, train  # noqa: E402

SMALL = dict(windows=2, window=48, learn_windows=4, learn_window=96, eval_every=4,
             budgets=(30,), held_budgets=(30,))


def _tok(path: Path) -> toktool.Tokenizer:
    return toktool.Tokenizer.from_file(path / "tokenizer.json")


def _lm(path: Path) -> FrozenLM:
    from toktool.hf import load_causal_lm

    return FrozenLM(load_causal_lm(path))


def _cjk_docs() -> dict[str, str]:
    """Japanese and Chinese text of the Debian Reference guide (the tiny tokenizer, trained on
    code, spells each kana and hanzi with 2-3 byte tokens, so merges make single characters)."""
    from toktool import artifacts

    docs = artifacts.multilingual_corpus()
    return {name: docs[lang][len(docs[lang]) // 3:][:120_000]
            for name, lang in (("a", "ja"), ("b", "zh-cn"))}


def test_keys_are_the_characters_smollm2_spells_with_several_tokens() -> None:
    tok = toktool.load_tokenizer("smollm2")
    # SmolLM2 spells 日 with two tokens and 語 with three; 本 and の are single tokens
    assert tok.encode("日") == [23274, 115] and tok.encode("語") == [179, 120, 248]
    assert len(tok.encode("本")) == len(tok.encode("の")) == 1
    text = "日本語の text: 語, 日."
    assert character_keys(tok, [text], 8) == [(23274, 115), (179, 120, 248)]
    # min_count: 日 and 語 each occur twice
    assert character_keys(tok, [text], 8, min_count=3) == []
    assert character_keys(tok, [text], 2) == [(23274, 115)]  # 語 needs 3 parts
    assert character_keys(tok, ["plain ASCII"], 8) == []
    with pytest.raises(toktool.InvalidInputError):
        character_keys(tok, [text], 1)


def test_table_refuses_bad_keys() -> None:
    table = CharacterTable(2, 4, 8)
    with pytest.raises(toktool.InvalidInputError, match="2 rows"):
        table.set_keys([(1, 2)])
    with pytest.raises(toktool.InvalidInputError, match="repeat"):
        table.set_keys([(1, 2), (1, 2)])
    with pytest.raises(toktool.InvalidInputError, match="1..4"):
        table.set_keys([(1, 2), (1, 2, 3, 4, 5)])
    table.set_keys([(1, 2), (3, 4, 5)])
    at, rows = table.lookup([[3, 4, 5], [1], [1, 2], [1, 2, 3]])
    assert at.tolist() == [0, 2] and rows.tolist() == [1, 0]


def test_table_rows_reach_exactly_the_keyed_tokens(tiny_dir: Path, tmp_path: Path) -> None:
    tok, lm = _tok(tiny_dir), _lm(tiny_dir)
    torch.manual_seed(0)
    hypernet = lm.new_hypernet(residual="mean", output_tower=True)
    keys = character_keys(tok, ["日本語 abc é"], hypernet.config.max_length)
    assert len(keys) == 4
    assert [len(k) for k in keys] == [2, 3, 3, 3]  # é, then 日本語 in byte tokens
    # the keys, a prefix of a key, a key with one more part, an ASCII pair
    new_tokens = [list(k) for k in keys] + [list(keys[1][:2]), [*keys[1], 70], [70, 71]]
    n = len(keys)

    def rows(**kwargs):
        with torch.no_grad():
            return (HypernetEmbedder(hypernet, last_part=0.25, **kwargs).predict_rows(new_tokens),
                    HypernetEmbedder(hypernet, output=True, **kwargs).predict_rows(new_tokens))

    plain_in, plain_out = rows()
    table = hypernet.add_table(keys)
    assert hypernet.config.table_size == n
    for got, want in zip(rows(), (plain_in, plain_out)):  # zero rows change nothing
        assert torch.equal(got, want)
    with torch.no_grad():
        table.input.weight.normal_()
        table.output.weight.normal_()
    got_in, got_out = rows()
    for got, plain, side in ((got_in, plain_in, table.input), (got_out, plain_out, table.output)):
        assert torch.allclose(got[:n] - plain[:n], side.weight, atol=1e-5)
        assert torch.equal(got[n:], plain[n:])
    # table=False: the hypernetwork alone
    for got, want in zip(rows(table=False), (plain_in, plain_out)):
        assert torch.equal(got, want)
    # the table is part of the checkpoint
    save_hypernet(hypernet, tmp_path / "hn")
    assert read_checkpoint_meta(tmp_path / "hn")["config"]["table_size"] == n
    loaded = load_hypernet(tmp_path / "hn", hypernet.input_embeddings)
    assert torch.equal(loaded.char_table.keys, table.keys)
    with torch.no_grad():
        again = HypernetEmbedder(loaded, output=True).predict_rows(new_tokens)
    assert torch.equal(again, got_out)
    with pytest.raises(toktool.InvalidInputError):
        hypernet.add_table([])


def _small(monkeypatch: pytest.MonkeyPatch) -> None:
    import toktool.zett.align as align
    import toktool.zett.merge_output as merge_output

    def small(original):
        return lambda **kwargs: original(**{**kwargs, **SMALL})

    monkeypatch.setattr(merge_output, "MergeOutputConfig", small(merge_output.MergeOutputConfig))
    monkeypatch.setattr(align, "AlignConfig", small(align.AlignConfig))


def test_phase_trains_the_table_alone_and_resumes(tiny_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _small(monkeypatch)
    tok, lm = _tok(tiny_dir), _lm(tiny_dir)
    docs = _cjk_docs()
    from toktool import artifacts

    plain = "".join(artifacts.stdlib_corpus(1_200_000))[600_000:700_000]
    texts = {"a": docs["a"][:90_000], "plain": plain}
    held = {"a": docs["a"][90_000:], "plain": plain[:30_000]}
    config = TrainConfig(output_tower=True, residual="mean", table_documents=("a",),
                         table_input_steps=12, table_output_steps=12, table_input_lr=0.1,
                         table_output_lr=0.1)

    def fresh():
        torch.manual_seed(0)
        h = lm.new_hypernet(residual="mean", output_tower=True)
        with torch.no_grad():  # a tower that is not at its initial state
            for p in h.output_tower.parameters():
                p.add_(0.02 * torch.randn_like(p))
        return h

    hypernet = fresh()
    before = {k: v.clone() for k, v in hypernet.state_dict().items()}
    flags = {k: p.requires_grad for k, p in hypernet.named_parameters()}
    summary = _table_phase(hypernet, lm, tok, texts, held, config, tmp_path, True, False)
    keys = character_keys(tok, [texts["a"]], hypernet.config.max_length)
    table = hypernet.char_table
    assert summary["characters"] == len(keys) == hypernet.config.table_size > 0
    assert summary["documents"] == ["a"]
    for side in ("input", "output"):
        done = summary[side]
        assert done["steps_run"] == 12 and set(done["held_out"]) == {0, 4, 8, 12}
        # the last step's rows moved, for the characters the merged windows made single
        # tokens only; the phase ends with its best step's rows
        last = load_hypernet(tmp_path / f"table-{side}", hypernet.input_embeddings)
        moved = int((getattr(last.char_table, side).weight.abs().sum(dim=1) > 0).sum())
        assert 0 < moved < len(keys)
        best = load_hypernet(tmp_path / f"table-{side}-best", hypernet.input_embeddings)
        assert best.config.table_size == len(keys)
        if side == "output":
            assert torch.equal(best.char_table.output.weight, table.output.weight)
        assert torch.equal(best.char_table.keys, table.keys)
    # nothing else moved, and every parameter trains again as before
    after = hypernet.state_dict()
    for name, value in before.items():
        assert torch.equal(after[name], value), name
    assert {k: p.requires_grad for k, p in hypernet.named_parameters()
            if not k.startswith("char_table.")} == flags
    # a second run finds both sides done: the same table, no step run
    again_net = fresh()
    again = _table_phase(again_net, lm, tok, texts, held, config, tmp_path, True, False)
    assert "steps_run" not in again["input"] and "steps_run" not in again["output"]
    assert torch.equal(again_net.char_table.output.weight, table.output.weight)
    assert torch.equal(again_net.char_table.input.weight, table.input.weight)


def test_table_rows_learn_a_batch(tiny_dir: Path) -> None:
    """The table's rows are in both losses' graphs: steps on one batch lower its loss, and
    only rows of characters among that batch's new tokens move."""
    from toktool.zett.align import _draw, _encode_documents, align_loss
    from toktool.zett.merge_output import (
        MergeOutputConfig, _output_rows, merge_output_batch, merge_output_loss, merged_states,
        output_embedder,
    )

    tok, lm = _tok(tiny_dir), _lm(tiny_dir)
    torch.manual_seed(0)
    hypernet = lm.new_hypernet(residual="mean", output_tower=True)
    docs = _cjk_docs()
    config = MergeOutputConfig(**SMALL)
    windows, learn = _draw(_encode_documents(tok, {"a": docs["a"]}, config)["a"], config,
                           np.random.default_rng(0))
    item = merge_output_batch(tok, windows, learn, 30)
    table = hypernet.add_table(character_keys(tok, [docs["a"]], hypernet.config.max_length))
    used = {int(r) for r in table.lookup(item.batch.new_tokens)[1]}
    assert used
    for p in hypernet.parameters():
        p.requires_grad_(False)
    embedder = output_embedder(hypernet, tok, config)

    def input_loss():
        return align_loss(hypernet, lm, item.batch, config.last_part)[0]

    def output_loss():
        states = merged_states(hypernet, lm, item.batch, config.last_part)
        return merge_output_loss(_output_rows(embedder, item, config), states, tok.vocab_size)

    scale = float(hypernet.input_embeddings.std())
    for side, loss_of in ((table.input, input_loss), (table.output, output_loss)):
        side.weight.requires_grad_(True)
        optimizer = torch.optim.SparseAdam([side.weight], lr=0.05 * scale)
        first = float(loss_of().detach())
        for _ in range(10):
            optimizer.zero_grad()
            loss_of().backward()
            optimizer.step()
        assert float(loss_of().detach()) < first
        moved = {int(r) for r in torch.nonzero(side.weight.abs().sum(dim=1)).flatten()}
        # output rows: every new token's row is in the softmax; input rows: those read
        assert moved == used if side is table.output else moved and moved < used
        side.weight.requires_grad_(False)


def test_train_refuses_table_steps_without_documents(tiny_dir: Path, tmp_path: Path) -> None:
    from toktool.hf import load_causal_lm

    tok = _tok(tiny_dir)
    docs = _cjk_docs()
    for config, message in (
            (TrainConfig(steps=0, output_tower=True, table_input_steps=2), "table_documents"),
            (TrainConfig(steps=0, output_tower=True, table_input_steps=2,
                         table_documents=("zz",)), "not there"),
            (TrainConfig(steps=0, table_output_steps=2, table_documents=("a",)),
             "output tower")):
        with pytest.raises(toktool.InvalidInputError, match=message):
            train(load_causal_lm(tiny_dir), tok, [docs["a"][:50_000]], config,
                  tmp_path / "run", align_texts=docs, align_held=docs, progress=False)
        assert not (tmp_path / "run").exists()


def test_cli_trains_a_table_and_reports(tiny_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from toktool.cli.app import app

    docs = _cjk_docs()
    corpus = tmp_path / "corpus.py"
    corpus.write_text(docs["b"][:60_000])
    first = tmp_path / "first.txt"
    first.write_text(docs["a"] + docs["b"])
    args = ["zett", "train", "--model", str(tiny_dir), "--corpus", str(corpus),
            "--out", str(tmp_path / "hn"), "--layers", "1", "--reconstruct-steps", "2",
            "--output-texts", "24", "--align-corpus", str(first), "--table-input-steps", "2",
            "--table-output-steps", "2"]
    res = CliRunner().invoke(app, [*args, "--table-documents", "doc0"])
    assert res.exit_code == 0, res.output
    assert "character table:" in res.output and "table output rows" in res.output
    meta = json.loads((tmp_path / "hn" / "checkpoint" / "hypernet.json").read_text())
    assert meta["config"]["table_size"] == meta["reconstruction"]["table"]["characters"] > 0
    assert meta["reconstruction"]["table"]["output"]["steps_run"] == 2
    # no documents named: refused before any work, exit code 2
    args[args.index("--out") + 1] = str(tmp_path / "hn2")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "table_documents" in res.output, res.output
    assert not (tmp_path / "hn2").exists()
    assert "--table-documents" in CliRunner().invoke(app, ["zett", "train", "--help"]).output
