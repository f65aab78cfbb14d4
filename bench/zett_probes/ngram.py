import sys, hashlib, time
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent.parent))
import numpy as np, torch
from eval_zett import bits_per_byte, code_tokenizer, eval_chunks, split_corpus
import toktool
from toktool import artifacts
from toktool.hf import load_causal_lm
from toktool.zett.train import FrozenLM
from toktool.zett.transfer import new_embeddings
from toktool.zett.decompose import decompose_vocab
train_code, held_code, train_prose, held_prose = split_corpus()
val_code = [t for t in train_code if hashlib.sha1(t.encode()).digest()[1] % 10 == 0]
texts = {"val": (eval_chunks(val_code, 4000, 1024), eval_chunks(train_prose, 4000, 1024)),
         "test": (eval_chunks(held_code, 4000, 1024), eval_chunks(held_prose, 4000, 1024))}
original = toktool.load_tokenizer("smollm2")
V = original.vocab_size
repeat = max(1, sum(map(len, train_code)) // (3 * sum(map(len, train_prose))))
corpus = train_code + train_prose * repeat
t0 = time.time()
streams = original.encode_batch(corpus, as_array=True)
MULT = np.uint64(0x9E3779B97F4A7C15)
def hashes(stream, k):
    s = stream.astype(np.uint64)
    n = len(s) - k + 1
    if n <= 0: return np.zeros(0, np.uint64)
    h = np.zeros(n, np.uint64)
    with np.errstate(over='ignore'):
        for j in range(k):
            h = h * MULT + s[j:j + n] + np.uint64(1)
    return h
tables = {}
for k in range(1, 9):
    hs = np.concatenate([hashes(s, k) for s in streams])
    u, c = np.unique(hs, return_counts=True)
    tables[k] = (u, c)
print("counted", round(time.time() - t0), "s", sum(len(s) for s in streams), "tokens", flush=True)
def count_of(seqs_ids, lengths):
    # seqs: (n, 8) -1 padded
    out = np.zeros(len(lengths), np.int64)
    for k in range(1, 9):
        rows = np.nonzero(lengths == k)[0]
        if not len(rows): continue
        s = seqs_ids[rows, :k].astype(np.uint64)
        h = np.zeros(len(rows), np.uint64)
        with np.errstate(over='ignore'):
            for j in range(k):
                h = h * MULT + s[:, j] + np.uint64(1)
        u, c = tables[k]
        pos = np.searchsorted(u, h)
        pos = np.minimum(pos, len(u) - 1)
        out[rows] = np.where(u[pos] == h, c[pos], 0)
    return out
model = load_causal_lm("smollm2"); lm = FrozenLM(model)
ref = lm.load_hypernet(artifacts.cache_dir()/"zett"/"smollm2-mean-r500-i10-op0-s0"/"checkpoint"); ref.eval()
emb = lm.input_embeddings.detach()
base = {s: [bits_per_byte(lm, original, emb, emb, g) for g in p] for s, p in texts.items()}
b = float(ref.output_tower.length_bias); u = ref.output_tower.logit_direction.detach()
for name in sys.argv[1].split(","):
    path = code_tokenizer(train_code) if name == "code-bpe" else artifacts.tokenizer_json(name)
    target = toktool.Tokenizer.from_file(path)
    fvt = new_embeddings(model, original, target, method="fvt")
    hyp = new_embeddings(model, original, target, method="hypernet", hypernet=ref)
    parts = decompose_vocab(target, original, 8)
    ids = np.asarray(parts.ids); lengths = np.asarray(parts.lengths)
    c_full = count_of(ids, lengths)
    first = np.where(lengths >= 1, ids[:, 0], 0)
    c_first = count_of(np.stack([first] + [np.full(len(first), -1)] * 7, 1), np.ones(len(first), np.int64))
    L = torch.as_tensor(lengths); k1 = (L - 1).clamp(min=0).float().unsqueeze(1); multi = (L > 1).float().unsqueeze(1)
    hin = hyp.input_rows
    fvt8 = hyp.output_rows - b * k1 * u * multi
    e_first = emb[torch.as_tensor(first)]
    print(name, "multi-part tokens seen in corpus:", int(((lengths > 1) & (c_full > 0)).sum()), "of", int((lengths > 1).sum()), flush=True)
    variants = {"default": (hin, hyp.output_rows), "first+len": (hin, e_first + b * k1 * u)}
    for lam in (1.0, 10.0):
        pi = np.exp(b * np.maximum(lengths - 1, 0))
        prior = np.log((c_full + lam * pi) / (c_first + lam))
        pr = torch.as_tensor(prior, dtype=torch.float32).unsqueeze(1)
        variants[f"first+ngram{lam:g}"] = (hin, e_first + pr * u)
        variants[f"mean+ngram{lam:g}"] = (hin, fvt8 + pr * u)
        variants[f"avg(first,mean)+ngram{lam:g}"] = (hin, 0.5 * (fvt8 + e_first) + pr * u)
    fv = {s: [bits_per_byte(lm, target, fvt.input_rows, fvt.input_rows, g) for g in p] for s, p in texts.items()}
    for vname, (ri, ro) in variants.items():
        ro = torch.where(multi.bool(), ro, hyp.output_rows)  # one-part rows stay copies
        res = {s: [bits_per_byte(lm, target, ri, ro, g) for g in p] for s, p in texts.items()}
        gaps = {s: [round((f - h) / (f - bb), 3) for f, h, bb in zip(fv[s], res[s], base[s])] for s in res}
        print(name, vname.ljust(26), {s: [round(x, 3) for x in v] for s, v in res.items()}, "gap", gaps, flush=True)
