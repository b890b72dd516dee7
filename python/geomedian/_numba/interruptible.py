"""Ctrl-C for the Numba kernels, which cannot look at Python's signal flags while they run.

The compiled core polls signals from inside its driver (``SignalPoll`` in
``csrc/bindings.cpp``). A Numba kernel cannot, so the call runs on a worker thread (the
kernels release the GIL, ``nogil=True``) while the main thread, where Python delivers
KeyboardInterrupt, waits in short slices. On KeyboardInterrupt it sets ``stop[0]``, which the
iteration driver reads once per iteration (``solver.solve_problem``, where the C++ driver
calls ``interrupt()``), waits for the kernel to wind down and re-raises.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

__all__ = ["new_stop_flag", "run_interruptible"]

# How long the main thread sleeps between looks at the worker; a KeyboardInterrupt is
# raised in it at once, this only bounds the wait after the kernel has finished.
_WAIT_SLICE = 0.05


def new_stop_flag() -> np.ndarray:
    """Return the flag a kernel polls: ``stop[0] != 0`` asks it to stop."""
    return np.zeros(1, dtype=np.int32)


def run_interruptible(kernel: Callable[[], None], stop: np.ndarray) -> None:
    """Run ``kernel()`` so that Ctrl-C stops it within an iteration and raises.

    Off the main thread no signal can arrive, so the kernel simply runs there.
    """
    if threading.current_thread() is not threading.main_thread():
        kernel()
        return
    failure: list[BaseException] = []

    def work() -> None:
        try:
            kernel()
        except BaseException as err:  # handed to the caller's thread below
            failure.append(err)

    worker = threading.Thread(target=work, name="geomedian-numba-solve", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(_WAIT_SLICE)
    except KeyboardInterrupt:
        stop[0] = 1
        # The kernel stops at its next iteration; wait for it even through more Ctrl-C so
        # that no thread is left writing into arrays the caller may reuse.
        while worker.is_alive():
            try:
                worker.join()
            except KeyboardInterrupt:
                pass
        raise
    if failure:
        raise failure[0]
