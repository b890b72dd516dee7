"""Powers ``|r| ** e`` and the p-norms of the Lp family, in float64.

``pow`` is the cost of a pass for ``1 < p < inf``: the exponents that come with
``p = 1.5`` and ``p = 3`` (``-0.5``, ``0.5``, ``1``, ``1.5``, ``2``, ``3``) are a square
root and products.
"""

from __future__ import annotations

import numpy as np

__all__ = ["abs_power", "p_norm"]


def abs_power(a: np.ndarray, e: float) -> np.ndarray:
    """Return ``|a| ** e``, by a square root or products where that is exact enough."""
    m = np.abs(a)
    if e == 1.0:
        return m
    if e == 2.0:
        return m * m
    if e == 3.0:
        return m * m * m
    if e == 0.5:
        return np.sqrt(m)
    if e == 1.5:
        return m * np.sqrt(m)
    if e == -0.5:  # the Hessian's a**(p - 2) for p = 1.5 (a > 0 there)
        return 1.0 / np.sqrt(m)
    return m**e


def p_norm(z: np.ndarray, p: float, axis: int) -> np.ndarray:
    """Return ``||z||_p`` along ``axis``, scaled by the largest entry (no overflow)."""
    # ndarray methods, not np.max / np.sum: the same reductions, without their dispatch,
    # which costs more than the reduction on the few values of a small problem.
    m = np.abs(z)
    big = m.max(axis=axis, keepdims=True)
    if p == np.inf:
        return big.squeeze(axis)
    if p == 1.0:
        return m.sum(axis=axis)
    r = m / np.where(big > 0, big, 1.0)
    return big.squeeze(axis) * abs_power(r, p).sum(axis=axis) ** (1.0 / p)
