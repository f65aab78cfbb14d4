import sys, hashlib, collections
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent.parent))
import numpy as np, torch
from eval_zett import code_tokenizer, eval_chunks, split_corpus
import toktool
from toktool import artifacts
from toktool.hf import load_causal_lm
from toktool.zett.train import FrozenLM
from toktool.zett.transfer import new_embeddings
from toktool.zett.decompose import decompose_vocab
train_code, held_code, train_prose, held_prose = split_corpus()
val_code = [t for t in train_code if hashlib.sha1(t.encode()).digest()[1] % 10 == 0]
domain = sys.argv[2]
texts = eval_chunks(val_code, 8000, 1024) if domain == "code" else eval_chunks(train_prose, 8000, 1024)
original = toktool.load_tokenizer("smollm2")
model = load_causal_lm("smollm2"); lm = FrozenLM(model)
ref = lm.load_hypernet(artifacts.cache_dir()/"zett"/"smollm2-mean-r500-i10-op0-s0"/"checkpoint"); ref.eval()
emb = lm.input_embeddings.detach()

def per_token(tok, rin, rout, text):
    enc = tok.encode(text)
    ids = torch.tensor([enc])
    bos = lm.input_embeddings[lm.bos_id]
    inputs = torch.cat([bos[None, None], rin[ids][:, :-1]], 1)
    with torch.no_grad():
        h = lm.hidden(inputs, torch.ones(1, inputs.shape[1], dtype=torch.long))
        lp = torch.log_softmax(h.float() @ rout.float().T, -1)
    nats = -lp[0].gather(-1, ids[0][:, None])[:, 0].numpy()
    spans, at = [], 0
    for i in enc:
        n = len(tok.token_bytes(i)); spans.append((at, at + n)); at += n
    return enc, nats, spans

name = sys.argv[1]
path = code_tokenizer(train_code) if name == "code-bpe" else artifacts.tokenizer_json(name)
target = toktool.Tokenizer.from_file(path)
fvt = new_embeddings(model, original, target, method="fvt")
hyp = new_embeddings(model, original, target, method="hypernet", hypernet=ref)
parts = decompose_vocab(target, original, 8); lengths = np.asarray(parts.lengths)
by_k = collections.defaultdict(lambda: np.zeros(4)); by_tok = collections.defaultdict(lambda: np.zeros(4))
total_bytes = 0
for text in texts:
    b = text.encode(); total_bytes += len(b)
    oenc, onats, ospans = per_token(original, emb, emb, text)
    per_byte = np.zeros(len(b))
    for (s, e), v in zip(ospans, onats): per_byte[s:e] = v / (e - s)
    for kind, tr in (("fvt", fvt), ("hyp", hyp)):
        ro = tr.input_rows if tr.output_rows is None else tr.output_rows
        enc, nats, spans = per_token(target, tr.input_rows, ro, text)
        for i, v, (s, e) in zip(enc, nats, spans):
            k = min(int(lengths[i]), 4)
            col = 0 if kind == "fvt" else 1
            by_k[k][col] += v; by_tok[i][col] += v
            if kind == "hyp":
                by_k[k][2] += per_byte[s:e].sum(); by_k[k][3] += 1
                by_tok[i][2] += per_byte[s:e].sum(); by_tok[i][3] += 1
L2 = np.log(2)
print(name, domain, "bytes", total_bytes)
print("parts  count  fvt_bits/B  hyp_bits/B  orig_bits/B  (contribution per byte of all text)")
for k in sorted(by_k):
    f, h, o, c = by_k[k]
    print(k, int(c), round(f/L2/total_bytes, 3), round(h/L2/total_bytes, 3), round(o/L2/total_bytes, 3))
print("top tokens by hyp excess over original (bits total)")
rows = sorted(by_tok.items(), key=lambda kv: -(kv[1][1] - kv[1][2]))[:25]
for i, (f, h, o, c) in rows:
    print(repr(target.token_bytes(i))[:30].ljust(32), int(lengths[i]), int(c), round(f/L2,1), round(h/L2,1), round(o/L2,1))
