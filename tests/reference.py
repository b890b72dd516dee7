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


def norm(v) -> float:
    """``||v||`` without overflow or underflow of the squares (1e300 entries are fine)."""
    v = np.asarray(v, dtype=np.float64)
    big = float(np.abs(v).max()) if v.size else 0.0
    return big * float(np.sqrt(((v / big) ** 2).sum())) if big > 0 else 0.0


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


def lp_distances(y, points, p: float) -> np.ndarray:
    """``||y - x_i||_p`` per point, scaled by each largest entry (1 <= p <= inf)."""
    z = np.abs(np.asarray(y, dtype=np.float64) - np.asarray(points, dtype=np.float64))
    big = z.max(axis=1)
    if p == np.inf:
        return big
    safe = np.where(big > 0, big, 1.0)
    return big * np.array([math.fsum(row) for row in (z / safe[:, None]) ** p]) ** (1.0 / p)


def lp_objective(y, points, weights, p: float) -> float:
    """``sum_i w_i ||y - x_i||_p`` with a compensated sum over the points."""
    x = np.asarray(points, dtype=np.float64)
    return math.fsum(_weights(x, weights) * lp_distances(y, x, p))


def weighted_median(values, weights) -> float:
    """A minimiser of ``sum_i w_i |t - v_i|``: the first value whose cumulative weight
    reaches half the total (sorted by value; a plain loop, in the weights' exact sums)."""
    total = math.fsum(weights)
    acc = 0.0
    for v, w in sorted(zip(values, weights)):
        acc += w
        if 2 * acc >= total:
            return float(v)
    raise ValueError("no positive weight")


def lp_program(points, weights, p: float) -> tuple[np.ndarray, float]:
    """The optimum ``(y, f*)`` for ``p = 1`` or ``p = inf`` by ``scipy.optimize.linprog``."""
    from scipy.optimize import linprog

    x = np.asarray(points, dtype=np.float64)
    n, d = x.shape
    w = _weights(x, weights)
    rows = []
    rhs = []
    if p == 1:  # variables y (d), t (n, d): |y_j - x_ij| <= t_ij
        nv = d + n * d
        cost = np.concatenate([np.zeros(d), np.repeat(w, d)])
        for i in range(n):
            for j in range(d):
                for sign in (1.0, -1.0):
                    r = np.zeros(nv)
                    r[j], r[d + i * d + j] = sign, -1.0
                    rows.append(r)
                    rhs.append(sign * x[i, j])
    else:  # variables y (d), t (n): |y_j - x_ij| <= t_i
        nv = d + n
        cost = np.concatenate([np.zeros(d), w])
        for i in range(n):
            for j in range(d):
                for sign in (1.0, -1.0):
                    r = np.zeros(nv)
                    r[j], r[d + i] = sign, -1.0
                    rows.append(r)
                    rhs.append(sign * x[i, j])
    res = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs),
                  bounds=[(None, None)] * d + [(0, None)] * (nv - d), method="highs")  # fmt: skip
    assert res.status == 0, res.message
    return res.x[:d], float(res.fun)


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


# --- Far points --------------------------------------------------------------------------
#
# A point x_o far from the others (a fill value of 1e37, a row at 1e200) adds w_o ||y - x_o||
# to f, a number whose ulp exceeds the change of f across the whole inlier cloud: f itself
# cannot tell two candidate medians apart in float64. Its gradient can: w_o u_o with
# u_o = (y - x_o) / ||y - x_o||, a unit vector computed to full relative precision. So the
# references below never compare f values, only gradients and the difference
# f(y) - f(y') summed term by term without cancellation (objective_difference).


