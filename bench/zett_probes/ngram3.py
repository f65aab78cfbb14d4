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
repeat = max(1, sum(map(len, train_code)) // (3 * sum(map(len, train_prose))))
corpus = train_code + train_prose * repeat
MB = float(sys.argv[2]) if len(sys.argv) > 2 else 16
rng = np.random.default_rng(0)
order = rng.permutation(len(corpus)); sample = []; size = 0
for i in order:
    if size > MB * 1e6: break
    sample.append(corpus[i]); size += len(corpus[i].encode())
blob = b"\x00".join(t.encode() for t in sample)
starts = np.zeros(len(blob) + 1, dtype=bool)
at = 0
obytes0 = original.all_token_bytes()
lens = np.array([len(x) if x else 0 for x in obytes0], dtype=np.int64)
for t, ids_ in zip(sample, original.encode_batch(sample, as_array=True)):
    pos = at + np.concatenate([[0], np.cumsum(lens[ids_])])
    starts[pos] = True
    at += len(t.encode()) + 1
BOUNDARY = len(sys.argv) > 4 and sys.argv[4] == "boundary"
t0 = time.time()
arr = np.frombuffer(blob, dtype=np.uint8).astype(np.uint64)
M = np.uint64(0x100000001B3)
LMAX = 24
tables = {}
h = np.zeros(len(arr), np.uint64)
with np.errstate(over='ignore'):
    for L in range(1, LMAX + 1):
        h = h[:len(arr) - L + 1] * M + arr[L - 1:] + np.uint64(1)
        hh = h[starts[:len(h)]] if BOUNDARY else h
        tables[L] = np.unique(hh, return_counts=True)
print("substring tables", round(time.time() - t0), "s for", len(blob), "bytes", flush=True)
def count(bs):
    L = len(bs)
    if L == 0: return 0
    if L > LMAX: return 0
    x = np.uint64(0)
    with np.errstate(over='ignore'):
        for c in bs: x = x * M + np.uint64(c) + np.uint64(1)
    u, c = tables[L]
    p = np.searchsorted(u, x)
    return int(c[p]) if p < len(u) and u[p] == x else 0
model = load_causal_lm("smollm2"); lm = FrozenLM(model)
ref = lm.load_hypernet(artifacts.cache_dir()/"zett"/"smollm2-mean-r500-i10-op0-s0"/"checkpoint"); ref.eval()
emb = lm.input_embeddings.detach()
base = {s: [bits_per_byte(lm, original, emb, emb, g) for g in p] for s, p in texts.items()}
b = float(ref.output_tower.length_bias.detach()); u = ref.output_tower.logit_direction.detach()
obytes = original.all_token_bytes()
for name in sys.argv[1].split(","):
    path = code_tokenizer(train_code) if name == "code-bpe" else artifacts.tokenizer_json(name)
    target = toktool.Tokenizer.from_file(path)
    fvt = new_embeddings(model, original, target, method="fvt")
    hyp = new_embeddings(model, original, target, method="hypernet", hypernet=ref)
    parts = decompose_vocab(target, original, 8)
    ids = np.asarray(parts.ids); lengths = np.asarray(parts.lengths)
    tb = target.all_token_bytes()
    t0 = time.time()
    c_full = np.array([count(bytes(x)) if (x and lengths[i] > 1) else 0 for i, x in enumerate(tb)], dtype=np.float64)
    c_first = np.array([count(bytes(obytes[ids[i, 0]])) if lengths[i] > 1 else 0 for i in range(len(tb))], dtype=np.float64)
    print(name, "counted in", round(time.time() - t0), "s; multi-part seen", int(((lengths > 1) & (c_full > 0)).sum()), "of", int((lengths > 1).sum()), flush=True)
    first = np.where(lengths >= 1, ids[:, 0], 0)
    L = torch.as_tensor(lengths); k1 = (L - 1).clamp(min=0).float().unsqueeze(1); multi = (L > 1).float().unsqueeze(1)
    hin = hyp.input_rows
    fvt8 = hyp.output_rows - b * k1 * u * multi
    e_first = emb[torch.as_tensor(first)]
    variants = {"default": (hin, hyp.output_rows)}
    pi = np.exp(b * np.maximum(lengths - 1, 0))
    for lam in [float(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else [1.0]:
        prior = np.log((c_full + lam * pi) / (c_first + lam))
        pr = torch.as_tensor(prior, dtype=torch.float32).unsqueeze(1)
        variants[f"first+bytes{lam:g}"] = (hin, e_first + pr * u)
        variants[f"avg+bytes{lam:g}"] = (hin, 0.5 * (fvt8 + e_first) + pr * u)
        variants[f"mean+bytes{lam:g}"] = (hin, fvt8 + pr * u)
    fv = {s: [bits_per_byte(lm, target, fvt.input_rows, fvt.input_rows, g) for g in p] for s, p in texts.items()}
    for vname, (ri, ro) in variants.items():
        ro = torch.where(multi.bool(), ro, hyp.output_rows)
        res = {s: [bits_per_byte(lm, target, ri, ro, g) for g in p] for s, p in texts.items()}
        gaps = {s: [round((f - h) / (f - bb), 3) for f, h, bb in zip(fv[s], res[s], base[s])] for s in res}
        print(name, vname.ljust(26), {s: [round(x, 3) for x in v] for s, v in res.items()}, "gap", gaps, flush=True)
