"""Shared setup of the dynamic-merging probes: bench/eval_merge.py's protocol pieces, SmolLM2,
the merge checkpoint, and per-position scoring with optional logit biases."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch  # noqa: E402
from eval_merge import windows  # noqa: E402

import toktool  # noqa: E402
from toktool import artifacts  # noqa: E402
from toktool.hf import load_causal_lm  # noqa: E402
from toktool.zett.continuation import ContinuationCounts  # noqa: E402
from toktool.zett.train import FrozenLM  # noqa: E402

import os  # noqa: E402

# the merge checkpoint (Makefile ZETT_MERGE_CHECKPOINT); MERGE_CKPT=DIR probes another
CKPT = Path(os.environ.get("MERGE_CKPT") or artifacts.cache_dir() / "zett"
            / "smollm2-mean-r500-i10-op60-ml30-al250-s0" / "checkpoint")


class MergeProbe:
    """SmolLM2, its tokenizer, the merge checkpoint and the nine-language document."""

    def __init__(self):
        self.corpus = artifacts.multilingual_corpus()
        self.tok = toktool.load_tokenizer("smollm2")
        self.model = load_causal_lm("smollm2")
        self.eos = self.tok.special_tokens["<|endoftext|>"]
        self.hypernet = FrozenLM(self.model).load_hypernet(CKPT)
        self.hypernet.eval()
        self.head = self.model.get_output_embeddings()

    def split(self, lang: str, start: float = 0.8, scored: int = 2, learn: int = 32):
        """(scored windows, learn windows, counts over the learn windows' text), as
        eval_merge: the merges come from the learn windows, never the scored ones."""
        batch = windows(self.tok, self.corpus[lang], start, scored + learn, 512)
        texts = [self.tok.decode_bytes(list(s)).decode("utf-8", errors="replace")
                 for s in batch[scored:]]
        return batch[:scored], batch[scored:], ContinuationCounts(self.tok, texts)

    def final_hidden(self, embedded):
        """Per sequence of ``embedded``: the LM head's input before each scored token
        (``(n - 1, d)``) and the scored ids (``(n - 1,)``), without gradient."""
        captured, out = [], []
        hook = self.head.register_forward_hook(lambda _m, a, _o: captured.append(a[0]))
        try:
            with torch.no_grad():
                for b in range(embedded.input_ids.shape[0]):
                    n = int(embedded.attention_mask[b].sum())
                    captured.clear()
                    self.model(inputs_embeds=embedded.inputs_embeds[b: b + 1, :n],
                               attention_mask=embedded.attention_mask[b: b + 1, :n])
                    out.append((captured[-1][0, :-1], embedded.input_ids[b, 1:n]))
        finally:
            hook.remove()
        return out

    def position_logp(self, embedded, rows=None, bias_orig=None, bias_new=None):
        """log p of each scored token of each sequence (1-D float64 tensors), over the original
        vocabulary plus ``rows`` (the merged tokens' output rows), with optional logit biases."""
        vocab = self.tok.vocab_size
        out = []
        with torch.no_grad():
            for hidden, targets in self.final_hidden(embedded):
                logits = hidden @ self.head.weight[:vocab].T
                if bias_orig is not None:
                    logits = logits + bias_orig
                if rows is not None and len(rows):
                    new = hidden @ rows.T
                    logits = torch.cat([logits, new if bias_new is None else new + bias_new], -1)
                logp = torch.log_softmax(logits.double(), -1)
                out.append(logp.gather(1, targets.unsqueeze(1))[:, 0])
        return out
