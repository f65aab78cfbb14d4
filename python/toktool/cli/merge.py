"""``toktool merge``: dynamic batch BPE merging on a text file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

import toktool
from toktool.cli.common import TOKENIZER_HELP
from toktool.cli.common import load_tokenizer_or_exit as _load
from toktool.merge import BOUNDARIES, merge_batch, token_windows


def _show(data: bytes) -> str:
    return repr(data.decode("utf-8", "backslashreplace"))


def merge(
    file: str = typer.Argument(..., help="Text file to merge ('-' reads standard input)."),
    tokenizer: str = typer.Option("smollm2", "--tokenizer", "-t", help=TOKENIZER_HELP),
    max_merges: int = typer.Option(100, "--max-merges", "-n", help="Merge budget."),
    saturate: bool = typer.Option(
        False, "--saturate", help="Merge until no pair is left (ignores --max-merges)."
    ),
    boundary: str = typer.Option(
        "pretoken", "--boundary", "-b", help=f"Units merges stay inside: {', '.join(BOUNDARIES)}."
    ),
    min_count: int = typer.Option(1, "--min-count", help="Stop when the best pair is rarer."),
    whole_chars: bool = typer.Option(
        False, "--whole-chars", help="Only merge pairs that spell whole UTF-8 characters "
        "(byte-level vocabularies split CJK characters; see docs/MERGE.md).",
    ),
    seq_len: int = typer.Option(512, "--seq-len", help="Tokens per sequence of the batch."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences in the batch."),
    show: int = typer.Option(20, "--show", help="How many merges to print (-1: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    generate: int = typer.Option(
        0, "--generate", "-g", metavar="N",
        help="Instead: read FILE's non-empty lines as prompts, merge them as one batch, and "
        "generate N tokens (greedy) after each prompt read unmerged and read merged (the "
        "paper's decoder use: a shorter prefill, the answer over the model's own vocabulary).",
    ),
    model: str = typer.Option(
        "smollm2", "--model", help="With --generate: 'smollm2' (the bundled GGUF, with the "
        "smollm2 tokenizer), a GGUF file or a HF model directory that goes with --tokenizer.",
    ),
    hypernet: Path = typer.Option(
        None, "--hypernet", help="With --generate: a ZeTT checkpoint (docs/MERGE.md) for the "
        "merged tokens' input rows; default FVT (the mean of the parts).",
    ),
    fit_steps: int = typer.Option(
        0, "--fit-steps", metavar="N", help="With --generate: first fit the merged tokens' "
        "input rows on the prompts themselves, N gradient steps with the model frozen "
        "(toktool.fit_new_rows; tokens that occur at least --fit-min-count times).",
    ),
    fit_min_count: int = typer.Option(
        2, "--fit-min-count", help="With --fit-steps: fit only tokens this frequent in the "
        "prompts.",
    ),
) -> None:
    """Merge a batch cut from FILE and print its length before/after and the learned merges.

    FILE is tokenized and cut into --batch-size windows of --seq-len tokens.

    With --generate N, FILE's lines are prompts: a model answers each, read unmerged and merged.

    Examples: toktool merge README.md -t cl100k --max-merges 50

    toktool merge prompts.txt --generate 20 --max-merges 100

    toktool merge prompts.txt --generate 20 --fit-steps 32
    """
    tok = _load(tokenizer)
    if boundary not in BOUNDARIES:
        typer.secho(f"error: unknown boundary {boundary!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.secho(f"error: {file}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    if generate > 0:
        _generate(tok, text, generate, None if saturate else max_merges, boundary, model,
                  hypernet, whole_chars, (fit_steps, fit_min_count))
        return
    try:
        batch = token_windows(tok.encode(text), seq_len, batch_size)
        result = merge_batch(batch, tok, None if saturate else max_merges, boundary,
                             min_count=min_count, whole_chars=whole_chars)
    except toktool.ToktoolError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    red = result.reduction
    n_bytes = sum(result.n_bytes)
    merges = [
        dict(id=result.vocab_size + k, left=left, right=right, count=count,
             text=result.token_bytes(tok, result.vocab_size + k).decode("utf-8", "replace"))
        for k, (left, right, count) in enumerate(result.merges)
    ]
    shown = merges if show < 0 else merges[:show]
    if as_json:
        summary = dict(
            sequences=len(batch), bytes=n_bytes, boundary=boundary,
            tokens_before=red.tokens_before, tokens_after=red.tokens_after,
            saturation=red.units, word_level=red.words, fewer=red.fewer,
            to_word_level=red.to_word_level, to_saturation=red.to_saturation,
            merges=shown,
        )
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    per_byte = (lambda n: n / n_bytes) if n_bytes else (lambda n: 0.0)
    plural = "" if len(batch) == 1 else "s"
    typer.echo(f"batch: {len(batch)} sequence{plural} of up to {seq_len} tokens, {n_bytes:,} "
               f"bytes, boundary {boundary}")
    typer.echo(f"before: {red.tokens_before:,} tokens ({per_byte(red.tokens_before):.4f} "
               "tokens/byte)")
    typer.echo(f"after:  {red.tokens_after:,} tokens ({per_byte(red.tokens_after):.4f} "
               f"tokens/byte) with {len(result.merges)} merges")
    typer.echo(f"reduction: {red.fewer:.1%} fewer tokens; {red.to_word_level:.1%} of the way to "
               f"word level ({red.words:,} tokens); {red.to_saturation:.1%} of the way to "
               f"saturation ({red.units:,} tokens)")
    if shown:
        typer.echo(f"merges ({len(shown)} of {len(merges)}):")
        for k, (left, right, count) in enumerate(result.merges[: len(shown)]):
            new_id = result.vocab_size + k
            typer.echo(f"{k + 1:6d}  id {new_id}  {_show(result.token_bytes(tok, left))} + "
                       f"{_show(result.token_bytes(tok, right))} -> "
                       f"{_show(result.token_bytes(tok, new_id))}  x{count}")


def _generate(tok: toktool.Tokenizer, text: str, n_tokens: int, max_merges: int | None,
              boundary: str, model_name: str, hypernet: Path | None, whole_chars: bool,
              fit: tuple[int, int] = (0, 2)) -> None:
    """``--generate``: each prompt answered after an unmerged and a merged prefill."""
    prompts = [line for line in text.splitlines() if line.strip()]
    if not prompts:
        typer.secho("error: no prompts (FILE has no non-empty line)", fg=typer.colors.RED,
                    err=True)
        raise typer.Exit(2)
    try:
        from toktool.demo import quiet_third_party
        from toktool.hf import load_causal_lm
        from toktool.merge import DynamicTokenizer, FVTEmbedder, fit_new_rows, prefill_generate

        with quiet_third_party():  # transformers' "Loading weights" bar
            lm = load_causal_lm(model_name)
        embedder: toktool.merge.Embedder = FVTEmbedder.from_model(lm)
        if hypernet is not None:
            from toktool.zett.model import HypernetEmbedder
            from toktool.zett.train import FrozenLM

            net = FrozenLM(lm).load_hypernet(hypernet)
            net.eval()
            embedder = HypernetEmbedder(net)
        bos = tok.special_tokens.get("<|endoftext|>", tok.special_tokens.get("<s>"))
        runs = {}
        for label, budget in (("unmerged", 0), ("merged", max_merges)):
            dyn = DynamicTokenizer(tok, embedder, max_merges=budget, boundary=boundary,
                                   bos_id=bos, cache_size=0, whole_chars=whole_chars)
            batch = dyn(prompts)
            if budget != 0 and fit[0] > 0:
                fitted, _ = fit_new_rows(lm, batch, embedder, FVTEmbedder.from_model(
                    lm, output=True), steps=fit[0], sides="input", min_count=fit[1])
                batch = DynamicTokenizer(tok, fitted, max_merges=budget, boundary=boundary,
                                         bos_id=bos, cache_size=0,
                                         whole_chars=whole_chars).embed(batch.result)
            runs[label] = (batch, prefill_generate(lm, batch, max_new_tokens=n_tokens,
                                                   do_sample=False))
    except (toktool.ToktoolError, ImportError, OSError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    merged_batch = runs["merged"][0]
    typer.echo(f"{len(prompts)} prompt{'s' if len(prompts) != 1 else ''}, "
               f"{merged_batch.result.n_merges} merges learned on them (boundary {boundary}), "
               f"new tokens embedded by {'the hypernetwork' if hypernet else 'FVT'}"
               + (f", input rows fitted on the prompts ({fit[0]} steps)" if fit[0] > 0 else ""))
    for i, prompt in enumerate(prompts):
        typer.echo(f"prompt {_show(prompt.encode())}")
        for label, (batch, answers) in runs.items():
            n = int(batch.attention_mask[i].sum()) - int(batch.bos)
            answer = tok.decode_bytes(answers[i])
            typer.echo(f"  {label:>8} ({n} tokens): {_show(answer)}")
