"""The one-minute tour behind ``toktool demo`` (the README's first command).

Each capability contributes one section; every number printed is measured on the spot.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Optional

import toktool

SECTIONS: list[tuple[str, Callable[[toktool.Tokenizer, str], None]]] = []


def section(title: str) -> Callable[[Callable[[toktool.Tokenizer, str], None]], Callable[[toktool.Tokenizer, str], None]]:
    def register(fn: Callable[[toktool.Tokenizer, str], None]) -> Callable[[toktool.Tokenizer, str], None]:
        SECTIONS.append((title, fn))
        return fn

    return register


def _show_tokens(tok: toktool.Tokenizer, ids: list[int]) -> str:
    return " | ".join(tok.token_bytes(i).decode("utf-8", "backslashreplace") for i in ids)


@section("The tokenizer engine: HF-exact ids, faster")
def engine(tok: toktool.Tokenizer, name: str) -> None:
    import tokenizers

    from toktool import artifacts

    info = tok.info()
    print(f"  {name}: vocab {info['vocab_size']:,}, pre-tokenizer {info['pre_tokenizer']}")
    prompt = "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)"
    ids = tok.encode(prompt)
    print(f"  {len(ids)} tokens: {_show_tokens(tok, ids[:16])} ...")
    hf = tokenizers.Tokenizer.from_str(tok.to_str())
    texts = artifacts.stdlib_corpus(max_bytes=2_000_000)
    nbytes = sum(len(t.encode()) for t in texts)
    t0 = time.perf_counter()
    ours = [tok.encode(t) for t in texts]
    t1 = time.perf_counter()
    theirs = [e.ids for e in (hf.encode(t, add_special_tokens=False) for t in texts)]
    t2 = time.perf_counter()
    same = "identical ids" if ours == theirs else "IDS DIFFER"
    print(
        f"  {nbytes / 1e6:.1f} MB of Python source, one thread: toktool "
        f"{nbytes / (t1 - t0) / 1e6:.1f} MB/s, HF tokenizers {nbytes / (t2 - t1) / 1e6:.1f} MB/s "
        f"({(t2 - t1) / (t1 - t0):.1f}x), {same}"
    )
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:  # the corpus path: JSONL in, flat ids out
        source = Path(tmp) / "stdlib.jsonl"
        source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        summary = tok.encode_files([source], Path(tmp) / "tokens.bin")
        data = toktool.read_tokens(Path(tmp) / "tokens.bin")
        check = "each document's ids = encode(document)" if all(
            data[i].tolist() == ours[i] for i in (0, len(texts) // 2, len(texts) - 1)
        ) else "IDS DIFFER"
        print(f"  toktool encode --out: the same {len(texts)} files as JSONL -> "
              f"{summary.tokens:,} {summary.dtype} ids in {summary.seconds * 1e3:.0f} ms "
              f"({summary.mb_per_s:.0f} MB/s, all cores); {check}")


@section("Dynamic batch merging: BPE merges learned on the batch itself")
def dynamic_merging(tok: toktool.Tokenizer, name: str) -> None:
    from toktool import artifacts
    from toktool.merge import merge_batch

    text = artifacts.multilingual_corpus()["de"]
    texts = [text[i : i + 1200] for i in range(40_000, 40_000 + 32 * 1200, 1200)]
    batch = tok.encode_batch(texts)
    nbytes = sum(len(t.encode()) for t in texts)
    before = sum(len(s) for s in batch)
    print(f"  32 German texts, {before:,} {name} tokens ({before / nbytes:.3f} tokens/byte)")
    learned = {}
    for budget in (10, 100, None):
        t0 = time.perf_counter()
        result = learned[budget] = merge_batch(batch, tok, budget)
        ms = (time.perf_counter() - t0) * 1e3
        red = result.reduction
        label = "saturation" if budget is None else f"{budget} merges"
        print(f"  {label:>12}: {red.tokens_after:,} tokens ({red.tokens_after / nbytes:.3f}/byte), "
              f"{red.fewer:.1%} fewer, {red.to_word_level:.0%} of the way to word level "
              f"[{result.n_merges:,} merges in {ms:.1f} ms]")
    result = merge_batch(batch, tok, 8)
    shown = [result.token_bytes(tok, tok.vocab_size + k).decode("utf-8", "replace")
             for k in range(result.n_merges)]
    print(f"  first merges: {' | '.join(repr(s) for s in shown)}")
    _merged_prefill(tok, name, {0: [], 100: learned[100].merges, None: learned[None].merges},
                    text)


def _merged_prefill(tok: toktool.Tokenizer, name: str,
                    merges: dict[Optional[int], list[tuple[int, int, int]]], text: str) -> None:
    """The paper's decoder use: a merged prompt, the answer over the model's own vocabulary.
    ``merges``: the merges the section learned on its batch, by budget (0: none)."""
    try:
        from toktool.hf import load_causal_lm
        from toktool.merge import (DynamicTokenizer, FVTEmbedder, apply_merges, prefill_bits,
                                   token_windows)
    except ImportError as exc:  # pragma: no cover - torch is an optional extra
        print(f"  merged prompts: skipped ({exc})")
        return
    if name != "smollm2":
        return
    model = load_causal_lm("smollm2")
    fvt = FVTEmbedder.from_model(model)
    eos = tok.special_tokens["<|endoftext|>"]
    # two held-out windows of the same document: 384 tokens of prompt, the next 64 scored
    windows = token_windows(tok.encode(text[120_000:160_000]), 448, 2)
    contexts, answers = [w[:384] for w in windows], [w[384:] for w in windows]
    nbytes = sum(len(tok.decode_bytes(a)) for a in answers)
    print("  merged prompts (SmolLM2, FVT rows; the answer scored over its own vocabulary):")
    for budget, learned in merges.items():
        merged = apply_merges(contexts, tok, learned)
        dyn = DynamicTokenizer(tok, fvt, max_merges=budget, bos_id=eos, cache_size=0)
        bits = sum(prefill_bits(model, dyn.embed(merged), answers)) / nbytes
        label = "unmerged" if budget == 0 else ("saturation" if budget is None
                                                 else f"{budget} merges")
        print(f"  {label:>12}: prompts {sum(merged.lengths):,} tokens, answers "
              f"{bits:.3f} bits/byte")


@section("Right-to-left digits: place-value aligned number tokens")
def digit_groups(tok: toktool.Tokenizer, name: str) -> None:
    import json

    from toktool import digits

    problem = "What is 1234567 + 89012? Answer: 1323579."
    labels = ["cl100k"]
    if "Digits" in str(tok.info()["pre_tokenizer"]):
        ids = tok.encode(problem)
        print(f"  {name}: one token per digit already (Digits pre-tokenizer), {len(ids)} tokens")
    elif name != "cl100k":
        labels.insert(0, name)
    for label in labels:
        try:
            original = tok if label == name else toktool.load_tokenizer(label)
            conversion = digits.convert(label, "r2l", 3)
        except (toktool.ToktoolError, RuntimeError) as exc:  # RuntimeError: artifact missing
            print(f"  {label}: {exc}")
            continue
        converted = toktool.Tokenizer.from_str(json.dumps(conversion.doc))
        before, after = original.encode(problem), converted.encode(problem)
        print(f"  {label}, toktool convert tokenizer --digits r2l "
              f"({conversion.action} Split({conversion.behavior})):")
        print(f"    before {len(before):2d} tokens: {_show_tokens(original, before)}")
        print(f"    after  {len(after):2d} tokens: {_show_tokens(converted, after)}")
    commas = digits.insert_separators(problem)
    print(f"  unconverted models, at inference: {commas!r} (strip_separators undoes it)")


@section("Token healing: prompts cut mid-token, naive vs healed (SmolLM2-135M, greedy)")
def healing(tok: toktool.Tokenizer, name: str) -> None:
    healer = toktool.TokenHealer(tok)
    prompts = [b"x = os.path.jo", b"def fibonacci(n):\n    retu"]
    for prompt in prompts:
        healed = healer.heal(prompt)
        mask = healer.allowed(healed.constraint_bytes)
        times = []
        for _ in range(21):
            start = time.perf_counter()
            healer.allowed(healed.constraint_bytes)
            times.append(time.perf_counter() - start)
        print(
            f"  {prompt!r}: back off {_show_tokens(tok, healed.removed_ids)!r}, generation must "
            f"spell {healed.constraint_bytes!r}: {int(mask.sum())} of {tok.vocab_size:,} tokens "
            f"allowed (mask in {sorted(times)[10] * 1e6:.1f} µs)"
        )
    if name != "smollm2":
        print("  (completions need the SmolLM2 model: run `toktool demo -t smollm2`)")
        return
    try:
        from toktool.hf import HFTokenLM, load_causal_lm

        lm = HFTokenLM(load_causal_lm("smollm2"))
    except toktool.ToktoolError as exc:
        print(f"  (completions skipped: {exc})")
        return
    import torch

    # One token at a time through a 135M model: one thread is as fast, and much faster when
    # other processes compete for the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        for prompt in prompts:
            naive = toktool.naive_generate(lm, tok, prompt, 8, stop=b"\n")
            healed_text = toktool.heal_generate(lm, tok, prompt, 8, healer=healer, stop=b"\n")
            print(f"  {prompt!r}\n      naive  ... {naive!r}\n      healed ... {healed_text!r}")
    finally:
        torch.set_num_threads(threads)
    print(f"  ({time.perf_counter() - t0:.1f} s for {2 * len(prompts)} completions on CPU)")


def run_demo(name: str = "smollm2") -> None:
    """Print every section of the tour for the tokenizer ``name`` (a path or bundled name)."""
    tok = toktool.load_tokenizer(name)
    for i, (title, fn) in enumerate(SECTIONS, 1):
        print(f"\n[{i}] {title}")
        with quiet_third_party():
            fn(tok, name)
    print()


@contextlib.contextmanager
def quiet_third_party() -> Iterator[None]:
    """Keep other libraries' warnings, log lines and progress bars out of the tour's output.

    Warnings raised outside toktool are ignored, ``transformers`` logs errors only and shows no
    progress bars (its "Loading weights" bar), and the GGUF conversion's own ``tqdm`` bar (first
    run only: transformers imports ``tqdm.auto`` there directly) is disabled. Everything is
    restored on exit; toktool's own warnings and errors still show.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(?!toktool)")
        restore: list[Callable[[], None]] = []
        hf_logging: Any = None
        with contextlib.suppress(ImportError):  # the torch extra may be missing
            from transformers.utils import logging as hf_logging
        if hf_logging is not None:
            level = hf_logging.get_verbosity()
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            restore.append(lambda: hf_logging.set_verbosity(level))
            if bars:
                restore.append(hf_logging.enable_progress_bar)
            gguf_utils: Any = None
            with contextlib.suppress(ImportError):  # gguf may be missing
                from transformers import modeling_gguf_pytorch_utils as gguf_utils
            if gguf_utils is not None and hasattr(gguf_utils, "tqdm"):
                original = gguf_utils.tqdm
                gguf_utils.tqdm = functools.partial(original, disable=True)
                restore.append(lambda: setattr(gguf_utils, "tqdm", original))
        root = logging.getLogger()
        root_level = root.level
        root.setLevel(max(root_level, logging.ERROR))
        restore.append(lambda: root.setLevel(root_level))
        try:
            yield
        finally:
            for undo in reversed(restore):
                undo()


