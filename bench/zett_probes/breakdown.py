"""Per-token excess bits of the default checkpoint over the original model on validation text:
each original token's loss is spread over its bytes as the reference for the target token
covering them; grouped by the number of SmolLM2 parts of the target token, and the worst tokens.

Usage: python bench/zett_probes/breakdown.py cl100k code|prose
"""
import collections
import sys

import numpy as np
import torch
from common import Probe

from toktool.zett.decompose import decompose_vocab
from toktool.zett.transfer import new_embeddings

name, domain = sys.argv[1], sys.argv[2]
p = Probe(per_domain=8000)
texts = p.texts["val"][0 if domain == "code" else 1]


def per_token(tok, rows_in, rows_out, text):
    enc = tok.encode(text)
    ids = torch.tensor([enc])
    bos = p.lm.input_embeddings[p.lm.bos_id]
    inputs = torch.cat([bos[None, None], rows_in[ids][:, :-1]], 1)
    with torch.no_grad():
        h = p.lm.hidden(inputs, torch.ones(1, inputs.shape[1], dtype=torch.long))
        logp = torch.log_softmax(h.float() @ rows_out.float().T, -1)
    nats = -logp[0].gather(-1, ids[0][:, None])[:, 0].numpy()
    spans, at = [], 0
    for i in enc:
        n = len(tok.token_bytes(i))
        spans.append((at, at + n))
        at += n
    return enc, nats, spans


target = p.target(name)
fvt = new_embeddings(p.model, p.original, target, method="fvt")
hyp = new_embeddings(p.model, p.original, target, method="hypernet", hypernet=p.ref)
lengths = np.asarray(decompose_vocab(target, p.original, 8).lengths)
by_k = collections.defaultdict(lambda: np.zeros(4))  # fvt, hyp, original nats, count
by_tok = collections.defaultdict(lambda: np.zeros(4))
total_bytes = 0
for text in texts:
    raw = text.encode()
    total_bytes += len(raw)
    _, onats, ospans = per_token(p.original, p.emb, p.emb, text)
    per_byte = np.zeros(len(raw))
    for (s, e), v in zip(ospans, onats):
        per_byte[s:e] = v / (e - s)
    for col, tr in enumerate((fvt, hyp)):
        out = tr.input_rows if tr.output_rows is None else tr.output_rows
        for i, v, (s, e) in zip(*per_token(target, tr.input_rows, out, text)):
            k = min(int(lengths[i]), 4)
            by_k[k][col] += v
            by_tok[i][col] += v
            if col == 1:
                for row in (by_k[k], by_tok[i]):
                    row[2] += per_byte[s:e].sum()
                    row[3] += 1
L2 = np.log(2)
print(name, domain, "bytes", total_bytes)
print("parts  count  fvt_bits/B  hyp_bits/B  orig_bits/B  (contribution per byte of all text)")
for k in sorted(by_k):
    f, h, o, c = by_k[k]
    print(k, int(c), *(round(x / L2 / total_bytes, 3) for x in (f, h, o)))
print("top tokens by hypernetwork excess over the original (bits in all)")
for i, (f, h, o, c) in sorted(by_tok.items(), key=lambda kv: -(kv[1][1] - kv[1][2]))[:25]:
    print(repr(target.token_bytes(i))[:30].ljust(32), int(lengths[i]), int(c),
          *(round(x / L2, 1) for x in (f, h, o)))
