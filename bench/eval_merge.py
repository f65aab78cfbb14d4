"""Dynamic batch merging, evaluated: tokens per byte per language, and SmolLM2's bits per byte.

1. Compression. The same document (Debian's "Debian Reference") in nine languages, batches of
   32 × 512 tokens with SmolLM2's and cl100k's tokenizers: tokens per byte before merging and
   after 10 / 50 / 100 merges and at saturation (pre-token boundary), next to word level.
2. Quality. SmolLM2-135M's bits per byte on held-out text of each language (the last fifth of
   the document): merges are learned on a 32 × 512 batch (100 merges, and saturation) and
   applied to ``--eval-seqs`` other sequences of the same text, the new tokens are embedded by
   FVT (mean of the parts' embeddings, input and tied output side), and the sum of -log2 p over
   the scored tokens (each predicted from <|endoftext|> and the tokens before it, over the
   original vocabulary plus the batch's new tokens) is divided by their byte count. The
   unmerged text is the baseline. ``--in-batch`` scores sequences of the merged batch itself
   instead: its vocabulary is then made from the very text it scores, which flatters long
   merges (see docs/MERGE.md). With ``--hypernet CKPT`` (a checkpoint from
   ``bench/eval_zett.py`` / ``toktool zett train``, trained without the held-out fifth), new
   tokens are also embedded by the ZeTT hypernetwork, and (``--fit-steps N``, off by default)
   by the hypernetwork's rows fitted on the merge batch (``toktool.merge.fit_new_rows``: the
   merged tokens' rows moved by gradient descent, SmolLM2 frozen, to SmolLM2's loss on the 32
   windows the merges were learned on; never on the scored windows).

    python bench/eval_merge.py --out docs/MERGE.md            # both parts, a few minutes
    python bench/eval_merge.py --skip-model --out docs/MERGE.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import toktool
from toktool import artifacts
from toktool.merge import (
    DynamicTokenizer,
    apply_merges,
    FVTEmbedder,
    fit_new_rows,
    merge_batch,
    merged_bits,
    prefill_bits,
    token_windows,
    unigram_bias,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

# sequences per language scored by default; a run with another number writes its own sections
EVAL_SEQS = 2
COMPRESSION_BEGIN = "<!-- eval_merge_compression:begin -->"
COMPRESSION_END = "<!-- eval_merge_compression:end -->"
# the quality table's model columns, by row key: their headers and the standard-error sentence
COLUMNS = {"100": "FVT, 100 merges", "sat": "FVT, saturation", "hn100": "hypernetwork (ZeTT), 100",
           "hnsat": "hypernetwork, sat.", "hnu100": "+ unigram bias, 100",
           "hnusat": "+ unigram bias, sat.", "fit100": "hypernetwork + fit, 100",
           "fitsat": "+ fit, sat."}
BUDGETS: tuple[int | None, ...] = (0, 10, 50, 100, None)
# where the scored and learn windows start in each language's text: the last fifth of the
# Debian Reference documents (training reads the first half), 30% into the manual pages (no
# training phase reads them; Indonesian has ~80 KB of them)
STARTS = {"debian-reference": 0.8, "manpages": 0.3}


def markers(args: argparse.Namespace, name: str) -> tuple[str, str]:
    """The begin and end markers of a section of the markdown file (one set per corpus)."""
    tag = name if args.corpus == "debian-reference" else f"{name}_{args.corpus}"
    if args.eval_seqs != EVAL_SEQS:
        tag += f"_seqs{args.eval_seqs}"
    return f"<!-- eval_merge_{tag}:begin -->", f"<!-- eval_merge_{tag}:end -->"


def load_corpus(args: argparse.Namespace) -> dict[str, str]:
    if args.corpus == "manpages":
        return artifacts.manpage_corpus(args.languages.split(","))
    return artifacts.multilingual_corpus()


def invocation(args: argparse.Namespace) -> str:
    """The command a model table was made by, with the options that change what it scores."""
    return (f"`python bench/eval_merge.py{' --in-batch' if args.in_batch else ''}"
            f"{' --corpus ' + args.corpus if args.corpus != 'debian-reference' else ''}"
            f"{f' --eval-seqs {args.eval_seqs}' if args.eval_seqs != EVAL_SEQS else ''}`")


def windows(tok: toktool.Tokenizer, text: str, start: float, seqs: int, length: int):
    return token_windows(tok.encode(text[int(len(text) * start) :]), length, seqs)


def mean_excess_error(rows: list[dict], key: str) -> float:
    """Standard error of the mean excess of ``key`` over ``base`` across languages, from the
    spread of the scored sequences: a language's excess is the byte-weighted mean of its
    sequences' excesses per byte (the same bytes merged and not, so the pairs are matched), its
    variance the weighted spread over ``n - 1``, and the languages are independent."""
    total = 0.0
    for r in rows:
        nbytes = r["seq_bytes"]
        d = [(m - b) / n for m, b, n in zip(r[key + "_seqs"], r["base_seqs"], nbytes)]
        all_bytes = sum(nbytes)
        w = [n / all_bytes for n in nbytes]
        mean = sum(wi * di for wi, di in zip(w, d))
        n = len(d)
        if n > 1:
            total += n / (n - 1) * sum(wi * wi * (di - mean) ** 2 for wi, di in zip(w, d))
    return total ** 0.5 / len(rows)


def standard_errors(rows: list[dict], keys: Sequence[str]) -> str:
    """One sentence: each column's mean excess ± its standard error (:func:`mean_excess_error`)."""
    keys = [k for k in keys if all(k + "_seqs" in r for r in rows)]
    if not keys or not all("seq_bytes" in r and "base_seqs" in r for r in rows):
        return ""
    parts = []
    for k in keys:
        excess = sum(r[k] - r["base"] for r in rows) / len(rows)
        parts.append(f"{COLUMNS[k]} {excess:+.4f} ± {mean_excess_error(rows, k):.4f}")
    return ("Mean excess ± standard error (from the spread of the scored sequences within each "
            "language; the merges themselves are one draw): " + "; ".join(parts) + ".")


