"""Transfer a model to a new tokenizer: embeddings for the new vocabulary, and a converted HF
model directory that ``transformers`` loads as it is.

Methods (``method=``):

- ``"hypernet"``: the ZeTT hypernetwork predicts every new token's embeddings (zero-shot);
- ``"fvt"``: Fast Vocabulary Transfer, the mean of the embeddings of the token's parts;
- ``"copy"``: tokens that exist in both vocabularies keep their embeddings, the others get the
  mean of all original embeddings.

Special tokens of the new tokenizer are always copied: from the original token with the same
content, else from the original token with the same role (BOS/EOS/PAD/UNK, by name), else the
mean of the original special tokens. With ``copy_shared`` (the default), tokens that are exactly
one original token keep that token's embeddings whatever the method.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from toktool.errors import InvalidInputError, ToktoolIOError
from toktool._torch import load_torch as _torch

if TYPE_CHECKING:
    from toktool.zett.continuation import ContinuationCounts

__all__ = ["METHODS", "Transfer", "convert_model", "new_embeddings"]

METHODS = ("hypernet", "fvt", "copy")
_FVT_MAX_LENGTH = 64

_ROLES = {
    "bos": re.compile(r"begin_of_text|startoftext|^<s>$|\bbos\b|<\|?start\|?>", re.I),
    "eos": re.compile(r"end_of_text|endoftext|^</s>$|\beos\b|<\|?end\|?>", re.I),
    "pad": re.compile(r"\bpad\b", re.I),
    "unk": re.compile(r"^<unk>$|\bunk\b", re.I),
}


@dataclasses.dataclass
class Transfer:
    """New embedding matrices and how they were made."""

    method: str
    input_rows: Any  # (new vocab, hidden)
    output_rows: Optional[Any]  # None for a tied model
    shared: int  # tokens that are exactly one original token
    copied: int  # rows copied from an original token (shared tokens and specials)
    truncated: int  # decompositions cut to the hypernetwork's max length
    specials: dict[str, str]  # new special token -> where its embedding came from

    def describe(self) -> str:
        rows = int(self.input_rows.shape[0])
        lines = [
            f"method {self.method}: {rows} new tokens, {self.shared} shared with the original "
            f"vocabulary, {self.copied} copied, {self.truncated} decompositions truncated",
        ]
        lines += [f"  special {k!r} <- {v}" for k, v in self.specials.items()]
        return "\n".join(lines)


def _role(content: str) -> Optional[str]:
    for role, pattern in _ROLES.items():
        if pattern.search(content):
            return role
    return None


def _original_role_ids(model: Any, original: Any) -> dict[str, int]:
    config = getattr(model, "config", None)
    ids: dict[str, int] = {}
    for role in ("bos", "eos", "pad", "unk"):
        value = getattr(config, f"{role}_token_id", None)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, int) and 0 <= value < original.vocab_size:
            ids[role] = value
    for content, token_id in original.special_tokens.items():
        named = _role(content)
        if named is not None:
            ids.setdefault(named, int(token_id))
    return ids


def new_embeddings(
    model: Any,
    original: Any,
    new: Any,
    method: str = "hypernet",
    hypernet: Any = None,
    copy_shared: bool = True,
    progress: bool = False,
    continuation: Optional[ContinuationCounts] = None,
    continuation_mix: float = 0.5,
    unigram_shift: float = 0.75,
) -> Transfer:
    """Embeddings of ``new``'s vocabulary for ``model`` (whose tokenizer is ``original``).

    ``continuation`` (method ``hypernet`` with an output tower): counts over a sample of the
    training text; the output row of each token of 2+ parts becomes the mix
    (:func:`toktool.zett.continuation.mix_output_rows`, weight ``continuation_mix``) of the
    tower's row and its first part's row shifted by the counted continuation prior, and then
    every output row moves ``unigram_shift`` times the log ratio of the new tokenizer's token
    frequency on the sample over the one the original implies
    (:func:`toktool.zett.continuation.unigram_shift`; 0: off)."""
    torch = _torch()
    from toktool.zett.decompose import decompose_vocab
    from toktool.zett.train import model_embeddings

    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {METHODS}, not {method!r}")
    if method == "hypernet" and hypernet is None:
        raise InvalidInputError("method 'hypernet' needs a hypernetwork (--hypernet CKPT)")
    if continuation is not None and (method != "hypernet"
                                     or getattr(hypernet, "output_tower", None) is None):
        raise InvalidInputError(
            "a continuation prior needs method 'hypernet' and a hypernetwork with an output tower")
    if unigram_shift < 0:
        raise InvalidInputError(f"unigram_shift must be >= 0, got {unigram_shift}")
    inputs, outputs, tied = model_embeddings(model)
    if inputs.shape[0] < original.vocab_size:
        raise InvalidInputError(
            f"the model has {inputs.shape[0]} embeddings, its tokenizer {original.vocab_size} tokens"
        )
    emb_in = inputs.detach()
    emb_out = None if tied else outputs.detach()
    max_length = hypernet.config.max_length if method == "hypernet" else _FVT_MAX_LENGTH
    parts = decompose_vocab(new, original, max_length)
    lengths = np.asarray(parts.lengths)
    ids = np.asarray(parts.ids)
    n = len(lengths)
    mean_in = emb_in[: original.vocab_size].mean(dim=0)
    mean_out = None if emb_out is None else emb_out[: original.vocab_size].mean(dim=0)
    prior: Optional[np.ndarray] = None  # the continuation prior, when there is one
    first_ids = np.where(lengths > 0, ids[:, 0], 0)  # each token's first part (0 if none)
    with torch.no_grad():
        if method == "hypernet":
            rows_in, rows_out = hypernet.predict(ids, lengths, progress=progress)
            rows_in = rows_in.to(emb_in.dtype)
            rows_out = None if rows_out is None else rows_out.to(emb_in.dtype)
            if continuation is not None:
                rows_out, prior = _continuation_rows(hypernet, original, new, emb_in, emb_out,
                                                     first_ids, lengths, rows_out, continuation,
                                                     continuation_mix)
        elif method == "fvt":
            rows_in = _mean_rows(emb_in, ids, lengths)
            rows_out = None if emb_out is None else _mean_rows(emb_out, ids, lengths)
        else:
            rows_in = mean_in.expand(n, -1).clone()
            rows_out = None if mean_out is None else mean_out.expand(n, -1).clone()
        # the output side's original rows: the one matrix of a tied model (whose hypernetwork
        # has an output tower) or the output matrix
        source_out = emb_in if emb_out is None else emb_out
        mean_side = mean_in if mean_out is None else mean_out
        empty = lengths == 0
        if empty.any():
            where = torch.as_tensor(np.nonzero(empty)[0])
            rows_in[where] = mean_in
            if rows_out is not None:
                rows_out[where] = mean_side
        single = (lengths == 1) & ~empty
        if method == "copy" or copy_shared:
            where = np.nonzero(single)[0]
            source = torch.as_tensor(ids[where, 0], dtype=torch.long)
            target = torch.as_tensor(where, dtype=torch.long)
            rows_in[target] = emb_in[source]
            if rows_out is not None:
                rows_out[target] = source_out[source]
        copied = int(single.sum()) if (method == "copy" or copy_shared) else 0
        if prior is not None and unigram_shift > 0 and rows_out is not None:
            from toktool.zett.continuation import unigram_shift as shift_of

            assert continuation is not None  # the prior comes from it
            shift = shift_of(continuation, new, first_ids, lengths, prior)
            direction = hypernet.output_tower.logit_direction.detach().to(rows_out.device)
            rows_out += (unigram_shift * torch.as_tensor(shift, dtype=torch.float32,
                                                         device=rows_out.device)
                         ).unsqueeze(1).to(rows_out.dtype) * direction.to(rows_out.dtype)
        specials = _copy_specials(model, original, new, emb_in, source_out, rows_in, rows_out)
    return Transfer(
        method=method,
        input_rows=rows_in,
        output_rows=rows_out,
        shared=int(single.sum()),
        copied=copied + len(specials),
        truncated=int(parts.truncated),
        specials=specials,
    )


def _continuation_rows(hypernet: Any, original: Any, new: Any, emb_in: Any, emb_out: Any,
                       first: np.ndarray, lengths: np.ndarray, tower_rows: Any,
                       counts: ContinuationCounts, mix: float) -> tuple[Any, np.ndarray]:
    """The tower's output rows mixed with first part (``first``: original ids) + counted
    continuation prior, and the prior."""
    from toktool.zett.continuation import continuation_prior, mix_output_rows

    torch = _torch()
    source = emb_in if emb_out is None else emb_out
    orig_bytes = original.all_token_bytes()
    new_bytes = [bytes(b) if b else b"" for b in new.all_token_bytes()]
    first_bytes = [bytes(orig_bytes[int(i)] or b"") for i in first]
    first_rows = source[torch.as_tensor(first, dtype=torch.long, device=source.device)]
    tower = hypernet.output_tower
    prior = continuation_prior(counts, new_bytes, first_bytes, lengths,
                               float(tower.length_bias.detach()))
    rows = mix_output_rows(tower_rows, first_rows.to(tower_rows.dtype), prior,
                           tower.logit_direction.detach(), lengths, mix)
    return rows, prior


def _mean_rows(matrix: Any, ids: np.ndarray, lengths: np.ndarray) -> Any:
    """Row ``i``: the mean of ``matrix`` over ``ids[i, :lengths[i]]`` (zeros when empty)."""
    torch = _torch()
    valid = ids >= 0
    flat = torch.as_tensor(ids[valid], dtype=torch.long, device=matrix.device)
    rows = torch.as_tensor(np.nonzero(valid)[0], dtype=torch.long, device=matrix.device)
    sums = matrix.new_zeros((len(lengths), matrix.shape[1]))
    sums.index_add_(0, rows, matrix.index_select(0, flat))
    counts = torch.as_tensor(np.maximum(lengths, 1), device=matrix.device).to(matrix.dtype)
    return sums / counts.unsqueeze(1)


def _copy_specials(
    model: Any, original: Any, new: Any, emb_in: Any, emb_out: Any, rows_in: Any, rows_out: Any
) -> dict[str, str]:
    """Special tokens' rows from the original's; ``emb_out`` is the matrix the output rows
    come from (the input matrix of a tied model)."""
    roles = _original_role_ids(model, original)
    original_specials = [int(i) for i in original.special_tokens.values()]
    done: dict[str, str] = {}
    for content, new_id in sorted(new.special_tokens.items(), key=lambda kv: kv[1]):
        source: Optional[int] = None
        try:
            source = int(original.token_to_id(content))
            how = f"original {content!r} (same content)"
        except KeyError:
            role = _role(content)
            if role is not None and role in roles:
                source = roles[role]
                how = f"original id {source} (same role: {role})"
        if source is not None:
            rows_in[new_id] = emb_in[source]
            if rows_out is not None:
                rows_out[new_id] = emb_out[source]
        elif original_specials:
            rows_in[new_id] = emb_in[original_specials].mean(dim=0)
            if rows_out is not None:
                rows_out[new_id] = emb_out[original_specials].mean(dim=0)
            how = "mean of the original special tokens"
        else:
            how = "not a special token of the original; kept the method's embedding"
        done[content] = how
    return done


# ------------------------------------------------------------------------------------------------
# converted model directories
# ------------------------------------------------------------------------------------------------


def original_tokenizer(model_path: str | os.PathLike[str]) -> Any:
    import toktool

    if str(model_path) == "smollm2":
        from toktool import artifacts

        return toktool.Tokenizer.from_file(artifacts.tokenizer_json("smollm2"))
    path = Path(model_path)
    candidate = path / "tokenizer.json" if path.is_dir() else path.with_name("tokenizer.json")
    if not candidate.is_file():
        raise ToktoolIOError(
            f"{model_path}: no tokenizer.json next to the model (the original tokenizer is needed "
            "to decompose the new vocabulary)"
        )
    return toktool.Tokenizer.from_file(candidate)


def _new_special_ids(model: Any, original: Any, new: Any) -> dict[str, Optional[int]]:
    """bos/eos/pad/unk ids for the converted config: same content first, else same role."""
    roles = _original_role_ids(model, original)
    specials = new.special_tokens
    by_role: dict[str, int] = {}
    for content, token_id in sorted(specials.items(), key=lambda kv: kv[1]):
        role = _role(content)
        if role is not None:
            by_role.setdefault(role, int(token_id))
    out: dict[str, Optional[int]] = {}
    for role in ("bos", "eos", "pad", "unk"):
        found: Optional[int] = None
        if role in roles:
            content = original.id_to_token(roles[role])
            if content in specials:
                found = int(specials[content])
        if found is None:
            found = by_role.get(role)
        out[role] = found
    if out["pad"] is None:
        out["pad"] = out["eos"]
    return out


def convert_model(
    model_path: str | os.PathLike[str],
    tokenizer_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    method: str = "hypernet",
    hypernet_path: Optional[str | os.PathLike[str]] = None,
    copy_shared: bool = True,
    force: bool = False,
    progress: bool = False,
    continuation_texts: Optional[list[str]] = None,
    continuation_mb: float = 16.0,
    continuation_mix: float = 0.5,
    unigram_shift: float = 0.75,
) -> Transfer:
    """Write ``out``: ``model_path``'s model with ``tokenizer_path``'s tokenizer and embeddings
    made by ``method``, loadable with ``AutoModelForCausalLM``/``AutoTokenizer``.

    ``continuation_texts`` (method ``hypernet``): the model's training text, of which
    ``continuation_mb`` megabytes give the continuation prior mixed into the output rows and the
    ``unigram_shift`` correction (see :func:`new_embeddings` and
    :mod:`toktool.zett.continuation`).

    ``model_path`` is ``"smollm2"``, a GGUF file or a local HF directory (with its
    ``tokenizer.json``); ``tokenizer_path`` a ``tokenizer.json`` (or bundled name such as
    ``"cl100k"``). Everything is written to a temporary sibling directory that replaces ``out``
    only when complete; an existing ``out`` is refused unless ``force``.
    """
    import toktool
    from toktool.hf import load_causal_lm
    from toktool.zett.train import FrozenLM

    out = Path(out)
    if out.exists() and not force:
        raise ToktoolIOError(f"{out} exists (pass force=True / --force to replace it)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise ToktoolIOError(f"{parent}: no such directory")
    if not os.access(parent, os.W_OK):
        raise ToktoolIOError(f"{parent}: not writable")
    new = toktool.load_tokenizer(tokenizer_path)
    new_json = new.to_str()
    original = original_tokenizer(model_path)
    model = load_causal_lm(model_path)
    hypernet = None
    if method == "hypernet":
        if hypernet_path is None:
            raise InvalidInputError("method 'hypernet' needs --hypernet CKPT")
        hypernet = FrozenLM(model).load_hypernet(hypernet_path)
    counts = None
    if continuation_texts is not None:
        from toktool.zett.continuation import ContinuationCounts, sample_texts

        counts = ContinuationCounts(original, sample_texts(continuation_texts, continuation_mb))
    transfer = new_embeddings(
        model, original, new, method=method, hypernet=hypernet, copy_shared=copy_shared,
        continuation=counts, continuation_mix=continuation_mix, unigram_shift=unigram_shift,
        progress=progress,
    )
    special_ids = _new_special_ids(model, original, new)
    vocab = int(transfer.input_rows.shape[0])
    model.resize_token_embeddings(vocab, mean_resizing=False)
    from toktool.zett.train import model_embeddings

    _, _, tied = model_embeddings(model)
    torch = _torch()
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(transfer.input_rows)
        if transfer.output_rows is not None and tied:
            # a hypernetwork with an output tower predicts output rows of their own: the
            # converted model is untied
            model.config.tie_word_embeddings = False
            head = model.get_output_embeddings()
            head.weight = torch.nn.Parameter(transfer.output_rows.clone().contiguous())
        elif transfer.output_rows is not None:
            model.get_output_embeddings().weight.copy_(transfer.output_rows)
    model.config.vocab_size = vocab
    for role, token_id in special_ids.items():
        setattr(model.config, f"{role}_token_id", token_id)
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        for role in ("bos", "eos", "pad"):
            setattr(generation, f"{role}_token_id", special_ids[role])
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        _save_tokenizer(tmp, new_json, new, special_ids)
        provenance = {
            "toktool_transfer": {
                "method": method,
                "model": str(model_path),
                "tokenizer": str(tokenizer_path),
                "hypernet": None if hypernet_path is None else str(hypernet_path),
                "copy_shared": copy_shared,
                "shared": transfer.shared,
                "copied": transfer.copied,
                "truncated": transfer.truncated,
                "specials": transfer.specials,
            }
        }
        (tmp / "toktool_transfer.json").write_text(json.dumps(provenance, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return transfer


def _save_tokenizer(directory: Path, tokenizer_json: str, new: Any, ids: dict[str, Optional[int]]) -> None:
    from tokenizers import Tokenizer as HFTokenizer
    from transformers import PreTrainedTokenizerFast

    kwargs: dict[str, Any] = {}
    for role in ("bos", "eos", "pad", "unk"):
        token_id = ids.get(role)
        if token_id is not None:
            kwargs[f"{role}_token"] = new.id_to_token(token_id)
    fast = PreTrainedTokenizerFast(tokenizer_object=HFTokenizer.from_str(tokenizer_json), **kwargs)
    fast.save_pretrained(str(directory))
