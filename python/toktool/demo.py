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


def run_demo(name: str = "smollm2") -> None:
    """Print every section of the tour for the tokenizer ``name`` (a path or bundled name)."""
    tok = toktool.load_tokenizer(name)
    for i, (title, fn) in enumerate(SECTIONS, 1):
        print(f"\n[{i}] {title}")
        fn(tok, name)
    print()
