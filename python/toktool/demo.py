"""The one-minute tour behind ``toktool demo`` (the README's first command).

Each capability contributes one section; every number printed is measured on the spot.
"""

from __future__ import annotations

import time
from collections.abc import Callable

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
        f"{nbytes / (t1 - t0) / 1e6:.0f} MB/s, HF tokenizers {nbytes / (t2 - t1) / 1e6:.0f} MB/s "
        f"({(t2 - t1) / (t1 - t0):.1f}x), {same}"
    )


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
        fn(tok, name)
    print()
