"""What the training phases share: the learning-rate schedule (linear warm-up, then cosine
decay), held-out bookkeeping and the progress bar."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

__all__ = ["optimizer_step", "progress_bar", "record_held_out", "warmup_cosine"]


def warmup_cosine(step: int, lr: float, warmup: int, steps: int, floor: float) -> float:
    """The rate at ``step`` (0-based) of a ``steps``-step run.

    Rises linearly over the first ``warmup`` steps to ``lr``, then follows half a cosine down to
    ``floor * lr`` at the last step (and stays there past it).
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def record_held_out(scores: dict[int, float], done: int, value: float,
                    on_best: Optional[Callable[[int, float], None]]) -> None:
    """Keep a held-out ``value`` measured after ``done`` steps; call ``on_best`` when it is the
    lowest so far."""
    best = min(scores.values(), default=math.inf)
    scores[done] = value
    if on_best is not None and value < best:
        on_best(done, value)


def progress_bar(show: bool, total: int, initial: int, desc: str) -> Any:
    """A tqdm bar over a phase's steps, or ``None``."""
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step")


def optimizer_step(optimizer: Any, loss: Any, params: Any, lr: float, clip: float,
                   what: str) -> float:
    """One update from ``loss`` at learning rate ``lr`` (gradients clipped to norm ``clip`` over
    ``params`` unless 0); a non-finite loss raises ``FloatingPointError`` naming ``what``.
    Returns the loss as a float."""
    from toktool._torch import load_torch

    torch = load_torch()
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the {what} loss is {float(loss)}")
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    return float(loss.detach())
