"""Input alignment on merged windows (toktool.zett.align) from the merge checkpoint.

    python bench/zett_probes/merge_align.py STEPS [LR] [OUT_DIR] [--weights ja=4,zh-cn=4]

Trains the checkpoint's input tower STEPS more steps on merged windows of the first 40% of the
nine Debian Reference documents (the held-out KL on 40-50% picks the best step), and writes the
best hypernetwork to OUT_DIR (default /tmp/ma/checkpoint); score it with
`python bench/eval_merge.py --hypernet OUT_DIR`."""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from merge_common import CKPT  # noqa: E402

import toktool  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.hf import load_causal_lm  # noqa: E402
from toktool.zett.align import AlignConfig, train_alignment  # noqa: E402
from toktool.zett.model import read_checkpoint_meta, save_hypernet  # noqa: E402
from toktool.zett.train import FrozenLM  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("steps", type=int)
    p.add_argument("lr", type=float, nargs="?", default=1e-4)
    p.add_argument("out", type=Path, nargs="?", default=Path("/tmp/ma/checkpoint"))
    p.add_argument("--eval-every", type=int, default=25)
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
    weights = {k: float(v) for k, v in (item.split("=") for item in args.weights.split(",") if item)}
    config = AlignConfig(steps=args.steps, lr=args.lr, eval_every=args.eval_every,
                         warmup=min(10, args.steps), weights=weights or None)
    best: dict = {}

    def on_best(step: int, value: float) -> None:
        best.update(step=step, kl=value)
        save_hypernet(hypernet, args.out, extra={**read_checkpoint_meta(CKPT),
                                                 "merge_align": {"step": step, "held_kl": value,
                                                                 "lr": args.lr,
                                                                 "weights": args.weights}})

    began = time.perf_counter()
    result = train_alignment(hypernet, lm, tok, train, config, held_texts=held, on_best=on_best)
    print("held-out KL by step:", {k: round(v, 4) for k, v in result["held_out"].items()})
    print(f"best {best}  {time.perf_counter() - began:.0f} s  fewer {result['fewer']:.3f}")


if __name__ == "__main__":
    main()
