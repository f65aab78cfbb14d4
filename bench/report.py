"""Helpers shared by the bench/ scripts: timing, and writing a generated section into docs/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def write_section(out: Path, section: str, begin: str, end: str, title: str) -> None:
    """Replace the text from ``begin`` to ``end`` (both included; ``section`` carries its own
    markers) in the markdown file ``out``, or append it (a new file starts with ``# title``).
    The file is replaced whole."""
    old = out.read_text() if out.exists() else f"# {title}\n\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    new = pattern.sub(lambda _: section, old) if pattern.search(old) else old + "\n" + section + "\n"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(new)
    tmp.replace(out)
