"""How many threads a call uses: ``threads=`` when given, else scikit-learn's OpenMP rule.

With the compiled core installed, ``threads=None`` follows ``omp_get_max_threads()`` of the
calling thread, as scikit-learn's ``_openmp_effective_n_threads`` does: that number when
``OMP_NUM_THREADS`` is set, else the smaller of it and the cores this process may use (its
CPU affinity mask: ``taskset``, container CPU sets). So ``OMP_NUM_THREADS`` and
``threadpoolctl.threadpool_limits(k)`` (which sets ``omp_set_num_threads(k)`` in every
OpenMP runtime loaded, the core's included) limit geomedian as they limit scikit-learn,
whichever backend runs the call. The core is loaded with this module, so that a
``threadpool_limits`` block entered before the first solve finds its runtime.

Without the compiled core there is no OpenMP runtime to ask, and threadpoolctl does not
reach Numba's threads (``numba.set_num_threads`` is their only control): ``threads=None``
is then ``OMP_NUM_THREADS`` when set, else the usable cores, at most ``NUMBA_NUM_THREADS``
(the size of Numba's pool, fixed at its start).

Idle threads sleep soon after a call. GNU OpenMP's idle threads spin ``GOMP_SPINCOUNT``
times before they sleep (300,000 by default, about a millisecond), so after a call
returns they hold the cores that the next library's threads need, and that library's
spinning threads hold ours: on a 2-core machine a 0.26 ms solve took 2.8 ms right after a
NumPy matrix product, and geomad's median 4.3 ms instead of 0.5 ms right after a solve.
Before the core's runtime loads (its environment is read once), ``GOMP_SPINCOUNT`` is set
to ``OPENMP_SPINCOUNT``, about 30 microseconds: short enough to leave the cores soon after
a call, long enough that the threads are still awake for the next pass of the same call.
It is left alone when the user set ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``; GNU OpenMP
runtimes that other libraries load later in the process read it too.

In a child process started with ``fork`` every call runs on one thread: GNU OpenMP (the
compiled core's, and Numba's ``omp`` threading layer) cannot be used in a forked child of a
process that has started its thread pool. libgomp hangs on the child's first parallel region,
Numba terminates the child. One thread never enters a parallel region in either backend.
"""

from __future__ import annotations

import functools
import operator
import os

__all__ = ["OPENMP_SPINCOUNT", "default_threads", "resolve_threads"]

OPENMP_SPINCOUNT = "10000"
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPINCOUNT

try:
    from ._core import openmp_max_threads as _openmp_max_threads
except ImportError:  # no compiled core (or a broken one, which _backends reports)
    _openmp_max_threads = None

_fork_child = False


def _after_fork_in_child() -> None:
    global _fork_child
    _fork_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def default_threads() -> int:
    """Return the thread count of a call with ``threads=None`` (the rule is in the module doc).

    Returns
    -------
    int
        With the compiled core: ``omp_get_max_threads()``, at most ``OMP_NUM_THREADS``
        if it is set, else at most the usable cores. Without: ``OMP_NUM_THREADS`` if set,
        else the usable cores.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    ceiling = int(env) if env.isdigit() and int(env) > 0 else _usable_cores()
    if _openmp_max_threads is not None:
        # Asked at every call: threadpool_limits changes it for the calling thread. Bounded
        # by OMP_NUM_THREADS all the same: Numba's OpenMP layer shares the runtime, and its
        # set_num_threads (each Numba call restores its own count) raises the value.
        return min(_openmp_max_threads(), ceiling)
    return ceiling


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
    # More threads than cores never speed a pass, and thousands of them exhaust the address
    # space (the OpenMP runtime aborts the process): at most the usable cores, as Numba's
    # pool, whose size is the cores by default, is at most.
    return 1 if _fork_child else min(value, _usable_cores())
