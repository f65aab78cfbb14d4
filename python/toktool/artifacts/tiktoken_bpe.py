"""tiktoken-style rank files (cl100k, o200k, Llama 3, Mistral's tekken) as byte-level BPE.

The encodings' regexes and special tokens, readers for ``.tiktoken`` rank files
and ``tekken_*.json``, the conversion to an equivalent ``tokenizer.json``
(with the merges that replay tiktoken's algorithm), and
:func:`tiktoken_encoding`, the ``tiktoken.Encoding`` of the same file that
serves as the reference in conversion checks.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import pathlib
import re
from collections.abc import Callable
from typing import Any

from toktool.artifacts.cache import require, source_file
from toktool.artifacts.hf_json import added_token, bos_template, bpe_model, byte_level, dump_json, tokenizer_doc
from toktool.byte_level import bytes_to_unicode as _bytes_to_unicode

__all__ = [
    "CL100K_PATTERN",
    "LLAMA3_PATTERN",
    "O200K_PATTERN",
    "convert_tiktoken_like",
    "tiktoken_encoding",
]


# Regexes from tiktoken's tiktoken_ext/openai_public.py (tiktoken 0.14.0) and
# llama_models/llama3/tokenizer.py, verbatim.
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_CL100K_SPECIALS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
_O200K_SPECIALS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}


def _llama3_specials(num_base: int) -> dict[str, int]:
    names = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>",
        "<|step_id|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eom_id|>",
        "<|eot_id|>",
        "<|python_tag|>",
        "<|image|>",
    ]
    names += [f"<|reserved_special_token_{2 + i}|>" for i in range(256 - len(names))]
    return {tok: num_base + i for i, tok in enumerate(names)}


def _onig_pattern(pattern: str) -> str:
    """Rewrite a tiktoken (Rust fancy-regex) pattern so Oniguruma reads it the same way.

    `tokenizers` compiles Split patterns with Oniguruma's Ruby syntax, where
    ``X{1,3}+`` is *not* possessive but means ``(?:X{1,3})+`` (unbounded), and
    ``$`` matches before every newline.  In cl100k's pattern the ``{1,3}+``
    ends an alternative, so plain ``{1,3}`` matches the same text, and ``$``
    (end of text in fancy-regex) becomes ``\\z``.  The other possessive forms
    (``?+``, ``++``, ``*+``) mean the same in both engines.
    """
    out = re.sub(r"(\{\d+(?:,\d*)?\})\+(?![+?])", r"\1", pattern)
    out = out.replace(r"\s++$", r"\s++\z")
    if "$" in out:
        raise ValueError(f"unexpected '$' in pattern {pattern!r}")
    return out


def _read_tiktoken_ranks(path: pathlib.Path) -> dict[bytes, int]:
    """Parse a tiktoken rank file (``base64-token rank`` per line, optionally gzipped)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _read_tekken(path: pathlib.Path) -> tuple[dict[bytes, int], dict[str, int], str]:
    """Read ``tekken_*.json`` the way mistral_common's ``Tekkenizer.from_file`` does.

    Returns (ranks of the regular vocab *already offset by the number of
    special tokens*, special token -> id, pattern).  The special tokens occupy
    ids ``0 .. default_num_special_tokens-1`` (those named in the file, or
    mistral_common's 20 pre-v7 defaults, then ``<SPECIAL_{i}>`` fillers); the
    regular vocab follows, truncated to ``default_vocab_size - num_special``.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    config = data["config"]
    num_special = int(config["default_num_special_tokens"])
    inner = int(config["default_vocab_size"]) - num_special
    vocab = data["vocab"]
    if len(vocab) < inner:
        raise ValueError(f"{path}: {len(vocab)} vocab entries < {inner}")
    ranks: dict[bytes, int] = {}
    for i, entry in enumerate(vocab[:inner]):
        if entry["rank"] != i:
            raise ValueError(f"{path}: vocab entry {i} has rank {entry['rank']}")
        ranks[base64.b64decode(entry["token_bytes"])] = num_special + i
    named = data.get("special_tokens")
    if named is None:
        names = list(_TEKKEN_DEFAULT_SPECIALS)
    else:
        names = [t["token_str"] for t in sorted(named, key=lambda t: t["rank"])]
    names += [f"<SPECIAL_{i}>" for i in range(len(names), num_special)]
    specials = {tok: i for i, tok in enumerate(names)}
    return ranks, specials, config["pattern"]


# mistral_common Tekkenizer.DEPRECATED_SPECIAL_TOKENS (files without a special_tokens list).
_TEKKEN_DEFAULT_SPECIALS = (
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
    "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
)  # fmt: skip


def _tiktoken_spec(name: str) -> tuple[dict[bytes, int], dict[str, int], str]:
    """(mergeable ranks, special tokens, tiktoken pattern) for a tiktoken-style tokenizer."""
    if name not in ("cl100k", "o200k", "llama3", "tekken"):
        raise ValueError(f"{name!r} is not a tiktoken-style tokenizer; expected cl100k, o200k, llama3 or tekken")
    src = source_file(name)
    if name == "cl100k":
        return _read_tiktoken_ranks(src), dict(_CL100K_SPECIALS), CL100K_PATTERN
    if name == "o200k":
        return _read_tiktoken_ranks(src), dict(_O200K_SPECIALS), O200K_PATTERN
    if name == "llama3":
        ranks = _read_tiktoken_ranks(src)
        return ranks, _llama3_specials(len(ranks)), LLAMA3_PATTERN
    return _read_tekken(src)


def _merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Merge list for HF's BPE that replays tiktoken's algorithm.

    tiktoken repeatedly merges the adjacent pair whose *concatenation* has the
    lowest rank (leftmost first on ties).  So every split of a token into two
    tokens is a valid merge, with the priority of the resulting token: the
    merges are all such splits, sorted by the rank of the result (then by the
    ranks of the parts, to be deterministic).  HF applies the lowest-index
    merge first (leftmost on ties), which is the same choice except where two
    *different* splits of the same token are both available in one word —
    tiktoken then takes the leftmost, HF the one listed first.  That case
    never showed up: cl100k, o200k, llama3 and tekken give tiktoken's ids on
    all 30 MiB of the stdlib and on 25,000 random strings.
    """
    merges: list[tuple[int, int, int, bytes, bytes]] = []
    for token, rank in ranks.items():
        for i in range(1, len(token)):
            left = ranks.get(token[:i])
            if left is None:
                continue
            right = ranks.get(token[i:])
            if right is None:
                continue
            merges.append((rank, left, right, token[:i], token[i:]))
    merges.sort()
    return [(a, b) for _, _, _, a, b in merges]


