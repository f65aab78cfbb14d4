"""Dynamic merging with the continuation prior on the merged tokens' output rows: bench/eval_merge.py's
quality protocol (merges learned on 32 windows, applied to 2 held-out windows per language),
the merge checkpoint's rows against HypernetEmbedder(continuation=...): mixed MIX with first part + a prior counted
on the text of the windows the merges were learned on.

Usage: python bench/zett_probes/merge_prior.py [MIX]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
from eval_merge import windows  # noqa: E402

import toktool  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.hf import load_causal_lm  # noqa: E402
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch, merged_bits  # noqa: E402
from toktool.zett.continuation import ContinuationCounts  # noqa: E402
from toktool.zett.model import HypernetEmbedder  # noqa: E402
from toktool.zett.train import FrozenLM  # noqa: E402

MIX = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
CKPT = artifacts.cache_dir() / "zett" / "smollm2-mean-r500-i10-op60-ml30-s0" / "checkpoint"


corpus = artifacts.multilingual_corpus()
tok = toktool.load_tokenizer("smollm2")
model = load_causal_lm("smollm2")
eos = tok.special_tokens["<|endoftext|>"]
hypernet = FrozenLM(model).load_hypernet(CKPT)
hypernet.eval()
emb_in, emb_out = HypernetEmbedder(hypernet), HypernetEmbedder(hypernet, output=True)
means = {}
for lang in artifacts.LANGUAGES:
    batch = windows(tok, corpus[lang], 0.8, 2 + 32, 512)
    scored, learn = batch[:2], batch[2:]
    texts = [tok.decode_bytes(list(s)).decode("utf-8", errors="replace") for s in learn]
    counts = ContinuationCounts(tok, texts)
    row = {}
    for label, budget in (("base", 0), ("100", 100), ("sat", None)):
        result = apply_merges(scored, tok, merge_batch(learn, tok, budget).merges)
        dyn = DynamicTokenizer(tok, emb_in, max_merges=budget, bos_id=eos, cache_size=0)
        embedded = dyn.embed(result)
        nbytes = sum(embedded.n_bytes)
        row[label] = sum(merged_bits(model, embedded, emb_out)) / nbytes
        if budget != 0:
            prior_out = HypernetEmbedder(hypernet, output=True, continuation=counts,
                                         tokenizer=tok, mix=MIX)
            row[label + "+prior"] = sum(merged_bits(model, embedded, prior_out)) / nbytes
    print(lang, {k: round(v - row["base"], 3) if k != "base" else round(v, 3)
                 for k, v in row.items()}, flush=True)
    for k, v in row.items():
        means.setdefault(k, []).append(v - row["base"] if k != "base" else v)
print("mean", {k: round(float(np.mean(v)), 3) for k, v in means.items()})
