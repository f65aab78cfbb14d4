"""A per-character table for single-character merged tokens, on one side at a time: each
character that SmolLM2 spells with several tokens and that a merge joins into one token gets a
free row, added to the merge checkpoint's row for that token (zero at the start) and trained
on merged windows of the first 40% of the given documents with the side's own loss (output:
toktool.zett.merge_output's cross-entropy; input: toktool.zett.align's KL), the hypernetwork
frozen, rows moved only in steps that use them (SparseAdam). Then scored with eval_merge's
protocol at 100 merges on windows from START of each document, with and without the table.

    python bench/zett_probes/merge_chartable.py output|input|both STEPS LR LANGS [START]

LR is in units of the embedding matrix's standard deviation; LANGS are the training documents
(e.g. ja,zh-cn), also the ones scored; START 0.5 (validation) by default, 0.8 for the test
text. ``both``: an input table, then an output table trained with the input table in the rows
the LM reads; STEPS and LR are then pairs, input first (``200,120 0.05,0.02``).
docs/MERGE.md (*Single characters*) has the runs."""
import math
import sys
import time

import numpy as np
import torch
from merge_common import MergeProbe

import toktool.zett.model as zett_model
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch
from toktool.zett.align import AlignConfig, _draw, _encode_documents, align_batch, align_loss
from toktool.zett.merge_output import (
    MergeOutputConfig,
    _output_rows,
    merge_output_batch,
    merge_output_loss,
    merged_states,
    output_embedder,
)
from toktool.zett.model import HypernetEmbedder
from toktool.zett.train import FrozenLM

SIDES = ("input", "output") if sys.argv[1] == "both" else (sys.argv[1],)
STEPS = dict(zip(SIDES, map(int, sys.argv[2].split(","))))
LR = dict(zip(SIDES, map(float, sys.argv[3].split(","))))
LANGS = sys.argv[4].split(",")
START = float(sys.argv[5]) if len(sys.argv) > 5 else 0.5

p = MergeProbe()
tok, V = p.tok, p.tok.vocab_size
lm = FrozenLM(p.model)
hypernet = p.hypernet
for param in hypernet.parameters():
    param.requires_grad_(False)
spellings = tok.all_token_bytes()
weights = p.model.get_input_embeddings().weight
table: dict[str, int] = {}  # character -> row, shared by the two sides' tables
delta = {side: torch.nn.Embedding(20000, weights.shape[1], sparse=True) for side in SIDES}
for rows in delta.values():
    torch.nn.init.zeros_(rows.weight)
state = {"grow": True, "on": True}


def char_of(parts):
    try:
        text = b"".join(bytes(spellings[i]) for i in parts).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if len(text) == 1 else None


def with_table(rows, new_tokens, side):
    ids, at = [], []
    for k, parts in enumerate(new_tokens):
        ch = char_of(parts)
        if ch is not None and (state["grow"] or ch in table):
            ids.append(table.setdefault(ch, len(table)))
            at.append(k)
    if not at or not state["on"]:
        return rows
    add = delta[side](torch.tensor(ids)).to(rows.dtype)
    return rows + torch.zeros_like(rows).index_add(0, torch.tensor(at), add)


original_rows = zett_model.HypernetEmbedder.predict_rows


def predict_rows(self, new_tokens):
    rows = original_rows(self, new_tokens)
    side = "output" if self.output else "input"
    return with_table(rows, new_tokens, side) if side in SIDES else rows


zett_model.HypernetEmbedder.predict_rows = predict_rows  # both the training and scoring paths

docs = p.corpus


def train(side):
    config = MergeOutputConfig() if side == "output" else AlignConfig()
    sources = _encode_documents(tok, {n: docs[n][: int(len(docs[n]) * 0.4)] for n in LANGS},
                                config)
    optimizer = torch.optim.SparseAdam(list(delta[side].parameters()),
                                       lr=LR[side] * float(weights.std()))
    embedder = output_embedder(hypernet, tok, config) if side == "output" else None
    rng = np.random.default_rng(0)
    names = sorted(sources)
    began = time.perf_counter()
    for step in range(STEPS[side]):
        name = names[step % len(names)]
        windows, learn = _draw(sources[name], config, rng)
        budget = config.budgets[int(rng.integers(len(config.budgets)))]
        if side == "output":
            item = merge_output_batch(tok, windows, learn, budget)
            if not item.batch.new_tokens:
                continue
            states = merged_states(hypernet, lm, item.batch, config.last_part)
            loss = merge_output_loss(_output_rows(embedder, item, config), states, V)
        else:
            loss, n = align_loss(hypernet, lm, align_batch(tok, windows, learn, budget),
                                 config.last_part)
            if not n:
                continue
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 0:
            print(f"{side} step {step} {name} loss {float(loss.detach()):.4f} characters "
                  f"{len(table)} {time.perf_counter() - began:.0f} s", flush=True)


for side in SIDES:
    train(side)
state["grow"] = False
print(f"{len(table)} characters in the table")
emb_in = HypernetEmbedder(hypernet, last_part=0.25)
for lang in LANGS:
    scored, learn, counts = p.split(lang, START)
    emb_out = HypernetEmbedder(hypernet, output=True, continuation=counts, tokenizer=tok)
    dyn0 = DynamicTokenizer(tok, emb_in, max_merges=0, bos_id=p.eos, cache_size=0)
    plain = dyn0.embed(apply_merges(scored, tok, []))
    nbytes = sum(plain.n_bytes)
    base = -sum(float(x.sum()) for x in p.position_logp(plain)) / math.log(2) / nbytes
    result = apply_merges(scored, tok, merge_batch(learn, tok, 100).merges)
    excess = []
    for on in (False, True):
        state["on"] = on
        dyn = DynamicTokenizer(tok, emb_in, max_merges=100, bos_id=p.eos, cache_size=0)
        rows = emb_out.embed(result.new_tokens).float()
        bits = -sum(float(x.sum()) for x in p.position_logp(dyn.embed(result), rows))
        excess.append(bits / math.log(2) / nbytes - base)
    print(f"{lang} (windows from {START:.0%}), 100 merges: without the table "
          f"{excess[0]:+.3f}, with it {excess[1]:+.3f} bits/byte", flush=True)