@section("Exact byte-level probabilities: a prompt cut mid-token (SmolLM2-135M)")
def byte_level(tok: toktool.Tokenizer, name: str) -> None:
    try:
        from toktool.costs import greedy_costs, scoring_costs
        from toktool.hf import HFTokenLM, load_causal_lm
    except ImportError as exc:  # pragma: no cover - torch is an optional extra
        print(f"  skipped: {exc}")
        return
    import numpy as np

    if name != "smollm2":
        print("  skipped: the bundled model goes with the 'smollm2' tokenizer")
        return
    t0 = time.perf_counter()
    lm = HFTokenLM(load_causal_lm("smollm2"))
    load_s = time.perf_counter() - t0
    blm = toktool.ByteLM(lm, tok, eos_id=0)
    prompt = b"def fibon"
    ids = tok.encode(prompt.decode())
    print(f"  prompt {prompt!r} -> tokens {_show_tokens(tok, ids)} (the cut falls mid-word)")
    naive = np.exp(lm([ids])[0])
    best = int(np.argmax(naive))
    exact = np.exp(blm.next_byte_logprobs(prompt))
    naive_a = sum(naive[t] for t in range(tok.vocab_size) if tok.token_bytes(t)[:1] == b"a")
    print(f"  naive next token: {tok.token_bytes(best)!r} p={naive[best]:.3f};"
          f" P(next byte = 'a') naive {naive_a:.3f} vs exact {exact[ord('a')]:.3f}")
    # The same measurement as bench/eval_bytes.py's cost tables (toktool.costs): each side starts
    # from an empty KV cache and pays its own prefill. One thread, as in the healing section.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        costs = greedy_costs(blm, tok, prompt, 12, stop=None)
        cont = b"acci(n):\n    return n"
        scores = scoring_costs(blm, tok, prompt, cont)
    finally:
        torch.set_num_threads(threads)
    naive_out, naive_cost, exact_out, exact_cost = costs
    print(f"  naive greedy: {prompt + naive_out!r}")
    print(f"  exact greedy: {prompt + exact_out!r}")
    print(f"  greedy cost: naive {naive_cost.seconds_per_byte * 1e3:.0f} ms/byte "
          f"({naive_cost.forwards_per_byte:.2f} forwards/byte), exact "
          f"{exact_cost.seconds_per_byte * 1e3:.0f} ms/byte "
          f"({exact_cost.forwards_per_byte:.2f} forwards/byte): "
          f"{exact_cost.seconds_per_byte / max(1e-9, naive_cost.seconds_per_byte):.1f}x naive")
    lp_naive, score_naive, lp_exact, score_exact = scores
    print(f"  scoring {cont!r}: naive {-lp_naive / np.log(2) / len(cont):.2f} bits/byte in "
          f"{score_naive.seconds * 1e3:.0f} ms, exact {-lp_exact / np.log(2) / len(cont):.2f} "
          f"bits/byte in {score_exact.seconds * 1e3:.0f} ms "
          f"({score_exact.seconds / max(1e-9, score_naive.seconds):.1f}x naive); model load "
          f"{load_s:.1f} s. Cost tables: docs/BYTES.md.")