def objective_difference(y, y_ref, points, weights=None) -> float:
    """``f(y) - f(y_ref)`` without cancellation, whatever the points' magnitude.

    Each term is ``w_i (d_i(y) - d_i(y'))``, computed as ``w_i (y - y') . (y + y' - 2 x_i) /
    (d_i(y) + d_i(y'))`` (the identity ``a - b = (a^2 - b^2) / (a + b)``), halved inside so
    that nothing overflows for points up to the largest double: each term then carries a
    relative error of a few ulps of ``w_i ||y - y'||``, its largest possible size, and the
    terms are summed with ``math.fsum``.
    """
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    y = np.asarray(y, dtype=np.float64)
    yr = np.asarray(y_ref, dtype=np.float64)
    step = y - yr
    mid = (0.5 * y - 0.5 * x) + (0.5 * yr - 0.5 * x)  # (y + y') / 2 - x_i
    den = 0.5 * distances(y, x) + 0.5 * distances(yr, x)  # >= ||mid|| (triangle inequality)
    live = den > 0  # both distances 0: y = y' = x_i, no difference
    # mid / den first: a unit-bounded vector, so the dot product cannot overflow.
    terms = w[live] * ((mid[live] / den[live, None]) @ step)
    return math.fsum(terms)


def difference_rounding(y, y_ref, points, weights=None) -> float:
    """A bound on the rounding error of :func:`objective_difference`.

    Per term: ``y - y'`` (one rounding), ``(y + y')/2 - x_i`` (three roundings of numbers at
    most ``(d_i(y) + d_i(y')) / 2`` per coordinate, so ``sqrt(d)`` times that in norm), the
    dot product (``d`` roundings), the two distances (about ``d / 2 + 2`` each), the
    division and the product by ``w_i``: under ``(4 d + 16) eps`` of ``w_i ||y - y'||``.
    Twice that for safety, plus fsum's final rounding (an ulp of the result).
    """
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    d = x.shape[1]
    step = norm(np.asarray(y, float) - np.asarray(y_ref, float))
    eps = np.finfo(np.float64).eps
    return 2.0 * (4 * d + 16) * eps * math.fsum(w) * step


def _drift_gradient_hessian(y, x, w, drift):
    """Gradient (fsum per coordinate) and Hessian of ``sum w_i ||y - x_i|| + drift . y``."""
    diff = y - x
    dist = distances(y, x)
    if not (dist > 0).all():
        return None, None
    u = diff / dist[:, None]
    d = x.shape[1]
    g = np.array([math.fsum(np.concatenate([w * u[:, j], [drift[j]]])) for j in range(d)])
    c = w / dist
    H = np.eye(d) * c.sum() - (c[:, None] * u).T @ u
    return g, H


def _newton_drift(x, w, drift, y0, max_iter: int = 200) -> np.ndarray:
    """Damped Newton on ``F(y) = sum_i w_i ||y - x_i|| + drift . y`` from ``y0``.

    Steps are accepted on the cancellation-free decrease of F (objective_difference), so
    far points in ``x`` are handled exactly; Weiszfeld-with-drift takes over where the
    Newton step fails to decrease F. Ends when a step no longer decreases F.
    """
    y = np.asarray(y0, dtype=np.float64).copy()
    for _ in range(max_iter):
        g, H = _drift_gradient_hessian(y, x, w, drift)
        if g is None:
            return y  # on a data point: the callers' data never has its optimum there
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = None
        sn = norm(step) if step is not None and np.isfinite(step).all() else 0.0
        if not sn > 0 or g @ (step / sn) <= 0:
            dist = distances(y, x)  # Weiszfeld with drift: y+ = (sum w x / d - a) / sum w / d
            c = w / dist
            step = y - ((c[:, None] * x).sum(axis=0) - drift) / c.sum()
            sn = norm(step)
            if not sn > 0:
                return y  # Weiszfeld's fixed point
        # Converged: the decrease Newton predicts is below what a difference of f resolves
        # (both sides divided by ||step||, which may be 1e300).
        if 0.5 * float(g @ (step / sn)) <= 64 * np.finfo(float).eps * w.sum():
            return y - step if np.isfinite(step).all() else y
        t = 1.0
        while t > 1e-12:
            yn = y - t * step
            dF = objective_difference(yn, y, x, w) + math.fsum(drift * (yn - y))
            if dF < 0:
                break
            t *= 0.5
        else:
            return y  # no decrease left in float64
        if np.array_equal(yn, y):
            return y
        y = yn
    return y


