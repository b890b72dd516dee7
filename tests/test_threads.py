"""``threads=None`` follows the ecosystem's rule: OMP_NUM_THREADS and threadpoolctl limit it.

The rule is scikit-learn's (``geomedian/_threads.py``): with the compiled core, the default
is ``omp_get_max_threads()`` of the calling thread, capped by the usable cores unless
``OMP_NUM_THREADS`` is set; ``threads=`` given explicitly wins.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from isolated import HIDE_CORE

import geomedian
from geomedian import _config, _threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def run(code: str, omp_num_threads: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp_num_threads is not None:
        env["OMP_NUM_THREADS"] = omp_num_threads
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_cpp_threadpool_limits_bound_the_default():
    core = pytest.importorskip("geomedian._core")
    outside = _threads.resolve_threads(None)
    with threadpoolctl.threadpool_limits(limits=1):
        assert core.openmp_max_threads() == 1
        assert _threads.resolve_threads(None) == 1
        assert _config.config()["default_threads"] == 1
        two = min(2, _threads._usable_cores())
        assert _threads.resolve_threads(2) == two  # an explicit count still wins
    assert _threads.resolve_threads(None) == outside


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/task")
def test_cpp_solve_under_threadpool_limits_starts_no_thread():
    pytest.importorskip("geomedian._core")
    # A fresh process, whose OpenMP pool has not started: a solve that used more than one
    # thread would leave the pool's threads behind.
    out = run(
        """
        import os
        import numpy as np
        import threadpoolctl
        import geomedian

        x = np.random.default_rng(0).normal(size=(200_000, 3))
        before = len(os.listdir("/proc/self/task"))
        with threadpoolctl.threadpool_limits(limits=1):
            res = geomedian.solve(x, backend="cpp")
        assert res.converged
        print(before, len(os.listdir("/proc/self/task")))
        """
    )
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    assert after == before


def test_cpp_omp_num_threads_is_omp_get_max_threads():
    pytest.importorskip("geomedian._core")
    out = run("from geomedian import _threads; print(_threads.default_threads())", "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3"]  # set explicitly: not capped by the cores


def test_omp_num_threads_holds_after_numba_calls():
    # Numba's OpenMP layer shares the runtime with the core, and each Numba call restores
    # its own thread count through omp_set_num_threads: OMP_NUM_THREADS=1 must still hold.
    pytest.importorskip("geomedian._core")
    out = run(
        """
        import numpy as np
        import geomedian
        from geomedian import _threads

        x = np.random.default_rng(0).normal(size=(100_000, 3))
        geomedian.solve(x, backend="numba")
        print(_threads.resolve_threads(None))
        """,
        "1",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1"]


def test_numba_without_the_core_reads_omp_num_threads():
    code = """
        import threadpoolctl
        from geomedian import _threads

        with threadpoolctl.threadpool_limits(limits=1):  # does not reach Numba's threads
            print(_threads.default_threads())
        """
    out = run(HIDE_CORE + textwrap.dedent(code), "3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3"]


def test_importing_the_package_loads_the_openmp_runtime_not_numba():
    out = run(
        """
        import sys
        import geomedian
        print("numba" in sys.modules, "geomedian._core" in sys.modules)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", str("cpp" in geomedian.backends())]


@pytest.mark.parametrize(
    ("preset", "expected"),
    [({}, "10000"), ({"GOMP_SPINCOUNT": "5"}, "5"), ({"OMP_WAIT_POLICY": "active"}, None)],
)
def test_openmp_spin_count_is_short_unless_the_user_chose(preset, expected):
    """Idle OpenMP threads sleep soon after a call; a policy the user set is left alone."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(preset)
    code = "import os, geomedian; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    assert out == str(expected)