@section("Zero-shot tokenizer transfer: SmolLM2-135M speaking cl100k's vocabulary")
def zett_transfer(tok: toktool.Tokenizer, name: str) -> None:
    import numpy as np

    from toktool import artifacts
    from toktool.zett import decompose_vocab, sample_tokenizer

    target = toktool.load_tokenizer("cl100k")
    t0 = time.perf_counter()
    parts = decompose_vocab(target, tok, max_len=8)
    took = time.perf_counter() - t0
    counts = np.bincount(np.minimum(parts.lengths, 4), minlength=5)
    print(
        f"  cl100k's {target.vocab_size:,} tokens decomposed into {name} tokens in "
        f"{took * 1e3:.0f} ms: 1 part {counts[1]:,}, 2 parts {counts[2]:,}, 3 parts "
        f"{counts[3]:,}, 4+ {counts[4]:,}"
    )
    example = next((
        i for i in range(target.vocab_size)
        if parts.lengths[i] == 3 and target.token_bytes(i).strip().isalpha()
        and len(target.token_bytes(i)) >= 10
    ), None)
    if example is not None:
        row = parts.ids[example, : parts.lengths[example]]
        print(f"  e.g. cl100k {target.token_bytes(example)!r} = {name} "
              f"{' + '.join(repr(tok.token_bytes(int(i))) for i in row)}")
    texts = artifacts.stdlib_corpus(max_bytes=64_000)
    t0 = time.perf_counter()
    sampled = sample_tokenizer(tok, texts, 4096, noise=1.0, seed=0)
    took = time.perf_counter() - t0
    print(f"  training sampler: a 4,096-token UnigramLM vocabulary drawn from 64 KB of text and "
          f"the text segmented in {took * 1e3:.0f} ms, e.g. "
          f"{', '.join(repr(v) for v in sampled.vocab[256:260])}")
    if name != "smollm2":
        print("  (transfer needs the SmolLM2 model: run `toktool demo -t smollm2`)")
        return
    try:
        import torch

        from toktool.hf import load_causal_lm
        from toktool.zett import FrozenLM, new_embeddings
        from toktool.zett.train import sequence_nats
    except (ImportError, toktool.ToktoolError) as exc:  # pragma: no cover - optional extra
        print(f"  (transfer skipped: {exc})")
        return
    model = load_causal_lm("smollm2")
    lm = FrozenLM(model)
    text = (
        "def mean(values):\n    total = 0\n    for value in values:\n        total += value\n"
        "    return total / len(values)\n"
    )

    def bits(tokenizer: toktool.Tokenizer, rows: torch.Tensor,
             rows_out: Optional[torch.Tensor] = None) -> float:
        ids = torch.tensor([tokenizer.encode(text)])
        out = rows if rows_out is None else rows_out
        with torch.no_grad():
            nats, _ = sequence_nats(lm, rows, out, ids, torch.ones_like(ids, dtype=torch.bool))
        return float(nats.sum()) / len(text.encode()) / np.log(2)

    t0 = time.perf_counter()
    original = bits(tok, lm.input_embeddings.detach())
    fvt = new_embeddings(model, tok, target, method="fvt")
    transferred = bits(target, fvt.input_rows)
    print(f"  bits per byte of a small function: original model {original:.2f}, moved to "
          f"cl100k with FVT {transferred:.2f} ({time.perf_counter() - t0:.1f} s)")
    # the default recipe's run (`make eval-zett`, Makefile ZETT_CHECKPOINT) first, else the newest
    default = artifacts.cache_dir() / "zett" / "smollm2-mean-r500-i10-op0-as100-s0" / "checkpoint"
    checkpoints = sorted((artifacts.cache_dir() / "zett").glob("smollm2-*/checkpoint"),
                         key=lambda p: (p == default, p.stat().st_mtime))
    if not checkpoints:
        print("  hypernetwork: no checkpoint in the cache yet; `make eval-zett` (or `toktool "
              "zett train --out DIR`, ~30 min on a 2-core CPU: reconstruction, the output "
              "tower's prior, input alignment) trains one, then this demo shows it here; numbers in "
              "docs/ZETT.md.")
        return
    try:
        hypernet = lm.load_hypernet(checkpoints[-1])
    except toktool.ToktoolError as exc:
        print(f"  hypernetwork: {checkpoints[-1]} not usable ({exc})")
        return
    hypernet.eval()
    t0 = time.perf_counter()
    zett = new_embeddings(model, tok, target, method="hypernet", hypernet=hypernet)
    predicted = bits(target, zett.input_rows, zett.output_rows)
    print(f"  with the ZeTT hypernetwork ({checkpoints[-1].parent.name}, from the cache): "
          f"{predicted:.2f} bits per byte ({time.perf_counter() - t0:.1f} s for cl100k's "
          "embeddings); held-out numbers in docs/ZETT.md.")
    if getattr(hypernet, "output_tower", None) is None:
        return
    from toktool.zett.continuation import ContinuationCounts

    t0 = time.perf_counter()
    continuation = ContinuationCounts(tok, artifacts.stdlib_corpus(max_bytes=4_000_000))
    mixed = new_embeddings(model, tok, target, method="hypernet", hypernet=hypernet,
                           continuation=continuation)
    print(f"  + a continuation prior and unigram shift counted on 4 MB of stdlib code "
          "(`--continuation-corpus`): "
          f"{bits(target, mixed.input_rows, mixed.output_rows):.2f} bits per byte "
          f"({time.perf_counter() - t0:.1f} s)")
