"""Merged prefilling with only whole-character merges: is the CJK loss the merged tokens that
end (or start) inside a UTF-8 character?

eval_merge's prefill protocol (contexts of 256-448 tokens from the 2 scored windows, the next 64
tokens scored over SmolLM2's vocabulary, FVT input rows), for each language and budget: all the
learned merges, and only those whose merged token is whole characters (its bytes decode as
UTF-8) and whose parts are kept, renumbered. Prints bits per byte, the excess over the unmerged
context and how much shorter the contexts got. Not part of the test suite:

    python bench/zett_probes/merge_wholechar.py ja,zh-cn
"""

import sys
import torch
import toktool
from toktool import artifacts
from toktool.hf import load_causal_lm
from toktool.merge import (DynamicTokenizer, FVTEmbedder, apply_merges, merge_batch,
                           prefill_bits, token_windows)

torch.set_num_threads(2)
tok = toktool.load_tokenizer("smollm2")
model = load_causal_lm("smollm2")
fvt = FVTEmbedder.from_model(model)
eos = tok.special_tokens["<|endoftext|>"]
corpus = artifacts.multilingual_corpus()
V = tok.vocab_size


def filtered(learned):
    """The merges whose token is whole characters and whose parts survive, renumbered."""
    remap, out = {}, []
    for k, (left, right, count) in enumerate(learned.merges):
        new_id = V + k
        ok = all(p < V or p in remap for p in (left, right))
        b = learned.token_bytes(tok, new_id)
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            ok = False
        if ok:
            remap[new_id] = V + len(out)
            out.append((remap.get(left, left), remap.get(right, right), count))
    return out


for lang in (sys.argv[1] if len(sys.argv) > 1 else "ja,zh-cn").split(","):
    text = corpus[lang]
    batch = token_windows(tok.encode(text[int(len(text) * 0.8):]), 512, 34)
    scored, learn = batch[:2], batch[2:]
    cuts = [256, 320, 384, 448]
    contexts = [s[:c] for s in scored for c in cuts]
    conts = [s[c:c + 64] for s in scored for c in cuts]
    nbytes = sum(len(tok.decode_bytes(c)) for c in conts)
    base_len = sum(len(c) for c in contexts)
    rows = {}
    for budget in (0, 100, 300, None):
        learned = merge_batch(learn, tok, budget)
        variants = {"all": list(learned.merges)}
        if budget:
            variants["whole"] = filtered(learned)
        for name, merges in variants.items():
            merged = apply_merges(contexts, tok, merges)
            dyn = DynamicTokenizer(tok, fvt, max_merges=budget, bos_id=eos, cache_size=0)
            bits = sum(prefill_bits(model, dyn.embed(merged), conts)) / nbytes
            rows[(budget, name)] = (bits, len(merges), 1 - sum(merged.lengths) / base_len)
    b0 = rows[(0, "all")][0]
    for (budget, name), (bits, n, fewer) in rows.items():
        print(f"{lang} {budget} {name}: merges {n}, {fewer:.1%} fewer, {bits:.3f} ({bits - b0:+.3f})", flush=True)
