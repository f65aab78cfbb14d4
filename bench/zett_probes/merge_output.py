"""Output (or input) alignment on merged windows from the merge checkpoint.

    python bench/zett_probes/merge_output.py STEPS [LR] [OUT_DIR] [--mix M] [--windows W]
        [--weights ja=4,zh-cn=4] [--side output|input] [--canonical FLOOR]

Trains the checkpoint's output tower (toktool.zett.merge_output; ``--side input``: its input
tower, toktool.zett.align) STEPS steps on merged windows of the first 40% of the nine Debian
Reference documents, drawn with the given weights (the held-out cross-entropy, or KL, on 40-50%
picks the best step), and writes the best hypernetwork to OUT_DIR (default /tmp/mo/checkpoint);
score it with `python bench/eval_merge.py --hypernet OUT_DIR`."""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from merge_common import CKPT  # noqa: E402

import toktool  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.hf import load_causal_lm  # noqa: E402
from toktool.zett.align import AlignConfig, parse_weights, train_alignment  # noqa: E402
from toktool.zett.merge_output import MergeOutputConfig, train_merge_output  # noqa: E402
from toktool.zett.model import read_checkpoint_meta, save_hypernet  # noqa: E402
from toktool.zett.train import FrozenLM  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("steps", type=int)
    p.add_argument("lr", type=float, nargs="?", default=None,
                   help="default: the phase's own (2e-4 output, 1e-4 input)")
    p.add_argument("out", type=Path, nargs="?", default=Path("/tmp/mo/checkpoint"))
    p.add_argument("--side", choices=("output", "input"), default="output")
    p.add_argument("--mix", type=float, default=0.5, help="output side: the prior's mix")
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--canonical", type=float, default=None, metavar="FLOOR",
                   help="output side: train on the split mass removed "
                        "(MergeOutputConfig.canonical_floor)")
    p.add_argument("--weights", default="",
                   help="document draw weights, e.g. ja=4,zh-cn=4 (others weigh 1)")
    args = p.parse_args()
    tok = toktool.load_tokenizer("smollm2")
    lm = FrozenLM(load_causal_lm("smollm2"))
    hypernet = lm.load_hypernet(CKPT)
    docs = artifacts.multilingual_corpus()
    names = list(artifacts.LANGUAGES)
    train = {n: docs[n][: int(len(docs[n]) * 0.4)] for n in names}
    held = {n: docs[n][int(len(docs[n]) * 0.4): int(len(docs[n]) * 0.5)] for n in names}
    common = dict(steps=args.steps, windows=args.windows, eval_every=args.eval_every,
                  warmup=min(10, args.steps),
                  weights=parse_weights(args.weights, "--weights"))
    if args.lr is not None:
        common["lr"] = args.lr
    if args.side == "output":
        config: AlignConfig = MergeOutputConfig(mix=args.mix, canonical_floor=args.canonical,
                                                **common)
        run, metric = train_merge_output, "ce"
    else:
        config, run, metric = AlignConfig(**common), train_alignment, "kl"
    best: dict = {}

    def on_best(step: int, value: float) -> None:
        best.update(step=step, **{metric: value})
        save_hypernet(hypernet, args.out, extra={
            **read_checkpoint_meta(CKPT),
            f"merge_{args.side}": {"step": step, f"held_{metric}": value, "lr": config.lr,
                                   "weights": args.weights, "mix": args.mix,
                                   "canonical_floor": args.canonical}})

    began = time.perf_counter()
    result = run(hypernet, lm, tok, train, config, held_texts=held, on_best=on_best)
    print(f"held-out {metric} by step:", {k: round(v, 4) for k, v in result["held_out"].items()})
    print(f"best {best}  {time.perf_counter() - began:.0f} s  fewer {result['fewer']:.3f}")


if __name__ == "__main__":
    main()
