"""Answers and certificates against an independent float64 reference (tests/reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import reference

import geomedian
from geomedian._backends import load_backend

CASES = [
    # (n, d, outliers, weighted)
    (5, 1, False, False),
    (12, 2, False, True),
    (300, 2, True, False),
    (200, 3, False, True),
    (1000, 5, True, True),
    (400, 16, True, False),
    (150, 40, False, True),
]


def make_case(n, d, outliers, weighted, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d) + rng.normal(size=d) * 5
    if outliers:
        k = max(1, n // 5)
        x[:k] += rng.normal(size=(k, d)) * 100
    w = rng.uniform(0.0, 3.0, size=n) if weighted else None
    return x, w


@pytest.mark.parametrize("method", ["weiszfeld", "gd", "newton"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-d{c[1]}-{c[2]:d}{c[3]:d}")
@pytest.mark.parametrize("seed", [0, 1])
def test_default_solve_against_reference(backend, method, case, seed):
    x, w = make_case(*case, seed)
    res = geomedian.solve(x, w, method=method, backend=backend)
    lo, hi = reference.optimum_bracket(x, w)
    assert lo <= hi * (1 + 1e-15)

    assert res.converged and res.gap <= 1e-10
    # The true relative gap, measured against the reference's own certified bound.
    assert (res.objective - lo) / res.objective <= 1e-9
    # The reported lower bound really is below the optimum (hi >= f*).
    assert res.lower_bound <= hi * (1 + 1e-14)
    assert res.lower_bound <= res.objective

    # The reported numbers are those of the returned median, recomputed independently.
    assert res.objective == pytest.approx(reference.objective(res.median, x, w), rel=1e-13)
    # The bound reported is the best over the iterates, so at least the bound at the answer.
    assert res.lower_bound >= reference.lower_bound(res.median, x, w) - 1e-12 * res.objective
    assert res.gap == pytest.approx(
        (res.objective - res.lower_bound) / res.objective, rel=1e-6, abs=1e-16
    )


@pytest.mark.parametrize("max_iter", [1, 2, 4])
@pytest.mark.parametrize("method", ["weiszfeld", "gd", "newton"])
def test_unfinished_solves_report_an_honest_gap(backend, method, max_iter):
    x, w = make_case(500, 4, True, True, seed=3)
    res = geomedian.solve(x, w, method=method, backend=backend, max_iter=max_iter, tol=0)
    _, hi = reference.optimum_bracket(x, w)
    assert not res.converged
    assert res.n_iter <= max_iter
    assert res.lower_bound <= hi * (1 + 1e-14)
    true_gap = (res.objective - hi) / res.objective
    assert true_gap <= res.gap * (1 + 1e-9) + 1e-15
    assert res.lower_bound >= reference.lower_bound(res.median, x, w) - 1e-12 * res.objective


@pytest.mark.parametrize("tol", [1e-3, 1e-6, 1e-12])
def test_tolerance_is_respected(backend, tol):
    x, _ = make_case(2000, 3, True, False, seed=4)
    res = geomedian.solve(x, tol=tol, backend=backend)
    assert res.converged and res.gap <= tol
    _, hi = reference.optimum_bracket(x, None)
    assert (res.objective - hi) / res.objective <= tol + 1e-15


@pytest.mark.parametrize("d", [2, 16])
def test_float32_points(backend, d):
    x, w = make_case(3000, d, True, True, seed=5)
    x32 = x.astype(np.float32)
    res = geomedian.solve(x32, w, backend=backend)
    assert res.median.dtype == np.float32
    assert res.converged and res.gap <= 1e-6
    # The certificate is about the float32 data, evaluated at the float32 answer.
    x64 = x32.astype(np.float64)
    _, hi = reference.optimum_bracket(x64, w)
    assert res.lower_bound <= hi * (1 + 1e-12)
    assert res.objective == pytest.approx(reference.objective(res.median, x64, w), rel=1e-12)
    assert (res.objective - hi) / res.objective <= 1e-6


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 6, 7, 8, 13, 16, 17, 33])
@pytest.mark.parametrize("n", [1, 3, 64, 65, 1001])
def test_objective_and_gradient_functions(backend, n, d, rng):
    x = rng.normal(size=(n, d))
    w = rng.uniform(0.1, 2.0, size=n)
    y = rng.normal(size=d)
    for xs in (x, x.astype(np.float32)):
        x64 = xs.astype(np.float64)
        f = geomedian.objective(y, xs, w, backend=backend)
        assert f == pytest.approx(reference.objective(y, x64, w), rel=1e-13)
        g = geomedian.gradient(y, xs, w, backend=backend)
        np.testing.assert_allclose(g, reference.subgradient(y, x64, w), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("at_data_point", [False, True])
@pytest.mark.parametrize("d", [1, 2, 5, 16])
def test_kernel_certificate_matches_the_independent_formula(backend, d, at_data_point, rng):
    impl = load_backend(backend)
    x = rng.normal(size=(300, d))
    x[:40] = x[0]  # 40 copies of one point: a coincident mass when y sits there
    w = rng.uniform(0.1, 2.0, size=300)
    for y in (x.mean(axis=0) + 0.1 * rng.normal(size=d), x[0], x[100]):
        if at_data_point != any((y == p).all() for p in x):
            continue
        f, g, lb = impl.evaluate_f64(x, w, 1.0, np.ascontiguousarray(y), 1)
        assert f == pytest.approx(reference.objective(y, x, w), rel=1e-13)
        np.testing.assert_allclose(g, reference.subgradient(y, x, w), rtol=1e-11, atol=1e-12)
        assert lb == pytest.approx(reference.lower_bound(y, x, w), rel=1e-11)


def test_gradient_at_a_data_point_is_the_minimum_norm_subgradient(backend):
    x = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [1.0, 3.0]])
    for i in range(len(x)):
        g = geomedian.gradient(x[i], x, backend=backend)
        np.testing.assert_allclose(g, reference.subgradient(x[i], x), atol=1e-15)
    # (1, 0) is optimal: the other points pull with a force of norm < 1.
    np.testing.assert_array_equal(geomedian.gradient([1.0, 0.0], x, backend=backend), [0.0, 0.0])