def _kuhn(y, x, w, drift):
    """The data point ``x_k`` nearest ``y``, Kuhn's slack there and the others' pull ``g_k``."""
    k = int(np.argmin(distances(y, x)))
    xk = x[k].copy()
    dist = distances(xk, x)
    away = dist > 0
    u = (xk - x[away]) / dist[away, None]
    a = np.zeros(x.shape[1]) if drift is None else np.asarray(drift, dtype=np.float64)
    g = np.array([math.fsum(np.append(w[away] * u[:, j], a[j])) for j in range(x.shape[1])])
    return xk, math.fsum(w[~away]) - norm(g), g


def kuhn_vertex(y, points, weights=None, drift=None):
    """Return ``(x_k, slack)`` for the data point nearest ``y`` if it is optimal, else None.

    Kuhn's test with a drift: ``x_k`` (with weight ``eta``, duplicates included) minimises
    ``sum_i w_i ||y - x_i|| + a . y`` iff ``||sum_{x_i != x_k} w_i u_i + a|| <= eta``;
    ``slack = eta - ||...||`` is the slope at which f rises away from it.
    """
    x = np.asarray(points, dtype=np.float64)
    xk, slack, _ = _kuhn(y, x, _weights(x, weights), drift)
    return (xk, slack) if slack >= 0 else None


def _minimise(x, w, drift, y0) -> np.ndarray:
    """:func:`_newton_drift`, then Kuhn's test at the nearest data point.

    Newton can creep up to a data point that is not optimal (its Hessian blows up there and
    the steps shrink to nothing): if it ends within 1e-6 of the typical distance of one,
    and Kuhn's test fails there, it restarts from a little way off that point along the
    descent direction ``-g_k``; if the test passes, the point itself is the answer.
    """
    y = _newton_drift(x, w, drift, y0)
    for _ in range(10):
        xk, slack, g = _kuhn(y, x, w, drift)
        if slack >= 0:
            return xk
        typical = float(np.median(distances(y, x)))
        if norm(y - xk) > 1e-6 * typical:
            return y
        y = _newton_drift(x, w, drift, xk - 1e-3 * typical * g / norm(g))
    return y


def drift_vector(far, far_weights, y0) -> np.ndarray:
    """``a = -sum_o w_o (x_o - y0) / ||x_o - y0||``: the far points' pull, constant over
    the inlier region to ``O(spread / ||x_o - y0||)`` (each far distance is
    ``||x_o - y0|| - u_o . (y - y0) + O(spread^2 / ||x_o||)``)."""
    xf = np.asarray(far, dtype=np.float64)
    wf = _weights(xf, far_weights)
    u = (xf - y0) / distances(y0, xf)[:, None]
    return -np.array([math.fsum(wf * u[:, j]) for j in range(xf.shape[1])])


def drift_median(inliers, inlier_weights, far, far_weights) -> np.ndarray:
    """The median of inliers and far points with the far ones as a constant drift.

    Minimises ``sum_in w_i ||y - x_i|| + a . y`` (:func:`drift_vector`, taken at the
    inliers' coordinate-wise median ``y0`` and once more at the answer), exact to
    ``O(spread^2 / ||x_o||)``: the reference for points beyond float64's reach of the
    inliers, which an evaluation of f cannot resolve. Needs the far weight below the inlier
    weight (else the drift wins and there is no minimum near the inliers).
    """
    xi = np.asarray(inliers, dtype=np.float64)
    wi = _weights(xi, inlier_weights)
    y = np.median(xi, axis=0)
    for _ in range(2):  # re-aim the drift from the answer (changes it by O(spread / ||x_o||))
        y = _minimise(xi, wi, drift_vector(far, far_weights, y), y)
    return y


