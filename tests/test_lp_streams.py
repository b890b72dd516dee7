"""Lp medians (``p=``) by ``method="sgd"``: certified against the in-memory Lp solve."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import geomedian

P_VALUES = [1, 1.5, 3, np.inf]
N = 1500  # above SGD's first sample, so SGD itself runs


def data(rng, n=N, d=3):
    return rng.standard_exponential((n, d)) * [1.0, 3.0, 0.5][:d]


def check_against_exact(r, exact, tol):
    """The SGD answer is certified: a true lower bound, converged only within tol."""
    f_star = exact.objective * (1 - exact.gap)  # the exact solve's own bound on f*
    assert r.lower_bound <= exact.objective * (1 + 1e-12)
    assert r.objective >= f_star * (1 - 1e-12)
    assert r.objective - exact.objective <= r.gap * r.objective + exact.gap * exact.objective
    assert r.converged == (r.gap <= tol)


@pytest.mark.parametrize("p", P_VALUES)
def test_sgd_lp_within_its_gap_of_the_exact_solve(backend, rng, p):
    x = data(rng)
    exact = geomedian.solve(x, p=p, tol=1e-9, backend=backend)
    r = geomedian.solve(
        x, p=p, method="sgd", tol=1e-2, random_state=1, max_iter=40, backend=backend
    )
    assert r.converged
    check_against_exact(r, exact, 1e-2)
    assert r.n_iter >= 1 and r.method == "sgd"


@pytest.mark.parametrize("p", [1, 3, np.inf])
def test_sgd_lp_weights_and_float32(backend, rng, p):
    x = data(rng).astype(np.float32)
    w = rng.uniform(0.1, 2.0, size=N)
    exact = geomedian.solve(x, weights=w, p=p, tol=1e-6, backend=backend)
    r = geomedian.solve(
        x, weights=w, p=p, method="sgd", tol=1e-2, random_state=2, max_iter=40, backend=backend
    )
    assert r.median.dtype == np.float32
    check_against_exact(r, exact, 1e-2)
    # Weights matter: integer weights agree with repeating the rows.
    wi = rng.integers(1, 3, size=N)
    a = geomedian.solve(x, weights=wi, p=p, tol=1e-6, backend=backend)
    s = geomedian.solve(
        x, weights=wi, p=p, method="sgd", tol=1e-2, random_state=3, max_iter=40, backend=backend
    )
    check_against_exact(s, a, 1e-2)
    # Huge weights (scaled by a power of two inside) and a start point.
    h = geomedian.solve(
        x,
        weights=w * 2.0**600,
        p=p,
        method="sgd",
        tol=1e-2,
        random_state=2,
        max_iter=40,
        init=exact.median,
        backend=backend,
    )
    assert np.isfinite(h.lower_bound) and h.converged
    assert h.lower_bound <= exact.objective * 2.0**600 * (1 + 1e-9)


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("magnitude", [1e10, 1e300])
def test_sgd_lp_beside_far_rows(backend, rng, p, magnitude):
    # 0.5 % of the rows far off: the step's scale was the mean distance of the sample,
    # theirs, and p = 1.5 at 1e10 wandered hundreds of spreads away for 1,000 epochs. Now
    # the scale is the near rows' (as for p = 2), and the far rows' magnitude changes
    # nothing.
    x = data(rng, n=6000)
    k = x.shape[0] // 200
    x[:k] = magnitude * np.where(rng.random((k, 3)) < 0.5, -1.0, 1.0)
    r = geomedian.solve(x, p=p, method="sgd", backend=backend)
    assert r.converged, r
    check_against_exact(r, geomedian.solve(x, p=p, backend=backend), 1e-3)


@pytest.mark.parametrize("p", P_VALUES)
def test_sgd_lp_rows_near_float64_max_as_the_exact_solver(backend, rng, p):
    # Beside rows near float64's largest value SGD warned of overflow and returned NaN gaps:
    # now the points are scaled as by the exact solver, and raise where it does.
    x = data(rng, n=6000)
    x[:150] = 1e306
    try:
        exact = geomedian.solve(x, p=p, backend=backend)
    except ValueError as e:
        assert "2**880" in str(e)
        with pytest.raises(ValueError, match=r"2\*\*880"):
            geomedian.solve(x, p=p, method="sgd", backend=backend)
        return
    r = geomedian.solve(x, p=p, method="sgd", backend=backend)
    assert r.converged, r
    check_against_exact(r, exact, 1e-3)


def test_sgd_lp_max_iter_is_not_converged(backend, rng):
    x = data(rng)
    r = geomedian.solve(x, p=1.5, method="sgd", tol=1e-9, max_iter=1, random_state=0)
    assert not r.converged and r.gap > 1e-9 and r.n_iter == 1
    exact = geomedian.solve(x, p=1.5, tol=1e-9, backend=backend)
    assert r.lower_bound <= exact.objective


def test_sgd_lp_nan_policy(backend, rng):
    x = data(rng)
    x[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        geomedian.solve(x, p=3, method="sgd", backend=backend)
    with pytest.raises(ValueError, match="omit"):
        geomedian.solve(x, p=3, method="sgd", nan_policy="omit", backend=backend)
    r = geomedian.solve(x, p=3, method="sgd", nan_policy="propagate", backend=backend)
    assert np.isnan(r.median).all() and not r.converged


def test_sgd_lp_batch_and_bad_p(backend, rng):
    x = np.stack([data(rng), data(rng) + 5])
    r = geomedian.solve(x, p=3, method="sgd", tol=1e-2, random_state=0, backend=backend)
    for k in range(2):
        rk = SimpleNamespace(
            **{a: getattr(r, a)[k] for a in ("objective", "lower_bound", "gap", "converged")}
        )
        check_against_exact(rk, geomedian.solve(x[k], p=3, tol=1e-9), 1e-2)
    with pytest.raises(ValueError, match="p must be >= 1"):
        geomedian.solve(x, p=0.5, method="sgd", backend=backend)


def online(x, p, backend, chunks=5, w=None, **kw):
    est = geomedian.OnlineGeometricMedian(p=p, backend=backend, **kw)
    parts = np.array_split(np.arange(x.shape[0]), chunks)
    for rows in parts:
        est.partial_fit(x[rows], sample_weight=None if w is None else w[rows])
    return est


@pytest.mark.parametrize("p", P_VALUES)
def test_online_lp_estimate_near_the_exact_median(backend, rng, p):
    x = data(rng, n=8000)
    est = online(x, p, backend)
    exact = geomedian.solve(x, p=p, tol=1e-9, backend=backend)
    f = geomedian.objective(est.median_, x, p=p, backend=backend)
    assert exact.objective * (1 - 1e-9) <= f <= exact.objective * (1 + 1e-3)
    # The p = 2 estimate is a different point, and worse for f_p.
    f2 = geomedian.objective(online(x, 2, backend).median_, x, p=p, backend=backend)
    assert f < f2
    # The rows and their order fix the estimate, not the chunks.
    np.testing.assert_allclose(online(x, p, backend, chunks=3).median_, est.median_, rtol=1e-12)


@pytest.mark.parametrize("p", [1, np.inf])
def test_online_lp_weights_and_float32(backend, rng, p):
    x = data(rng, n=8000).astype(np.float32)
    w = rng.uniform(0.1, 2.0, size=x.shape[0])
    est = online(x, p, backend, w=w)
    exact = geomedian.solve(x, weights=w, p=p, tol=1e-7, backend=backend)
    f = geomedian.objective(est.median_, x, weights=w, p=p, backend=backend)
    assert f <= exact.objective * (1 + 1e-3)
    assert f >= exact.lower_bound * (1 - 1e-9)


def test_online_lp_set_params_applies_from_the_next_chunk(backend, rng):
    x = data(rng, n=4000)
    est = online(x, 2, backend, chunks=2)
    before = est.median_.copy()
    est.set_params(p=1).partial_fit(x[:16])  # one minibatch, now with the signs
    assert est.get_params()["p"] == 1 and not np.array_equal(est.median_, before)
    with pytest.raises(ValueError, match="p must be >= 1"):
        est.set_params(p=0.5).partial_fit(x[:16])


def test_sgd_gap_speaks_for_the_cloud(backend):
    # One point at 1e200: the gap is relative to the near points' spread (scale ~1-3
    # here), as for the exact solver, not to f ~1e200, where any point of the cloud passes.
    rng = np.random.default_rng(7)
    x = np.vstack([rng.normal(size=(3000, 3)), [[1e200, -1e200, 0.0]]])
    res = geomedian.solve(x, p=1.5, method="sgd", backend=backend, random_state=0)
    exact = geomedian.solve(x, p=1.5, backend=backend)
    assert 1.0 < res.scale < 3.0
    assert res.lower_bound <= exact.objective * (1 + 1e-12)
    if res.converged:
        assert np.max(np.abs(res.median - exact.median)) < 0.1
