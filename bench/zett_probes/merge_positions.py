"""Dynamic merging, positions: a merged token read at the position of its last part (the
original sequence's positions, so RoPE distances between tokens stay what the model was
trained on) instead of its index in the shortened sequence. bench/eval_merge.py's protocol
(merges learned on 32 windows, applied to 2 others; input rows with the last part mixed in,
output rows with the continuation prior), on validation windows (50% of each document) and
the test windows (80%, eval_merge's).

Usage: python bench/zett_probes/merge_positions.py [BUDGET|sat] [val,test]
"""
import math
import sys

import numpy as np
import torch
from merge_common import MergeProbe

from toktool import artifacts
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch
from toktool.zett.model import HypernetEmbedder

BUDGET = None if len(sys.argv) > 1 and sys.argv[1] == "sat" else int(
    sys.argv[1] if len(sys.argv) > 1 else 100)
SPLITS = (sys.argv[2] if len(sys.argv) > 2 else "val,test").split(",")
LANGS = [x for x in (sys.argv[3] if len(sys.argv) > 3 else ",".join(artifacts.LANGUAGES)).split(",")]

p = MergeProbe()


def bits(embedded, rows, original_positions):
    """Total bits of the batch (as merged_bits), positions merged or original."""
    vocab = p.tok.vocab_size
    captured = []
    hook = p.head.register_forward_hook(lambda _m, a, _o: captured.append(a[0]))
    total = 0.0
    try:
        with torch.no_grad():
            for b in range(embedded.input_ids.shape[0]):
                n = int(embedded.attention_mask[b].sum())
                kw = {}
                if original_positions:
                    spans = embedded.result.spans[embedded.sequences[b]]
                    pos = [0] + [end for _start, end in spans]
                    assert len(pos) == n, (len(pos), n)
                    kw["position_ids"] = torch.tensor([pos])
                captured.clear()
                p.model(inputs_embeds=embedded.inputs_embeds[b: b + 1, :n],
                        attention_mask=embedded.attention_mask[b: b + 1, :n], **kw)
                hidden = captured[-1][0, :-1]
                logits = hidden @ p.head.weight[:vocab].T
                if rows is not None:
                    logits = torch.cat([logits, hidden @ rows.T], -1)
                logp = torch.log_softmax(logits.double(), -1)
                total -= float(logp.gather(1, embedded.input_ids[b, 1:n].unsqueeze(1)).sum())
    finally:
        hook.remove()
    return total / math.log(2) / sum(embedded.n_bytes)


results = {}
for split in SPLITS:
    start = {"val": 0.5, "test": 0.8}[split]
    for lang in LANGS:
        scored, learn, counts = p.split(lang, start)
        emb_out = HypernetEmbedder(p.hypernet, output=True, tokenizer=p.tok, continuation=counts)
        dyn = DynamicTokenizer(p.tok, HypernetEmbedder(p.hypernet), max_merges=BUDGET,
                               bos_id=p.eos, cache_size=0)
        e0 = dyn.embed(apply_merges(scored, p.tok, []))
        base = bits(e0, None, False)
        merged = dyn.embed(apply_merges(scored, p.tok, merge_batch(learn, p.tok, BUDGET).merges))
        rows = emb_out.embed(merged.result.new_tokens).to(p.head.weight.dtype) \
            if merged.result.new_tokens else None
        row = {"merged positions": bits(merged, rows, False) - base,
               "original positions": bits(merged, rows, True) - base}
        print(split, lang, {k: round(v, 3) for k, v in row.items()}, flush=True)
        for k, v in row.items():
            results.setdefault((split, k), []).append(v)
for (split, k), v in sorted(results.items()):
    print("mean", split, k, round(float(np.mean(v)), 3), flush=True)
