"""A small progress bar on stderr for long command-line runs (big files, ``bench``)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]

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
