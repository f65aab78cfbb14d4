"""Typer application behind the ``toktool`` command."""

from __future__ import annotations

import json
from typing import Optional

import typer

from toktool.cli.bytes import bytes_app
from toktool.cli.common import TOKENIZER_HELP
from toktool.cli.common import load_tokenizer_or_exit as _load
from toktool.cli.convert import convert_app
from toktool.cli.heal import heal
from toktool.cli.merge import merge
from toktool.cli.zett import zett_app
from toktool.errors import ToktoolError

app = typer.Typer(
    name="toktool",
    help=(
        "Tokenizer engineering toolkit.\n\n"
        "Load any Hugging Face tokenizer.json of the BPE kind (or a bundled name such as "
        "'smollm2', 'cl100k', 'o200k', 'llama3', 'claude', 'mistral-sp') and inspect, encode "
        "or convert it."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def info(
    tokenizer: str = typer.Argument(..., help=TOKENIZER_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show vocabulary size, model type and the normalizer / pre-tokenizer pipeline.

    Example: toktool info smollm2
    """
    tok = _load(tokenizer)
    summary = tok.info()
    summary["special_tokens"] = tok.special_tokens
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if key == "special_tokens":
            value = ", ".join(f"{k}={v}" for k, v in list(value.items())[:12]) or "none"
        typer.echo(f"{key.ljust(width)}  {value}")


def encode(
    text: Optional[str] = typer.Argument(None, help="Text to encode (or use --files)."),
    tokenizer: str = typer.Option("smollm2", "--tokenizer", "-t", help=TOKENIZER_HELP),
    show_tokens: bool = typer.Option(True, help="Show each token's bytes beside its id."),
    files: Optional[list[str]] = typer.Option(
        None, "--files", "-f",
        help="Text/JSONL files to encode (one document per line) into --out; repeatable.",
    ),
    out: Optional[str] = typer.Option(
        None, "--out", "-o", help="Flat uint32 token file (plus OUT.offsets, OUT.state.json)."
    ),
    text_key: str = typer.Option("text", help="The JSONL field holding each document's text."),
    resume: bool = typer.Option(True, help="Continue an interrupted run from OUT.state.json."),
) -> None:
    """Encode TEXT and show ids (and the bytes of each token); or stream --files into --out.

    Examples: toktool encode "Hello world" -t cl100k;
    toktool encode -t llama3 --files a.jsonl --files b.txt --out tokens.bin
    """
    tok = _load(tokenizer)
    if files:
        if out is None or text is not None:
            raise typer.BadParameter("--files needs --out and no TEXT argument")
        from toktool.corpus import encode_files

        try:
            summary = encode_files(tok, files, out, text_key=text_key, resume=resume,
                                   progress=True)
        except ToktoolError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{summary['documents']} documents, {summary['tokens']} tokens -> {out}")
        return
    if text is None:
        raise typer.BadParameter("give TEXT, or --files and --out")
    ids = tok.encode(text)
    typer.echo(f"{len(ids)} tokens: {ids}")
    if show_tokens:
        typer.echo(" | ".join(repr(tok.token_bytes(i))[2:-1] for i in ids))


def demo(
    tokenizer: str = typer.Option("smollm2", "--tokenizer", "-t", help=TOKENIZER_HELP),
) -> None:
    """A one-minute tour on the embedded default tokenizer (SmolLM2)."""
    from toktool.demo import run_demo

    run_demo(tokenizer)


# The one place commands are registered: single commands, then command groups (in help order).
for command in (info, encode, demo, merge, heal):
    app.command()(command)
for name, group in (("convert", convert_app), ("bytes", bytes_app), ("zett", zett_app)):
    app.add_typer(group, name=name)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the ``toktool`` script."""
    app(args=argv)


__all__ = ["app", "main"]
