"""A lookahead for merged tokens' output logits: can the LM's state before a token ``a`` say
what follows ``a``? A linear map ``h_a ~ W h_prev + U e(a) + c`` (least squares, then 300 Adam
steps distilling the LM's own next-token distribution at ``a``'s position; 24 windows of 256
tokens from the first 40% of each of the nine documents) gives a merged token ``(p0, p1, ...)``
the logit ``h . out(p0) + sum_i [h_i . out(p_i) - lse(h_i . out)]``, ``h_i`` the predicted state
after ``p_(i-1)``. Scored with eval_merge's protocol at 100 merges on validation windows (50%
of each document), mixed with the checkpoint's rows as ``(1 - beta) * rows + beta * lookahead``.

    python bench/zett_probes/merge_lookahead.py [LANGS] [BETAS]

docs/MERGE.md (*A lookahead*) has the run."""
import math
import sys

import torch
from merge_common import MergeProbe, windows

from toktool import artifacts
from toktool.merge import DynamicTokenizer, apply_merges, merge_batch
from toktool.zett.model import HypernetEmbedder

LANGS = sys.argv[1].split(",") if len(sys.argv) > 1 else ["ja", "zh-cn"]
BETAS = [float(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "0,0.25,0.5,1").split(",")]
torch.manual_seed(0)
p = MergeProbe()
tok, V = p.tok, p.tok.vocab_size
E = p.model.get_input_embeddings().weight.detach()
OUT = p.head.weight.detach()[:V]
d = E.shape[1]


def final_states(seqs):
    captured, out = [], []
    hook = p.head.register_forward_hook(lambda _m, a, _o: captured.append(a[0]))
    with torch.no_grad():
        for s in seqs:
            captured.clear()
            p.model(input_ids=torch.tensor([[p.eos] + list(s)]))
            out.append(captured[-1][0])
    hook.remove()
    return out


prev, first, after = [], [], []
for lang in artifacts.LANGUAGES:
    doc = p.corpus[lang]
    seqs = windows(tok, doc[: int(len(doc) * 0.4)], 0.0, 24, 256)
    for s, h in zip(seqs, final_states(seqs)):
        ids = torch.tensor([p.eos] + list(s))
        prev.append(h[:-2])
        first.append(ids[1:-1])
        after.append(h[1:-1])
Hp, A, Hn = torch.cat(prev), torch.cat(first), torch.cat(after)
W = torch.nn.Linear(d, d)
U = torch.nn.Linear(d, d, bias=False)
Z = torch.cat([Hp, E[A], torch.ones(len(A), 1)], 1)
sol = torch.linalg.solve(Z.T @ Z + 1e-2 * torch.eye(Z.shape[1]), Z.T @ Hn)
with torch.no_grad():
    W.weight.copy_(sol[:d].T)
    U.weight.copy_(sol[d: 2 * d].T)
    W.bias.copy_(sol[-1])
optimizer = torch.optim.Adam([*W.parameters(), *U.parameters()], lr=1e-4)
for step in range(300):
    idx = torch.randint(0, len(A), (1024,))
    with torch.no_grad():
        target = torch.softmax(Hn[idx] @ OUT.T, -1)
    loss = -(target * torch.log_softmax((W(Hp[idx]) + U(E[A[idx]])) @ OUT.T, -1)).sum(-1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"lookahead fitted on {len(A)} positions, last distillation loss {float(loss):.3f}")
for lang in ("ja", "zh-cn", "de", "en"):  # the token after next, on validation windows
    doc = p.corpus[lang]
    seqs = windows(tok, doc[int(len(doc) * 0.5): int(len(doc) * 0.6)], 0.0, 4, 256)
    for s, h in zip(seqs, final_states(seqs)):
        ids = torch.tensor([p.eos] + list(s))
        nxt = ids[2:, None]
        with torch.no_grad():
            cells = [-float(torch.log_softmax(x @ OUT.T, -1).gather(1, nxt).mean())
                     for x in (W(h[:-2]) + U(E[ids[1:-1]]), h[1:-1], h[:-2])]
        print(f"{lang}: next token but one, nats: lookahead {cells[0]:.3f}, the state after "
              f"the token {cells[1]:.3f}, the state before it {cells[2]:.3f}", flush=True)
emb_in = HypernetEmbedder(p.hypernet, last_part=0.25)


def bits(embedded, rows, new_tokens, beta):
    total = 0.0
    with torch.no_grad():
        for h, targets in p.final_hidden(embedded):
            base = h @ OUT.T
            new = h @ rows.T
            if beta > 0 and len(new_tokens):
                look = torch.zeros_like(new)
                cache: dict = {}  # predicted state (and its log-sum-exp) after each prefix
                for k, parts in enumerate(map(list, new_tokens)):
                    score = base[:, parts[0]].clone()
                    for i in range(1, len(parts)):
                        key = tuple(parts[:i])
                        if key not in cache:
                            before = cache[tuple(parts[: i - 1])][0] if i > 1 else h
                            state = W(before) + U(E[parts[i - 1]])
                            cache[key] = (state, torch.logsumexp(state @ OUT.T, -1))
                        state, lse = cache[key]
                        score = score + state @ OUT[parts[i]] - lse
                    look[:, k] = score
                new = (1 - beta) * new + beta * look
            logp = torch.log_softmax(torch.cat([base, new], -1).double(), -1)
            total -= float(logp.gather(1, targets.unsqueeze(1)).sum()) / math.log(2)
    return total


for lang in LANGS:
    scored, learn, counts = p.split(lang, 0.5)
    emb_out = HypernetEmbedder(p.hypernet, output=True, continuation=counts, tokenizer=tok)
    plain = DynamicTokenizer(tok, emb_in, max_merges=0, bos_id=p.eos, cache_size=0).embed(
        apply_merges(scored, tok, []))
    nbytes = sum(plain.n_bytes)
    base = bits(plain, torch.zeros(0, d), [], 0) / nbytes
    result = apply_merges(scored, tok, merge_batch(learn, tok, 100).merges)
    merged = DynamicTokenizer(tok, emb_in, max_merges=100, bos_id=p.eos,
                              cache_size=0).embed(result)
    rows = emb_out.embed(result.new_tokens).float()
    cells = [f"beta {beta:g}: {bits(merged, rows, result.new_tokens, beta) / nbytes - base:+.3f}"
             for beta in BETAS]
    print(lang, "excess over the unmerged model, 100 merges:", "  ".join(cells), flush=True)
