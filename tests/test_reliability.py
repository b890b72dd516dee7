"""Cases from an adversarial pass over the public entry points, kept: each failed once.

Far starts, subnormal weights and coordinates, tol below the rounding floor, Dask batches
that must behave like NumPy ones, absurd thread counts, error messages that must point the
right way, ``nodata`` in the data's dtype, and ``method="sgd"`` on tiny data and memmaps.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import geomedian
from geomedian import _threads

TRIANGLE = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]])
TINY = 2.0**-1074  # the smallest subnormal


@pytest.mark.parametrize("init", [[1e160, 0.0], [1e300, -1e300], [-1e200, 3.0]])
def test_far_start_is_solved_not_returned(backend, init):
    ref = geomedian.solve(TRIANGLE, backend=backend)
    res = geomedian.solve(TRIANGLE, init=init, backend=backend)
    assert res.converged and math.isfinite(res.objective) and math.isfinite(res.lower_bound)
    np.testing.assert_allclose(res.median, ref.median, atol=1e-8)
    np.testing.assert_allclose(
        geomedian.geometric_median(TRIANGLE, init=init, backend=backend), ref.median, atol=1e-8
    )


def test_far_start_in_a_batch(backend):
    batch = np.stack([TRIANGLE, TRIANGLE + 1.0, TRIANGLE * 7.0])
    ref = geomedian.solve(batch, backend=backend)
    res = geomedian.solve(batch, init=[1e200, 1e200], backend=backend)
    assert res.converged.all()
    np.testing.assert_allclose(res.median, ref.median, atol=1e-7)


def test_converged_means_finite_objective_and_bound(backend, rng):
    # Whatever the start, a converged result has a finite objective and bound.
    x = rng.standard_normal((50, 3))
    for init in ([1e308, 0, 0], [0, -1e308, 0], [1e-300, 0, 0]):
        res = geomedian.solve(x, init=init, backend=backend)
        if res.converged:
            assert math.isfinite(res.objective) and math.isfinite(res.lower_bound)


@pytest.mark.parametrize("ulps", [1, 3, 7])
def test_subnormal_weights_bound_below_and_objective_above(backend, ulps):
    # f* = ulps * 2^-1074 * f1* with f1* = 6.7664... the unit-weight optimum: not a
    # multiple of 2^-1074, so the bound must round down and the objective up.
    f1 = geomedian.solve(TRIANGLE, tol=1e-14, backend=backend).objective
    res = geomedian.solve(TRIANGLE, weights=[ulps * TINY] * 3, backend=backend)
    assert res.lower_bound / TINY <= ulps * f1 <= res.objective / TINY
    assert res.converged


def test_subnormal_coordinates_are_solved(backend, rng):
    # Integers times 2^-1074: the frame's scale cannot reach 2^1074, yet x - c and the
    # scaling are exact; the answer is the integer problem's, on the subnormal grid.
    p = rng.integers(0, 1 << 20, size=(15, 2)).astype(np.float64)
    ref = geomedian.solve(p, tol=1e-14, backend=backend)
    res = geomedian.solve(p * TINY, backend=backend)
    assert res.converged
    np.testing.assert_allclose(res.median / TINY, ref.median, atol=1.0)
    assert res.lower_bound / TINY <= ref.objective * (1 + 1e-12)
    assert res.objective / TINY >= ref.objective * (1 - 1e-12)


def test_subnormal_vertex_optimum(backend):
    pts = np.array([[0, 0], [4, 0], [0, 3], [1, 1], [1, 1]], dtype=np.float64)
    res = geomedian.solve(pts * TINY, backend=backend)
    assert res.converged
    np.testing.assert_array_equal(res.median / TINY, [1.0, 1.0])


def test_tol_zero_stalls_at_the_floor(backend, rng):
    x = rng.standard_normal((20_000, 3))
    res = geomedian.solve(x, tol=0, max_iter=100_000, backend=backend)
    assert res.status == 2 and not res.converged
    assert res.n_iter < 500  # not max_iter: the gap stopped falling
    assert res.gap < 1e-12


def test_tol_zero_stalls_on_a_memmap(backend, rng, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, rng.standard_normal((70_000, 2)))
    x = np.load(path, mmap_mode="r")
    res = geomedian.solve(x, tol=0, max_iter=100_000, backend=backend)
    assert res.status == 2 and res.n_iter < 500 and res.gap < 1e-12


def test_huge_thread_counts_are_lowered(backend, rng):
    x = rng.standard_normal((3_000, 4))
    one = geomedian.solve(x, threads=1, backend=backend)
    many = geomedian.solve(x, threads=100_000, backend=backend)
    np.testing.assert_array_equal(one.median, many.median)
    assert _threads.resolve_threads(100_000) <= _threads._usable_cores()


def test_nodata_is_compared_in_the_data_dtype(backend, rng):
    x = np.full((10, 2), -9999.9, dtype=np.float32)
    x[:5] = rng.standard_normal((5, 2))
    want = geomedian.solve(x[:5], backend=backend).median
    for nodata in (-9999.9, np.float64(-9999.9), np.float32(-9999.9)):
        res = geomedian.solve(x, nodata=nodata, nan_policy="omit", backend=backend)
        np.testing.assert_array_equal(res.median, want)


def test_integer_data_with_a_fractional_nodata_matches_nothing(backend):
    x = np.array([[1, 2], [3, 4], [-9999, -9999], [5, 5]], dtype=np.int16)
    kept = geomedian.solve(x, nodata=-9999.9, backend=backend)
    np.testing.assert_array_equal(kept.median, geomedian.solve(x, backend=backend).median)
    dropped = geomedian.solve(x, nodata=-9999, nan_policy="omit", backend=backend)
    np.testing.assert_array_equal(
        dropped.median, geomedian.solve(x[[0, 1, 3]], backend=backend).median
    )


def test_inf_is_never_told_to_try_omit(backend):
    x = TRIANGLE.copy()
    x[1, 0] = np.inf
    for policy in ("raise", "omit", "propagate"):
        with pytest.raises(ValueError, match="inf is an error under every nan_policy") as e:
            geomedian.solve(x, nan_policy=policy, backend=backend)
        assert "got inf at row 1, column 0" in str(e.value)


def test_sgd_nan_hint_does_not_suggest_omit(backend, rng):
    for n in (3, 5_000):  # the exact stand-in for tiny data, and SGD itself
        x = rng.standard_normal((n, 2))
        x[1, 1] = np.nan
        with pytest.raises(ValueError, match="method='sgd' takes finite points only") as e:
            geomedian.solve(x, method="sgd", backend=backend)
        assert "got nan at row 1, column 1" in str(e.value)
        with pytest.raises(ValueError, match="does not support nan_policy='omit'"):
            geomedian.solve(x, method="sgd", nan_policy="omit", backend=backend)


@pytest.mark.parametrize(
    "points",
    [TRIANGLE, np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])],
    ids=["vertex", "equilateral"],
)
def test_sgd_on_tiny_data_is_solved_exactly(backend, points):
    res = geomedian.solve(points, method="sgd", backend=backend)
    ref = geomedian.solve(points, backend=backend)
    assert res.converged and res.method != "sgd" and res.gap <= 1e-3
    assert abs(res.objective - ref.objective) <= 1e-3 * ref.objective


def _resident_kib(path) -> int:
    """Resident KiB of this process's mappings of ``path`` (Linux smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(maxsplit=1)[0]
            if not head.endswith(":"):
                inside = line.rstrip().endswith(str(path))
            elif inside and head == "Rss:":
                total += int(line.split()[1])
    return total


