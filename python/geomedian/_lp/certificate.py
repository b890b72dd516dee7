r"""The dual lower bound of the Lp median, for every ``1 <= p <= inf``.

With :math:`q = p / (p - 1)` the dual exponent, any :math:`u_i` with
:math:`\lVert u_i \rVert_q \le w_i` gives :math:`f(y') \ge \sum_i u_i \cdot (y' - x_i) = S
+ g \cdot (y' - y)` (Hoelder), where :math:`g = \sum_i u_i` and :math:`S = \sum_i u_i \cdot
(y - x_i)`; and :math:`f(y') \ge W \lVert y' - \bar x \rVert_p` (the triangle inequality).
Hence :math:`f(y') \ge S - g \cdot (y - \bar x) - \lVert g \rVert_q \lVert y' - \bar x
\rVert_p \ge S - g \cdot (y - \bar x) - (\lVert g \rVert_q / W) f(y')`, that is

.. math:: f^* \ge LB = \frac{S - g \cdot (y - \bar x)}{1 + \lVert g \rVert_q / W}.

At the iterate :math:`u_i = w_i \nabla \lVert \cdot \rVert_p (y - x_i)`, so :math:`S = f(y)`;
the points at ``y`` choose their :math:`u_i` to cancel ``g`` as far as their weight allows
(per coordinate for ``p = 1``, where each coordinate of a tie is free in ``[-w_i, w_i]``).

Rounding, as for ``p = 2``: every sum over the points is NumPy's pairwise sum along the
contiguous last axis, or the compiled pass's sums of at most ``BLOCK_ROWS`` rows added with
compensation, whose error is far below ``512 u`` of the sum of the magnitudes
(``u = 2**-53``); the bound gives up ``512 u`` of every
magnitude it was computed from, and the measured excess of the computed
:math:`\lVert u_i \rVert_q` over :math:`w_i` (plus ``(2 d + 9) u`` for the check's own
rounding: the compiled pass measures :math:`\lVert s_i \rVert_q`, and :math:`u_i = w_i s_i`
rounds once more) divides it, so that the rounded duals are feasible.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .norms import p_norm

__all__ = ["ALLOWANCE", "Bound", "U", "assemble", "cancel_at_y", "dual_exponent", "lower_bound"]

U = 2.0**-53
ALLOWANCE = 512 * U  # the rounding given up, per magnitude (as for p = 2)


class Bound(NamedTuple):
    """``f(y)``, the certified lower bound and the minimum-norm subgradient ``g``, per problem."""

    objective: np.ndarray
    lower_bound: np.ndarray
    gradient: np.ndarray


def dual_exponent(p: float) -> float:
    """Return ``q`` with ``1/p + 1/q = 1`` (``inf`` for ``p = 1``, ``1`` for ``p = inf``)."""
    if p == 1.0:
        return np.inf
    if p == np.inf:
        return 1.0
    return p / (p - 1.0)


def cancel_at_y(g: np.ndarray, eta: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Return ``g`` (``(P, d)``) once the weight ``eta`` at ``y`` took its share, ``p > 1``.

    And its q-norm (``assemble`` needs it): where no weight is at ``y`` that of ``g`` itself.
    """
    q = dual_exponent(p)
    norm = p_norm(g, q, axis=-1)
    keep = np.maximum(0.0, 1.0 - eta / np.where(norm > 0, norm, 1.0))
    g = g * keep[:, None]
    return g, (norm if (eta == 0).all() else p_norm(g, q, axis=-1))


def _cancel(g: np.ndarray, z: np.ndarray, w: np.ndarray, N: np.ndarray, p: float) -> np.ndarray:
    """Return ``g`` once the points at ``y`` took their share (the least-norm subgradient)."""
    if p == 1.0:  # each coordinate of a tie cancels up to w_i of that coordinate
        ties = np.sum(np.where(z == 0, w[:, None, :], 0.0), axis=-1)
        return g - np.clip(g, -ties, ties)
    return cancel_at_y(g, np.sum(np.where(N == 0, w, 0.0), axis=-1), p)[0]


def assemble(
    f: np.ndarray,
    W: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    g: np.ndarray,
    M: np.ndarray,
    B: np.ndarray,
    G: np.ndarray,
    excess: np.ndarray,
    p: float,
    gnorm: np.ndarray | None = None,
) -> Bound:
    """Return the bound from the sums of a pass, per problem.

    ``f``, ``W``, ``S = sum u_i . z_i``, ``A = sum |u_i . z_i|`` and the largest
    ``||u_i||_q / w_i`` (``excess``) per problem; ``g`` (the points at ``y`` took their
    share), ``M = sum w_i z_i``, ``B = sum w_i |z_i|`` and ``G = sum |u_i|``, ``(P, d)``;
    ``gnorm``: ``||g||_q`` where known (``cancel_at_y``'s).
    """
    d = g.shape[-1]
    zbar = M / W[:, None]  # y - xbar
    delta = np.maximum(excess - 1.0, 0.0) + (2 * d + 9) * U
    # Sums beyond float64 (distances that overflow it) make the bound inf or NaN: never a
    # certificate, and the callers report the range, without NumPy's warning.
    with np.errstate(over="ignore", invalid="ignore"):
        slack = ALLOWANCE * (
            A + f + np.sum(np.abs(g) * B, axis=-1) / W + np.sum(G * np.abs(zbar), axis=-1)
        )
        if gnorm is None:
            gnorm = p_norm(g, dual_exponent(p), axis=-1)
        gnorm = gnorm * (1.0 + ALLOWANCE)
        lb = (S - np.sum(g * zbar, axis=-1) - slack) / (1.0 + gnorm / W) / (1.0 + delta)
    return Bound(f, lb, g)


def lower_bound(
    z: np.ndarray, w: np.ndarray, N: np.ndarray, u: np.ndarray, p: float, cancel: bool = True
) -> Bound:
    """Return the bound at ``y``.

    From ``z = y - x`` ``(P, d, n)``, weights ``w`` ``(P, n)``, distances
    ``N = ||z_i||_p`` ``(P, n)`` and duals ``u`` ``(P, d, n)``, ``||u_i||_q <= w_i`` up to
    rounding (zero for the points at ``y``; ``cancel``: they then take their share).
    """
    g = np.sum(u, axis=-1)
    if cancel:
        g = _cancel(g, z, w, N, p)
    uz = u * z
    wz = w[:, None, :] * z
    # The rounded duals' excess over their weights, measured (exact for p = 1 and inf).
    norms = p_norm(u, dual_exponent(p), axis=1)
    excess = np.max(np.where(w > 0, norms / np.where(w > 0, w, 1.0), 0.0), axis=-1)
    return assemble(
        np.sum(w * N, axis=-1),
        np.sum(w, axis=-1),
        np.sum(np.sum(uz, axis=1), axis=-1),
        np.sum(np.sum(np.abs(uz), axis=1), axis=-1),
        g,
        np.sum(wz, axis=-1),
        np.sum(np.abs(wz), axis=-1),
        np.sum(np.abs(u), axis=-1),
        excess,
        p,
    )
