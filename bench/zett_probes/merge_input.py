"""Dynamic merging, the input side: a merged token's input row mixed with its last part's
embedding, (1 - alpha) * hypernetwork + alpha * e_last (the next prediction reads the merged
token, and what it needs most is where the token ends: a merged CJK token that stops inside a
character must say which bytes are still open). bench/eval_merge.py's protocol (merges learned
on 32 windows, applied to 2 others, output rows with the continuation prior), on validation
windows (from 50% of each document, text the merge checkpoint's distillation read) and on the
test windows (80%, eval_merge's).

An alpha written ``A:B`` uses B for merged tokens whose bytes end inside a UTF-8 character
and A for the others.

Usage: python bench/zett_probes/merge_input.py [ALPHAS] [BUDGET|sat]
"""
import sys

import numpy as np
from merge_common import MergeProbe

from toktool import artifacts
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch, merged_bits
from toktool.zett.model import HypernetEmbedder

ALPHAS = (sys.argv[1] if len(sys.argv) > 1 else "0,0.25,0.5").split(",")
BUDGET = None if len(sys.argv) > 2 and sys.argv[2] == "sat" else int(
    sys.argv[2] if len(sys.argv) > 2 else 100)

p = MergeProbe()
VOCAB = p.tok.all_token_bytes()


def ends_open(raw: bytes) -> bool:
    """Whether ``raw`` ends inside a UTF-8 character (a lead byte without all its continuation)."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 != 0x80:  # a lead (or ASCII) byte
            need = 1 if byte < 0x80 else 2 if byte >= 0xC0 and byte < 0xE0 else \
                3 if byte < 0xF0 else 4
            return need > back
    return False


class SplitAlpha(HypernetEmbedder):
    """last_part A, or B for merged tokens that end inside a character."""

    def __init__(self, hypernet, a: float, b: float):
        super().__init__(hypernet, last_part=0.0)
        self.a, self.b = a, b

    def embed(self, new_tokens):
        import torch

        rows = super().embed(new_tokens)
        w = torch.tensor([self.b if ends_open(b"".join(bytes(VOCAB[int(i)] or b"") for i in t))
                          else self.a for t in new_tokens], dtype=rows.dtype)[:, None]
        last = self.embedding_matrix[[int(t[-1]) for t in new_tokens]].to(rows.dtype)
        return (1 - w) * rows + w * last


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
            a, _, b = alpha.partition(":")
            dyn = DynamicTokenizer(p.tok, SplitAlpha(p.hypernet, float(a), float(b or a)),
                                   max_merges=BUDGET, bos_id=p.eos, cache_size=0)
            emb = dyn.embed(result)
            row[alpha] = sum(merged_bits(p.model, emb, emb_out)) / sum(emb.n_bytes) - base
        print(split, lang, {a: round(v, 3) for a, v in row.items()}, flush=True)
        for a, v in row.items():
            results.setdefault((split, a), []).append(v)
for (split, a), v in sorted(results.items()):
    print("mean", split, a, round(float(np.mean(v)), 3), flush=True)
