"""One small problem per call, as a hot loop makes them: 20 points in 3-D.

Run from the project root::

    python -m pytest benchmarks/test_hot_loop.py --benchmark-enable --benchmark-only \
        --benchmark-columns=min,median,max,rounds -q

Rows: ``geometric_median`` and ``solve`` on both backends (validation, backend choice and
the result object included), the kernel entries they call, called directly on ready
arrays (``solve_f64`` on (1, n, d) for ``solve``; ``median_f64`` on (n, d), which
``geometric_median`` takes for one small float array under default options), so the
gap between a row and its entry is the per-call Python overhead, ``solve`` with
``p = 1.5, 3, 10`` (the Lp Newton solve, whose steps are driven from Python), and hdmedians'
``geomedian`` when installed. The end-of-run table gives microseconds per call and the
ratio to hdmedians.
"""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian._backends import load_backend

N, D = 20, 3


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return np.random.default_rng([20240607, 7]).standard_normal((N, D))


def _row(record, benchmark, name):
    record(benchmark, kind="call", name=name)


@pytest.mark.parametrize("api", ["geometric_median", "solve"])
def test_geomedian_call(benchmark, record, points, backend, api):
    benchmark.group = "hot-loop-20x3"
    fn = getattr(geomedian, api)
    out = benchmark(fn, points, backend=backend)
    median = out if api == "geometric_median" else out.median
    assert geomedian.solve(points, init=median, backend=backend).gap <= 1e-10
    _row(record, benchmark, f"geomedian.{api} {backend}")


@pytest.mark.parametrize("entry", ["solve_f64", "median_f64"])
def test_kernel_call(benchmark, record, points, backend, entry):
    """A kernel entry alone: what a call costs without the Python API around it."""
    benchmark.group = "hot-loop-20x3"
    impl = load_backend(backend)
    if entry == "solve_f64":  # what solve() calls: seven result arrays
        x = np.ascontiguousarray(points[None])
        out = benchmark(impl.solve_f64, x, None, None, None, 2, 1e-10, 1000, 1, False)
        status = out[6][0]
    else:  # what geometric_median() calls on ready input: the median and the status
        status = benchmark(impl.median_f64, points, 2, 1e-10, 1000)[1]
    assert status == 0  # certified
    _row(record, benchmark, f"kernel only ({backend}.{entry})")


@pytest.mark.parametrize("p", [1.5, 3.0, 10.0], ids=str)
def test_lp_call(benchmark, record, points, backend, p):
    """``solve`` with ``p != 2``: Newton's steps and their certificates, a pass each."""
    benchmark.group = "hot-loop-20x3"
    res = benchmark(geomedian.solve, points, p=p, backend=backend)
    assert res.converged
    benchmark.extra_info["passes"] = int(res.n_passes)
    _row(record, benchmark, f"geomedian.solve p={p:g} {backend}")


def test_hdmedians(benchmark, record, points):
    hdmedians = pytest.importorskip("hdmedians")
    benchmark.group = "hot-loop-20x3"
    out = benchmark(hdmedians.geomedian, points, axis=0)
    ref = geomedian.solve(points).median
    assert np.abs(np.asarray(out) - ref).max() < 1e-3
    _row(record, benchmark, "hdmedians.geomedian")
