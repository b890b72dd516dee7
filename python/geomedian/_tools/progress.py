"""Progress on stderr for long runs: a small bar, and the ``progress=`` option of solve.

``ProgressBar`` counts work (rows read, benchmark cases). ``progress=`` of
:func:`geomedian.solve` reports iteration, objective and certified gap: a callable is
called as ``progress(iteration, objective, gap)`` after each accepted iteration (an epoch
for ``method="sgd"``); ``True`` draws a bar whose fill is the progress of the gap towards
``tol`` on a log scale (the measure the solvers stop on), on a terminal only.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, TextIO

__all__ = ["GapProgress", "ProgressBar", "close", "reporter"]

BAR_WIDTH = 28
REDRAW_INTERVAL_S = 0.1  # redrawing more often only costs time on a fast loop


class ProgressBar:
    """A one-line progress bar, drawn only when its stream is a terminal.

    Parameters
    ----------
    total : float
        The amount of work (items, bytes, rows) that ``update`` counts towards.
    label : str
        Printed before the bar.
    enabled : bool, optional
        Force the bar on or off. Default: on exactly when ``stream`` is a terminal, so
        pipes, logs and tests stay clean.
    stream : file, optional
        Where to draw (default ``sys.stderr``).

    Examples
    --------
    >>> import io
    >>> bar = ProgressBar(3, "reading", enabled=True, stream=io.StringIO())
    >>> for _ in range(3):
    ...     bar.update(1, file="x.csv")
    >>> bar.close()
    >>> bar.done
    3
    """

    def __init__(
        self,
        total: float,
        label: str,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.total = max(float(total), 0.0)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = -REDRAW_INTERVAL_S
        self._width = 0

    def update(self, n: float = 1, **info: object) -> None:
        """Count ``n`` more units of work; ``info`` (``key=value``) is shown after the bar."""
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw < REDRAW_INTERVAL_S and self.done < self.total:
            return
        self._last_draw = now
        self._draw(now, info)

    def _draw(self, now: float, info: dict) -> None:
        frac = min(self.done / self.total, 1.0) if self.total > 0 else 1.0
        filled = round(frac * BAR_WIDTH)
        extra = " ".join(f"{k}={v}" for k, v in info.items())
        line = (
            f"{self.label} [{'#' * filled}{' ' * (BAR_WIDTH - filled)}] {frac * 100:3.0f}% "
            f"{now - self._start:6.1f} s {extra}"
        ).rstrip()
        # Pad over a longer previous line, then return to the line start for the next draw.
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        """Erase the bar (the caller prints its own result)."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GapProgress:
    """``progress=True``: a :class:`ProgressBar` filled by ``log(gap_0 / gap) / log(gap_0 / tol)``.

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()
    >>> report = GapProgress(1e-10, enabled=True, stream=stream)
    >>> report(0, 12.5, 1e-2); report(1, 12.4, 1e-11); report.close()
    >>> "gap=1.00e-11" in stream.getvalue()
    True
    """

    def __init__(self, tol: float, *, enabled: bool | None = None, stream: TextIO | None = None):
        self.tol = tol
        self.first_gap: float | None = None
        self.bar = ProgressBar(1.0, "geomedian", enabled=enabled, stream=stream)

    def __call__(self, iteration: int, objective: float, gap: float) -> None:
        if self.first_gap is None and gap > 0:
            self.first_gap = gap
        done = 1.0
        if gap > self.tol and self.first_gap is not None and self.first_gap > self.tol > 0:
            done = math.log(self.first_gap / gap) / math.log(self.first_gap / self.tol)
        done = min(1.0, max(0.0, done))
        info = {"iteration": iteration, "objective": f"{objective:.10g}", "gap": f"{gap:.2e}"}
        self.bar.update(done - self.bar.done, **info)

    def close(self) -> None:
        self.bar.close()


def reporter(progress: Any, tol: float) -> Callable[[int, float, float], None] | None:
    """Return what to call after each iteration for a validated ``progress=`` (or None)."""
    if progress is None:
        return None
    if progress is True:
        report = GapProgress(tol)
        return report if report.bar.enabled else None
    return progress


def close(report: Any) -> None:
    """Finish a report (erase the bar)."""
    if isinstance(report, GapProgress):
        report.close()
