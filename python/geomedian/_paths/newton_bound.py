r"""The Newton step's bound: a second-order certificate for the chunked driver.

The certificate of every solve (``csrc/geomedian/certificate.hpp``) builds its dual point
from the unit vectors ``u_i = w_i e_i``, ``e_i = (y - x_i) / d_i``, and pays for their
residual ``g = sum_i u_i`` a gap of the order of ``||g||``: it shrinks only as fast as the
distance to the optimum. Where the pass that reached ``y`` also formed the Hessian

.. math::

    H = \sum_i t_i P_i, \qquad t_i = w_i / d_i, \quad P_i = I - e_i e_i^T,
    \qquad \mathrm{inv\_sq} = \sum_i w_i / d_i^2

(over the points beyond ``eps``; ``hessian_pass``), any vector ``c`` gives a dual point
exact to second order in ``c``: the first-order change of ``u_i`` as ``y`` moves by ``c``,

.. math::

    u'_i = w_i (e_i + P_i c / d_i), \qquad \sum_i u'_i = g + H c =: \rho,
    \qquad u'_i \cdot (y - x_i) = w_i d_i

(``P_i c`` is orthogonal to ``y - x_i``). Newton's step (``H p = g``, ``c = -p``) makes
``rho`` vanish up to rounding. Each ``u'_i`` is longer than ``w_i`` by
``s_i = sqrt(1 + ||P_i c||^2 / d_i^2) <= 1 + ||c||^2 / (2 d_i^2)``, so ``u'_i / s_i`` is
feasible, and

.. math::

    \Big\lVert \sum_i u'_i / s_i - \rho \Big\rVert \le \sum_i w_i (s_i - 1)
        \le \lVert c \rVert^2 \, \mathrm{inv\_sq} / 2, \qquad
    \sum_i (u'_i / s_i) \cdot (y - x_i) = \sum_i w_i d_i / s_i
        \ge f - \lVert c \rVert^2 \, \mathrm{inv} / 2 .

The classic bound ``(S - g . (y - xbar)) / (1 + ||g|| / W)`` then holds for these ``u``
with ``S' = f - 2 f_coinc - ||c||^2 inv / 2`` and a residual of norm at most
``G = ||rho|| + ||c||^2 inv_sq / 2`` (less ``eta``, which the points on the iterate absorb
as before), and ``|g . (y - xbar)| <= G ||M|| / W``:

.. math::

    f^* \ge LB_2 = \frac{S' - G \lVert M \rVert / W}{1 + G / W}.

Its gap is second order in the distance to the optimum, so the pass that reached a Newton
iterate certifies it, where the classic bound waits for the pass at the next iterate: a
read of the whole file or Dask array saved. The median is then within about
``sqrt(2 tol)`` of the data's spread of the optimum, what ``tol`` on the objective promises.

Rounding. ``rho`` is recomputed from the computed ``H``, ``R`` (``g = -R``) and ``p``. Each
entry of ``H``, and ``inv`` and ``inv_sq``, is a sum of ``n`` terms of magnitude at most
``t_i`` (``w_i / d_i^2`` for ``inv_sq``), each good to a few ulps of ``d``, summed in any
order: within ``gamma_{n + 2d + 32}`` of the exact sum of the magnitudes
(``gamma_k = k u / (1 - k u)``). So ``||(H - computed H) p|| <= 2 d gamma inv ||p||``, and
forming ``H p + R`` errs by at most ``gamma (2 d inv ||p|| + ||R||_1)``; ``R`` is within
``grad_rounding(d) W`` of ``-sum_i u_i`` and each entry of ``M`` within
``SUM_ROUNDING f``. Each allowance is added where it loosens the bound, and the result
gives up ``SUM_ROUNDING`` of its magnitudes as the classic one does.
"""

from __future__ import annotations

import math

import numpy as np

from .._contract import SLOT_ETA, SLOT_F, SLOT_F_COINC, SLOT_HEAD, SLOT_INV, SUM_ROUNDING
from .._numba import certificate

__all__ = ["newton_bound"]

_U = 2.0**-53
grad_rounding = certificate.grad_rounding.py_func  # run as Python: nothing to compile


def _gamma(k: float) -> float:
    """gamma_k = k u / (1 - k u): the relative error of a sum of k terms in any order."""
    return k * _U / (1.0 - k * _U)


def newton_bound(
    sums: np.ndarray, H: np.ndarray, inv_sq: float, p: np.ndarray, W: float, n: int
) -> float:
    """Return LB2 at the iterate of ``sums`` (frame units); -inf where it gives nothing.

    ``H``: the Hessian there as the pass formed it (packed lower triangle, not factorised),
    ``inv_sq`` from the same rows, ``p`` the Newton step (the trial is ``z - p``), ``W`` the
    total weight and ``n`` the rows summed.
    """
    d = p.shape[0]
    R = np.asarray(sums[SLOT_HEAD : SLOT_HEAD + d], dtype=np.float64)
    M = np.asarray(sums[SLOT_HEAD + d : SLOT_HEAD + 2 * d], dtype=np.float64)
    full = np.empty((d, d))
    for j in range(d):
        for k in range(j + 1):
            full[j, k] = full[k, j] = H[j * (j + 1) // 2 + k]
    minus_rho = full @ p + R  # sum_i u_i = -R and c = -p
    gam = _gamma(n + 2.0 * d + 32.0)
    up = 1.0 + gam
    with np.errstate(over="ignore", invalid="ignore"):
        inv = float(sums[SLOT_INV]) * (1.0 + SUM_ROUNDING)
        pn = float(np.sqrt(p @ p)) * up
        half_c2 = 0.5 * pn * pn * up
        rho = (
            float(np.sqrt(minus_rho @ minus_rho)) * up
            + grad_rounding(d) * W
            + gam * (4.0 * d * inv * pn + float(np.abs(R).sum()))
        )
        G = max(0.0, rho + half_c2 * inv_sq * up - float(sums[SLOT_ETA]) * (1.0 - SUM_ROUNDING))
        f = float(sums[SLOT_F])
        S = f - 2.0 * float(sums[SLOT_F_COINC]) - half_c2 * inv
        mn = float(np.sqrt(M @ M)) * up + d * SUM_ROUNDING * f
        pull = G * mn / W
        lb = (S - pull - SUM_ROUNDING * (abs(S) + pull)) / (1.0 + G / W)
    return -math.inf if math.isnan(lb) else lb
