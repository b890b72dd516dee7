"""``p = 1``: the weighted coordinate-wise median, exact, and its balanced dual.

Equal weights: NumPy's selection (``np.median`` / ``np.nanmedian`` partition each coordinate,
expected O(n)). Other weights: the first value of each coordinate at which the cumulative
weight (in the values' order) reaches half of ``W``, found by a weighted selection for many
points (expected O(n)) and by ordering them for few (one vectorised sort for a batch).
Where the weight below a value is exactly ``W / 2`` (an even count of equal weights),
every point between it and the next value of positive weight is optimal; the midpoint of
the two is returned, as ``np.median`` does.
"""

from __future__ import annotations

import numpy as np

from .certificate import ALLOWANCE, Bound, U

__all__ = [
    "SELECT_POINTS",
    "balance_bound",
    "coordinate_median",
    "coordinate_median_bound",
    "median_in_place",
]

SELECT_POINTS = 4096  # from this many points, weighted problems select one at a time
_SAMPLE = 1024


def _select(v: np.ndarray, w: np.ndarray) -> float:
    """Return the weighted median of the values ``v`` (weights ``w``, positive total).

    ``a``, the least value with weight at or below it of at least ``W / 2``, is found by
    narrowing an interval: a pivot from an even sample of the candidates, at the quantile
    where the weight still sought lies, splits them (expected O(n) in all). If the weight
    at or below ``a`` is exactly ``W / 2``, the next value of positive weight ``b`` is also
    optimal and ``(a + b) / 2`` is returned, as by the sorted path.
    """
    half = np.sum(w) * 0.5
    vals, wts, below = v, w, 0.0  # below: the weight of the values under the candidates
    if np.isnan(v).any():  # left-out points (weight 0) in NaN-omit
        vals, wts = v[~np.isnan(v)], w[~np.isnan(v)]
    while True:
        if vals.size <= _SAMPLE:
            order = np.argsort(vals, kind="stable")
            cw = below + np.cumsum(wts[order])
            a = vals[order[np.argmax(cw >= half)]]
            break
        rest = np.sum(wts)
        q = min(max((half - below) / rest, 0.0), 1.0) if rest > 0 else 0.5
        sample = vals[:: max(1, vals.size // _SAMPLE)]
        pivot = np.partition(sample, int(q * (sample.size - 1)))[int(q * (sample.size - 1))]
        lt = vals < pivot
        w_lt = below + np.sum(wts[lt])
        if w_lt >= half:
            vals, wts = vals[lt], wts[lt]
            continue
        eq = vals == pivot
        w_le = w_lt + np.sum(wts[eq])
        if w_le >= half:
            a = pivot
            break
        gt = vals > pivot
        vals, wts, below = vals[gt], wts[gt], w_le
    le = np.sum(w[v <= a])
    if le > half:
        return float(a)
    b = np.min(v[(v > a) & (w > 0)], initial=np.inf)
    return float(a) if b == np.inf else float((a + b) * 0.5)


def coordinate_median(
    xt: np.ndarray, w: np.ndarray | None, missing: np.ndarray | None, reorder: bool = False
) -> np.ndarray:
    """Return the median ``(P, d)`` of ``xt`` ``(P, d, n)``; ``w`` ``(P, n)`` or None (equal).

    ``missing`` ``(P, n)``: the points left out (weight zero), or None. ``reorder``: the
    caller's ``xt`` (its own copy) may be left with each coordinate's values reordered,
    which saves the selection a copy where no weights align with them.
    """
    if w is None:
        if missing is None:
            return median_in_place(xt if reorder else xt.copy())
        return np.nanmedian(np.where(missing[:, None, :], np.nan, xt), axis=-1)
    if xt.shape[-1] > SELECT_POINTS and (np.sum(w, axis=-1) > 0).all():
        y = np.empty(xt.shape[:2])
        for k, j in np.ndindex(*y.shape):
            y[k, j] = _select(xt[k, j], w[k])
        return y
    order = np.argsort(xt, axis=-1, kind="stable")
    xs = np.take_along_axis(xt, order, axis=-1)
    ws = np.take_along_axis(np.broadcast_to(w[:, None, :], xt.shape), order, axis=-1)
    cw = np.cumsum(ws, axis=-1)
    half = cw[..., -1:] * 0.5
    lo = np.argmax(cw >= half, axis=-1)[..., None]
    hi = np.argmax(cw > half, axis=-1)[..., None]
    a = np.take_along_axis(xs, lo, axis=-1)[..., 0]
    b = np.take_along_axis(xs, hi, axis=-1)[..., 0]
    return np.where(a == b, a, (a + b) * 0.5)


def median_in_place(xt: np.ndarray) -> np.ndarray:
    """Return ``np.median(xt, axis=-1)``, reordering ``xt`` in place.

    One selection, of the upper middle value; the lower one (for an even count) is the
    largest value below it. NumPy selects one position by a vectorised quickselect but
    several (as ``np.median`` asks for two) by its scalar introselect, several times slower.
    """
    n = xt.shape[-1]
    h = n // 2
    xt.partition(h, axis=-1)
    upper = xt[..., h]
    if n % 2:
        return upper.copy()
    return (np.max(xt[..., :h], axis=-1) + upper) * 0.5


def coordinate_median_bound(
    xt: np.ndarray, w: np.ndarray, y: np.ndarray
) -> tuple[Bound, np.ndarray]:
    """Return the certificate at ``y``: ``u_ij = w_i sign(y_j - x_ij)``, ties balancing ``g``.

    Then ``u_i . (y - x_i) = w_i ||y - x_i||_1``: ``S = f``, and ``g_j`` is the weight below
    ``y_j`` less the weight above, less what the ties at ``y_j`` absorb; the bound of
    :func:`~.certificate.lower_bound` follows from these sums without forming the duals.
    Also return where ``y`` is proven a minimiser: the weights are integers (their sums
    exact) and the balance ``g`` is exactly zero. There ``f(y) - f* = 0``: the gap is 0,
    while the bound stays the rounded one (``f`` less its rounding allowance).
    """
    z = y[:, :, None] - xt
    W = np.sum(w, axis=-1)
    if (w == 1).all():  # equal weights: counts, and no product per coordinate
        below = np.count_nonzero(z > 0, axis=-1).astype(np.float64)
        above = np.count_nonzero(z < 0, axis=-1).astype(np.float64)
        wz = z
    else:
        below = np.sum(np.where(z > 0, w[:, None, :], 0.0), axis=-1)
        above = np.sum(np.where(z < 0, w[:, None, :], 0.0), axis=-1)
        wz = w[:, None, :] * z
    M = np.sum(wz, axis=-1)
    np.abs(wz, out=wz)
    # Integer weights summing below 2**53 add exactly: a zero balance then proves y optimal.
    exact = (w == np.round(w)).all(axis=-1) & (W < 2.0**53)
    return balance_bound(W, below, above, M, np.sum(wz, axis=-1), exact)


def balance_bound(
    W: np.ndarray, below: np.ndarray, above: np.ndarray, M: np.ndarray, B: np.ndarray,
    exact: np.ndarray,
) -> tuple[Bound, np.ndarray]:  # fmt: skip
    """Return the bound of :func:`coordinate_median_bound` from its sums, and where y is optimal.

    Per problem ``W`` and whether its weights add exactly (``exact``); per coordinate
    ``(P, d)`` the weight below ``y_j`` and above it, ``M = sum_i w_i z_ij`` and
    ``B = sum_i w_i |z_ij|`` (``z = y - x``), each summed with the rounding of
    :mod:`.certificate` (pairwise, or pairwise pieces added with compensation).
    """
    d = below.shape[-1]
    zbar = M / W[:, None]  # y - xbar
    f = np.sum(B, axis=-1)
    g = below - above
    g = g - np.clip(g, -(W[:, None] - below - above), W[:, None] - below - above)
    slack = ALLOWANCE * (
        2 * f + np.sum(np.abs(g) * B, axis=-1) / W + np.sum(W[:, None] * np.abs(zbar), axis=-1)
    )
    gnorm = np.max(np.abs(g), axis=-1) * (1.0 + ALLOWANCE)
    lb = (f - np.sum(g * zbar, axis=-1) - slack) / (1.0 + gnorm / W) / (1.0 + (2 * d + 8) * U)
    optimal = exact & (g == 0).all(axis=-1)
    return Bound(f, lb, g), optimal
