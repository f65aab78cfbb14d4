"""``toktool heal``: show how token healing backs off a prompt and what may come next."""

from __future__ import annotations

import codecs
import statistics
import time
from typing import Optional

import typer

import toktool
from toktool.cli.common import TOKENIZER_HELP


def _show(data: bytes) -> str:
    return repr(data)


def heal(
    prompt: str = typer.Argument(..., help="The prompt (see --escapes for raw bytes)."),
    tokenizer: str = typer.Option("smollm2", "--tokenizer", "-t", help=TOKENIZER_HELP),
    max_backoff: Optional[int] = typer.Option(
        None, "--max-backoff", "-k",
        help="Remove at most this many tokens (default: the whole last word).",
    ),
    escapes: bool = typer.Option(
        False, "--escapes", "-e",
        help=r"Read backslash escapes in PROMPT (\n, \t, \xe4 ...): prompts may end mid-character.",
    ),
    limit: int = typer.Option(40, "--limit", "-n", help="Show at most this many allowed tokens."),
    context: Optional[str] = typer.Option(
        None, help="Token context before the prompt, encoded with its special tokens; never healed."
    ),
    chat: Optional[str] = typer.Option(
        None, help="A user message: the prompt becomes the start of the assistant's ChatML reply."
    ),
    system: Optional[str] = typer.Option(None, help="A system message before --chat."),
) -> None:
    """Heal PROMPT: show the back-off, the healed prompt, the constraint and the allowed tokens.

    Example: toktool heal -t smollm2 "x = os.path.jo"
    """
    try:
        tok = toktool.load_tokenizer(tokenizer)
        healer = toktool.TokenHealer(tok, max_backoff=max_backoff)
        data = codecs.escape_decode(prompt.encode())[0] if escapes else prompt.encode()
        from toktool.cli.bytes import _context

        ctx = _context(tok, context, chat, system) or []
        healed = healer.heal(data, ctx)
    except toktool.ToktoolError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc

    def spell(ids: list[int]) -> str:
        return " | ".join(_show(tok.token_bytes(i))[2:-1] for i in ids) or "(none)"

    own = healed.prompt_ids[len(ctx):]
    if ctx:
        typer.echo(f"context:       {len(ctx)} tokens (settled, not healed)")
    typer.echo(f"prompt:        {_show(data)} ({len(data)} bytes, {len(own)} tokens)")
    typer.echo(f"tokens:        {spell(own)}")
    typer.echo(f"back-off:      {healed.backoff} token(s): {spell(healed.removed_ids)}")
    kept = healed.ids[len(ctx):]
    typer.echo(f"healed prompt: {_show(tok.decode_bytes(kept))} ({len(kept)} tokens)")
    typer.echo(f"constraint:    {_show(healed.constraint_bytes)}")
    mask = healer.allowed(healed.constraint_bytes)
    times = []
    for _ in range(51):  # warm: the first call pays for page faults
        start = time.perf_counter()
        healer.allowed(healed.constraint_bytes)
        times.append(time.perf_counter() - start)
    micros = statistics.median(times) * 1e6
    allowed = [int(i) for i in mask.nonzero()[0]]
    typer.echo(
        f"allowed:       {len(allowed)} of {tok.vocab_size} tokens "
        f"(mask in {micros:.1f} µs, median of {len(times)})"
    )
    shown = sorted(allowed, key=lambda i: (tok.token_bytes(i), i))[:limit]
    for i in shown:
        typer.echo(f"  {i:>7}  {_show(tok.token_bytes(i))}")
    if len(allowed) > len(shown):
        typer.echo(f"  ... {len(allowed) - len(shown)} more")


__all__ = ["heal"]
