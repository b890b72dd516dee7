"""``p = 1`` and ``p = inf`` on one Dask problem ``(n, d)``, against the in-memory solve.

``p = 1`` is the in-memory median bit for bit (equal or integer weights: exact sums; other
weights: the same point unless a weight sum rounds across ``W / 2``), found by counting
passes; the constants are shrunk here so that small data take several of them. ``p = inf``
runs the in-memory trust-region rounds with passes over the chunks (``EXPLICIT_POINTS``
shrunk so that small data take several rounds); its medians need not be unique, so the
objectives and certificates are compared.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference

import geomedian
import geomedian._lp.chebyshev as chebyshev
import geomedian._paths.dask_coordinate_median as dcm

da = pytest.importorskip("dask.array")


def skewed(rng, n, d=3, dtype=np.float64):
    return (rng.standard_exponential((n, d)) * np.arange(1, d + 1)).astype(dtype)


def weights_of(kind, rng, n):
    if kind == "none":
        return None
    if kind == "integer":  # with zeros: left out, as in memory
        w = rng.integers(0, 4, n).astype(np.float64)
        w[0] = 1.0
        return w
    return rng.uniform(0.1, 3.0, n)


@pytest.fixture
def small_passes(monkeypatch):
    """Few values per pass: a handful of rows take the counting passes."""
    monkeypatch.setattr(dcm, "GATHER_VALUES", 6)
    monkeypatch.setattr(dcm, "SAMPLE_VALUES", 10)
    monkeypatch.setattr(dcm, "QUANTILE_PIVOTS", 3)
    monkeypatch.setattr(dcm, "EVEN_PARTS", 4)


def assert_p1_like(res, ref, x, w):
    np.testing.assert_array_equal(res.median, ref.median)
    assert res.median.dtype == ref.median.dtype
    assert res.converged and res.method == "lp"
    if w is None or (w == np.round(w)).all():
        assert res.gap == ref.gap == 0.0  # proven optimal: exact weight sums
    else:  # the same bound, but for the sums' rounding
        np.testing.assert_allclose(res.gap, ref.gap, rtol=1e-6, atol=1e-15)
    f = reference.lp_objective(res.median, x, w, 1.0)
    np.testing.assert_allclose(res.objective, f, rtol=1e-12)
    assert res.lower_bound <= f * (1 + 1e-12)


@pytest.mark.parametrize("wkind", ["none", "integer", "float"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_p1_equals_in_memory(backend, rng, wkind, dtype):
    x = skewed(rng, 3000, dtype=dtype)
    x[::5, 1] = np.round(x[::5, 1])  # ties
    w = weights_of(wkind, rng, len(x))
    ref = geomedian.solve(x, w, p=1, backend=backend)
    for rows in (3000, 700, 128):
        res = geomedian.solve(da.from_array(x, chunks=(rows, 3)), w, p=1, backend=backend)
        assert_p1_like(res, ref, x, w)


@pytest.mark.parametrize("wkind", ["none", "integer", "float"])
def test_p1_counting_passes(backend, rng, small_passes, wkind):
    # Integer values: heavy ties (found as pivots); a spread beyond 2**500: scaled as in memory.
    cases = [skewed(rng, 101), np.floor(skewed(rng, 100)), skewed(rng, 90) * 1e305]
    for x in cases:
        w = weights_of(wkind, rng, len(x))
        ref = geomedian.solve(x, w, p=1, backend=backend)
        for rows in (1, 7, len(x)):
            res = geomedian.solve(da.from_array(x, chunks=(rows, 3)), w, p=1, backend=backend)
            assert_p1_like(res, ref, x, w)
            assert res.n_passes >= 3  # a counting pass ran (gathered at once: 2 passes)


def test_p1_even_count_and_one_dimension(backend):
    x = np.array([[1.0, 5.0], [4.0, 2.0], [2.0, 2.0], [3.0, 9.0]])
    res = geomedian.solve(da.from_array(x, chunks=(1, 2)), p=1, backend=backend)
    np.testing.assert_array_equal(res.median, np.median(x, axis=0))  # midpoints: 2.5, 3.5
    assert res.gap == 0.0
    # Exactly half the weight at or below 2: the midpoint with the next value of positive
    # weight (4; 3 has weight zero).
    w = np.array([1.0, 2.0, 1.0, 0.0])
    res = geomedian.solve(da.from_array(x, chunks=(2, 2)), w, p=1, backend=backend)
    np.testing.assert_array_equal(res.median, geomedian.solve(x, w, p=1).median)
    assert res.median[0] == 3.0
    # One coordinate: every p is the median, exact.
    for p in (1.5, np.inf):
        res = geomedian.solve(da.from_array(x[:, :1], chunks=(3, 1)), p=p, backend=backend)
        assert res.median[0] == 2.5 and res.gap == 0.0


def assert_inf_like(res, ref, x, w, dtype):
    tol = 1e-10 if dtype == np.float64 else 1e-6
    assert res.converged and res.gap <= tol
    assert res.median.dtype == dtype
    f = reference.lp_objective(res.median, x, w, np.inf)
    np.testing.assert_allclose(res.objective, f, rtol=1e-12)
    # Both certified: each lower bound is below the other's objective.
    assert res.lower_bound <= ref.objective * (1 + 1e-12)
    assert ref.lower_bound <= res.objective * (1 + 1e-12)
    assert abs(res.objective - ref.objective) <= 2 * tol * ref.objective


@pytest.mark.parametrize("wkind", ["none", "float"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pinf_equals_in_memory(backend, rng, wkind, dtype):
    x = skewed(rng, 2000, dtype=dtype)
    w = weights_of(wkind, rng, len(x))
    ref = geomedian.solve(x, w, p=np.inf, backend=backend)
    for rows in (2000, 300):
        res = geomedian.solve(da.from_array(x, chunks=(rows, 3)), w, p=np.inf, backend=backend)
        assert_inf_like(res, ref, x, w, dtype)
        assert res.n_passes > 3


@pytest.mark.parametrize("wkind", ["none", "integer"])
def test_pinf_several_rounds(backend, rng, monkeypatch, wkind):
    # Few explicit points per program, from a far start: several trust-region rounds.
    monkeypatch.setattr(chebyshev, "EXPLICIT_POINTS", 12)
    x = skewed(rng, 80)
    w = weights_of(wkind, rng, len(x))
    y0 = np.array([5.0, -3.0, 1.0])
    ref = geomedian.solve(x, w, p=np.inf, backend=backend)
    for rows in (1, 13):
        res = geomedian.solve(da.from_array(x, chunks=(rows, 3)), w, p=np.inf, init=y0,
                              backend=backend)  # fmt: skip
        assert_inf_like(res, ref, x, w, np.float64)
        assert res.n_iter > 1


def test_pinf_max_iter_and_stall(backend, rng, monkeypatch):
    # max_iter counts the programs, as in memory. On a lattice with inexact weights more
    # points tie than a program takes (2k), or the ties enter a program, or the rounds
    # stop as stalled: the same, round for round, as in memory.
    monkeypatch.setattr(chebyshev, "EXPLICIT_POINTS", 12)
    x = skewed(rng, 80)
    y0 = np.array([5.0, -3.0, 1.0])
    ref = geomedian.solve(x, p=np.inf, init=y0, backend=backend, max_iter=2)
    res = geomedian.solve(da.from_array(x, chunks=(13, 3)), p=np.inf, init=y0,
                          backend=backend, max_iter=2)  # fmt: skip
    assert res.n_iter == ref.n_iter == 2 and res.status == ref.status == 1
    assert res.lower_bound <= reference.lp_program(x, None, np.inf)[1] * (1 + 1e-12)
    monkeypatch.setattr(chebyshev, "EXPLICIT_POINTS", 24)
    x = rng.integers(0, 3, size=(300, 2)).astype(float)
    w = rng.uniform(0.5, 1.5, 300)
    fstar = reference.lp_program(x, w, np.inf)[1]
    for init in (None, [1.0, 1.0], [0.5, 0.5], [0.25, 1.5]):
        ref = geomedian.solve(x, w, p=np.inf, init=init, backend=backend)
        res = geomedian.solve(da.from_array(x, chunks=(40, 2)), w, p=np.inf, init=init,
                              backend=backend)  # fmt: skip
        assert (res.status, res.n_iter) == (ref.status, ref.n_iter) and res.n_iter <= 8
        assert res.status in (0, 2) and res.gap == pytest.approx(ref.gap, rel=1e-9)
        assert res.lower_bound <= fstar * (1 + 1e-12) and ref.lower_bound <= fstar * (1 + 1e-12)


def test_pinf_few_rows_solved_in_memory(backend, rng):
    x = skewed(rng, 40)
    w = weights_of("float", rng, len(x))
    y0 = np.array([1.0, 2.0, 3.0])
    for weights, init in ((None, None), (w, y0)):
        ref = geomedian.solve(x, weights, p=np.inf, init=init, backend=backend)
        res = geomedian.solve(da.from_array(x, chunks=(1, 3)), weights, p=np.inf, init=init,
                              backend=backend)  # fmt: skip
        np.testing.assert_array_equal(res.median, ref.median)
        assert res.gap == ref.gap and res.converged


def test_pinf_init(backend, rng):
    x = skewed(rng, 1500)
    ref = geomedian.solve(x, p=np.inf, backend=backend)
    res = geomedian.solve(da.from_array(x, chunks=(500, 3)), p=np.inf, init=[5.0, -3.0, 1.0],
                          backend=backend)  # fmt: skip
    assert_inf_like(res, ref, x, None, np.float64)


def test_distributed_client(dask_client, backend, rng):
    x = skewed(rng, 1500)
    w = weights_of("integer", rng, len(x))
    dx = da.from_array(x, chunks=(400, 3))
    assert_p1_like(geomedian.solve(dx, w, p=1, backend=backend),
                   geomedian.solve(x, w, p=1, backend=backend), x, w)  # fmt: skip
    assert_inf_like(geomedian.solve(dx, w, p=np.inf, backend=backend),
                    geomedian.solve(x, w, p=np.inf, backend=backend), x, w, np.float64)  # fmt: skip


@pytest.mark.parametrize("p", [1.0, np.inf])
def test_refusals_that_remain(backend, rng, p):
    x = skewed(rng, 1100)
    w = weights_of("integer", rng, len(x))
    w_before = w.copy()
    dx = da.from_array(x, chunks=(300, 3))
    with pytest.raises(ValueError, match="nan_policy='raise' only"):
        geomedian.solve(dx, p=p, nan_policy="omit", backend=backend)
    with pytest.raises(ValueError, match="not available for Dask"):
        geomedian.solve(dx, p=p, method="sgd", backend=backend)
    # A NaN or an inf anywhere, even in a row of weight zero: as in memory.
    for row, weight in ((np.array([np.nan, 1.0, 2.0]), 1.0), (np.array([0, np.inf, 0]), 0.0)):
        bad, wb = x.copy(), w.copy()
        bad[700], wb[700] = row, weight
        with pytest.raises(ValueError, match="NaN or inf"):
            geomedian.solve(da.from_array(bad, chunks=(300, 3)), wb, p=p, backend=backend)
        with pytest.raises(ValueError, match=r"NaN|finite"):  # in memory too
            geomedian.solve(bad, wb, p=p, backend=backend)
    np.testing.assert_array_equal(w, w_before)


def test_retry_after_an_error_on_a_client(dask_client, backend, rng):
    # Equal weight pieces in two solves: each scatters its own (a hashed key was released
    # with the first solve's points, and the retry's tasks lost their weights).
    x = skewed(rng, 900)
    w = weights_of("integer", rng, len(x))
    bad = x.copy()
    bad[100, 2] = np.inf
    for p in (1.5, 1.0):
        with pytest.raises(ValueError, match="NaN or inf"):
            geomedian.solve(da.from_array(bad, chunks=(300, 3)), w, p=p, backend=backend)
        res = geomedian.solve(da.from_array(x, chunks=(300, 3)), w, p=p, backend=backend)
        assert res.converged


def test_pinf_ties_at_the_radius(backend, rng, monkeypatch):
    # Most points' two largest |y_j - x_ij| equal at the start: more of them than a chunk
    # sends have margin 0 = rho, and all come to the driver's program, as in memory (in a
    # box up to the nearest other switch: the same outcome, round for round).
    import geomedian._paths.dask_chebyshev as dask_chebyshev

    monkeypatch.setattr(chebyshev, "EXPLICIT_POINTS", 16)
    sizes = []

    def program(x, *args):
        sizes.append(x.shape[1])
        return chebyshev.explicit_program(x, *args)

    monkeypatch.setattr(dask_chebyshev, "explicit_program", program)
    a = rng.uniform(1, 3, 30) * rng.choice([-1, 1], 30)
    x = np.stack([a, a * rng.choice([-1, 1], 30), rng.uniform(-0.5, 0.5, 30)], axis=1)
    x = np.concatenate([x, rng.normal(size=(40, 3))])
    ref = geomedian.solve(x, p=np.inf, init=np.zeros(3), backend=backend)
    res = geomedian.solve(da.from_array(x, chunks=(20, 3)), p=np.inf, init=np.zeros(3),
                          backend=backend)  # fmt: skip
    assert sizes[0] == 30  # every tied point, though each chunk sends its 17 smallest
    np.testing.assert_array_equal(res.median, ref.median)
    assert (res.status, res.n_iter) == (ref.status, ref.n_iter)
    np.testing.assert_allclose([res.objective, res.gap], [ref.objective, ref.gap], rtol=1e-12)
    # The programs' answers, rounded, break the ties they were at: y creeps along the
    # switch, and the rounds stop as stalled (y stops moving, or 64 rounds in a row gain nothing).
    assert res.converged or (res.status == 2 and res.n_iter <= 200)
    assert res.lower_bound <= reference.lp_program(x, None, np.inf)[1] * (1 + 1e-12)


def _outcome(points, **kw):
    """The result of ``geomedian.solve``, or the message of its ``ValueError``."""
    try:
        return geomedian.solve(points, **kw)
    except ValueError as e:
        return str(e)


@pytest.mark.parametrize("p", [1, 1.5, 3, 10, np.inf])
@pytest.mark.parametrize(("magnitude", "rows"), [(1e306, 1), (1e306, 150), (1.7e308, 1)])
def test_rows_near_float64_max_as_in_memory(backend, rng, p, magnitude, rows):
    # Finite rows near float64's largest value beside a cloud at 1, as one Dask problem.
    # p = 1 warned of overflow scaling the objective back; 1 < p < inf, in the caller's
    # units, overflowed its sums and called the points not finite; p = inf's start
    # (Newton at p = 16) warned of overflow, and its bound was inf. Now every p is scaled
    # as in memory: the in-memory error (finite points beyond float64's reach), or an
    # answer within the cloud whose status is the in-memory one for 1 <= p < inf.
    x = rng.random((3000, 3)) * 0.3 + [1.0, 2.0, 3.0]
    x[:rows] = magnitude * np.where(rng.random((rows, 3)) < 0.5, -1.0, 1.0)
    mem = _outcome(x, p=p, backend=backend)
    res = _outcome(da.from_array(x, chunks=(700, 3)), p=p, backend=backend)
    if isinstance(mem, str) or isinstance(res, str):
        assert res == mem and "2**880" in res
        return
    assert np.all((res.median >= [1.0, 2.0, 3.0]) & (res.median <= [1.3, 2.3, 3.3])), res
    assert np.isfinite([res.objective, res.lower_bound, res.gap]).all(), res
    assert res.converged == (res.gap <= 1e-10), res
    if p != np.inf:  # its rounds and stalls are the Dask path's own
        assert res.converged == mem.converged, (res, mem)
        np.testing.assert_allclose(res.median, mem.median, rtol=1e-12)


def test_nan_still_refused_as_not_finite(backend, rng):
    x = rng.random((3000, 3))
    x[1234, 1] = np.nan
    for p in (1.5, np.inf):
        with pytest.raises(ValueError, match="must be finite: the Dask array holds NaN"):
            geomedian.solve(da.from_array(x, chunks=(700, 3)), p=p, backend=backend)
