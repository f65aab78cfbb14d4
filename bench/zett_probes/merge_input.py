"""Dynamic merging, the input side: a merged token's input row mixed with its last part's
embedding, (1 - alpha) * hypernetwork + alpha * e_last (the next prediction reads the merged
token, and what it needs most is where the token ends: a merged CJK token that stops inside a
character must say which bytes are still open). bench/eval_merge.py's protocol (merges learned
on 32 windows, applied to 2 others, output rows with the continuation prior), on validation
windows (from 50% of each document, text the merge checkpoint's distillation read) and on the
test windows (80%, eval_merge's).

Usage: python bench/zett_probes/merge_input.py [ALPHAS] [BUDGET|sat]
"""
import sys

import numpy as np
from merge_common import MergeProbe

from toktool import artifacts
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch, merged_bits
from toktool.zett.model import HypernetEmbedder

ALPHAS = [float(a) for a in (sys.argv[1] if len(sys.argv) > 1 else "0,0.25,0.5").split(",")]
BUDGET = None if len(sys.argv) > 2 and sys.argv[2] == "sat" else int(
    sys.argv[2] if len(sys.argv) > 2 else 100)

p = MergeProbe()
results = {}
for split, start in (("val", 0.5), ("test", 0.8)):
    for lang in artifacts.LANGUAGES:
        scored, learn, counts = p.split(lang, start)
        emb_out = HypernetEmbedder(p.hypernet, output=True, tokenizer=p.tok, continuation=counts)
        dyn0 = DynamicTokenizer(p.tok, HypernetEmbedder(p.hypernet), max_merges=0,
                                bos_id=p.eos, cache_size=0)
        e0 = dyn0.embed(apply_merges(scored, p.tok, []))
        base = sum(merged_bits(p.model, e0, emb_out)) / sum(e0.n_bytes)
        result = apply_merges(scored, p.tok, merge_batch(learn, p.tok, BUDGET).merges)
        row = {}
        for alpha in ALPHAS:
            dyn = DynamicTokenizer(p.tok, HypernetEmbedder(p.hypernet, last_part=alpha),
                                   max_merges=BUDGET, bos_id=p.eos, cache_size=0)
            emb = dyn.embed(result)
            row[alpha] = sum(merged_bits(p.model, emb, emb_out)) / sum(emb.n_bytes) - base
        print(split, lang, {a: round(v, 3) for a, v in row.items()}, flush=True)
        for a, v in row.items():
            results.setdefault((split, a), []).append(v)
for (split, a), v in sorted(results.items()):
    print("mean", split, a, round(float(np.mean(v)), 3), flush=True)
