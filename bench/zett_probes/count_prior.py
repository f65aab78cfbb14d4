"""A continuation prior from byte-substring counts in MB of the training text, anywhere or at
SmolLM2 token boundaries (what toktool.zett.continuation implements), with output-row bases
(first part / average / mean) or mixes of the tower's rows with first part + prior.

Usage: python bench/zett_probes/count_prior.py TARGETS MB LAMBDAS anywhere|boundary bases|mix
e.g.   python bench/zett_probes/count_prior.py cl100k,code-bpe 16 1 boundary mix
"""
import sys
import time

import numpy as np
import torch
from common import Probe, parts_tensors

from toktool.zett.continuation import ContinuationCounts, sample_texts
from toktool.zett.decompose import decompose_vocab
from toktool.zett.transfer import new_embeddings

names, megabytes, lambdas, where, kind = sys.argv[1:6]
p = Probe()
sample = sample_texts(p.corpus(), float(megabytes))
t0 = time.time()
if where == "boundary":
    counts = ContinuationCounts(p.original, sample).count
else:  # every position: the same hashed tables without the boundary filter
    blob = b"\x00".join(t.encode() for t in sample)
    data = np.frombuffer(blob, dtype=np.uint8).astype(np.uint64)
    mult, tables, h = np.uint64(0x100000001B3), {}, np.zeros(len(data), np.uint64)
    with np.errstate(over="ignore"):
        for n in range(1, 25):
            h = h[: len(data) - n + 1] * mult + data[n - 1:] + np.uint64(1)
            tables[n] = np.unique(h, return_counts=True)

    def counts(pieces):
        out = np.zeros(len(pieces), np.int64)
        for i, piece in enumerate(pieces):
            if len(piece) > 24:
                out[i] = blob.count(piece)
            elif piece:
                x = np.uint64(0)
                with np.errstate(over="ignore"):
                    for c in piece:
                        x = x * mult + np.uint64(c) + np.uint64(1)
                keys, cs = tables[len(piece)]
                at = int(np.searchsorted(keys, x))
                out[i] = cs[at] if at < len(keys) and keys[at] == x else 0
        return out
print("substring tables", round(time.time() - t0), "s", flush=True)
b, u = p.length_bias, p.direction
obytes = p.original.all_token_bytes()
for name in names.split(","):
    target = p.target(name)
    fvt = new_embeddings(p.model, p.original, target, method="fvt")
    hyp = new_embeddings(p.model, p.original, target, method="hypernet", hypernet=p.ref)
    parts = decompose_vocab(target, p.original, 8)
    ids, lengths = np.asarray(parts.ids), np.asarray(parts.lengths)
    multi_np = lengths > 1
    c_full = counts([bytes(x) if (x and m) else b"" for x, m in
                     zip(target.all_token_bytes(), multi_np)]).astype(np.float64)
    c_first = counts([bytes(obytes[ids[i, 0]]) if m else b""
                      for i, m in enumerate(multi_np)]).astype(np.float64)
    print(name, "multi-part seen", int((multi_np & (c_full > 0)).sum()), "of",
          int(multi_np.sum()), flush=True)
    first = np.where(lengths >= 1, ids[:, 0], 0)
    k1, multi = parts_tensors(lengths)
    fvt8 = hyp.output_rows - b * k1 * u * multi
    e_first = p.emb[torch.as_tensor(first)]
    hin = hyp.input_rows
    variants = {"default": (hin, hyp.output_rows)}
    pi = np.exp(b * np.maximum(lengths - 1, 0))
    for lam in [float(x) for x in lambdas.split(",")]:
        pr = torch.as_tensor(np.log((c_full + lam * pi) / (c_first + lam)),
                             dtype=torch.float32).unsqueeze(1)
        if kind == "bases":
            variants[f"first+bytes{lam:g}"] = (hin, e_first + pr * u)
            variants[f"avg+bytes{lam:g}"] = (hin, 0.5 * (fvt8 + e_first) + pr * u)
            variants[f"mean+bytes{lam:g}"] = (hin, fvt8 + pr * u)
        else:
            variants[f"mix50{lam:g}"] = (hin, 0.5 * hyp.output_rows + 0.5 * (e_first + pr * u))
            variants[f"mix25{lam:g}"] = (hin, 0.75 * hyp.output_rows + 0.25 * (e_first + pr * u))
    fv = p.score(target, fvt.input_rows, fvt.input_rows)
    for label, (ri, ro) in variants.items():
        ro = torch.where(multi.bool(), ro, hyp.output_rows)
        p.report(name, label, p.score(target, ri, ro), fv)