@functools.lru_cache(maxsize=1)
def _byte_table() -> dict[int, str]:
    return _bytes_to_unicode()


def _byte_str(token: bytes) -> str:
    table = _byte_table()
    return "".join(table[b] for b in token)


def _tiktoken_to_hf(
    ranks: dict[bytes, int],
    specials: dict[str, int],
    pattern: str,
    post_processor: Any,
) -> dict[str, Any]:
    """Byte-level BPE ``tokenizer.json`` equivalent to a tiktoken encoding.

    vocab: token bytes through the GPT-2 byte->unicode table, id = rank;
    special tokens are both in the vocab (so their ids are kept, gaps and
    all) and added tokens.  ``ignore_merges`` mirrors tiktoken's shortcut of
    emitting a pre-token that is itself in the vocab as one token.
    """
    vocab = {_byte_str(tok): rank for tok, rank in ranks.items()}
    if len(vocab) != len(ranks):
        raise ValueError("byte->unicode mapping is not injective?")
    for tok, tid in specials.items():
        if tok in vocab:
            raise ValueError(f"special token {tok!r} collides with a regular token")
        vocab[tok] = tid
    merges = [(_byte_str(a), _byte_str(b)) for a, b in _merges_from_ranks(ranks)]
    model = bpe_model(dict(sorted(vocab.items(), key=lambda kv: kv[1])), merges, ignore_merges=True)
    return tokenizer_doc(
        added_tokens=[added_token(tok, tid) for tok, tid in specials.items()],
        normalizer=None,
        pre_tokenizer={
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": _onig_pattern(pattern)},
                    "behavior": "Isolated",
                    "invert": False,
                },
                byte_level(add_prefix_space=False, trim_offsets=True, use_regex=False),
            ],
        },
        post_processor=post_processor,
        decoder=byte_level(add_prefix_space=True, trim_offsets=True, use_regex=True),
        model=model,
    )


def _byte_level_post(bos: tuple[str, int] | None) -> dict[str, Any]:
    post = byte_level(add_prefix_space=True, trim_offsets=False, use_regex=True)
    if bos is None:
        return post
    return {"type": "Sequence", "processors": [post, bos_template(*bos)]}


def convert_tiktoken_like(name: str) -> Callable[[pathlib.Path], bytes]:
    """The converter (source path -> ``tokenizer.json`` bytes) for a tiktoken-style tokenizer."""
    def convert(_src: pathlib.Path) -> bytes:
        ranks, specials, pattern = _tiktoken_spec(name)
        # Llama 3 and Mistral prepend BOS by default (as their HF files do);
        # OpenAI encodings add nothing.
        bos = {"llama3": "<|begin_of_text|>", "tekken": "<s>"}.get(name)
        post = _byte_level_post((bos, specials[bos]) if bos else None)
        return dump_json(_tiktoken_to_hf(ranks, specials, pattern, post))

    return convert


@functools.lru_cache(maxsize=None)
def tiktoken_encoding(name: str) -> Any:
    """A ``tiktoken.Encoding`` for "cl100k", "o200k", "llama3" or "tekken", from the local file.

    Built from the same rank file that :func:`tokenizer_json` converts, with
    the encoding's own regex and special tokens, so it is the reference for
    conversion checks.  For "tekken" the ranks are shifted by the number of
    special tokens (1000), so its ids are Mistral's real token ids (tiktoken
    only compares ranks, so the shift does not change the segmentation).
    """
    ranks, specials, pattern = _tiktoken_spec(name)
    tiktoken = require("tiktoken", "tiktoken")
    return tiktoken.Encoding(
        name=f"toktool-{name}",
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens=specials,
    )
