"""What several CLI commands share: the tokenizer argument's help and loading it or exiting."""

from __future__ import annotations

import typer

import toktool

__all__ = ["TOKENIZER_HELP", "load_tokenizer_or_exit"]

TOKENIZER_HELP = "Path to a tokenizer.json (or its directory), or a bundled name like 'smollm2'."


def load_tokenizer_or_exit(name_or_path: str) -> toktool.Tokenizer:
    """``toktool.load_tokenizer``, or the error in red on stderr and exit status 2."""
    try:
        return toktool.load_tokenizer(name_or_path)
    except toktool.ToktoolError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