@pytest.mark.parametrize("weighted", [False, True])
def test_sgd_on_a_memmap_reads_the_same_rows_without_mapping_them(backend, tmp_path, weighted):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((700_003, 3))  # 16 MiB; a short last minibatch
    w = rng.random(len(x)) if weighted else None
    path = tmp_path / "x.npy"
    np.save(path, x)
    m = np.load(path, mmap_mode="r")
    kw = dict(method="sgd", batch_size=7, max_iter=2, tol=0, backend=backend)
    a = geomedian.solve(m, w, **kw)
    b = geomedian.solve(x, w, **kw)
    np.testing.assert_array_equal(a.median, b.median)
    assert a.n_iter == b.n_iter == 2
    try:
        resident = _resident_kib(path)
    except OSError:
        pytest.skip("no /proc/self/smaps here")
    assert resident <= x.nbytes // 1024 // 4  # chunks at most, never the whole file


def test_dask_batch_splits_a_per_problem_init(backend):
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5, 40, 3))
    init = rng.standard_normal((6, 5, 3))
    kw = dict(method="weiszfeld", max_iter=1, backend=backend)  # the start shows
    lazy = geomedian.solve(da.from_array(x, chunks=(2, 5, 40, 3)), init=init, **kw)
    np.testing.assert_array_equal(lazy.median.compute(), geomedian.solve(x, init=init, **kw).median)
    lazy = geomedian.solve(da.from_array(x, chunks=(4, 2, 40, 3)), init=init[0], **kw)
    np.testing.assert_array_equal(
        lazy.median.compute(), geomedian.solve(x, init=init[0], **kw).median
    )
    with pytest.raises(ValueError, match=r"broadcast to \(6, 5, 3\), got \(4, 5, 3\)"):
        geomedian.solve(da.from_array(x, chunks=(2, 5, 40, 3)), init=init[:4], backend=backend)


def test_dask_batch_errors_name_the_global_problem(backend):
    da = pytest.importorskip("dask.array")
    x = np.random.default_rng(1).standard_normal((6, 5, 40, 3))
    x[5, 4, 3, 1] = np.nan
    lazy = geomedian.solve(da.from_array(x, chunks=(2, 5, 40, 3)), backend=backend)
    with pytest.raises(ValueError, match=r"in problem \(5, 4\) at row 3, column 1"):
        lazy.median.compute()


def test_dask_unknown_chunk_sizes_are_named(backend):
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.random.default_rng(2).standard_normal((100, 3)), chunks=50)
    x = x[x[:, 0] > 0]
    with pytest.raises(ValueError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        geomedian.solve(x, backend=backend)
    res = geomedian.solve(x.compute_chunk_sizes(), backend=backend)
    # Certified to the objective's tol (the Newton iterate by the pass that reached it).
    best = geomedian.solve(x.compute(), tol=0.0).objective
    assert res.converged and res.objective <= best * (1 + 1e-10)
