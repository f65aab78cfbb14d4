"""Typer application behind the ``toktool`` command."""

from __future__ import annotations

import glob
import json
import os
from typing import Literal, Optional, cast

import typer

from toktool.cli.bytes import bytes_app
from toktool.cli.common import TOKENIZER_HELP
from toktool.cli.common import load_tokenizer_or_exit as _load
from toktool.cli.convert import convert_app
from toktool.cli.heal import heal
from toktool.cli.merge import merge
from toktool.cli.zett import zett_app
from toktool.errors import ToktoolError
from toktool.tokenizer import Tokenizer

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
    text: Optional[list[str]] = typer.Argument(
        None, show_default=False,
        help="Text to encode; with --out, the files to encode (shell globs work).",
    ),
    tokenizer: str = typer.Option("smollm2", "--tokenizer", "-t", help=TOKENIZER_HELP),
    show_tokens: bool = typer.Option(True, help="Show each token's bytes beside its id."),
    files: Optional[list[str]] = typer.Option(
        None, "--files", "-f", show_default=False,
        help="A file to encode into --out (repeatable; a quoted glob like 'data/*.jsonl' is "
             "expanded). Text files are one document each (see --split); .jsonl/.ndjson files "
             "one per line; .gz is decompressed.",
    ),
    out: Optional[str] = typer.Option(
        None, "--out", "-o", show_default=False,
        help="The token file to write, e.g. tokens.bin (plus tokens.idx: uint64 document "
             "starts, and tokens.manifest.json).",
    ),
    split: str = typer.Option(
        "file", help="Text files: one document per 'file', or per line ('lines')."
    ),
    jsonl_field: str = typer.Option("text", help="The JSONL field holding each document."),
    input_format: Optional[str] = typer.Option(
        None, "--format", show_default=False,
        help="'text' or 'jsonl' for every file (default: by extension).",
    ),
    dtype: str = typer.Option(
        "auto", help="uint16, uint32, or auto: uint16 when the vocabulary has at most "
                     "65,536 ids, else uint32.",
    ),
    bos: Optional[str] = typer.Option(
        None, show_default=False, help="A token (or an id) put before every document."
    ),
    eos: Optional[str] = typer.Option(
        None, show_default=False,
        help="A token (or an id) put after every document, e.g. '<|endoftext|>'.",
    ),
    chunk_mb: float = typer.Option(
        16.0, help="MB of text per chunk: the unit of parallel work and of resuming; memory "
                   "stays near 4 chunks (more if one document is larger than a chunk; up to twice that "
                   "for files of very short lines, about 40 bytes of bookkeeping per document).",
    ),
    resume: bool = typer.Option(
        True, help="Continue an interrupted run from its manifest (--no-resume: start over)."
    ),
    progress: bool = typer.Option(True, help="Show a progress bar (on stderr)."),
) -> None:
    """Encode TEXT and show ids (and the bytes of each token); or encode whole files into a flat token file (--out) on all cores.

    With --out, every document's ids (exactly those of encoding it alone) are written end to end to OUT as little-endian uint16/uint32, and OUT with the extension .idx (tokens.bin: tokens.idx) gets the uint64 start of each document plus the end. An interrupted run (Ctrl-C, a killed job) continues where it stopped when the same command runs again, giving the same bytes. Load the result with toktool.read_tokens("tokens.bin"). RAYON_NUM_THREADS caps the cores.

    Examples:

      toktool encode "Hello world" -t cl100k

      toktool encode -t llama3 --eos '<|end_of_text|>' --out tokens.bin data/*.jsonl

      toktool encode -t smollm2 --split lines -f corpus.txt.gz -o tokens.bin
    """
    tok = _load(tokenizer)
    if out is not None:
        paths = _expand_globs([*(files or []), *(text or [])])
        _encode_files(tok, tokenizer, paths, out, split=split, jsonl_field=jsonl_field,
                      input_format=input_format, dtype=dtype, bos=bos, eos=eos,
                      chunk_mb=chunk_mb, resume=resume, progress=progress)
        return
    if files:
        raise typer.BadParameter("--files needs --out (the token file to write)")
    if not text or len(text) > 1:
        raise typer.BadParameter("give one TEXT (quote it), or files and --out")
    ids = tok.encode(text[0])
    typer.echo(f"{len(ids)} tokens: {ids}")
    if show_tokens:
        typer.echo(" | ".join(repr(tok.token_bytes(i))[2:-1] for i in ids))


# The names the core accepts (it refuses others with a message listing them).
SplitName = Literal["file", "lines"]
FormatName = Literal["text", "jsonl"]
DtypeName = Literal["auto", "uint16", "uint32"]


def _expand_globs(paths: list[str]) -> list[str]:
    """Paths as given, with quoted glob patterns (that name no file) expanded, sorted."""
    expanded: list[str] = []
    for path in paths:
        if not os.path.exists(path) and glob.has_magic(path):
            matches = sorted(glob.glob(path))
            if not matches:
                typer.secho(f"error: no file matches {path!r}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
            expanded.extend(matches)
        else:
            expanded.append(path)
    if not expanded:
        raise typer.BadParameter("--out needs files to encode (--files, or after the options)")
    return expanded


def _special(value: Optional[str]) -> int | str | None:
    """A --bos/--eos value: digits are an id, anything else a token."""
    return int(value) if value is not None and value.isdigit() else value


def _encode_files(tok: Tokenizer, name: str, paths: list[str], out: str, *, split: str,
                  jsonl_field: str, input_format: Optional[str], dtype: str, bos: Optional[str],
                  eos: Optional[str], chunk_mb: float, resume: bool, progress: bool) -> None:
    """``toktool encode --out``: ``Tokenizer.encode_files`` and a one-line report."""
    try:
        summary = tok.encode_files(
            paths, out, split=cast(SplitName, split), jsonl_field=jsonl_field,
            format=cast(Optional[FormatName], input_format), dtype=cast(DtypeName, dtype),
            bos=_special(bos), eos=_special(eos), chunk_bytes=max(1, int(chunk_mb * 1e6)),
            resume=resume, progress=progress, name=name,
        )
    except ToktoolError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted; run the same command again to continue {out}", err=True)
        raise typer.Exit(130) from None
    if summary.resumed and summary.text_bytes == 0:
        typer.echo(f"{out} is already complete ({summary.documents:,} documents); "
                   "--no-resume encodes again")
        return
    how = "continued an interrupted run: " if summary.resumed else ""
    typer.echo(f"{how}{summary.documents:,} documents, {summary.tokens:,} tokens ({summary.dtype})"
               f" -> {summary.tokens_path}, {summary.index_path}; "
               f"{summary.text_bytes / 1e6:,.1f} MB in {summary.seconds:.1f} s "
               f"({summary.mb_per_s:.1f} MB/s)")


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
