"""A continuation prior from counts of the parts' token n-grams (p1 .. pk) in SmolLM2's own
tokenization of the training text; bases first part / mean / their average.

Usage: python bench/zett_probes/ngram.py cl100k,code-bpe
"""
import sys
import time

import numpy as np
import torch
from common import Probe, parts_tensors

from toktool.zett.decompose import decompose_vocab
from toktool.zett.transfer import new_embeddings

MULT = np.uint64(0x9E3779B97F4A7C15)


def ngram_hashes(rows: np.ndarray) -> np.ndarray:
    h = np.zeros(len(rows), np.uint64)
    with np.errstate(over="ignore"):
        for j in range(rows.shape[1]):
            h = h * MULT + rows[:, j].astype(np.uint64) + np.uint64(1)
    return h


p = Probe()
t0 = time.time()
streams = p.original.encode_batch(p.corpus(), as_array=True)
tables = {}
for k in range(1, 9):
    hs = [ngram_hashes(np.lib.stride_tricks.sliding_window_view(s, k)) for s in streams if len(s) >= k]
    tables[k] = np.unique(np.concatenate(hs), return_counts=True)
print("counted", round(time.time() - t0), "s", sum(len(s) for s in streams), "tokens", flush=True)


def count_of(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths), np.int64)
    for k in range(1, 9):
        rows = np.nonzero(lengths == k)[0]
        if len(rows):
            keys, counts = tables[k]
            h = ngram_hashes(ids[rows, :k])
            at = np.minimum(np.searchsorted(keys, h), len(keys) - 1)
            out[rows] = np.where(keys[at] == h, counts[at], 0)
    return out


b, u = p.length_bias, p.direction
for name in sys.argv[1].split(","):
    target = p.target(name)
    fvt = new_embeddings(p.model, p.original, target, method="fvt")
    hyp = new_embeddings(p.model, p.original, target, method="hypernet", hypernet=p.ref)
    parts = decompose_vocab(target, p.original, 8)
    ids, lengths = np.asarray(parts.ids), np.asarray(parts.lengths)
    c_full = count_of(ids, lengths)
    first = np.where(lengths >= 1, ids[:, 0], 0)
    c_first = count_of(first[:, None], np.ones(len(first), np.int64))
    k1, multi = parts_tensors(lengths)
    fvt8 = hyp.output_rows - b * k1 * u * multi
    e_first = p.emb[torch.as_tensor(first)]
    print(name, "multi-part tokens seen in corpus:", int(((lengths > 1) & (c_full > 0)).sum()),
          "of", int((lengths > 1).sum()), flush=True)
    hin = hyp.input_rows
    variants = {"default": (hin, hyp.output_rows), "first+len": (hin, e_first + b * k1 * u)}
    for lam in (1.0, 10.0):
        pi = np.exp(b * np.maximum(lengths - 1, 0))
        pr = torch.as_tensor(np.log((c_full + lam * pi) / (c_first + lam)),
                             dtype=torch.float32).unsqueeze(1)
        variants[f"first+ngram{lam:g}"] = (hin, e_first + pr * u)
        variants[f"mean+ngram{lam:g}"] = (hin, fvt8 + pr * u)
        variants[f"avg(first,mean)+ngram{lam:g}"] = (hin, 0.5 * (fvt8 + e_first) + pr * u)
    fv = p.score(target, fvt.input_rows, fvt.input_rows)
    for label, (ri, ro) in variants.items():
        ro = torch.where(multi.bool(), ro, hyp.output_rows)  # one-part rows stay copies
        p.report(name, label, p.score(target, ri, ro), fv)
