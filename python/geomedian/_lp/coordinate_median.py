"""``p = 1``: the weighted coordinate-wise median, exact, and its balanced dual.

Equal weights: NumPy's selection (``np.median`` / ``np.nanmedian`` partition each coordinate,
expected O(n)). Other weights: the points of each coordinate ordered, then the first one at
which the cumulative weight reaches half of ``W``. Where the weight below a value is exactly
``W / 2`` (an even count of equal weights), every point between it and the next value of
positive weight is optimal; the midpoint of the two is returned, as ``np.median`` does.
"""

from __future__ import annotations

import numpy as np

from .certificate import Bound, lower_bound

__all__ = ["coordinate_median", "coordinate_median_bound"]


def coordinate_median(
    xt: np.ndarray, w: np.ndarray | None, missing: np.ndarray | None
) -> np.ndarray:
    """Return the median ``(P, d)`` of ``xt`` ``(P, d, n)``; ``w`` ``(P, n)`` or None (equal).

    ``missing`` ``(P, n)``: the points left out (weight zero), or None.
    """
    if w is None:
        if missing is None:
            return np.median(xt, axis=-1)
        return np.nanmedian(np.where(missing[:, None, :], np.nan, xt), axis=-1)
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


def coordinate_median_bound(
    xt: np.ndarray, w: np.ndarray, y: np.ndarray
) -> tuple[Bound, np.ndarray]:
    """Return the certificate at ``y``: ``u_ij = w_i sign(y_j - x_ij)``, ties balancing ``g``.

    Also return where ``y`` is proven a minimiser: the weights are integers (their sums
    exact) and the balance ``g`` is exactly zero. There ``f(y) - f* = 0``: the gap is 0,
    while the bound stays the rounded one (``f`` less its rounding allowance).
    """
    z = y[:, :, None] - xt
    u = w[:, None, :] * np.sign(z)
    N = np.sum(np.abs(z), axis=1)
    bound = lower_bound(z, w, N, u, 1.0)
    # Integer weights summing below 2**53 add exactly: a zero balance then proves y optimal.
    exact = (w == np.round(w)).all(axis=-1) & (np.sum(w, axis=-1) < 2.0**53)
    optimal = exact & (bound.gradient == 0).all(axis=-1)
    return bound, optimal
