"""Honest certificates: ``lower_bound <= f*`` and ``converged`` only when ``gap <= tol``.

``f*`` is bounded from above by evaluating the objective in 40-digit arithmetic (mpmath) at
every candidate we have: the returned median, the two reference solvers' answers and every
data point. A bound above any of those values would be a false certificate. The corpus
covers the exact cases (vertex optima, collinear points, equilateral triangles), duplicates,
heavy tails, weights, float32 and batches, on both backends and both methods.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import reference

import geomedian

DIGITS = 40


def objective_mp(y, x, w) -> mpmath.mpf:
    """sum_i w_i ||y - x_i|| with every operation in DIGITS-digit arithmetic."""
    with mpmath.workdps(DIGITS):
        ym = [mpmath.mpf(float(v)) for v in y]
        total = mpmath.mpf(0)
        for xi, wi in zip(x, w):
            s = mpmath.fsum((ym[j] - mpmath.mpf(float(xi[j]))) ** 2 for j in range(len(ym)))
            total += mpmath.mpf(float(wi)) * mpmath.sqrt(s)
        return total


def reference_upper(x, w) -> mpmath.mpf:
    """The least objective over the reference solvers' answers and the best data point."""
    x = np.asarray(x, dtype=np.float64)
    # Of the data points only the best (in float64) is worth evaluating precisely.
    best_point = x[np.argmin([reference.objective(xi, x, w) for xi in x])]
    with np.errstate(all="ignore"):
        candidates = [reference.weiszfeld(x, w), reference.lbfgs(x, w), best_point]
    return min(objective_mp(c, x, w) for c in candidates if np.isfinite(c).all())


def assert_honest(res, x, w, tol: float, upper: mpmath.mpf | None = None) -> None:
    """The certificate of one solved problem against the high-precision evaluation.

    ``upper``: ``reference_upper(x, w)`` if already known.
    """
    f_here = objective_mp(res.median, np.asarray(x, dtype=np.float64), w)
    upper = min(f_here, reference_upper(x, w) if upper is None else upper)
    assert mpmath.mpf(res.lower_bound) <= upper, (res.lower_bound, upper)
    # The reported objective is f at the returned (rounded) median.
    assert abs(mpmath.mpf(res.objective) - f_here) <= 1e-12 * f_here + 1e-300
    assert res.converged == (res.status == 0)
    if res.converged:
        assert res.gap <= tol
        # And the certificate is true: the median is within tol of optimal.
        assert f_here <= upper * (1 + tol) + 1e-300, (f_here, upper)


def _corpus():
    rng = np.random.default_rng(2024)
    cases = {
        "collinear": (np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), None),
        "equilateral": (np.array([[0.0, 0.0], [2.0, 0.0], [1.0, np.sqrt(3.0)]]), None),
        "obtuse-vertex": (np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 0.5]]), None),
        "just-over-120": (
            np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, np.tan(np.pi / 6) * 0.999]]),
            None,
        ),
        "3d-vertex": (np.array([[3.0, -7.0, 1.0], [-4.0, 2.0, 2.0], [0.0, 0.0, 1.5]]), None),
        "1d-odd": (rng.normal(size=(7, 1)), None),
        "1d-even": (rng.normal(size=(8, 1)), None),
        "gaussian": (rng.normal(size=(200, 3)), None),
        "cauchy": (rng.standard_cauchy(size=(150, 2)), None),
        "duplicates": (np.repeat(rng.normal(size=(5, 2)), [1, 7, 2, 3, 1], axis=0), None),
        "weighted-vertex": (rng.normal(size=(30, 4)), np.r_[100.0, np.ones(29)]),
        "weighted": (rng.normal(size=(60, 2)), rng.uniform(0.01, 10, size=60)),
        "some-zero-weights": (rng.normal(size=(40, 3)), np.r_[np.zeros(20), np.ones(20)]),
        "offset": (rng.normal(size=(50, 2)) + 1e9, None),
        "float32": (rng.normal(size=(100, 3)).astype(np.float32), None),
        "uint16": (rng.integers(0, 1000, size=(40, 4)).astype(np.uint16), None),
        "one-point": (np.array([[1.5, -2.0]]), None),
        "identical": (np.ones((10, 3)), None),
    }
    return cases


CORPUS = _corpus()
_UPPER: dict[str, mpmath.mpf] = {}


@pytest.mark.parametrize("method", ["newton", "gd", "weiszfeld"])
@pytest.mark.parametrize("case", CORPUS)
def test_certificate_is_honest(backend, method, case):
    x, w = CORPUS[case]
    wf = np.ones(len(x)) if w is None else w
    f32 = np.asarray(x).dtype in (np.float32, np.uint16)
    if case not in _UPPER:  # the same for every backend and method
        _UPPER[case] = reference_upper(x, wf)
    for tol in (None, 0.0):
        res = geomedian.solve(x, w, backend=backend, method=method, tol=tol)
        assert_honest(res, x, wf, (1e-6 if f32 else 1e-10) if tol is None else tol, _UPPER[case])


@pytest.mark.parametrize("method", ["newton", "gd", "weiszfeld"])
def test_batch_certificates_are_honest(backend, method):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 9, 2))
    x[3] = x[3, :1]  # a problem of identical points
    x[5, :4] = x[5, 0]  # a heavy duplicate: a vertex optimum
    res = geomedian.solve(x, backend=backend, method=method)
    for k in range(len(x)):
        one = geomedian.solve(x[k], backend=backend, method=method)
        assert one.lower_bound == res.lower_bound[k] and one.gap == res.gap[k]
        assert_honest(one, x[k], np.ones(9), 1e-10)
