"""Where dynamic merging's excess bits go: bench/eval_merge.py's protocol at 100 merges (merges
learned on 32 windows, applied to 2 held-out windows per language, hypernetwork embedder with
the continuation prior), each merged position's loss against the unmerged model's loss over the
same original tokens, summed by the kind of target: a merged token, an original token right
after a merged one (the input just read is new), or another original token.

Usage: python bench/zett_probes/merge_excess.py [LANGS] [BUDGET]
"""
import math
import sys

from merge_common import MergeProbe

from toktool.merge import DynamicTokenizer, apply_merges, merge_batch
from toktool.zett.model import HypernetEmbedder

LANGS = sys.argv[1].split(",") if len(sys.argv) > 1 else ["ja", "zh-cn", "de", "en"]
BUDGET = int(sys.argv[2]) if len(sys.argv) > 2 else 100

p = MergeProbe()
tok = p.tok
emb_in = HypernetEmbedder(p.hypernet, last_part=0.0)  # the rows alone, as measured

for lang in LANGS:
    scored, learn, counts = p.split(lang)
    emb_out = HypernetEmbedder(p.hypernet, output=True, continuation=counts, tokenizer=tok)
    base = apply_merges(scored, tok, [])
    dyn0 = DynamicTokenizer(tok, emb_in, max_merges=0, bos_id=p.eos, cache_size=0)
    base_nats = [-x for x in p.position_logp(dyn0.embed(base))]
    result = apply_merges(scored, tok, merge_batch(learn, tok, BUDGET).merges)
    dyn = DynamicTokenizer(tok, emb_in, max_merges=BUDGET, bos_id=p.eos, cache_size=0)
    embedded = dyn.embed(result)
    rows = emb_out.embed(result.new_tokens).float() if result.new_tokens else None
    nats = [-x for x in p.position_logp(embedded, rows)]
    kinds = {"merged target": [0.0, 0.0, 0], "original after merged": [0.0, 0.0, 0],
             "other original": [0.0, 0.0, 0]}
    nbytes = sum(embedded.n_bytes)
    for s, ids in enumerate(result.ids):
        for j, (tid, (a, b)) in enumerate(zip(ids, result.spans[s])):
            new = tid >= tok.vocab_size
            after = j > 0 and ids[j - 1] >= tok.vocab_size
            kind = ("merged target" if new else
                    "original after merged" if after else "other original")
            k = kinds[kind]
            k[0] += float(nats[s][j]) / math.log(2)
            k[1] += float(base_nats[s][a:b].sum()) / math.log(2)
            k[2] += 1
    print(lang, "bytes", nbytes, flush=True)
    for kind, (m, u, c) in kinds.items():
        print(f"  {kind:24s} n={c:5d} merged {m / nbytes:.3f} unmerged {u / nbytes:.3f} "
              f"excess {(m - u) / nbytes:+.3f} bits/byte", flush=True)
