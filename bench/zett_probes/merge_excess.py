"""Where dynamic merging's excess bits go: bench/eval_merge.py's protocol at 100 merges (merges
learned on 32 windows, applied to 2 held-out windows per language, hypernetwork embedder with
the continuation prior), each merged position's loss against the unmerged model's loss over the
same original tokens, summed by the kind of target: a merged token, an original token right
after a merged one (the input just read is new), or another original token.

Usage: python bench/zett_probes/merge_excess.py [LANGS] [BUDGET]
"""
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch  # noqa: E402
from eval_merge import windows  # noqa: E402

import toktool  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.hf import load_causal_lm  # noqa: E402
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch  # noqa: E402
from toktool.zett.continuation import ContinuationCounts  # noqa: E402
from toktool.zett.model import HypernetEmbedder  # noqa: E402
from toktool.zett.train import FrozenLM  # noqa: E402

LANGS = sys.argv[1].split(",") if len(sys.argv) > 1 else ["ja", "zh-cn", "de", "en"]
BUDGET = int(sys.argv[2]) if len(sys.argv) > 2 else 100
CKPT = artifacts.cache_dir() / "zett" / "smollm2-mean-r500-i10-op60-ml30-s0" / "checkpoint"

corpus = artifacts.multilingual_corpus()
tok = toktool.load_tokenizer("smollm2")
model = load_causal_lm("smollm2")
eos = tok.special_tokens["<|endoftext|>"]
hypernet = FrozenLM(model).load_hypernet(CKPT)
hypernet.eval()
emb_in = HypernetEmbedder(hypernet)
head = model.get_output_embeddings()


def position_nats(embedded, out_rows):
    """-ln p per scored position of each sequence (a list of 1-D tensors)."""
    captured = []
    hook = head.register_forward_hook(lambda _m, a, _o: captured.append(a[0]))
    out = []
    try:
        with torch.no_grad():
            for b in range(embedded.input_ids.shape[0]):
                n = int(embedded.attention_mask[b].sum())
                captured.clear()
                model(inputs_embeds=embedded.inputs_embeds[b: b + 1, :n],
                      attention_mask=embedded.attention_mask[b: b + 1, :n])
                hidden = captured[-1][0, :-1]
                logits = hidden @ head.weight[: tok.vocab_size].T
                if out_rows is not None:
                    logits = torch.cat([logits, hidden @ out_rows.T], -1)
                logp = torch.log_softmax(logits.double(), -1)
                out.append(-logp.gather(1, embedded.input_ids[b, 1:n].unsqueeze(1))[:, 0])
    finally:
        hook.remove()
    return out


totals = {}
for lang in LANGS:
    batch = windows(tok, corpus[lang], 0.8, 2 + 32, 512)
    scored, learn = batch[:2], batch[2:]
    texts = [tok.decode_bytes(list(s)).decode("utf-8", errors="replace") for s in learn]
    counts = ContinuationCounts(tok, texts)
    emb_out = HypernetEmbedder(hypernet, output=True, continuation=counts, tokenizer=tok)
    base = apply_merges(scored, tok, [])
    dyn0 = DynamicTokenizer(tok, emb_in, max_merges=0, bos_id=eos, cache_size=0)
    base_nats = position_nats(dyn0.embed(base), None)
    result = apply_merges(scored, tok, merge_batch(learn, tok, BUDGET).merges)
    dyn = DynamicTokenizer(tok, emb_in, max_merges=BUDGET, bos_id=eos, cache_size=0)
    embedded = dyn.embed(result)
    rows = emb_out.embed(result.new_tokens).float() if result.new_tokens else None
    nats = position_nats(embedded, rows)
    kinds = {"merged target": [0.0, 0.0, 0], "original after merged": [0.0, 0.0, 0],
             "other original": [0.0, 0.0, 0]}
    nbytes = sum(embedded.n_bytes)
    for s, ids in enumerate(result.ids):
        for j, (tid, (a, b)) in enumerate(zip(ids, result.spans[s])):
            new = tid >= tok.vocab_size
            after = j > 0 and ids[j - 1] >= tok.vocab_size
            kind = ("merged target" if new else
                    "original after merged" if after else "other original")
            k = kinds[kind]
            k[0] += float(nats[s][j]) / math.log(2)
            k[1] += float(base_nats[s][a:b].sum()) / math.log(2)
            k[2] += 1
    print(lang, "bytes", nbytes, flush=True)
    for kind, (m, u, c) in kinds.items():
        print(f"  {kind:24s} n={c:5d} merged {m / nbytes:.3f} unmerged {u / nbytes:.3f} "
              f"excess {(m - u) / nbytes:+.3f} bits/byte", flush=True)
