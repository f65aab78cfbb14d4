import sys, hashlib
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
model = load_causal_lm("smollm2"); lm = FrozenLM(model)
ref = lm.load_hypernet(artifacts.cache_dir()/"zett"/"smollm2-mean-r500-i10-op0-s0"/"checkpoint"); ref.eval()
emb = lm.input_embeddings.detach()
base = {s: [bits_per_byte(lm, original, emb, emb, g) for g in p] for s, p in texts.items()}
print("base", base, flush=True)
for name in sys.argv[1].split(","):
    path = code_tokenizer(train_code) if name == "code-bpe" else artifacts.tokenizer_json(name)
    target = toktool.Tokenizer.from_file(path)
    fvt = new_embeddings(model, original, target, method="fvt")
    hyp = new_embeddings(model, original, target, method="hypernet", hypernet=ref)
    parts = decompose_vocab(target, original, ref.config.max_length)
    lengths = torch.as_tensor(np.asarray(parts.lengths))
    u = ref.output_tower.logit_direction.detach()
    b = float(ref.output_tower.length_bias)
    k1 = (lengths - 1).clamp(min=0).float().unsqueeze(1)
    multi = (lengths > 1).float().unsqueeze(1)
    # FVT over the (max 8) parts, as the tower computes it: ref out minus its shift
    fvt8 = hyp.output_rows - b * k1 * u * multi
    hin = hyp.input_rows
    variants = {
        "fvt_in+fvt_out": (fvt.input_rows, fvt.input_rows),
        "fvt_in+prior": (fvt.input_rows, hyp.output_rows),
        "hyp_in+prior(default)": (hin, hyp.output_rows),
        "hyp_in+hypbase+prior": (hin, hin + b * k1 * u * multi),
        "hyp_in+midbase+prior": (hin, 0.5 * (hin + fvt8) + b * k1 * u * multi),
        "hyp_in+hypbase+prior-2": (hin, hin - 2.0 * k1 * u * multi),
        "hyp_in+hypbase+prior-1": (hin, hin - 1.0 * k1 * u * multi),
    }
    fv = None
    for vname, (ri, ro) in variants.items():
        res = {s: [bits_per_byte(lm, target, ri, ro, g) for g in p] for s, p in texts.items()}
        if fv is None: fv = res
        gaps = {s: [round((f - h) / (f - bb), 3) for f, h, bb in zip(fv[s], res[s], base[s])] for s in res}
        print(name, vname.ljust(26), {s: [round(x, 3) for x in v] for s, v in res.items()}, "gap", gaps, flush=True)
