"""Dynamic merging with a label-shift correction (docs/ZETT.md's unigram shift) on
bench/eval_merge.py's protocol: merges learned on 32 windows, applied to 2 held-out windows per
language, the merge checkpoint's embedder with the continuation prior. Variants, with lambda:

- ``merged``: each merged token's output logit moves by lambda * ln(p_after(m) / p_implied(m)),
  p_after its frequency in the merged learn batch, p_implied its first part's frequency in the
  unmerged learn batch times exp(continuation prior).
- ``+orig``: also every original token's logit by lambda * ln(p_after(t) / p_before(t)) (the
  learn batch merged and not): first parts that merges absorb become rarer.

Usage: python bench/zett_probes/merge_unigram.py [BUDGET] [LAMBDAS]
"""
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from eval_merge import windows  # noqa: E402

import toktool  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.hf import load_causal_lm  # noqa: E402
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch  # noqa: E402
from toktool.zett.continuation import ContinuationCounts, continuation_prior  # noqa: E402
from toktool.zett.model import HypernetEmbedder  # noqa: E402
from toktool.zett.train import FrozenLM  # noqa: E402

BUDGET = None if len(sys.argv) > 1 and sys.argv[1] == "sat" else int(
    sys.argv[1] if len(sys.argv) > 1 else 100)
LAMBDAS = [float(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "0.5,1").split(",")]
CKPT = artifacts.cache_dir() / "zett" / "smollm2-mean-r500-i10-op60-ml30-s0" / "checkpoint"

corpus = artifacts.multilingual_corpus()
tok = toktool.load_tokenizer("smollm2")
V = tok.vocab_size
vocab = tok.all_token_bytes()
model = load_causal_lm("smollm2")
eos = tok.special_tokens["<|endoftext|>"]
hypernet = FrozenLM(model).load_hypernet(CKPT)
hypernet.eval()
emb_in = HypernetEmbedder(hypernet)
head = model.get_output_embeddings()
bias_len = float(hypernet.output_tower.length_bias.detach())


def bits(embedded, rows, bias_orig, bias_new):
    captured = []
    hook = head.register_forward_hook(lambda _m, a, _o: captured.append(a[0]))
    total = 0.0
    try:
        with torch.no_grad():
            for b in range(embedded.input_ids.shape[0]):
                n = int(embedded.attention_mask[b].sum())
                captured.clear()
                model(inputs_embeds=embedded.inputs_embeds[b: b + 1, :n],
                      attention_mask=embedded.attention_mask[b: b + 1, :n])
                hidden = captured[-1][0, :-1]
                logits = torch.cat([hidden @ head.weight[:V].T + bias_orig,
                                    hidden @ rows.T + bias_new], -1).double()
                logp = torch.log_softmax(logits, -1)
                total -= float(logp.gather(1, embedded.input_ids[b, 1:n].unsqueeze(1)).sum())
    finally:
        hook.remove()
    return total / math.log(2)


def freq(seqs, size):
    c = np.zeros(size)
    for s in seqs:
        c += np.bincount(np.asarray(s, dtype=np.int64), minlength=size)[:size]
    return c


means: dict = {}
for lang in artifacts.LANGUAGES:
    batch = windows(tok, corpus[lang], 0.8, 2 + 32, 512)
    scored, learn = batch[:2], batch[2:]
    texts = [tok.decode_bytes(list(s)).decode("utf-8", errors="replace") for s in learn]
    counts = ContinuationCounts(tok, texts)
    emb_out = HypernetEmbedder(hypernet, output=True, continuation=counts, tokenizer=tok)
    base_res = apply_merges(scored, tok, [])
    dyn0 = DynamicTokenizer(tok, emb_in, max_merges=0, bos_id=eos, cache_size=0)
    emb0 = dyn0.embed(base_res)
    nbytes = sum(emb0.n_bytes)
    zero_o = torch.zeros(V)
    base = bits(emb0, torch.zeros(0, head.weight.shape[1]), zero_o, torch.zeros(0)) / nbytes
    learned = merge_batch(learn, tok, BUDGET)
    k = learned.n_merges
    result = apply_merges(scored, tok, learned.merges)
    dyn = DynamicTokenizer(tok, emb_in, max_merges=BUDGET, bos_id=eos, cache_size=0)
    embedded = dyn.embed(result)
    rows = emb_out.embed(result.new_tokens).float()
    before = freq(learn, V)
    after = freq(learned.ids, V + k)
    whole = [b"".join(bytes(vocab[int(i)] or b"") for i in t) for t in result.new_tokens]
    first = [bytes(vocab[int(t[0])] or b"") for t in result.new_tokens]
    n_parts = np.array([len(t) for t in result.new_tokens])
    prior = continuation_prior(counts, whole, first, n_parts, bias_len)
    implied = before[[int(t[0]) for t in result.new_tokens]] * np.exp(prior)
    n_b, n_a = before.sum(), after.sum()
    shift_new = np.log((after[V:] + 1) / n_a) - np.log((implied + 1) / n_b)
    shift_orig = np.log((after[:V] + 1) / n_a) - np.log((before + 1) / n_b)
    row = {"default": bits(embedded, rows, zero_o, torch.zeros(k)) / nbytes - base}
    for lam in LAMBDAS:
        bn = torch.as_tensor(lam * shift_new, dtype=torch.float32)
        bo = torch.as_tensor(lam * shift_orig, dtype=torch.float32)
        row[f"merged {lam}"] = bits(embedded, rows, zero_o, bn) / nbytes - base
        row[f"+orig {lam}"] = bits(embedded, rows, bo, bn) / nbytes - base
    print(lang, {k2: round(v, 3) for k2, v in row.items()}, flush=True)
    for k2, v in row.items():
        means.setdefault(k2, []).append(v)
print("mean", {k2: round(float(np.mean(v)), 3) for k2, v in means.items()}, flush=True)
