"""Lp medians (``p != 2``) on the paths that read the points in place or in pieces.

A memmap is read in place by the Lp pass; one Dask problem ``(n, d)`` maps the pass over its
persisted chunks and adds their sums in order (``p = 1`` and ``inf``: ``test_lp_dask.py``).
Each answer is compared with the in-memory solve of the same points, and its certificate
with an independent objective.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference

import geomedian

P_SMOOTH = [1.5, 3.0, 2.5]


def skewed(rng, n=3000, d=3, dtype=np.float64):
    return (rng.standard_exponential((n, d)) * np.arange(1, d + 1)).astype(dtype)


def assert_certified_like(res, ref, x, w, p):
    assert res.converged, res
    assert res.gap <= 1e-10
    # The two certified answers agree to their gaps, and the bound is below a true f.
    f = reference.lp_objective(res.median, x, w, p)
    np.testing.assert_allclose(res.objective, f, rtol=1e-12)
    assert res.lower_bound <= ref.objective * (1 + 1e-12)
    assert abs(res.objective - ref.objective) <= 2e-10 * ref.objective


@pytest.mark.parametrize("p", [1.0, *P_SMOOTH, np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_memmap_is_read_in_place(backend, rng, tmp_path, p, dtype):
    x = skewed(rng, dtype=dtype)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=dtype, shape=x.shape)
    mm[:] = x
    mm.flush()
    before = np.array(mm)
    res = geomedian.solve(mm, p=p, backend=backend)
    ref = geomedian.solve(x, p=p, backend=backend)
    np.testing.assert_array_equal(res.median, ref.median)
    assert res.converged and res.gap == ref.gap
    np.testing.assert_array_equal(np.asarray(mm), before)  # nothing written


@pytest.mark.parametrize("p", [1.05, 1.2])
def test_nan_rows_omitted_near_p_1(backend, rng, p):
    # Near p = 1 the polished duals read every row in NumPy: an omitted (NaN) row must
    # read as a point of weight 0, not make the bound NaN (and the solve run to max_iter).
    x = skewed(rng)
    x[::7, 1] = np.nan
    res = geomedian.solve(x, p=p, nan_policy="omit", backend=backend)
    keep = ~np.isnan(x).any(axis=1)
    ref = geomedian.solve(x[keep], p=p, backend=backend)
    assert res.converged and res.gap <= 1e-10
    assert res.lower_bound <= ref.objective and ref.lower_bound <= res.objective


def test_memmap_with_nan_rows_omitted(backend, rng, tmp_path):
    x = skewed(rng)
    x[::7, 1] = np.nan
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=x.dtype, shape=x.shape)
    mm[:] = x
    res = geomedian.solve(mm, p=1.5, nan_policy="omit", backend=backend)
    keep = ~np.isnan(x).any(axis=1)
    ref = geomedian.solve(x[keep], p=1.5, backend=backend)
    np.testing.assert_allclose(res.median, ref.median, rtol=1e-9)
    assert res.converged


@pytest.mark.parametrize("p", P_SMOOTH)
def test_one_dask_problem(backend, rng, p):
    da = pytest.importorskip("dask.array")
    x = skewed(rng, n=5000)
    w = rng.uniform(0.2, 3.0, len(x))
    for weights in (None, w):
        res = geomedian.solve(da.from_array(x, chunks=(700, 3)), weights, p=p, backend=backend)
        ref = geomedian.solve(x, weights, p=p, backend=backend)
        assert_certified_like(res, ref, x, weights, p)
        assert res.n_passes > 1


def test_one_dask_problem_float32_and_init(backend, rng):
    da = pytest.importorskip("dask.array")
    x = skewed(rng, n=4000, dtype=np.float32)
    y0 = np.array([5.0, -3.0, 1.0])
    res = geomedian.solve(da.from_array(x, chunks=(1000, 3)), p=3, init=y0, backend=backend)
    ref = geomedian.solve(x, p=3, backend=backend)
    assert res.median.dtype == np.float32
    assert res.converged
    assert res.lower_bound <= ref.objective * (1 + 1e-6)
    np.testing.assert_allclose(res.median, ref.median, rtol=1e-5, atol=1e-5)


def test_one_dask_problem_refuses_nonfinite_points(backend, rng):
    # p = 1 and inf on one Dask problem: tests/test_lp_dask.py.
    da = pytest.importorskip("dask.array")
    x = skewed(rng, n=200)
    for row in (np.array([np.nan, 1.0, 2.0]), np.full(3, np.nan), np.array([0, np.inf, 0])):
        x[17] = row
        with pytest.raises(ValueError, match="NaN or inf"):
            geomedian.solve(da.from_array(x, chunks=(50, 3)), p=1.5, backend=backend)


@pytest.mark.parametrize("p", [1.5, 2.5])
def test_unit_weights_are_not_read(backend, rng, p):
    # Unit weights: the kernels are given none, and every sum has the same bits.
    from geomedian._kernels import kernels
    from geomedian._lp.newton import Points, evaluate

    x = skewed(rng, n=1000)[None]
    y = np.median(x[0], axis=0)[None] + 0.01
    w = np.ones((1, 1000))
    rows = np.array([0])
    k = kernels(backend)
    unread = evaluate(Points(x, w, k, 1, unit=True), rows, y, p)
    read = evaluate(Points(x, w, k, 1), rows, y, p)
    for a, b in zip(unread, read):
        np.testing.assert_array_equal(a, b)
    res = geomedian.solve(x[0], p=p, backend=backend)
    ones = geomedian.solve(x[0], np.ones(1000), p=p, init=res.median, backend=backend)
    again = geomedian.solve(x[0], p=p, init=res.median, backend=backend)
    np.testing.assert_array_equal(ones.median, again.median)
    assert ones.objective == again.objective and ones.lower_bound == again.lower_bound


@pytest.mark.parametrize("p", [1.5, 3.0, 10.0])
def test_large_problems_start_from_a_sample_median(backend, rng, p):
    # A sample's Lp median is a closer start than its coordinate-wise median (all the
    # points' f is lower there), and the solve from it is certified as any other.
    from geomedian._kernels import kernels
    from geomedian._lp.newton import Points
    from geomedian._paths import lp

    cost = 1 if p in (1.5, 3.0) else lp.POW_PASS_COST
    n = max(lp.SAMPLE_FRACTION * lp.START_ROWS, -(-lp.SAMPLE_WORK // (3 * cost)))
    x = skewed(rng, n=n)
    sample = x[:: n // lp.START_ROWS]
    start = np.median(sample, axis=0)[None]
    pts = Points(x[None], np.ones((1, n)), kernels(backend), 1, unit=True)
    y = lp._sample_median(pts, start, p)
    assert reference.lp_objective(y[0], x, None, p) < reference.lp_objective(start[0], x, None, p)
    small = pts._replace(x=x[None, :32767], w=np.ones((1, 32767)))  # few rows, or cheap
    np.testing.assert_array_equal(lp._sample_median(small, start, p), start)
    res = geomedian.solve(x, p=p, backend=backend)
    ref = geomedian.solve(x, p=p, init=start[0], backend=backend)
    assert_certified_like(res, ref, x, None, p)


@pytest.mark.parametrize("policy", ["raise", "omit", "propagate"])
def test_nonfinite_points_found_by_the_scan(backend, rng, policy):
    # The scan looks at each problem's extremes first: NaN and inf show there.
    x = skewed(rng, n=50)
    x[7, 1] = np.inf
    with pytest.raises(ValueError, match="got inf at row 7, column 1"):
        geomedian.solve(x, p=1.5, nan_policy=policy, backend=backend)
    x[7, 1] = np.nan
    if policy == "raise":
        with pytest.raises(ValueError, match="points contain NaN"):
            geomedian.solve(x, p=1.5, nan_policy=policy, backend=backend)
    else:
        res = geomedian.solve(x, p=1.5, nan_policy=policy, backend=backend)
        assert np.isnan(res.median).all() == (policy == "propagate")
    big = x.copy()
    big[7] = 1.0
    big[3] = -(2.0**600)  # the largest |x_ij| from the least value: solved scaled
    res = geomedian.solve(big, p=1.5, backend=backend)
    assert res.converged and np.isfinite(res.objective)
