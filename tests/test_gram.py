"""The Gram-space path (n << d): the same optimum as the direct solver, in 3 passes, certified."""

from __future__ import annotations

import numpy as np
import pytest
import reference

import geomedian
from geomedian._paths import gram


def _same_optimum(a, b, x, w=None):
    """Both answers are within their certified gaps of one optimum."""
    W = x.shape[0] if w is None else float(np.sum(w))
    slack = a.gap * W * a.scale + b.gap * W * b.scale + 1e-12 * a.objective
    fa = reference.objective(a.median, x, w)
    fb = reference.objective(b.median, x, w)
    assert abs(fa - fb) <= slack, (fa, fb, slack)
    assert a.lower_bound <= fb * (1 + 1e-12) and b.lower_bound <= fa * (1 + 1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_direct_solver(backend, rng, dtype):
    x = (rng.standard_normal((12, 4000)) + 5.0).astype(dtype)
    w = rng.uniform(0.5, 2.0, 12)
    res = geomedian.solve(x, w, method="gram", backend=backend)
    assert res.method == "gram" and res.converged and res.n_passes == 3
    assert res.median.dtype == dtype
    direct = geomedian.solve(x, w, method="newton", backend=backend)
    _same_optimum(res, direct, x, w)


def test_auto_takes_it_where_it_wins(backend, rng):
    x = rng.standard_normal((4, 1 << 18)).astype(np.float32)
    assert gram.gram_wins(4, 1 << 18) and not gram.gram_wins(65, 1 << 18)
    res = geomedian.solve(x, backend=backend)
    assert res.method == "gram" and res.n_passes == 3 and res.converged
    small = geomedian.solve(x[:, :5000], backend=backend)  # too few coordinates: direct
    assert small.method == "newton"
    assert geomedian.solve(x, init=x[0], backend=backend).method == "newton"


@pytest.mark.parametrize("n", [1, 2])
def test_one_and_two_points(backend, rng, n):
    x = rng.standard_normal((n, 300))
    res = geomedian.solve(x, method="gram", backend=backend)
    assert res.converged
    if n == 1:
        np.testing.assert_array_equal(res.median, x[0])
        assert res.objective == 0.0
    else:  # any point of the segment is optimal: f = ||x_0 - x_1||
        assert res.objective == pytest.approx(np.linalg.norm(x[0] - x[1]), rel=1e-12)


def test_duplicates_and_a_vertex_optimum(backend, rng):
    x = rng.standard_normal((6, 500))
    dup = np.concatenate([x, x, x[:1].repeat(10, axis=0)])  # x_0: most of the weight
    res = geomedian.solve(dup, method="gram", backend=backend)
    assert res.converged
    np.testing.assert_array_equal(res.median, x[0])  # the data point itself, bit for bit
    same = geomedian.solve(np.repeat(x[:1], 4, axis=0), method="gram", backend=backend)
    np.testing.assert_array_equal(same.median, x[0])
    assert same.objective == 0.0 and same.converged


def test_points_close_compared_with_their_norms(backend, rng):
    x = 1e6 + 1e-3 * rng.standard_normal((10, 3000))
    res = geomedian.solve(x, method="gram", backend=backend, tol=1e-10)
    assert res.method == "gram" and res.converged
    _same_optimum(res, geomedian.solve(x, method="newton", backend=backend), x)


def test_far_outliers(backend, rng):
    inliers = rng.standard_normal((16, 2000))
    x = np.concatenate([inliers, 1e9 * rng.standard_normal((4, 2000))])
    res = geomedian.solve(x, method="gram", backend=backend)
    assert res.converged and res.method == "gram"
    assert np.linalg.norm(res.median - np.median(inliers, axis=0)) < 0.5 * np.sqrt(2000)
    _same_optimum(res, geomedian.solve(x, method="newton", backend=backend), x)


def test_failed_certificate_goes_on_with_the_direct_solver(backend, rng, monkeypatch):
    x = rng.standard_normal((10, 3000))
    x[0] += 50.0  # the mean, forced below, is then far from the median
    monkeypatch.setattr(gram, "coefficients", lambda P, z, w: np.full(P.shape[0], 0.1))
    res = geomedian.solve(x, method="gram", backend=backend)
    assert res.converged and res.method == "newton" and res.n_passes > 3
    _same_optimum(res, geomedian.solve(x, method="newton", backend=backend), x)


def test_nan_and_input_untouched(backend, rng):
    x = rng.standard_normal((6, 4000))
    x[3, 17] = np.nan
    before = x.copy()
    with pytest.raises(ValueError, match="row 3, column 17"):
        geomedian.solve(x, method="gram", backend=backend)
    res = geomedian.solve(x, method="gram", nan_policy="omit", backend=backend)
    assert res.converged
    _same_optimum(res, geomedian.solve(np.delete(x, 3, axis=0), backend=backend),
                  np.delete(x, 3, axis=0))  # fmt: skip
    np.testing.assert_array_equal(x, before)


def test_refused(backend, rng):
    x = rng.standard_normal((3, 5, 100))
    with pytest.raises(ValueError, match="method='gram' solves one problem"):
        geomedian.solve(x, method="gram", backend=backend)
    with pytest.raises(ValueError, match="init is not used"):
        geomedian.solve(x[0], method="gram", init=x[0, 0], backend=backend)
    with pytest.raises(ValueError, match="batch_size applies to method='sgd'"):
        geomedian.solve(x[0], method="gram", batch_size=4, backend=backend)


def test_embedding_keeps_each_rows_digits(rng):
    tight = 1e-8 * rng.standard_normal((5, 40))
    X = np.concatenate([tight, 1e8 * rng.standard_normal((2, 40))])
    G = X @ X.T
    P = gram.embedding(G)
    D_true = np.linalg.norm(tight[:, None] - tight[None], axis=2)
    D_emb = np.linalg.norm(P[:5, None] - P[None, :5], axis=2)
    np.testing.assert_allclose(D_emb, D_true, rtol=1e-6, atol=1e-20)


def test_coefficients_are_convex_and_take_a_vertex(rng):
    P = rng.standard_normal((5, 3))
    a = gram.coefficients(P, P.mean(axis=0), None)
    assert (a >= 0).all() and a.sum() == pytest.approx(1.0)
    w = np.array([10.0, 1, 1, 1, 1])  # Kuhn: point 0 outweighs the others' pull
    np.testing.assert_array_equal(gram.coefficients(P, P[0], w), [1.0, 0, 0, 0, 0])


def test_threads_do_not_change_the_bits(backend, rng):
    x = rng.standard_normal((7, 70_000)).astype(np.float32)
    one = geomedian.solve(x, method="gram", threads=1, backend=backend)
    two = geomedian.solve(x, method="gram", threads=2, backend=backend)
    assert one.converged and one.method == "gram"
    np.testing.assert_array_equal(one.median, two.median)
    assert (one.objective, one.lower_bound, one.gap) == (two.objective, two.lower_bound, two.gap)
