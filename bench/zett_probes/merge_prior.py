"""Dynamic merging with the continuation prior on the merged tokens' output rows: bench/eval_merge.py's
quality protocol (merges learned on 32 windows, applied to 2 others per language), the merge
checkpoint's rows against HypernetEmbedder(continuation=..., mix=MIX): mixed MIX with the first
part's row + a prior counted on the text of the windows the merges were learned on; on
validation windows (from 50% of each document) and the test windows (80%, eval_merge's).

Usage: python bench/zett_probes/merge_prior.py [MIXES]
"""
import sys

import numpy as np
from merge_common import MergeProbe

from toktool import artifacts
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch, merged_bits
from toktool.zett.model import HypernetEmbedder

MIXES = [float(m) for m in (sys.argv[1] if len(sys.argv) > 1 else "0.5").split(",")]

p = MergeProbe()
emb_in, emb_out = HypernetEmbedder(p.hypernet), HypernetEmbedder(p.hypernet, output=True)
means: dict = {}
for split, start in (("val", 0.5), ("test", 0.8)):
    for lang in artifacts.LANGUAGES:
        scored, learn, counts = p.split(lang, start)
        row = {}
        for label, budget in (("base", 0), ("100", 100), ("sat", None)):
            result = apply_merges(scored, p.tok, merge_batch(learn, p.tok, budget).merges)
            dyn = DynamicTokenizer(p.tok, emb_in, max_merges=budget, bos_id=p.eos, cache_size=0)
            embedded = dyn.embed(result)
            nbytes = sum(embedded.n_bytes)
            row[label] = sum(merged_bits(p.model, embedded, emb_out)) / nbytes
            if budget == 0:
                continue
            for mix in MIXES:
                prior_out = HypernetEmbedder(p.hypernet, output=True, continuation=counts,
                                             tokenizer=p.tok, mix=mix)
                row[f"{label} mix {mix}"] = sum(merged_bits(p.model, embedded, prior_out)) / nbytes
        print(split, lang, {k: round(v - row["base"], 3) if k != "base" else round(v, 3)
                            for k, v in row.items()}, flush=True)
        for k, v in row.items():
            means.setdefault((split, k), []).append(v - row["base"] if k != "base" else v)
for (split, k), v in means.items():
    print("mean", split, k, round(float(np.mean(v)), 3), flush=True)
