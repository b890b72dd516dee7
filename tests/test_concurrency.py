"""Threads and processes: concurrent calls, forked children, thread counts.

* 8 Python threads solving different problems at once get what sequential calls get;
* a child forked after the parent used the OpenMP/Numba thread pools neither hangs (GNU
  libgomp) nor aborts (Numba's ``omp`` layer): it runs its calls on one thread;
* ``threads=1`` and ``threads=2`` agree, and one thread count always gives the same bits.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from isolated import run_script

import geomedian


def _problems():
    rng = np.random.default_rng(7)
    return [
        rng.normal(size=(20_000, 3)),  # large: each pass over the OpenMP/Numba threads
        rng.normal(size=(300, 16, 2)),  # a batch of small problems spread over the threads
        rng.standard_cauchy(size=(5_000, 5)).astype(np.float32),
        rng.normal(size=(40, 8, 7)),
        rng.normal(size=(1_000, 2)) * 1e6,
        rng.integers(0, 100, size=(64, 10, 3)).astype(np.uint16),
        rng.normal(size=(3, 10_000, 2)),
        rng.normal(size=(50, 4)) + 1e12,
    ]


def _fields(res):
    return [np.asarray(getattr(res, k)) for k in ("median", "objective", "lower_bound", "gap")]


def test_eight_threads_at_once_match_sequential_calls(backend):
    problems = _problems()
    sequential = [_fields(geomedian.solve(x, backend=backend, threads=2)) for x in problems]
    results: list = [None] * len(problems)
    errors: list = []
    start = threading.Barrier(len(problems))

    def work(k):
        try:
            start.wait()
            for _ in range(3):
                results[k] = _fields(geomedian.solve(problems[k], backend=backend, threads=2))
        except BaseException as err:
            errors.append(err)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(len(problems))]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in workers), "a thread hung"
    assert not errors, errors
    for got, want in zip(results, sequential):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_thread_counts_agree_and_one_count_repeats_its_bits(backend):
    for x in _problems():
        one = _fields(geomedian.solve(x, backend=backend, threads=1))
        two = _fields(geomedian.solve(x, backend=backend, threads=2))
        again = _fields(geomedian.solve(x, backend=backend, threads=2))
        for a, b, c in zip(one, two, again):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=0)
            np.testing.assert_array_equal(b, c)


FORK_CHILD = r"""
import os, sys, time
import numpy as np
import geomedian

backend = sys.argv[1]
rng = np.random.default_rng(3)
large, batch = rng.normal(size=(200_000, 4)), rng.normal(size=(4_000, 8, 2))
# The parent uses both kinds of parallel region, so its thread pools exist at the fork.
want = [geomedian.solve(x, backend=backend, threads=2).median for x in (large, batch)]
pid = os.fork()
if pid == 0:
    code = 1
    try:
        got = [geomedian.solve(x, backend=backend).median for x in (large, batch)]
        got.append(geomedian.objective(want[0], large, backend=backend))
        code = 0 if all(np.array_equal(g, w) for g, w in zip(got, want)) else 3
    finally:
        os._exit(code)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    time.sleep(0.05)
os.kill(pid, 9)
sys.exit("the forked child hung")
"""


@pytest.mark.slow
def test_forked_child_after_openmp_use_neither_hangs_nor_crashes(backend):
    proc = run_script(FORK_CHILD, backend, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])


def test_fork_child_flag_limits_threads(monkeypatch):
    from geomedian import _threads

    assert _threads.resolve_threads(2) == 2
    monkeypatch.setattr(_threads, "_fork_child", True)
    assert _threads.resolve_threads(2) == 1
    assert _threads.resolve_threads(None) == 1
