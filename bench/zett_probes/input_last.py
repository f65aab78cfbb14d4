"""Transfer, the input side: a 2+ part token's input row mixed with its last part's embedding,
(1 - alpha) * hypernetwork + alpha * e_last (as dynamic merging's HypernetEmbedder(last_part=)),
output rows the default (continuation prior + unigram shift).

Usage: python bench/zett_probes/input_last.py code-bpe,cl100k 0.25,0.5
"""
import sys

import numpy as np
from common import Probe

from toktool.zett.continuation import ContinuationCounts, sample_texts
from toktool.zett.decompose import decompose_vocab
from toktool.zett.transfer import new_embeddings

names, alphas = sys.argv[1].split(","), [float(x) for x in sys.argv[2].split(",")]
p = Probe()
cc = ContinuationCounts(p.original, sample_texts(p.corpus(), 16))
for name in names:
    target = p.target(name)
    fvt = new_embeddings(p.model, p.original, target, method="fvt")
    fvt_res = p.score(target, fvt.input_rows,
                      fvt.input_rows if fvt.output_rows is None else fvt.output_rows)
    hyp = new_embeddings(p.model, p.original, target, method="hypernet", hypernet=p.ref,
                         continuation=cc)
    p.report(name, "default", p.score(target, hyp.input_rows, hyp.output_rows), fvt_res)
    parts = decompose_vocab(target, p.original, p.ref.config.max_length)
    lengths = np.asarray(parts.lengths)
    ids = np.asarray(parts.ids)
    multi = np.nonzero(lengths > 1)[0]
    last = ids[multi, lengths[multi] - 1]
    for alpha in alphas:
        rows = hyp.input_rows.clone()
        rows[multi] = (1 - alpha) * rows[multi] + alpha * p.emb[last].to(rows.dtype)
        p.report(name, f"last {alpha}", p.score(target, rows, hyp.output_rows), fvt_res)
