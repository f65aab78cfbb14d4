"""The learning-rate schedule of both training phases: linear warm-up, then cosine decay."""

from __future__ import annotations

import math

__all__ = ["warmup_cosine"]


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
