"""Where dynamic merging's excess bits go: bench/eval_merge.py's protocol (merges learned on 32
windows, applied to 2 held-out windows per language, the merge checkpoint's embedder as the
table uses it: input rows with the last part mixed in at 0.25, output rows with the continuation
prior), each merged position's loss against the unmerged model's loss over the same original
tokens, summed by the kind of target: a merged token (``T:``), an original token right after a
merged one (``after:``: the input just read is new), or another original token; merged tokens
by what they spell: one whole character (``1char``), several (``multichar``), or bytes that
start or end inside a character (``partial``).

Usage: python bench/zett_probes/merge_excess.py [LANGS] [BUDGET] [START]
(START: where the windows begin in each document, 0.8 the table's test text, 0.5 validation)
"""
import math
import sys
from collections import defaultdict

from merge_common import MergeProbe

from toktool.merge import DynamicTokenizer, apply_merges, merge_batch
from toktool.zett.model import HypernetEmbedder

LANGS = sys.argv[1].split(",") if len(sys.argv) > 1 else ["ja", "zh-cn", "de", "en"]
BUDGET = int(sys.argv[2]) if len(sys.argv) > 2 else 100
START = float(sys.argv[3]) if len(sys.argv) > 3 else 0.8

p = MergeProbe()
tok = p.tok
V = tok.vocab_size
emb_in = HypernetEmbedder(p.hypernet, last_part=0.25)


def spelled(parts) -> str:
    try:
        text = tok.decode_bytes(list(parts)).decode("utf-8")
    except UnicodeDecodeError:
        return "partial"
    return "1char" if len(text) == 1 else "multichar"


for lang in LANGS:
    scored, learn, counts = p.split(lang, START)
    emb_out = HypernetEmbedder(p.hypernet, output=True, continuation=counts, tokenizer=tok)
    base = apply_merges(scored, tok, [])
    dyn0 = DynamicTokenizer(tok, emb_in, max_merges=0, bos_id=p.eos, cache_size=0)
    base_nats = [-x for x in p.position_logp(dyn0.embed(base))]
    result = apply_merges(scored, tok, merge_batch(learn, tok, BUDGET).merges)
    dyn = DynamicTokenizer(tok, emb_in, max_merges=BUDGET, bos_id=p.eos, cache_size=0)
    embedded = dyn.embed(result)
    rows = emb_out.embed(result.new_tokens).float() if result.new_tokens else None
    nats = [-x for x in p.position_logp(embedded, rows)]
    kinds: dict = defaultdict(lambda: [0.0, 0.0, 0])
    nbytes = sum(embedded.n_bytes)
    for s, ids in enumerate(result.ids):
        for j, (tid, (a, b)) in enumerate(zip(ids, result.spans[s])):
            prev = ids[j - 1] if j else -1
            kind = ("T:" + spelled(result.new_tokens[tid - V]) if tid >= V else
                    "after:" + spelled(result.new_tokens[prev - V]) if prev >= V else "other")
            k = kinds[kind]
            k[0] += float(nats[s][j]) / math.log(2)
            k[1] += float(base_nats[s][a:b].sum()) / math.log(2)
            k[2] += 1
    total = sum(m - u for m, u, _ in kinds.values())
    print(f"{lang} bytes {nbytes} excess {total / nbytes:+.3f} bits/byte", flush=True)
    for kind, (m, u, c) in sorted(kinds.items()):
        print(f"  {kind:16s} n={c:5d} merged {m / nbytes:.3f} unmerged {u / nbytes:.3f} "
              f"excess {(m - u) / nbytes:+.3f} bits/byte, {(m - u) / max(c, 1):+.3f} per token",
              flush=True)
