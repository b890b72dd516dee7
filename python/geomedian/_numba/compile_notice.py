"""One line on standard error while the Numba kernels compile: the first use on a machine.

A compile is Numba's ``"numba:compile"`` event, which fires on a cache miss only, never
for a load from the on-disk cache. When one (with the compiles nested in it) lasts longer
than ``NOTICE_SECONDS``, ``NOTICE`` is printed, once per process, while the user waits.
``GEOMEDIAN_COMPILE_NOTICE=0`` silences it: the package then registers no listener.
"""

from __future__ import annotations

import sys
import threading

from numba.core import event

__all__ = ["NOTICE", "NOTICE_SECONDS", "CompileNotice"]

NOTICE_SECONDS = 1.0
NOTICE = (
    "geomedian: compiling the Numba kernels, first use only (they are cached for later "
    "runs; `geomedian warmup` compiles them ahead of time)..."
)


class CompileNotice(event.Listener):
    """Arms a timer at the outermost compile's start, disarms it at its end."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.timer: threading.Timer | None = None
        self.printed = False

    def on_start(self, ev) -> None:
        with self.lock:
            self.depth += 1
            if self.depth == 1 and not self.printed:
                self.timer = threading.Timer(NOTICE_SECONDS, self._notice)
                self.timer.daemon = True
                self.timer.start()

    def on_end(self, ev) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.timer is not None:
                self.timer.cancel()
                self.timer = None

    def _notice(self) -> None:
        with self.lock:
            if self.printed:
                return
            self.printed = True
        print(NOTICE, file=sys.stderr, flush=True)
