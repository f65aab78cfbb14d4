"""Input alignment, per language: the held-out KL of toktool.zett.align (the LM reading merged
windows against reading their parts, over its own vocabulary, mean per merged position) for one
or more cached checkpoints, on the 40-50% stretch of each Debian Reference document (the
phase's held-out text), at 100 merges and at saturation.

Usage: python bench/zett_probes/align_kl.py RUN [RUN ...]   (RUN: a directory name under the
cache's zett/, e.g. smollm2-mean-r500-i10-op60-ml30-s0)
"""
import sys

import torch

import toktool
from toktool import artifacts
from toktool.hf import load_causal_lm
from toktool.zett.align import AlignConfig, align_loss, held_out_batches, teacher_states
from toktool.zett.train import FrozenLM

tok = toktool.load_tokenizer("smollm2")
lm = FrozenLM(load_causal_lm("smollm2"))
docs = artifacts.multilingual_corpus()
config = AlignConfig()
runs = {name: lm.load_hypernet(artifacts.cache_dir() / "zett" / name / "checkpoint")
        for name in sys.argv[1:]}
print("language | fewer tokens (100 / sat.) | " + " | ".join(runs))
for lang, text in docs.items():
    held = {lang: text[int(len(text) * 0.4): int(len(text) * 0.5)]}
    batches = held_out_batches(tok, held, config)
    teachers = [teacher_states(lm, b) for b in batches]
    cells = []
    for hypernet in runs.values():
        with torch.no_grad():
            kl = [float(align_loss(hypernet, lm, b, config.last_part, t)[0])
                  for b, t in zip(batches, teachers)]
        cells.append(" / ".join(f"{v:.3f}" for v in kl))
    fewer = " / ".join(f"{b.fewer:.1%}" for b in batches)
    print(f"{lang} | {fewer} | " + " | ".join(cells), flush=True)
