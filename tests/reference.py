"""Independent float64 reference computations, written from the formulas, not from our kernels.

Nothing here calls geomedian: the objective, the minimum-norm subgradient and the dual lower
bound are recomputed with NumPy (sums with ``math.fsum``) so the certificate the kernels
report can be checked against a second implementation, and the optimum is approached by
SciPy's L-BFGS-B and by a plain long-running Weiszfeld iteration.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize


def _weights(points: np.ndarray, weights) -> np.ndarray:
    n = points.shape[0]
    return np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)


def distances(y, points) -> np.ndarray:
    """``||y - x_i||`` per row, scaled by the row's largest entry so 1e-200 does not underflow."""
    diff = np.asarray(y, dtype=np.float64) - np.asarray(points, dtype=np.float64)
    big = np.abs(diff).max(axis=1)
    safe = np.where(big > 0, big, 1.0)
    return big * np.sqrt(((diff / safe[:, None]) ** 2).sum(axis=1))


def objective(y, points, weights=None) -> float:
    """``sum_i w_i ||y - x_i||`` with a compensated sum."""
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    return math.fsum(w * distances(y, x))


def subgradient(y, points, weights=None) -> np.ndarray:
    """Minimum-norm subgradient; points exactly at ``y`` contribute a ball of radius ``w_i``."""
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    diff = np.asarray(y, dtype=np.float64) - x
    dist = distances(y, x)
    away = dist > 0
    g = (w[away, None] * diff[away] / dist[away, None]).sum(axis=0)
    eta = math.fsum(w[~away])
    norm = float(np.linalg.norm(g))
    if norm <= eta:
        return np.zeros_like(g)
    return g * (1.0 - eta / norm)


def lower_bound(y, points, weights=None) -> float:
    """The dual bound at ``y``: ``(f(y) - g.(y - xbar)) / (1 + ||g|| / W)``.

    With ``u_i = w_i (y - x_i)/||y - x_i||`` (and the coincident points' ``u_i`` chosen to
    cancel as much of the gradient as their weight allows), ``u'_i = (u_i - w_i g / W) /
    (1 + ||g|| / W)`` is dual feasible: ``||u'_i|| <= w_i`` and ``sum u'_i = 0``. Hence for
    every ``z``, ``f(z) >= sum u'_i . (z - x_i) = sum u'_i . (y - x_i)``, which is the bound.
    """
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    yy = np.asarray(y, dtype=np.float64)
    g = subgradient(yy, x, w)
    total = math.fsum(w)
    xbar = (w[:, None] * x).sum(axis=0) / total
    return (objective(yy, x, w) - float(g @ (yy - xbar))) / (1.0 + float(np.linalg.norm(g)) / total)


def weiszfeld(points, weights=None, iterations: int = 20000) -> np.ndarray:
    """Plain Weiszfeld from the weighted mean; stops if it lands on a data point."""
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    y = (w[:, None] * x).sum(axis=0) / w.sum()
    for _ in range(iterations):
        dist = distances(y, x)
        if (dist == 0).any():
            break
        coef = w / dist
        y_new = (coef[:, None] * x).sum(axis=0) / coef.sum()
        if np.array_equal(y_new, y):
            break
        y = y_new
    return y


def lbfgs(points, weights=None, start=None) -> np.ndarray:
    """L-BFGS-B on the objective with its analytic gradient, to a tight tolerance."""
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    y0 = (w[:, None] * x).sum(axis=0) / w.sum() if start is None else np.asarray(start, float)

    def fun(y):
        diff = y - x
        dist = np.maximum(distances(y, x), 1e-300)
        return float(w @ dist), (w / dist) @ diff

    options = {"ftol": 1e-15, "gtol": 1e-13, "maxiter": 10000}
    res = minimize(fun, y0, jac=True, method="L-BFGS-B", options=options)
    return res.x


def optimum_bracket(points, weights=None) -> tuple[float, float]:
    """Return ``(lo, hi)`` with ``lo <= f* <= hi`` from the two reference solvers."""
    # Near a data point both references divide by tiny distances and may overflow on the
    # way; whatever they end at is scored by the (scaled, overflow-free) objective below.
    with np.errstate(all="ignore"):
        candidates = [weiszfeld(points, weights), lbfgs(points, weights)]
    candidates = [c for c in candidates if np.isfinite(c).all()]
    hi = min(objective(c, points, weights) for c in candidates)
    lo = max(lower_bound(c, points, weights) for c in candidates)
    return lo, hi
