"""A batch's blocks of problems over threads of Python's own (C++: the OpenMP loop of solve_batch).

The block entry points (``solver.solve_batch_small`` and the like) release the GIL, so
Python threads run them at once on different blocks. A parallel Numba loop would do the
same but compile the whole solver again inside it on the first call; these threads compile
nothing. Each
thread takes the next range of blocks as it finishes one, so uneven problems balance; a
problem's result depends on it alone, never on the thread that solved it.
"""

from __future__ import annotations

import threading
from typing import Callable

__all__ = ["blocks_over_threads"]

# Ranges of blocks per thread: enough for uneven problems to balance, few enough that the
# per-call cost of a kernel (converting its two dozen arguments) stays negligible.
RANGES_PER_THREAD = 4


def blocks_over_threads(kernel: Callable, blocks: int, threads: int, args: tuple) -> None:
    """Run ``kernel(b0, b1, *args)`` over the blocks 0 ... blocks - 1 on ``threads`` threads."""
    threads = max(1, min(int(threads), blocks))
    step = max(1, blocks // (RANGES_PER_THREAD * threads))
    starts = iter(range(0, blocks, step))
    lock = threading.Lock()
    failure: list[BaseException] = []

    def work() -> None:
        while not failure:
            with lock:
                b0 = next(starts, None)
            if b0 is None:
                return
            try:
                kernel(b0, min(blocks, b0 + step), *args)
            except BaseException as err:  # handed to the caller's thread below
                failure.append(err)

    helpers = [
        threading.Thread(target=work, name="geomedian-numba-block", daemon=True)
        for _ in range(threads - 1)
    ]
    for helper in helpers:
        helper.start()
    work()  # the calling thread takes ranges too
    for helper in helpers:
        helper.join()
    if failure:
        raise failure[0]
