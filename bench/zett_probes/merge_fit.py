"""Dynamic merging with the merged tokens' rows fitted on the merge batch
(`toktool.merge.fit_new_rows`): each new token's input and/or output row is moved by gradient
descent (SmolLM2 frozen) to lower the merged-and-predicted loss on the 32 windows the merges
were learned on, then eval_merge's test windows (never seen by the fit) are scored.

Variants are ``INIT:SIDES:STEPS:LR``: INIT ``hn`` (the merge checkpoint's rows, the default
embedder: last-part mix, continuation prior) or ``fvt``; SIDES ``both``, ``input`` or
``output``; LR in units of the embedding matrix's standard deviation. ``--scored`` also fits on
the scored windows themselves (an overfitting bound: the rows learn the bytes they are scored
on). ``--bias-control``: the same budget of adaptation for the unmerged model, a logit bias per
original token fitted on the same 32 windows unmerged (how much of a fit's gain is adapting to
the document rather than undoing the cost of merging).

Usage: python bench/zett_probes/merge_fit.py [LANGS] [BUDGET|sat] [VARIANT,...|none] [--scored]
       [--bias-control]
"""
import sys
import time

import numpy as np
import torch
from merge_common import MergeProbe

from toktool.merge import (DynamicTokenizer, FVTEmbedder, apply_merges, fit_new_rows,
                           merge_batch, merged_bits)
from toktool.zett.model import HypernetEmbedder

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
LANGS = (ARGS[0] if ARGS else "ja,zh-cn,de").split(",")
BUDGET = None if len(ARGS) > 1 and ARGS[1] == "sat" else int(ARGS[1] if len(ARGS) > 1 else 100)
VARIANTS = [v for v in (ARGS[2] if len(ARGS) > 2 else "hn:both:64:0.02").split(",")
            if v != "none"]

p = MergeProbe()


def fitted_bias(learn, steps=256, lr=0.05):
    """A logit bias over the original vocabulary fitted to the unmerged model's loss on
    ``learn`` (hidden states computed once)."""
    vocab = p.tok.vocab_size
    weight = p.head.weight[:vocab].detach()
    captured = []
    hook = p.head.register_forward_hook(lambda _m, a, _o: captured.append(a[0]))
    cached = []
    with torch.no_grad():
        for seq in learn:
            ids = torch.tensor([[p.eos, *seq]])
            captured.clear()
            p.model(input_ids=ids)
            cached.append(((captured[-1][0, :-1] @ weight.T).float(), ids[0, 1:]))
    hook.remove()
    bias = torch.zeros(vocab, requires_grad=True)
    opt = torch.optim.Adam([bias], lr=lr)
    for step in range(steps):
        logits, targets = cached[step % len(cached)]
        loss = -torch.log_softmax(logits + bias, -1).gather(1, targets[:, None]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return bias.detach().double()


fvt = (FVTEmbedder.from_model(p.model), FVTEmbedder.from_model(p.model, output=True))
results: dict = {}
for lang in LANGS:
    scored, learn, counts = p.split(lang)
    learned = merge_batch(learn, p.tok, BUDGET)
    hn = (HypernetEmbedder(p.hypernet),
          HypernetEmbedder(p.hypernet, output=True, tokenizer=p.tok, continuation=counts))
    e0 = DynamicTokenizer(p.tok, hn[0], max_merges=0, bos_id=p.eos, cache_size=0).embed(
        apply_merges(scored, p.tok, []))
    base = sum(merged_bits(p.model, e0, hn[1])) / sum(e0.n_bytes)
    applied = apply_merges(scored, p.tok, learned.merges)

    def excess(emb_in, emb_out):
        dyn = DynamicTokenizer(p.tok, emb_in, max_merges=BUDGET, bos_id=p.eos, cache_size=0)
        e = dyn.embed(applied)
        return sum(merged_bits(p.model, e, emb_out)) / sum(e.n_bytes) - base

    row = {"hn": excess(*hn), "fvt": excess(*fvt)} if VARIANTS else {}
    if "--bias-control" in sys.argv:
        adapted = sum(merged_bits(p.model, e0, hn[1], bias=fitted_bias(learn))) / sum(e0.n_bytes)
        row["unmerged + fitted bias"] = adapted - base
        print(f"  unmerged + fitted bias: {row['unmerged + fitted bias']:+.3f}", flush=True)
    print(f"{lang}: {len(learned.new_tokens)} merges, unmerged {base:.3f}"
          + "".join(f", {k} {v:+.3f}" for k, v in row.items()), flush=True)
    for variant in VARIANTS:
        init, sides, steps, lr = variant.split(":")
        emb = hn if init == "hn" else fvt
        fits = {"learn": learned}
        if "--scored" in sys.argv:
            fits["scored"] = applied
        for on, result in fits.items():
            dyn = DynamicTokenizer(p.tok, emb[0], max_merges=BUDGET, bos_id=p.eos, cache_size=0)
            t0 = time.time()
            fit_in, fit_out = fit_new_rows(p.model, dyn.embed(result), emb[0], emb[1],
                                           steps=int(steps), lr=float(lr), sides=sides)
            key = variant + ("" if on == "learn" else " on scored")
            row[key] = excess(fit_in, fit_out)
            print(f"  {key}: {row[key]:+.3f} ({time.time() - t0:.0f} s)", flush=True)
    for k, v in row.items():
        results.setdefault(k, []).append(v)
for k, v in results.items():
    print(f"mean {k}: {np.mean(v):+.3f} over {len(v)}", flush=True)
