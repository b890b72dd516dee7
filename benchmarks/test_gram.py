"""Few models of many coordinates (n << d): the Gram path against the direct solver and peers.

Run from the project root (the default pytest options disable benchmarks; add ``-s`` for
the memory and pass summary)::

    python -m pytest benchmarks/test_gram.py --benchmark-enable --benchmark-only \
        --benchmark-min-rounds=3 --benchmark-columns=min,median,max,rounds -q -s

One (50, 2e6) float32 array (400 MB), as one array and as 50 models of 20 tensors each
(views of the same rows, so nothing is copied). Timed: one read of it (``x.sum()``, the
bound a pass can approach), ``method="gram"`` on the array and on the pytree, the direct
solver (``method="newton"``), and ``geom_median``'s torch implementation (plain smoothed
Weiszfeld, its defaults) when torch and geom_median are installed; and each of the
Gram path's three passes on its own (group ``gram-pass-50x2e6-f32``). Every geomedian solve
checks its certificate reached ``1e-6``; ``extra_info`` records the passes, and the peak
memory of one untimed call beyond the data (``tracemalloc``) is printed at the end.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import geomedian
from geomedian._kernels import kernels
from geomedian._threads import default_threads

N, D, LEAVES = 50, 2_000_000, 20
TOL = 1e-6
THREADS = default_threads()
_summary: list[str] = []


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    rng = np.random.default_rng(20261204)
    x = rng.standard_normal((N, D), dtype=np.float32)
    x[: N // 5] += 3.0  # a fifth of the clients off the others: not a trivial median
    return x


@pytest.fixture(scope="module")
def models(points) -> list:
    cuts = np.linspace(0, D, LEAVES + 1).astype(int)
    return [[row[a:b] for a, b in zip(cuts[:-1], cuts[1:])] for row in points]


def _peak_extra(fn) -> float:
    """Return the peak memory (MB) NumPy allocates during one call of ``fn``."""
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def test_one_read(benchmark, points):
    benchmark.group = "gram-50x2e6-f32"
    benchmark.extra_info.update(bytes_read=points.nbytes)
    benchmark(points.sum)


@pytest.mark.parametrize("backend", ["cpp", "numba"])
def test_gram_array(benchmark, points, backend):
    if backend not in geomedian.backends():
        pytest.skip(f"backend {backend} not installed")
    geomedian.solve(points[:, :1000], method="gram", backend=backend)  # warm up
    benchmark.group = "gram-50x2e6-f32"
    res = benchmark(geomedian.solve, points, method="gram", tol=TOL, backend=backend)
    assert res.converged and res.method == "gram"
    benchmark.extra_info.update(n_passes=res.n_passes, gap=res.gap)
    mb = _peak_extra(lambda: geomedian.solve(points, method="gram", tol=TOL, backend=backend))
    _summary.append(
        f"gram array ({backend}): {res.n_passes} passes, gap {res.gap:.2e}, "
        f"peak extra {mb:.0f} MB (one model: {points[0].nbytes / 1e6:.0f} MB)"
    )


def test_gram_pytree(benchmark, models):
    benchmark.group = "gram-50x2e6-f32"
    res = benchmark(geomedian.tree_solve, models, method="gram", tol=TOL)
    assert res.converged and res.method == "gram"
    benchmark.extra_info.update(n_passes=res.n_passes, gap=res.gap)
    mb = _peak_extra(lambda: geomedian.tree_solve(models, method="gram", tol=TOL))
    _summary.append(
        f"gram pytree of {LEAVES} leaves: {res.n_passes} passes, gap {res.gap:.2e}, "
        f"peak extra {mb:.0f} MB"
    )


@pytest.mark.parametrize("backend", ["cpp", "numba"])
@pytest.mark.parametrize("kernel", ["gram_pass", "gram_median_pass", "gram_certificate_pass"])
def test_one_pass(benchmark, points, kernel, backend):
    """Each of the three passes on its own, beside one read of the same bytes."""
    if backend not in geomedian.backends():
        pytest.skip(f"backend {backend} not installed")
    k = kernels(backend)
    rows = list(points)
    a = np.full(N, 1.0 / N)
    y, _ = k.gram_median_pass(rows, 0, 0.25, a, -1, THREADS)
    ones = np.ones(N)
    args = {
        "gram_pass": (rows, 0, 0.25),
        "gram_median_pass": (rows, 0, 0.25, a, -1),
        "gram_certificate_pass": (rows, 0, 0.25, a, -1, y, ones, ones),
    }[kernel]
    fn = getattr(k, kernel)
    fn(*args, THREADS)  # warm up (Numba's compilation or cache load)
    benchmark.group = "gram-pass-50x2e6-f32"
    benchmark(fn, *args, THREADS)


def test_direct(benchmark, points):
    benchmark.group = "gram-50x2e6-f32"
    res = benchmark.pedantic(
        geomedian.solve, (points,), {"method": "newton", "tol": TOL}, rounds=3, iterations=1
    )
    assert res.converged
    benchmark.extra_info.update(n_passes=res.n_passes, gap=res.gap)
    _summary.append(f"direct (newton): {res.n_passes} passes, gap {res.gap:.2e}")


def test_geom_median_torch(benchmark, points):
    torch = pytest.importorskip("torch")
    peer = pytest.importorskip("geom_median.torch")
    t = torch.from_numpy(points)
    benchmark.group = "gram-50x2e6-f32"
    out = benchmark.pedantic(peer.compute_geometric_median, (t,), rounds=3, iterations=1)
    f = geomedian.objective(out.median.numpy(), points)
    ours = geomedian.solve(points, method="gram", tol=TOL)
    benchmark.extra_info.update(objective=f, termination=str(out.termination))
    _summary.append(
        f"geom_median torch: f = {f:.9g} ({out.termination}); "
        f"geomedian gram f = {ours.objective:.9g}, LB = {ours.lower_bound:.9g}"
    )


@pytest.fixture(scope="module", autouse=True)
def summary():
    """Print the passes, gaps and peak memory at the end (``-s``)."""
    yield
    print("\n" + "\n".join(_summary))
