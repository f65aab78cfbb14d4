"""Dynamic merging with the continuation prior on the merged tokens' output rows: bench/eval_merge.py's
quality protocol (merges learned on 32 windows, applied to 2 held-out windows per language),
the merge checkpoint's rows against HypernetEmbedder(continuation=...): mixed MIX with first part + a prior counted
on the text of the windows the merges were learned on.

Usage: python bench/zett_probes/merge_prior.py [MIX]
"""
import sys

import numpy as np
from merge_common import MergeProbe

from toktool import artifacts
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch, merged_bits
from toktool.zett.model import HypernetEmbedder

MIX = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5

p = MergeProbe()
emb_in, emb_out = HypernetEmbedder(p.hypernet), HypernetEmbedder(p.hypernet, output=True)
means = {}
for lang in artifacts.LANGUAGES:
    scored, learn, counts = p.split(lang)
    row = {}
    for label, budget in (("base", 0), ("100", 100), ("sat", None)):
        result = apply_merges(scored, p.tok, merge_batch(learn, p.tok, budget).merges)
        dyn = DynamicTokenizer(p.tok, emb_in, max_merges=budget, bos_id=p.eos, cache_size=0)
        embedded = dyn.embed(result)
        nbytes = sum(embedded.n_bytes)
        row[label] = sum(merged_bits(p.model, embedded, emb_out)) / nbytes
        if budget != 0:
            prior_out = HypernetEmbedder(p.hypernet, output=True, continuation=counts,
                                         tokenizer=p.tok, mix=MIX)
            row[label + "+prior"] = sum(merged_bits(p.model, embedded, prior_out)) / nbytes
    print(lang, {k: round(v - row["base"], 3) if k != "base" else round(v, 3)
                 for k, v in row.items()}, flush=True)
    for k, v in row.items():
        means.setdefault(k, []).append(v - row["base"] if k != "base" else v)
print("mean", {k: round(float(np.mean(v)), 3) for k, v in means.items()})
