"""How many threads a call uses (``threads=None`` means every core this process may use).

In a child process started with ``fork`` every call runs on one thread: GNU OpenMP (the
compiled core's, and Numba's ``omp`` threading layer) cannot be used in a forked child of a
process that has started its thread pool. libgomp hangs on the child's first parallel region,
Numba terminates the child. One thread never enters a parallel region in either backend.
"""

from __future__ import annotations

import functools
import operator
import os

__all__ = ["default_threads", "resolve_threads"]

_fork_child = False


def _after_fork_in_child() -> None:
    global _fork_child
    _fork_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def default_threads() -> int:
    """Return the cores available to this process, or ``OMP_NUM_THREADS`` when it is set.

    Follows scikit-learn's contract: an explicit ``OMP_NUM_THREADS`` wins, otherwise
    the CPU affinity mask (which honours ``taskset`` and container CPU sets, read once
    per process) decides.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return _usable_cores()


@functools.cache
def _usable_cores() -> int:
    # Read once per process: a system call costs more than a small solve in a hot loop.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int | None) -> int:
    """Validate a ``threads=`` argument and return a positive thread count.

    Always 1 in a forked child (see the module docstring), whatever was asked.
    """
    if threads is None:
        return 1 if _fork_child else default_threads()
    if isinstance(threads, bool):
        raise TypeError("threads must be a positive integer or None, got a bool")
    try:
        value = operator.index(threads)
    except TypeError:
        raise TypeError(
            f"threads must be a positive integer or None, got {type(threads).__name__}"
        ) from None
    if value < 1:
        raise ValueError(f"threads must be >= 1, got {value}")
    return 1 if _fork_child else value
