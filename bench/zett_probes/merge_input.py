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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
from eval_merge import windows  # noqa: E402

import toktool  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.hf import load_causal_lm  # noqa: E402
from toktool.merge import (DynamicTokenizer, apply_merges, merge_batch,  # noqa: E402
                           merged_bits)
from toktool.zett.continuation import ContinuationCounts  # noqa: E402
from toktool.zett.model import HypernetEmbedder  # noqa: E402
from toktool.zett.train import FrozenLM  # noqa: E402

ALPHAS = [float(a) for a in (sys.argv[1] if len(sys.argv) > 1 else "0,0.25,0.5").split(",")]
BUDGET = None if len(sys.argv) > 2 and sys.argv[2] == "sat" else int(
    sys.argv[2] if len(sys.argv) > 2 else 100)
CKPT = artifacts.cache_dir() / "zett" / "smollm2-mean-r500-i10-op60-ml30-s0" / "checkpoint"

corpus = artifacts.multilingual_corpus()
tok = toktool.load_tokenizer("smollm2")
model = load_causal_lm("smollm2")
eos = tok.special_tokens["<|endoftext|>"]
hypernet = FrozenLM(model).load_hypernet(CKPT)
hypernet.eval()


class LastMix:
    def __init__(self, inner, alpha):
        self.inner, self.alpha = inner, alpha
        self.embedding_matrix = inner.embedding_matrix

    def embed(self, new_tokens):
        rows = self.inner.embed(new_tokens)
        last = self.embedding_matrix[[int(t[-1]) for t in new_tokens]].to(rows.dtype)
        return (1 - self.alpha) * rows + self.alpha * last


results = {}
for split, start in (("val", 0.5), ("test", 0.8)):
    for lang in artifacts.LANGUAGES:
        batch = windows(tok, corpus[lang], start, 2 + 32, 512)
        scored, learn = batch[:2], batch[2:]
        texts = [tok.decode_bytes(list(s)).decode("utf-8", errors="replace") for s in learn]
        emb_out = HypernetEmbedder(hypernet, output=True, tokenizer=tok,
                                   continuation=ContinuationCounts(tok, texts))
        base_res = apply_merges(scored, tok, [])
        dyn0 = DynamicTokenizer(tok, HypernetEmbedder(hypernet), max_merges=0, bos_id=eos,
                                cache_size=0)
        e0 = dyn0.embed(base_res)
        base = sum(merged_bits(model, e0, emb_out)) / sum(e0.n_bytes)
        result = apply_merges(scored, tok, merge_batch(learn, tok, BUDGET).merges)
        row = {}
        for alpha in ALPHAS:
            dyn = DynamicTokenizer(tok, LastMix(HypernetEmbedder(hypernet), alpha),
                                   max_merges=BUDGET, bos_id=eos, cache_size=0)
            emb = dyn.embed(result)
            row[alpha] = sum(merged_bits(model, emb, emb_out)) / sum(emb.n_bytes) - base
        print(split, lang, {a: round(v, 3) for a, v in row.items()}, flush=True)
        for a, v in row.items():
            results.setdefault((split, a), []).append(v)
for (split, a), v in sorted(results.items()):
    print("mean", split, a, round(float(np.mean(v)), 3), flush=True)
