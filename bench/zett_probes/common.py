"""Shared setup of the probes: text slices, SmolLM2, the default checkpoint, scoring."""
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from eval_zett import bits_per_byte, code_tokenizer, eval_chunks, split_corpus  # noqa: E402

import toktool  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.hf import load_causal_lm  # noqa: E402
from toktool.zett.train import FrozenLM  # noqa: E402

CHECKPOINT = artifacts.cache_dir() / "zett" / "smollm2-mean-r500-i10-op0-s0" / "checkpoint"


class Probe:
    """Validation and test slices (4 KB per domain), SmolLM2, the default checkpoint."""

    def __init__(self, per_domain: int = 4000):
        self.train_code, held_code, self.train_prose, held_prose = split_corpus()
        val_code = [t for t in self.train_code if hashlib.sha1(t.encode()).digest()[1] % 10 == 0]
        self.texts = {
            "val": (eval_chunks(val_code, per_domain, 1024),
                    eval_chunks(self.train_prose, per_domain, 1024)),
            "test": (eval_chunks(held_code, per_domain, 1024),
                     eval_chunks(held_prose, per_domain, 1024)),
        }
        self.original = toktool.load_tokenizer("smollm2")
        self.model = load_causal_lm("smollm2")
        self.lm = FrozenLM(self.model)
        self.ref = self.lm.load_hypernet(CHECKPOINT)
        self.ref.eval()
        self.emb = self.lm.input_embeddings.detach()
        self.base = self.score(self.original, self.emb, self.emb)
        self.length_bias = float(self.ref.output_tower.length_bias.detach())
        self.direction = self.ref.output_tower.logit_direction.detach()

    def corpus(self) -> list:
        """The training mixture of bench/eval_zett.py (prose repeated to about a quarter)."""
        repeat = max(1, sum(map(len, self.train_code)) // (3 * sum(map(len, self.train_prose))))
        return self.train_code + self.train_prose * repeat

    def target(self, name: str) -> toktool.Tokenizer:
        path = (code_tokenizer(self.train_code) if name == "code-bpe"
                else artifacts.tokenizer_json(name))
        return toktool.Tokenizer.from_file(path)

    def score(self, tok, rows_in, rows_out) -> dict:
        """Bits per byte of (code, prose) per split."""
        return {s: [bits_per_byte(self.lm, tok, rows_in, rows_out, g) for g in pair]
                for s, pair in self.texts.items()}

    def report(self, name: str, label: str, res: dict, fvt: dict) -> None:
        gaps = {s: [round((f - h) / (f - b), 3) for f, h, b in zip(fvt[s], res[s], self.base[s])]
                for s in res}
        print(name, label.ljust(26), {s: [round(x, 3) for x in v] for s, v in res.items()},
              "gap", gaps, flush=True)


def parts_tensors(lengths: np.ndarray):
    """(k - 1) and the multi-part mask as (n, 1) float tensors."""
    n = torch.as_tensor(lengths)
    return (n - 1).clamp(min=0).float().unsqueeze(1), (n > 1).float().unsqueeze(1)
