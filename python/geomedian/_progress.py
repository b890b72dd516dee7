"""``progress=``: report iteration, objective and certified gap during long solves.

A callable is called as ``progress(iteration, objective, gap)`` after each accepted
iteration (an epoch for ``method="sgd"``). ``True`` draws a one-line bar on standard
error when it is a terminal and says nothing otherwise; the bar's fill is the progress of
the gap towards ``tol`` on a log scale, the measure the solvers stop on.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable

__all__ = ["ProgressBar", "reporter"]

BAR_WIDTH = 30


class ProgressBar:
    """A one-line progress bar on a terminal stream, redrawn in place."""

    def __init__(self, tol: float, stream=None):
        self.tol = tol
        self.stream = sys.stderr if stream is None else stream
        self.first_gap = None
        self.drawn = False

    def __call__(self, iteration: int, objective: float, gap: float) -> None:
        if self.first_gap is None and gap > 0:
            self.first_gap = gap
        done = 1.0
        if gap > self.tol and self.first_gap is not None and self.first_gap > self.tol > 0:
            done = math.log(self.first_gap / gap) / math.log(self.first_gap / self.tol)
        filled = int(BAR_WIDTH * min(1.0, max(0.0, done)))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(
            f"\rgeomedian [{bar}] iteration {iteration}  objective {objective:.10g}  gap {gap:.2e}"
        )
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def reporter(progress: Any, tol: float) -> Callable[[int, float, float], None] | None:
    """Return what to call after each iteration for a validated ``progress=`` (or None)."""
    if progress is None:
        return None
    if progress is True:
        isatty = getattr(sys.stderr, "isatty", None)
        return ProgressBar(tol) if isatty is not None and isatty() else None
    return progress


def close(report: Any) -> None:
    """Finish a report (end the bar's line)."""
    if isinstance(report, ProgressBar):
        report.close()