def compression(args: argparse.Namespace) -> str:
    corpus = artifacts.multilingual_corpus()
    lines = [
        COMPRESSION_BEGIN,
        f"`python bench/eval_merge.py`: batches of {args.seqs} × {args.length} tokens from the "
        "second tenth of each document onward; tokens per byte (lower is shorter), pre-token "
        "boundary. *word level*: one token per whitespace-delimited word (the paper's 100%). "
        "*fewer*: fraction fewer tokens; *way to word level*: (before − after) / (before − "
        "word level), the measure of the paper's figures.",
    ]
    for name in args.tokenizers.split(","):
        tok = toktool.load_tokenizer(name)
        lines += [
            "",
            f"**{name}** (vocabulary {tok.vocab_size:,})",
            "",
            "| language | bytes | 0 | 10 | 50 | 100 | saturation | word level | fewer @100 | "
            "fewer @sat. | way to word level @100 | @sat. | merges to sat. |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for lang in artifacts.LANGUAGES:
            batch = windows(tok, corpus[lang], 0.1, args.seqs, args.length)
            results = {b: merge_batch(batch, tok, b) for b in BUDGETS}
            nbytes = sum(results[0].n_bytes)
            tpb = {b: r.reduction.tokens_after / nbytes for b, r in results.items()}
            words = results[0].reduction.words / nbytes
            r100, rsat = results[100].reduction, results[None].reduction
            lines.append(
                f"| {lang} | {nbytes:,} | " + " | ".join(f"{tpb[b]:.4f}" for b in BUDGETS)
                + f" | {words:.4f} | {r100.fewer:.1%} | {rsat.fewer:.1%} | "
                f"{r100.to_word_level:.1%} | {rsat.to_word_level:.1%} | "
                f"{results[None].n_merges:,} |"
            )
            print(f"compression {name} {lang} done", file=sys.stderr)
    lines.append(COMPRESSION_END)
    return "\n".join(lines)


def excess_cell(r: dict, key: str, base: str) -> str:
    """``r[key]`` and its excess over ``r[base]`` (bits per byte), or "not run"."""
    if key not in r:
        return "not run"
    return f"{r[key]:.3f} ({r[key] - r[base]:+.3f})"


def quality(args: argparse.Namespace) -> str:
    import torch

    from toktool.hf import load_causal_lm

    torch.set_num_threads(os.cpu_count() or 1)
    corpus = load_corpus(args)
    start = STARTS[args.corpus]
    quality_begin, quality_end = markers(args, "quality")
    tok = toktool.load_tokenizer("smollm2")
    model = load_causal_lm("smollm2")
    eos = tok.special_tokens["<|endoftext|>"]
    fvt_in = FVTEmbedder.from_model(model)
    fvt_out = FVTEmbedder.from_model(model, output=True)
    embedders = {"": (fvt_in, fvt_out)}
    table_size = 0
    if args.hypernet is not None:
        from toktool.zett.model import HypernetEmbedder
        from toktool.zett.train import FrozenLM

        hypernet = FrozenLM(model).load_hypernet(args.hypernet)
        hypernet.eval()
        table_size = hypernet.config.table_size if args.table else 0
        embedders["hn"] = (HypernetEmbedder(hypernet, last_part=args.last_part,
                                            table=args.table),
                           HypernetEmbedder(hypernet, output=True, table=args.table))
    rows = []
    fit_seconds = 0.0
    t0 = time.perf_counter()
    for lang in args.languages.split(","):
        if args.in_batch:  # the scored sequences are part of the batch the merges come from
            batch = windows(tok, corpus[lang], start, args.seqs, args.length)
            scored, learn = batch[: args.eval_seqs], batch
        else:  # merges learned on the next `seqs` windows, applied to the scored ones
            batch = windows(tok, corpus[lang], start, args.eval_seqs + args.seqs, args.length)
            scored, learn = batch[: args.eval_seqs], batch[args.eval_seqs :]
        row: dict = {"lang": lang}
        if args.hypernet is not None and args.continuation:
            # the merged tokens' output rows get the continuation prior counted on the text of
            # the batch the merges are learned on (never the scored windows)
            from toktool.zett.continuation import ContinuationCounts

            texts = [tok.decode_bytes(list(s)).decode("utf-8", errors="replace") for s in learn]
            counts = ContinuationCounts(tok, texts)
            embedders["hn"] = (embedders["hn"][0], HypernetEmbedder(
                hypernet, output=True, continuation=counts, tokenizer=tok, table=args.table))
        # prefill trials: a context cut from a scored sequence (merged) and the original
        # tokens after it (scored over the original vocabulary)
        cuts = [int(c) for c in args.prefill_cuts.split(",")] if args.prefill else []
        contexts = [s[:c] for s in scored for c in cuts]
        continuations = [s[c : c + args.prefill_tokens] for s in scored for c in cuts]
        cont_bytes = sum(len(tok.decode_bytes(list(c))) for c in continuations)
        for label, budget in (("base", 0), ("100", 100), ("sat", None)):
            learned = merge_batch(learn, tok, budget, whole_chars=args.whole_chars)
            result = apply_merges(scored, tok, learned.merges)
            budget_embedders = dict(embedders)
            if ("hn" in embedders and budget != 0 and args.fit_steps > 0
                    and label in args.fit_budgets.split(",")):
                # the merged tokens' rows fitted on the batch the merges were learned on
                hn_in, hn_out = embedders["hn"]
                learn_batch = DynamicTokenizer(tok, hn_in, max_merges=budget, bos_id=eos,
                                               cache_size=0).embed(learned)
                t_fit = time.perf_counter()
                budget_embedders["fit"] = fit_new_rows(
                    model, learn_batch, hn_in, hn_out, steps=args.fit_steps, lr=args.fit_lr,
                    sides=args.fit_sides)
                fit_seconds += time.perf_counter() - t_fit
            if contexts:
                prefill_ctx = apply_merges(contexts, tok, learned.merges)
                for prefix, (emb_in, _) in budget_embedders.items():
                    if prefix and budget == 0:
                        continue
                    dyn = DynamicTokenizer(tok, emb_in, max_merges=budget, bos_id=eos,
                                           cache_size=0)
                    bits = prefill_bits(model, dyn.embed(prefill_ctx), continuations)
                    row["p" + prefix + label] = sum(bits) / cont_bytes
                row["p" + label + "_tokens"] = sum(prefill_ctx.lengths)
                row["pbytes"] = cont_bytes
            for prefix, (emb_in, emb_out) in budget_embedders.items():
                if prefix and budget == 0:
                    continue
                dyn = DynamicTokenizer(tok, emb_in, max_merges=budget, bos_id=eos, cache_size=0)
                embedded = dyn.embed(result)
                nbytes = sum(embedded.n_bytes)
                bits = merged_bits(model, embedded, emb_out, canonical=args.canonical,
                                   floor=args.canonical_floor)
                row[prefix + label] = sum(bits) / nbytes
                row[prefix + label + "_seqs"] = list(bits)
                if prefix == "hn" and args.continuation and args.unigram_shift > 0:
                    # frequencies of the learn batch, merged and not (never the scored windows)
                    bias = unigram_bias(learned, learn, args.unigram_shift,
                                        emb_out.continuation_prior(learned.new_tokens))
                    bits = merged_bits(model, embedded, emb_out, canonical=args.canonical,
                                       floor=args.canonical_floor, bias=bias)
                    row[prefix + "u" + label] = sum(bits) / nbytes
                    row[prefix + "u" + label + "_seqs"] = list(bits)
            row[label + "_tokens"] = sum(result.lengths)
            row["bytes"] = nbytes
            row["seq_bytes"] = list(embedded.n_bytes)
        rows.append(row)
        print(f"quality {lang}: {row}", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    biased = all("hnu100" in r for r in rows)
    fitted = all("fit100" in r or "fitsat" in r for r in rows)
    extra = (("hnu100", "hnusat") if biased else ()) + (("fit100", "fitsat") if fitted else ())
    source = (
        "per language from the last fifth of each document (held out from the compression "
        "batches). " if args.corpus == "debian-reference" else
        "per language from Debian's manual pages in that language (`toktool.artifacts."
        "manpage_corpus`: packages manpages, manpages-de, ..., manpages-pt-br, manpages-zh's "
        f"zh_CN; from {start:.0%} of each language's text onward), text that no training phase "
        "of the hypernetwork read, from another kind of document than the one it trained on. ")
    lines = [
        quality_begin,
        f"{invocation(args)}: SmolLM2-135M (float32, CPU), bits per byte on {args.eval_seqs} sequences of "
        f"{args.length} tokens " + source
        + ("Merges learned on a 32-sequence batch that contains the scored sequences. "
           if args.in_batch else
           f"Merges learned on the next {args.seqs} windows of the same text (a {args.seqs} × "
           f"{args.length} batch) and applied to the scored sequences (`apply_merges`). ")
        + ("Only merges that spell whole characters (`--whole-chars`). " if args.whole_chars
           else "")
        + "New tokens embedded by FVT on the input and (tied) output side; each token predicted "
        "from <|endoftext|> and the tokens before it over the original vocabulary plus the "
        f"batch's new tokens. Bits per byte = total −log2 p / bytes. {elapsed:.0f} s on "
        f"{os.cpu_count()} cores ({platform.machine()})"
        + (f", {fit_seconds:.0f} s of it fitting rows." if fitted else "."),
        "",
        "| language | bytes | tokens: base / 100 / sat. | bits/byte: unmerged | "
        + " | ".join(COLUMNS[k] for k in ("100", "sat", "hn100", "hnsat", *extra)) + " |",
        "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * (len(extra) // 2),
    ]
    def cell(r: dict, key: str) -> str:
        return excess_cell(r, key, "base")

    for r in rows:
        lines.append(
            f"| {r['lang']} | {r['bytes']:,} | {r['base_tokens']:,} / {r['100_tokens']:,} / "
            f"{r['sat_tokens']:,} | {r['base']:.3f} | {cell(r, '100')} | {cell(r, 'sat')} | "
            f"{cell(r, 'hn100')} | {cell(r, 'hnsat')} |"
            + "".join(f" {cell(r, k)} |" for k in extra)
        )
    keys = [k for k in ("base", "100", "sat", "hn100", "hnsat", *extra)
            if all(k in r for r in rows)]
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in keys}
    lines += [
        f"| **mean** | | | {mean['base']:.3f} | {cell(mean, '100')} | {cell(mean, 'sat')} | "
        f"{cell(mean, 'hn100')} | {cell(mean, 'hnsat')} |"
        + "".join(f" {cell(mean, k)} |" for k in extra),
        "",
        standard_errors(rows, [k for k in ("100", "sat", "hn100", "hnsat", *extra) if k in keys]),
        "",
        (f"Hypernetwork: `{args.hypernet.name}` of `{args.hypernet.parent.name}` (`make "
         "eval-merge` trains it; docs/ZETT.md says how; "
         + ("its training text excludes the scored last fifth of every language's document"
            if args.corpus == "debian-reference" else
            "its training text is code and the Debian Reference guide: no manual page")
         + "); input rows of merged tokens "
         f"{1 - args.last_part:g} x the hypernetwork's + {args.last_part:g} x the last part's "
         "embedding (`HypernetEmbedder(last_part=...)`)"
         + (f"; single-character merged tokens of the {table_size} characters in the "
            "checkpoint's character table get its learned rows added on both sides "
            "(`toktool.zett.chartable`; `--no-table`: not)" if table_size else "")
         + ("; the merged tokens' output rows mixed 0.5:0.5 with the first part's row plus a "
            "continuation prior counted on the text of the batch the merges were learned on "
            "(`HypernetEmbedder(..., continuation=ContinuationCounts(tok, batch texts))`; "
            "`--no-continuation`: the hypernetwork's rows alone)"
            + (f". *+ unigram bias*: the same with logit biases of {args.unigram_shift:g} x "
               "the log ratio of each token's frequency in that batch merged over unmerged "
               "(a merged token's unmerged frequency: its first part's times the counted "
               "prior; `toktool.merge.unigram_bias`, `--unigram-shift 0`: not run)"
               if biased else "")
            + "." if args.continuation else ".")
         + (f" *+ fit*: the hypernetwork's input and output rows of the merged tokens fitted "
            f"on the batch the merges were learned on ({args.fit_steps} steps of one window "
            f"each, Adam at {args.fit_lr:g} x the embeddings' standard deviation, sides: "
            f"{args.fit_sides}; SmolLM2 frozen; `toktool.merge.fit_new_rows`), then used on the "
            "scored windows, which the fit never reads." if fitted else "")
         if args.hypernet is not None else
         "*not run*: pass `--hypernet CKPT` (a ZeTT checkpoint, docs/ZETT.md) to fill these "
         "columns."),
        quality_end,
    ]
    if args.prefill:
        lines += ["", prefill_table(args, rows)]
    return "\n".join(lines)


def prefill_table(args: argparse.Namespace, rows: list[dict]) -> str:
    """The paper's decoder setting: merged context, continuation over the original vocabulary."""
    hn = all("phn100" in r for r in rows)
    fitted = all("pfit100" in r or "pfitsat" in r for r in rows)

    def cell(r: dict, key: str) -> str:
        return excess_cell(r, key, "pbase")

    n_trials = args.eval_seqs * len(args.prefill_cuts.split(","))
    prefill_begin, prefill_end = markers(args, "prefill")
    lines = [
        prefill_begin,
        f"{invocation(args)}: merged prefilling, the paper's decoder setting. From each "
        f"of the {args.eval_seqs} scored sequences per language, contexts of "
        f"{args.prefill_cuts.replace(',', ', ')} tokens ({n_trials} trials) are merged with the "
        "same merges (learned on the 32-window batch, `apply_merges`) and embedded on the input "
        f"side; the next {args.prefill_tokens} original tokens are scored after each, every one "
        "predicted from <|endoftext|>, the merged context and the continuation tokens before it "
        "over SmolLM2's own vocabulary (`toktool.merge.prefill_bits`). Bits per byte of the "
        "continuations; the baseline reads the context unmerged. *context tokens*: the "
        "contexts' total length unmerged / after 100 merges / at saturation."
        + (" Only merges that spell whole characters (`--whole-chars`)." if args.whole_chars
           else ""),
        "",
        "| language | continuation bytes | context tokens: base / 100 / sat. | bits/byte: "
        "unmerged context | FVT, 100 merges | FVT, saturation | hypernetwork, 100 | "
        "hypernetwork, sat. |" + (" hypernetwork + fit, 100 | + fit, sat. |" if fitted else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if fitted else ""),
    ]
    fit_keys = ("pfit100", "pfitsat") if fitted else ()
    for r in rows:
        lines.append(
            f"| {r['lang']} | {r['pbytes']:,} | {r['pbase_tokens']:,} / {r['p100_tokens']:,} / "
            f"{r['psat_tokens']:,} | {r['pbase']:.3f} | {cell(r, 'p100')} | {cell(r, 'psat')} | "
            f"{cell(r, 'phn100')} | {cell(r, 'phnsat')} |"
            + "".join(f" {cell(r, k)} |" for k in fit_keys))
    keys = [k for k in ("pbase", "p100", "psat", "phn100", "phnsat", *fit_keys)
            if all(k in r for r in rows)]
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in keys}
    base_t = sum(r["pbase_tokens"] for r in rows)
    fewer = {k: 1 - sum(r[f"p{k}_tokens"] for r in rows) / base_t for k in ("100", "sat")}
    lines += [
        f"| **mean** | | {fewer['100']:.1%} / {fewer['sat']:.1%} fewer | {mean['pbase']:.3f} | "
        f"{cell(mean, 'p100')} | {cell(mean, 'psat')} | {cell(mean, 'phn100')} | "
        f"{cell(mean, 'phnsat')} |" + "".join(f" {cell(mean, k)} |" for k in fit_keys),
        "",
        ("Hypernetwork (and + fit): input rows as in the table above (the output side is not "
         "used)."
         if hn else "Hypernetwork: *not run* (`--hypernet CKPT`)."),
        prefill_end,
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizers", default="smollm2,cl100k")
    parser.add_argument("--continuation", action=argparse.BooleanOptionalAction, default=True,
                        help="with --hypernet: mix a continuation prior counted on the merge "
                        "batch's text into the merged tokens' output rows "
                        "(toktool.zett.continuation)")
    parser.add_argument("--last-part", type=float, default=0.25,
                        help="with --hypernet: weight of a merged token's last part's "
                        "embedding in its input row (HypernetEmbedder(last_part=...))")
    parser.add_argument("--unigram-shift", type=float, default=0.75,
                        help="with --hypernet and the continuation prior: weight of the logit "
                        "biases for how merging changed the merge batch's token frequencies "
                        "(toktool.merge.unigram_bias; 0: off)")
    parser.add_argument("--canonical", action=argparse.BooleanOptionalAction, default=False,
                        help="score over the merged vocabulary with the split pairs' mass "
                        "removed (toktool.merge.merged_log_softmax; measured worse with "
                        "today's merged rows, see docs/MERGE.md)")
    parser.add_argument("--canonical-floor", type=float, default=0.01,
                        help="with --canonical: the share of a left part's probability it keeps")
    parser.add_argument("--prefill", action=argparse.BooleanOptionalAction, default=True,
                        help="also score continuations after merged contexts (the paper's "
                        "decoder setting; toktool.merge.prefill_bits)")
    parser.add_argument("--prefill-cuts", default="256,320,384,448",
                        help="context lengths (original tokens) cut from each scored sequence")
    parser.add_argument("--prefill-tokens", type=int, default=64,
                        help="original tokens scored after each context")
    parser.add_argument("--table", action=argparse.BooleanOptionalAction, default=True,
                        help="the checkpoint's character table, if it has one, in the merged "
                        "tokens' rows (toktool.zett.chartable; --no-table: the hypernetwork "
                        "alone)")
    parser.add_argument("--whole-chars", action="store_true",
                        help="quality tables: learn only merges that spell whole characters "
                        "(merge_batch(whole_chars=True))")
    parser.add_argument("--languages", default=",".join(artifacts.LANGUAGES),
                        help="comma-separated languages for the quality table")
    parser.add_argument("--seqs", type=int, default=32)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--eval-seqs", type=int, default=EVAL_SEQS,
                        help="sequences per language scored with the model")
    parser.add_argument("--fit-steps", type=int, default=0,
                        help="steps of fitting the merged tokens' rows on the merge batch "
                             "(the '+ fit' columns; 0: not run)")
    parser.add_argument("--fit-lr", type=float, default=0.02,
                        help="the fit's learning rate, in units of the embeddings' std")
    parser.add_argument("--fit-sides", default="both", choices=("both", "input", "output"))
    parser.add_argument("--fit-budgets", default="100",
                        help="budgets whose rows are fitted: 100, sat or both (comma-separated; "
                             "saturation adds ~35 min)")
    parser.add_argument("--skip-model", action="store_true", help="compression table only")
    parser.add_argument("--hypernet", type=Path, help="ZeTT checkpoint for the hypernetwork columns")
    parser.add_argument("--in-batch", action="store_true",
                        help="learn the merges on a batch that contains the scored sequences")
    parser.add_argument("--corpus", choices=tuple(STARTS), default="debian-reference",
                        help="the text scored: the Debian Reference guide's last fifth (the "
                        "default; the compression table too), or Debian's manual pages in the "
                        "same languages (text no training phase read; own sections of --out)")
    parser.add_argument("--out", type=Path, help="markdown file to update")
    args = parser.parse_args()
    if args.corpus == "debian-reference":  # the compression table is the guide's
        section = compression(args)
        print(section)
        if args.out:
            write_section(args.out, section, COMPRESSION_BEGIN, COMPRESSION_END,
                          "Dynamic batch merging")
    if not args.skip_model:
        section = quality(args)
        print(section)
        if args.out:
            quality_begin, quality_end = markers(args, "quality")
            prefill_begin, prefill_end = markers(args, "prefill")
            quality_part, _, prefill_part = section.partition("\n\n" + prefill_begin)
            write_section(args.out, quality_part, quality_begin, quality_end,
                          "Dynamic batch merging")
            if prefill_part:
                write_section(args.out, prefill_begin + prefill_part, prefill_begin,
                              prefill_end, "Dynamic batch merging")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