def exact_median(points, weights=None, start=None) -> np.ndarray:
    """Newton on the exact objective, far points included (moderately far: 1e6 .. 1e12).

    Every far point's gradient term is its own unit vector at the iterate, and steps are
    judged by :func:`objective_difference`, so nothing is lost to the far distances' ulps.
    """
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    y0 = np.median(x, axis=0) if start is None else np.asarray(start, dtype=np.float64)
    if x.shape[1] == 1:  # on a line the median is a weighted median, exactly
        return np.array([weighted_lower_median(x[:, 0], w)])
    return _minimise(x, w, np.zeros(x.shape[1]), y0)


def location_bound(y_opt, points, weights, excess: float, radius: float) -> float:
    """How far from the minimiser ``y_opt`` a point ``y`` with ``f(y) - f* <= excess`` can be.

    At a vertex optimum (:func:`kuhn_vertex`) f rises at least linearly, with slope its
    slack: ``excess / slack``. Elsewhere split f into the terms of the points farther than
    ``radius`` from ``y_opt`` and the rest: both are convex, and with the minimiser's
    optimality the rest cannot lower ``f(y) - f*`` below the kept terms' Bregman divergence,
    which is at least ``mu / 2 ||y - y_opt||^2`` while their Hessian stays above ``mu``. Its
    least eigenvalue ``lam`` at ``y_opt`` changes by ``O(delta / radius)`` within ``delta``
    of it, so ``mu = lam / 4`` holds within ``r = radius / 8``: hence ``sqrt(8 excess /
    lam)`` when that is at most ``r``; farther out f - f* grows at least linearly along
    each ray (convexity), from ``lam r^2 / 8`` at ``r``: then ``8 excess / (lam r)``.
    """
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    y = np.asarray(y_opt, dtype=np.float64)
    vertex = kuhn_vertex(y, x, w)
    if vertex is not None and np.array_equal(vertex[0], y):
        return excess / vertex[1] if vertex[1] > 0 else math.inf
    dist = distances(y, x)
    keep = dist > radius
    if x.shape[1] == 1:
        return math.inf  # a line's optimum off the data is an interval: no location claim
    _, H = _drift_gradient_hessian(y, x[keep], w[keep], np.zeros(x.shape[1]))
    lam = float(np.linalg.eigvalsh(H)[0])
    if not lam > 0:
        return math.inf
    r = radius / 8
    bound = math.sqrt(8.0 * max(excess, 0.0)) / math.sqrt(lam)  # no overflow at 1e300
    return bound if bound <= r else 8.0 * excess / (lam * r)


def weighted_lower_median(values, weights) -> float:
    """``min { v_k : sum_{v_i <= v_k} w_i >= sum_i w_i / 2 }``."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order])
    k = int(np.searchsorted(cum, 0.5 * cum[-1], side="left"))
    return float(v[order][min(k, v.size - 1)])


ROBUST_SAMPLE_ROWS = 1024
NEAR_FACTOR = 2.0**10


def robust_anchor(points, weights=None) -> tuple[np.ndarray, float]:
    """The documented robust anchor: ``(m, rho)`` of a sample of the rows.

    The sample is every row of at most 1024, else rows ``floor(k n / 1024)``; ``m`` is its
    coordinate-wise weighted lower median, ``rho`` the weighted lower median of its
    distances to ``m``. The near radius is ``NEAR_FACTOR * rho``.
    """
    x = np.asarray(points, dtype=np.float64)
    w = _weights(x, weights)
    n = x.shape[0]
    rows = np.arange(n) if n <= ROBUST_SAMPLE_ROWS else (np.arange(1024) * n) // 1024
    xs, ws = x[rows], w[rows]
    m = np.array([weighted_lower_median(xs[:, j], ws) for j in range(x.shape[1])])
    return m, weighted_lower_median(distances(m, xs), ws)
