"""Reconstruction steps vs zero-shot transfer: validation and test bits per byte along one run.

Reconstruction only moves the input side of the default recipe (the output tower is FVT plus the
calibrated length prior, whatever reconstruction did), so the output rows are taken once from a
finished checkpoint (``--reference``, the default recipe's) and, every ``--every`` steps of a
fresh reconstruction run, only the input rows of the tokens that occur in the scored texts are
predicted again. Scores transfer to ``--targets`` on

- validation text: training-split stdlib files (a second hash bucket of them) and chunks of the
  training prose; reconstruction never reads text, so these are unseen by it;
- the test text of ``bench/eval_zett.py`` (its held-out code and prose, same chunks).

Prints one line per evaluation and a JSON summary. Usage::

    python bench/zett_recon_curve.py --steps 1000 --every 100
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_zett import bits_per_byte, code_tokenizer, eval_chunks, split_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000, help="reconstruction schedule length")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--identity-share", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--reference", type=Path, default=None,
                        help="checkpoint whose output tower is used (default: the cached "
                        "default recipe's)")
    parser.add_argument("--targets", default="cl100k,code-bpe")
    parser.add_argument("--bytes", type=int, default=4000, help="per domain, validation and test")
    parser.add_argument("--out", type=Path, default=None, help="JSON summary")
    args = parser.parse_args()

    import torch

    import toktool
    from toktool import artifacts
    from toktool.hf import load_causal_lm
    from toktool.zett.decompose import decompose_vocab
    from toktool.zett.reconstruct import ReconConfig, train_reconstruction
    from toktool.zett.train import FrozenLM
    from toktool.zett.transfer import new_embeddings

    began = time.perf_counter()
    train_code, held_code, train_prose, held_prose = split_corpus()
    val_code = [t for t in train_code if hashlib.sha1(t.encode()).digest()[1] % 10 == 0]
    texts = {
        "val": (eval_chunks(val_code, args.bytes, 1024), eval_chunks(train_prose, args.bytes, 1024)),
        "test": (eval_chunks(held_code, args.bytes, 1024), eval_chunks(held_prose, args.bytes, 1024)),
    }
    original = toktool.load_tokenizer("smollm2")
    model = load_causal_lm("smollm2")
    lm = FrozenLM(model)
    reference = args.reference or (artifacts.cache_dir() / "zett" /
                                   "smollm2-mean-r500-i10-op0-s0" / "checkpoint")
    ref = lm.load_hypernet(reference)
    ref.eval()
    emb = lm.input_embeddings.detach()
    base = {split: tuple(bits_per_byte(lm, original, emb, emb, t) for t in pair)
            for split, pair in texts.items()}
    targets = []
    for name in [t for t in args.targets.split(",") if t]:
        path = code_tokenizer(train_code) if name == "code-bpe" else artifacts.tokenizer_json(name)
        target = toktool.Tokenizer.from_file(path)
        fvt = new_embeddings(model, original, target, method="fvt")
        hyp = new_embeddings(model, original, target, method="hypernet", hypernet=ref)
        parts = decompose_vocab(target, original, ref.config.max_length)
        lengths = np.asarray(parts.lengths)
        ids = np.asarray(parts.ids)
        used = set()
        for pair in texts.values():
            for group in pair:
                for t in group:
                    used.update(target.encode(t))
        used_multi = np.asarray(sorted(i for i in used if lengths[i] >= 2), dtype=np.int64)
        fvt_scores = {split: tuple(bits_per_byte(lm, target, fvt.input_rows, fvt.input_rows, t)
                                   for t in pair) for split, pair in texts.items()}
        targets.append(dict(name=name, target=target, fvt=fvt, out=hyp.output_rows,
                            ids=ids[used_multi], lengths=lengths[used_multi], where=used_multi,
                            fvt_scores=fvt_scores))
        print(f"{name}: {len(used_multi)} multi-part tokens scored; FVT {fvt_scores}",
              file=sys.stderr)

    def evaluate(hypernet) -> dict:
        row = {}
        with torch.no_grad():
            for t in targets:
                rows_in = t["fvt"].input_rows.clone()
                pred, _ = hypernet.predict(t["ids"], t["lengths"])
                rows_in[torch.as_tensor(t["where"])] = pred.to(rows_in.dtype)
                for split, pair in texts.items():
                    bits = [bits_per_byte(lm, t["target"], rows_in, t["out"], g) for g in pair]
                    gaps = [(f - h) / (f - b) for f, h, b in zip(t["fvt_scores"][split], bits,
                                                                 base[split])]
                    row[f"{t['name']}/{split}"] = {"bits": [round(x, 4) for x in bits],
                                                   "gap": [round(x, 3) for x in gaps]}
        return row

    curve = {"reference": evaluate(ref)}
    print(f"reference {curve['reference']}", file=sys.stderr)
    torch.manual_seed(0)
    hypernet = lm.new_hypernet(num_layers=ref.config.num_layers, num_heads=0,
                               ffn_multiplier=ref.config.ffn_multiplier,
                               max_length=ref.config.max_length, residual=ref.config.residual)
    config = ReconConfig(steps=args.steps, lr=args.lr, identity_share=args.identity_share)

    def on_step(step: int, loss: float) -> None:
        done = step + 1
        if done % args.every == 0 or done == args.steps:
            hypernet.eval()
            curve[done] = evaluate(hypernet)
            hypernet.train()
            print(f"step {done} loss {loss:.3f} {curve[done]}", file=sys.stderr)

    train_reconstruction(hypernet, original, config, on_step=on_step, progress=False)
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "base": base,
               "curve": {str(k): v for k, v in curve.items()},
               "seconds": round(time.perf_counter() - began)}
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
