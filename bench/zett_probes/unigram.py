"""Output-row corrections for how often the target emits each token, on top of the default
transfer (hypernetwork + continuation prior), with FVT for reference:

- ``absorb``: a target token that is also an original token gets the mass of the original tokens
  the target lacks and spells starting with it (" privileged" -> " pri" + ...), counted on the
  training text: row += lambda * ln((c(t) + absorbed) / c(t)) * u.
- ``label1``: label shift for one-part tokens only: row += lambda * ln(p_target(t) / p_orig(t)) * u,
  unigram frequencies of both tokenizers on the training-text sample.
- ``label``: the library's ``new_embeddings(..., unigram_shift=lambda)``: the same for every
  token, a 2+ part token's implied frequency being its first part's times exp(continuation prior).

Usage: python bench/zett_probes/unigram.py code-bpe,cl100k 0.25,0.5,0.75 absorb|label1|label [MIX]
(MIX: the continuation prior's mix weight, 0.5 by default)
"""
import sys

import numpy as np
import torch
from common import Probe

from toktool.zett.continuation import ContinuationCounts, sample_texts
from toktool.zett.train import token_counts
from toktool.zett.transfer import new_embeddings

names, lambdas = sys.argv[1].split(","), [float(x) for x in sys.argv[2].split(",")]
mode = sys.argv[3]
mix = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5


def one_part_counts(original, new, counts):
    """(own count, absorbed count) per new token: the original token with the same bytes, and
    the original tokens the new vocabulary lacks whose new encoding starts with the token."""
    orig_bytes = [bytes(b) if b else b"" for b in original.all_token_bytes()]
    new_bytes = [bytes(b) if b else b"" for b in new.all_token_bytes()]
    new_index = {b: i for i, b in enumerate(new_bytes) if b}
    own, extra = np.zeros(len(new_bytes)), np.zeros(len(new_bytes))
    for u, b in enumerate(orig_bytes):
        if not b:
            continue
        if b in new_index:
            own[new_index[b]] += counts[u]
            continue
        try:
            ids = new.encode(b.decode("utf-8")) if counts[u] else []
        except UnicodeDecodeError:
            continue
        if ids and b.startswith(new_bytes[ids[0]]) and len(new_bytes[ids[0]]) < len(b):
            extra[ids[0]] += counts[u]
    return own, extra


p = Probe()
cc = ContinuationCounts(p.original, sample_texts(p.corpus(), 16))
tc = cc.token_counts.astype(np.float64)
for name in names:
    target = p.target(name)
    fvt = new_embeddings(p.model, p.original, target, method="fvt")
    fvt_res = p.score(target, fvt.input_rows,
                      fvt.input_rows if fvt.output_rows is None else fvt.output_rows)
    p.report(name, "fvt", fvt_res, fvt_res)
    hyp = new_embeddings(p.model, p.original, target, method="hypernet", hypernet=p.ref,
                         continuation=cc, unigram_shift=0.0, continuation_mix=mix)
    p.report(name, "default", p.score(target, hyp.input_rows, hyp.output_rows), fvt_res)
    if mode != "label":
        own, extra = one_part_counts(p.original, target, tc)
        if mode == "absorb":
            shift = np.where(own > 0, np.log((own + extra + 1.0) / (own + 1.0)), 0.0)
        else:
            emitted = token_counts(target, cc.texts).astype(np.float64)
            shift = np.where(own > 0, np.log((emitted + 1.0) / emitted.sum())
                             - np.log((own + 1.0) / tc.sum()), 0.0)
        shift = torch.as_tensor(shift, dtype=torch.float32)[:, None] * p.direction.float()[None]
    for lam in lambdas:
        if mode == "label":
            rows = new_embeddings(p.model, p.original, target, method="hypernet",
                                  hypernet=p.ref, continuation=cc, unigram_shift=lam,
                                  continuation_mix=mix).output_rows
        else:
            rows = (hyp.output_rows.float() + lam * shift).to(hyp.output_rows.dtype)
        p.report(name, f"{mode} {lam}", p.score(target, hyp.input_rows, rows), fvt_res)
