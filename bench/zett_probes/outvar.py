"""Input side FVT vs hypernetwork, and output-row bases with the length prior.

Usage: python bench/zett_probes/outvar.py cl100k,code-bpe
"""
import sys

from common import Probe, parts_tensors

from toktool.zett.decompose import decompose_vocab
from toktool.zett.transfer import new_embeddings

p = Probe()
b, u = p.length_bias, p.direction
for name in sys.argv[1].split(","):
    target = p.target(name)
    fvt = new_embeddings(p.model, p.original, target, method="fvt")
    hyp = new_embeddings(p.model, p.original, target, method="hypernet", hypernet=p.ref)
    k1, multi = parts_tensors(decompose_vocab(target, p.original, p.ref.config.max_length).lengths)
    fvt8 = hyp.output_rows - b * k1 * u * multi  # the tower's mean of (up to 8) parts
    hin = hyp.input_rows
    variants = {
        "fvt_in+fvt_out": (fvt.input_rows, fvt.input_rows),
        "fvt_in+prior": (fvt.input_rows, hyp.output_rows),
        "hyp_in+prior(default)": (hin, hyp.output_rows),
        "hyp_in+hypbase+prior": (hin, hin + b * k1 * u * multi),
        "hyp_in+midbase+prior": (hin, 0.5 * (hin + fvt8) + b * k1 * u * multi),
        "hyp_in+hypbase+prior-2": (hin, hin - 2.0 * k1 * u * multi),
        "hyp_in+hypbase+prior-1": (hin, hin - 1.0 * k1 * u * multi),
    }
    fv = p.score(target, fvt.input_rows, fvt.input_rows)
    for label, (ri, ro) in variants.items():
        p.report(name, label, p.score(target, ri, ro), fv)
