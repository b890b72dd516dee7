"""Powers ``|r| ** e`` and the p-norms of the Lp family, in float64.

``pow`` is the cost of a pass for ``1 < p < inf``: the exponents that come with
``p = 1.5`` and ``p = 3`` (``-0.5``, ``0.5``, ``1``, ``1.5``, ``2``, ``3``) are a square
root and products.
"""

from __future__ import annotations

import numpy as np

from .._contract import LP_INTEGER_MAX

__all__ = ["abs_power", "by_squares", "dual_rounding", "p_norm"]


def by_squares(p: float) -> bool:
    """Return whether the Lp pass takes the powers of ``p`` by squares (an integer from 4)."""
    return 4.0 <= p <= LP_INTEGER_MAX and p == int(p)


def dual_rounding(p: float, d: int) -> float:
    """Return a bound, in units of ``2**-53``, on the pass's relative error in each dual.

    A dual is the power ``p - 1`` of ``a_ij = |z_ij| / N_i``, which carries the rounding
    of ``z``, of the scale and of the norm's ``d`` terms: about ``d + 4`` units of ``a``,
    ``p - 1`` times over, and 8 of the last steps. By squares (an integer ``p``) the dual
    is ``a^(p-2) a`` of the computed ``a``, which then carries the root's error as well:
    ``pow``'s 4 units, and the terms' (each ``m^p`` carries ``p`` times the 3 units of
    ``m`` and the squares' ``p - 1``, which the root divides by ``p``): at most
    ``13 + (d + 5 log2 d) / p`` units of ``a``; the squares add ``p - 2``. Both within
    ``(p - 1)(d + 16) + 8``.
    """
    return (p - 1.0) * (d + (16 if by_squares(p) else 4)) + 8.0


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
    if p == 1.0:
        return m.sum(axis=axis)
    big = m.max(axis=axis, keepdims=True)
    if p == np.inf:
        return big.squeeze(axis)
    r = m / np.where(big > 0, big, 1.0)
    return big.squeeze(axis) * abs_power(r, p).sum(axis=axis) ** (1.0 / p)
