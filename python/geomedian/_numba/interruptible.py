"""Ctrl-C for the Numba kernels, which cannot look at Python's signal flags while they run.

The compiled core polls signals from inside its driver (``SignalPoll`` in
``csrc/bindings.cpp``). A Numba kernel cannot, so the call runs on a worker thread (the
kernels release the GIL, ``nogil=True``) while the main thread, where Python delivers
KeyboardInterrupt, waits in short slices. On KeyboardInterrupt it sets ``stop[0]``, which the
iteration driver reads once per iteration (``solver.solve_problem``, where the C++ driver
calls ``interrupt()``), waits for the kernel to wind down and re-raises.

The worker is one thread for the life of the process, not one per call: OpenMP gives each
thread that opens a parallel region a team of its own, so a new thread per call would start
a new team every time.
"""

from __future__ import annotations

import queue
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


class _Job:
    def __init__(self, kernel: Callable[[], None]) -> None:
        self.kernel = kernel
        self.done = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            self.kernel()
        except BaseException as err:  # handed to the caller's thread
            self.failure = err
        finally:
            self.done.set()


class _Worker:
    """The daemon thread that runs the main thread's kernels, one at a time."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None

    def submit(self, job: _Job) -> None:
        # Started on first use, and again in a child process after fork (where the
        # parent's thread does not exist).
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._serve, name="geomedian-numba-solve",
                                           daemon=True)  # fmt: skip
            self.thread.start()
        self.jobs.put(job)

    def _serve(self) -> None:
        while True:
            self.jobs.get().run()


_worker = _Worker()


def run_interruptible(kernel: Callable[[], None], stop: np.ndarray) -> None:
    """Run ``kernel()`` so that Ctrl-C stops it within an iteration and raises.

    Off the main thread no signal can arrive, so the kernel simply runs there.
    """
    if threading.current_thread() is not threading.main_thread():
        kernel()
        return
    job = _Job(kernel)
    _worker.submit(job)
    try:
        while not job.done.wait(_WAIT_SLICE):
            pass
    except KeyboardInterrupt:
        stop[0] = 1
        # The kernel stops at its next iteration; wait for it even through more Ctrl-C so
        # that no thread is left writing into arrays the caller may reuse.
        while not job.done.is_set():
            try:
                job.done.wait()
            except KeyboardInterrupt:
                pass
        raise
    if job.failure is not None:
        raise job.failure
