"""The iterative methods of ``1 < p < inf``: Newton, the Lp Weiszfeld step (IRLS) and
gradient descent, each safeguarded by the same line search and certified alike."""

from __future__ import annotations

import numpy as np
import pytest
import reference

import geomedian

METHODS = ["newton", "weiszfeld", "gd"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("p", [1.2, 1.5, 3.0, 6.0])
def test_every_method_certifies_the_same_median(backend, rng, method, p):
    x = rng.standard_exponential((400, 3)) * [1.0, 2.0, 3.0]
    w = rng.uniform(0.5, 2.0, len(x))
    ref = geomedian.solve(x, w, p=p, backend=backend)
    res = geomedian.solve(x, w, p=p, method=method, max_iter=5000, backend=backend)
    assert res.method == method and ref.method == "newton"
    # Near p = 1 optima sit where coordinates meet data (as at p = 1): plain gradient steps
    # creep there and may stop at float64's resolution, and say so.
    assert res.converged or (method == "gd" and p < 1.5 and "resolution" in res.message), res
    f = reference.lp_objective(res.median, x, w, p)
    np.testing.assert_allclose(res.objective, f, rtol=1e-12)
    # Both bounds hold for the other's objective: the two are within their gaps.
    assert res.lower_bound <= ref.objective * (1 + 1e-12)
    assert ref.lower_bound <= res.objective * (1 + 1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_methods_on_a_batch(backend, rng, method):
    x = rng.normal(size=(5, 30, 4))
    res = geomedian.solve(x, p=1.5, method=method, max_iter=5000, backend=backend)
    ref = geomedian.solve(x, p=1.5, backend=backend)
    assert res.converged.all()
    assert (res.lower_bound <= ref.objective * (1 + 1e-12)).all()
    assert (ref.lower_bound <= res.objective * (1 + 1e-12)).all()


def test_irls_is_weiszfeld_at_a_point(backend, rng):
    # One unsafeguarded IRLS step from y is sum_i c_ij x_ij / sum_i c_ij: check it against
    # the reweighted mean computed here.
    from geomedian._kernels import kernels
    from geomedian._lp.newton import Points, _direction, evaluate

    x = rng.normal(size=(50, 3))
    y = np.array([[0.1, 0.2, -0.3]])
    p = 3.0
    state = evaluate(Points(x[None], np.ones((1, 50)), kernels(backend), 1), np.array([0]), y, p)
    z = y[0] - x
    N = np.sum(np.abs(z) ** p, axis=1) ** (1 / p)
    c = np.abs(z) ** (p - 2) / N[:, None] ** (p - 1)
    want = np.sum(c * x, axis=0) / np.sum(c, axis=0)
    np.testing.assert_allclose(y[0] + _direction(state, p, 1e-10, "weiszfeld")[0], want, rtol=1e-12)


@pytest.mark.parametrize("p", [1.05, 1.5, 2.0, 3.0, 10.0])
def test_steepest_descent_of_the_p_norm(rng, p):
    # From a data point the step is -D(g): g . D(g) = ||g||_q^2 = ||D(g)||_p^2, the
    # steepest descent of the p-norm (D(g) = g at p = 2), at any scale of g.
    from geomedian._lp.newton import _dual_map

    q = p / (p - 1.0)
    for scale in (1e-300, 1.0, 1e300):
        g = rng.normal(size=(4, 3)) * scale
        D = _dual_map(g, p)
        gq = np.sum(np.abs(g / scale) ** q, axis=1) ** (1 / q)
        np.testing.assert_allclose(np.sum((g / scale) * (D / scale), axis=1), gq**2, rtol=1e-12)
        Dp = np.sum(np.abs(D / scale) ** p, axis=1) ** (1 / p)
        np.testing.assert_allclose(Dp, gq, rtol=1e-12)
        if p == 2.0:
            np.testing.assert_allclose(D, g, rtol=1e-15)
    assert (_dual_map(np.zeros((1, 3)), p) == 0).all()
