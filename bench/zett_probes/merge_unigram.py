"""Dynamic merging with a label-shift correction (docs/ZETT.md's unigram shift) on
bench/eval_merge.py's protocol: merges learned on 32 windows, applied to 2 held-out windows per
language, the merge checkpoint's embedder with the continuation prior. Variants, with lambda:

- ``merged``: each merged token's output logit moves by lambda * ln(p_after(m) / p_implied(m)),
  p_after its frequency in the merged learn batch, p_implied its first part's frequency in the
  unmerged learn batch times exp(continuation prior).
- ``+orig``: also every original token's logit by lambda * ln(p_after(t) / p_before(t)) (the
  learn batch merged and not): first parts that merges absorb become rarer.

``--smoothing S`` (pseudo-occurrences, 1 by default) and ``--val`` (validation windows from
50% of each document instead of the test windows) as further arguments.

Usage: python bench/zett_probes/merge_unigram.py [BUDGET] [LAMBDAS] [--smoothing S] [--val]
"""
import math
import sys

import numpy as np
import torch
from merge_common import MergeProbe

from toktool import artifacts
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch, unigram_bias
from toktool.zett.model import HypernetEmbedder

FLAGS = [a for a in sys.argv[1:] if a.startswith("--")]
SMOOTHING = float(sys.argv[sys.argv.index("--smoothing") + 1]) if "--smoothing" in FLAGS else 1.0
START = 0.5 if "--val" in FLAGS else 0.8
ARGS = [a for a in sys.argv[1:] if not a.startswith("--") and a != str(sys.argv[sys.argv.index(
    "--smoothing") + 1] if "--smoothing" in FLAGS else None)]
BUDGET = None if ARGS and ARGS[0] == "sat" else int(ARGS[0] if ARGS else 100)
LAMBDAS = [float(x) for x in (ARGS[1] if len(ARGS) > 1 else "0.5,1").split(",")]

p = MergeProbe()
tok, V = p.tok, p.tok.vocab_size
emb_in = HypernetEmbedder(p.hypernet, last_part=0.0)  # the rows alone, as measured


def bits(embedded, rows=None, bias=None):
    orig, new = (None, None) if bias is None else (
        torch.as_tensor(bias[:V], dtype=torch.float32),
        torch.as_tensor(bias[V:], dtype=torch.float32))
    return -sum(float(x.sum()) for x in p.position_logp(embedded, rows, orig, new)) / math.log(2)


means: dict = {}
for lang in artifacts.LANGUAGES:
    scored, learn, counts = p.split(lang, START)
    emb_out = HypernetEmbedder(p.hypernet, output=True, continuation=counts, tokenizer=tok)
    dyn0 = DynamicTokenizer(tok, emb_in, max_merges=0, bos_id=p.eos, cache_size=0)
    emb0 = dyn0.embed(apply_merges(scored, tok, []))
    nbytes = sum(emb0.n_bytes)
    base = bits(emb0) / nbytes
    learned = merge_batch(learn, tok, BUDGET)
    result = apply_merges(scored, tok, learned.merges)
    dyn = DynamicTokenizer(tok, emb_in, max_merges=BUDGET, bos_id=p.eos, cache_size=0)
    embedded = dyn.embed(result)
    rows = emb_out.embed(result.new_tokens).float()
    prior = emb_out.continuation_prior(learned.new_tokens)
    row = {"default": bits(embedded, rows) / nbytes - base}
    for lam in LAMBDAS:
        full = unigram_bias(learned, learn, lam, prior, smoothing=SMOOTHING)
        merged_only = full.copy()
        merged_only[:V] = 0.0
        row[f"merged {lam}"] = bits(embedded, rows, merged_only) / nbytes - base
        row[f"+orig {lam}"] = bits(embedded, rows, full) / nbytes - base
    print(lang, {k2: round(v, 3) for k2, v in row.items()}, flush=True)
    for k2, v in row.items():
        means.setdefault(k2, []).append(v)
print("mean", {k2: round(float(np.mean(v)), 3) for k2, v in means.items()}, flush=True)
