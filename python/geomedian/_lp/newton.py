r"""``1 < p < inf``: Newton's method with the exact Hessian, safeguarded, certified.

For :math:`z_i = y - x_i`, :math:`N_i = \lVert z_i \rVert_p`, :math:`a_i = |z_i| / N_i` and
:math:`s_i = \operatorname{sign}(z_i) a_i^{p-1}` (so :math:`\lVert s_i \rVert_q = 1`):

.. math::

    \nabla f(y) = \sum_i w_i s_i, \qquad
    \nabla^2 f(y) = \sum_i \frac{w_i (p - 1)}{N_i}
        \left(\operatorname{diag}(a_i^{p-2}) - s_i s_i^T\right).

For ``p < 2`` a zero coordinate makes :math:`a^{p-2}` infinite: it is floored at
``2**-26`` (the step is then a safeguarded quasi-Newton one). Every sum comes from one
pass of the backend's kernel (``lp_pass``), which reads each problem's points once, in
place. Each step is accepted by the Armijo test, halving it up to 60 times; a Newton
direction that is not a descent direction is replaced by the gradient scaled as
Weiszfeld's step, :math:`-g / \sum_i w_i / N_i`. Near a data point :math:`x_k` that
carries most of the curvature the point itself is tried: Kuhn's test
:math:`\lVert \sum_{i \ne k} u_i \rVert_q \le w_k` is what makes its bound close.
For ``p < 2`` the curvature in coordinate ``j`` grows without bound as :math:`y_j` nears
some :math:`x_{ij}`, where optima often sit (as at ``p = 1``); the floored Hessian only
creeps towards it, so such coordinates are also tried at :math:`x_{ij}` itself.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from .._contract import (
    LP_A,
    LP_CURVATURE,
    LP_ETA,
    LP_EXCESS,
    LP_F,
    LP_F_NEAR,
    LP_HEAD,
    LP_NEAREST,
    LP_NEAREST_ROW,
    LP_S,
    LP_W_NEAR,
    LP_WEIGHT,
)
from .certificate import assemble, cancel_at_y, dual_exponent
from .norms import abs_power, dual_rounding, p_norm

__all__ = [
    "Points",
    "carried_gap",
    "certified_gap",
    "evaluate",
    "gradient_rounding",
    "near_bound",
    "newton_median",
]

_ARMIJO = 1e-4
_F_NOISE = 8 * 2.0**-52  # f's rounding, relative (as F_NOISE of the p = 2 solver)
_HALVINGS = 60
# Halvings of a step too small for f to judge, that did not shrink the gradient: then no
# step is taken (near p = 1 the gradient need not shrink along any of them).
_BLIND_HALVINGS = 8
_FLAT_ROUNDS = 16
_SECANT_RHO = 1.5  # see _secant_step
_MARGIN = 2.0**-40  # the kernel sums' rounding, relative (see near_bound)
_LEAST_ROWS = 64  # see _least
_ZIGZAG_ROWS = 1024  # see newton_median


class Points(NamedTuple):
    """Problems to solve, and the kernels that read them.

    ``x`` ``(P, n, d)`` (float32 or float64, C order), their weights ``w`` ``(P, n)`` (zero
    for a missing row: never read), the backend's kernels and threads, and each problem's
    near radius ``(P,)`` (``near_radius``; None: every point is near). ``unit``: every
    weight is 1, and the kernels read none (the same sums, without a read of ``w``).
    """

    x: np.ndarray
    w: np.ndarray
    kernels: Any
    threads: int
    near: np.ndarray | None = None
    unit: bool = False


class _State(NamedTuple):
    objective: np.ndarray
    lower_bound: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    curvature: np.ndarray  # sum_i w_i / N_i, the Weiszfeld step's scale
    nearest: np.ndarray  # the index of the nearest point of positive weight
    nearest_distance: np.ndarray
    # (P, d): what moving y_j off a data value x_ij (p < 2, a point not at y) could gain
    # at most; 0 below y_j's resolution, inf where y_j is no data value (see _direction)
    pin_gain: np.ndarray
    closest: np.ndarray  # (P, d): the x_ij of positive weight nearest to y_j
    closest_gap: np.ndarray  # (P, d): |y_j - closest_j|
    weight: np.ndarray  # W = sum_i w_i
    irls: np.ndarray  # (P, d): sum_i w_i |z_ij|^(p-2) / N_i^(p-1), the IRLS step's scale
    near_gap: np.ndarray  # f(y) - f* <= near_gap, from the near points alone (see near_bound)
    spread: np.ndarray  # F = W f_N / W_N, the gap's unit
    dual_mass: np.ndarray  # (P, d): G = sum_i |u_i|, the scale of the gradient's rounding
    sums: np.ndarray  # the pass's, as the kernel gave them (see _moved_duals)


def evaluate(
    pts: Points, rows: np.ndarray, y: np.ndarray, p: float, shift: np.ndarray | None = None
) -> _State:
    """Return f, its bound, gradient and Hessian of problems ``rows`` at ``y``: one pass.

    ``shift``: the bound from the duals at ``y + shift`` instead (see polished_bound).
    """
    d = y.shape[1]
    near = None if pts.near is None else pts.near[rows]
    w = None if pts.unit else pts.w
    sums = pts.kernels.lp_pass(pts.x, w, rows, y, shift, near, p, pts.threads)

    def block(k):
        return sums[:, LP_HEAD + k * d : LP_HEAD + (k + 1) * d]

    eta = sums[:, LP_ETA]
    g, gnorm = cancel_at_y(block(0), eta, p)
    bound = assemble(
        sums[:, LP_F], sums[:, LP_WEIGHT], sums[:, LP_S], sums[:, LP_A], g, block(1),
        block(2), block(3), sums[:, LP_EXCESS], p, gnorm,
    )  # fmt: skip
    # np.take gives C order (sums[:, cols] would not): the batched solves round by layout.
    H = -np.take(sums, _hessian_columns(d), axis=1)
    H[:, np.arange(d), np.arange(d)] += block(4)
    pin_gain = np.full(y.shape, np.inf)
    steep = block(5)
    if p < 2 and (steep > 0).any():
        # At y_j = x_ij the term of point i is about w_i |t|^p / (p N_i^(p-1)) in the
        # coordinate's move t: the gradient g_j of the others is balanced at
        # |t| = (|g_j| / sum_i w_i N_i^(1-p))^(1/(p-1)), steep being that sum over the
        # points with y_j = x_ij, and moving y_j gains at most the largest
        # |g_j| |t| - steep |t|^p / p, (1 - 1 / p) |g_j| reach (near p = 1 almost always
        # nothing, reach being below y_j's resolution).
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            reach = (np.abs(g) / np.where(steep > 0, steep, 1.0)) ** (1.0 / (p - 1.0))
            gain = np.where(np.abs(g) < steep, (1.0 - 1.0 / p) * np.abs(g) * reach, np.inf)
            gain = np.where(reach < np.spacing(np.abs(y)), 0.0, gain)
        pin_gain = np.where(steep > 0, gain, np.inf)
    nearest = sums[:, LP_NEAREST_ROW].astype(np.int64)
    end = LP_HEAD + 6 * d + d * (d + 1) // 2  # the sums end; the nearest coordinates follow
    closest, closest_gap = sums[:, end + d :], sums[:, end : end + d]
    near_gap, spread = near_bound(sums, gnorm, block(3), p)
    return _State(bound.objective, bound.lower_bound, g, H, sums[:, LP_CURVATURE], nearest,
                  sums[:, LP_NEAREST], pin_gain, closest, closest_gap,
                  sums[:, LP_WEIGHT], block(4) / (p - 1.0), near_gap, spread,
                  block(3), sums)  # fmt: skip


@functools.cache
def _hessian_columns(d: int) -> np.ndarray:
    """Return where ``H[j, k]``'s sum is in a pass's sums (the kernel keeps ``k <= j`` only)."""
    i = np.arange(d)
    j, k = np.maximum.outer(i, i), np.minimum.outer(i, i)
    return LP_HEAD + 6 * d + j * (j + 1) // 2 + k


def near_bound(sums: np.ndarray, gnorm: np.ndarray, G: np.ndarray, p: float):
    r"""Return ``(gap_N, F)``: ``f(y) - f* <= gap_N`` from the near points, and its unit.

    Far points (a fill value, a row at ``1e200``) make ``f`` their distances, and
    ``(f - LB) / f`` tiny wherever ``y`` sits in the cloud: no statement about the median.
    As for ``p = 2`` (the certificate guide), the residual gradient is absorbed by the
    points within the near radius ``R`` only (:math:`N`, weight :math:`W_N`, objective
    :math:`f_N`). With :math:`\tilde u_i` the exact duals at ``y``
    (:math:`\lVert \tilde u_i \rVert_q = w_i`, :math:`\tilde u_i \cdot z_i = w_i N_i`),
    :math:`\tilde g = \sum_i \tilde u_i` and :math:`h = \tilde g - \beta G_N`, the duals
    :math:`v_i = (1 - \beta) \tilde u_i - (w_i / W_N) h` on :math:`N` (:math:`\tilde u_i`
    elsewhere) sum to 0, and are feasible once :math:`\lVert h \rVert_q \le \beta W_N`,
    which :math:`\beta = \lVert \tilde g \rVert_q / (2 W_N - W - \lVert \tilde g \rVert_q)`
    ensures (as :math:`\lVert G_N \rVert_q \le \lVert \tilde g \rVert_q + W - W_N`). Their
    value leaves :math:`\beta f_N + h \cdot (y - \bar x_N) \le 2 \beta f_N`: the far points
    pay nothing. :math:`\lVert \tilde g \rVert_q` is bounded by the computed ``g``'s plus
    the rounding of its sum (131 u of :math:`\sum_i |u_{ij}|`, ``G``) and of each dual
    (``dual_rounding`` u of it); the sums carry ``2**-40``. The gap's unit
    is :math:`F = W f_N / W_N` (``f`` itself when every point is near). ``gnorm``: the
    computed ``g``'s q-norm; ``G``: :math:`\sum_i |u_i|`.
    """
    f, W = sums[:, LP_F], sums[:, LP_WEIGHT]
    WN, fN = sums[:, LP_W_NEAR], sums[:, LP_F_NEAR]
    gbound = gnorm + gradient_rounding(G, p)
    margin = _MARGIN
    den = 2.0 * WN * (1.0 - margin) - W * (1.0 + margin) - gbound
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(den > 0, gbound / np.where(den > 0, den, 1.0), np.inf)
        near_gap = np.where(beta <= 1.0, 2.0 * beta * fN * (1.0 + margin), np.inf)
        spread = np.where((WN > 0) & (fN > 0), W * fN / np.where(WN > 0, WN, 1.0), f)
    return near_gap, spread


def gradient_rounding(G: np.ndarray, p: float) -> np.ndarray:
    """Return a bound on ``||g~ - g||_q``, the computed gradient's error; ``G = sum_i |u_i|``.

    The rounding of its sum (131 u of ``G``) and of each dual (``dual_rounding`` u of it).
    """
    d = G.shape[-1]
    return (131.0 + dual_rounding(p, d)) * 2.0**-53 * p_norm(G, dual_exponent(p), axis=-1)


def carried_gap(at: _State, y_hat: np.ndarray, y: np.ndarray, p: float) -> np.ndarray:
    r"""Return a bound on :math:`f(\hat y) - f(y)`, ``at`` the state at :math:`\hat y`.

    By convexity, :math:`f(y) \ge f(\hat y) + g \cdot (y - \hat y)` for the subgradient
    :math:`g` of the pass at :math:`\hat y` (its choice for points at :math:`\hat y`
    included): :math:`f(\hat y) - f(y) \le g \cdot (\hat y - y)`, plus the computed
    ``g``'s rounding (:func:`gradient_rounding`) times :math:`\lVert \hat y - y \rVert_p`
    and the product's own. Where :math:`\hat y` is ``y`` rounded to the points' dtype this
    is about :math:`\delta^T H \delta` (:math:`g \approx H \delta`), second order in the
    rounding :math:`\delta`, where the bound at :math:`\hat y` itself is first order (its
    gradient's).
    """
    delta = y_hat - y
    terms = at.gradient * delta
    d = delta.shape[-1]
    slack = gradient_rounding(at.dual_mass, p) * p_norm(delta, p, axis=-1)
    slack += (d + 2) * 2.0**-53 * np.sum(np.abs(terms), axis=-1)
    return (np.sum(terms, axis=-1) + slack) * (1.0 + _MARGIN)


def _directions(xt: np.ndarray, y: np.ndarray, p: float):
    r"""Return ``z = y - x``, ``N_i = ||z_i||_p``, ``a_i = |z_i| / N_i`` and ``s_i``.

    One power per coordinate: :math:`|r|^p = |r|^{p-1} |r|` and
    :math:`a^{p-1} = |r|^{p-1} / (\sum |r|^p)^{(p-1)/p}` for :math:`r = z / \max |z|`.
    """
    z = y[:, :, None] - xt
    m = np.abs(z)
    big = np.max(m, axis=1, keepdims=True)
    m /= np.where(big > 0, big, 1.0)
    m1 = abs_power(m, p - 1.0)
    ap = np.sum(m1 * m, axis=1, keepdims=True)  # in [1, d], or 0 at y
    ap = np.where(ap > 0, ap, 1.0)
    N = big[:, 0, :] * ap[:, 0, :] ** (1.0 / p)
    a = m / ap ** (1.0 / p)
    return z, N, a, np.sign(z) * (m1 / ap ** ((p - 1.0) / p))


def polished_bound(
    pts: Points,
    rows: np.ndarray,
    y: np.ndarray,
    p: float,
    state: _State,
    tol: float,
    shifted: bool = True,
) -> np.ndarray:
    """Return a better bound at ``y`` (``state``: there) from other duals: one or two passes.

    The bound holds for any ``||u_i||_q <= w_i``, not only the gradient at ``y``, and
    ``y`` can only be a float64 point: near ``p = 1`` (a gradient that changes by much
    across one ulp of ``y``) or for large ``p`` far from the origin (a large Hessian), the
    gradient at every representable ``y`` stays well away from 0. Two other choices, the
    better bound kept:

    - the duals at ``y + delta``, Newton's step ``delta`` below ``y``'s resolution: the
      differences ``z_i + delta`` are formed exactly enough where ``y`` itself cannot move;
    - where that is not within ``tol`` and the points are in memory, the gradient's duals
      with each ``g_j`` taken from one point whose ``|u_ij|`` is smallest (it weighs least
      in the q-norm, and ``z_ij`` is near 0, so ``S`` hardly changes), each ``u_i`` then
      scaled back to its weight; that point taken twice, the better bound kept: among
      all, and among those with ``z_ij`` of the sign of ``g_j`` or 0, whose ``|u_ij|``
      then shrinks (near ``p = 1`` even a tiny ``z_ij`` has ``|u_ij|`` near 1: a share
      of the other sign adds to its q-norm).

    ``shifted=False``: the second choice alone (see _polish_pays).
    """
    better = state.lower_bound.copy()
    if shifted:
        shift = _direction(state, p, tol)
        better = np.maximum(better, evaluate(pts, rows, y, p, shift=shift).lower_bound)
    f = state.objective
    left = np.flatnonzero(certified_gap(f, better, state.near_gap, state.spread) > tol)
    if left.size == 0 or not isinstance(pts.x, np.ndarray):  # in memory only
        return better
    w = pts.w[rows[left]]
    sums = state.sums[left]
    g = sums[:, LP_HEAD : LP_HEAD + y.shape[1]]  # before the points at y take their share
    xt = _problems(pts.x, rows[left]).transpose(0, 2, 1)
    m = np.subtract(y[left][:, :, None], xt, out=np.empty(xt.shape))  # z, (P, d, n) C order
    other = m * g[:, :, None] < 0  # z_ij of the sign of -g_j
    np.abs(m, out=m)
    # a_ij = |z_ij| / N_i is within a factor d^(1/p) of |z_ij| / max_l |z_il|, which needs
    # no power: _least finds the least a_ij among the few points that this leaves.
    with np.errstate(invalid="ignore"):
        m /= np.max(m, axis=1, keepdims=True)  # NaN for the points at y, and NaN rows
    if not (w > 0).all():
        m[np.broadcast_to(w[:, None, :] <= 0, m.shape)] = np.nan
    np.nan_to_num(m, copy=False, nan=np.inf)
    same = m + 4.0 * other  # the points of the other side beyond every one of this (m <= 1)
    for key, side in ((same, other), (m, None)):
        k = _least(pts.x, rows[left], y[left], p, key, side)
        moved = _moved_duals(pts, rows[left], y[left], p, sums, k)
        better[left] = np.maximum(better[left], moved.lower_bound)
        gap = certified_gap(f[left], better[left], state.near_gap[left], state.spread[left])
        if (gap <= tol).all():
            break
    return better


def _least(x, rows, y, p: float, key: np.ndarray, other: np.ndarray | None) -> np.ndarray:
    r"""Return ``k`` ``(P, d)``: per problem and coordinate the point of least exact key.

    ``key`` ``(P, d, n)``: :math:`|z_{ij}| / \max_l |z_{il}|` (inf for the points not
    taken), plus 4 where ``other``; the exact key has :math:`a_{ij}` in its place, which
    lies between it over :math:`d^{1/p}` and it. So only points within that factor of the
    least key can have the least exact key; their norms are computed, a few rows. Where
    they are too many, the least key is taken.
    """
    k = np.argmin(key, axis=2)
    P, d, _ = key.shape
    low = np.take_along_axis(key, k[:, :, None], axis=2)
    reach = d ** (1.0 / p) * (1.0 + 2.0**-40)
    pp, jj, ii = np.nonzero((key <= low * reach) & (low < np.inf))
    if pp.size <= P * d or pp.size > _LEAST_ROWS * P * d:
        return k
    z = y[pp] - np.asarray(x[rows[pp], ii], dtype=np.float64)
    exact = np.abs(z[np.arange(pp.size), jj]) / p_norm(z, p, axis=1)
    if other is not None:
        exact += 4.0 * other[pp, jj, ii]
    order = np.lexsort((exact, jj, pp))
    pp, jj, ii = pp[order], jj[order], ii[order]
    head = np.ones(pp.size, dtype=bool)
    head[1:] = (pp[1:] != pp[:-1]) | (jj[1:] != jj[:-1])
    k[pp[head], jj[head]] = ii[head]
    return k


def _problems(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Return ``x[idx]``, a view where ``idx`` are consecutive (no copy of one large problem)."""
    if idx.size and idx[-1] - idx[0] == idx.size - 1 and (np.diff(idx) == 1).all():
        return x[idx[0] : idx[-1] + 1]
    return x[idx]


def _moved_duals(pts: Points, rows: np.ndarray, y: np.ndarray, p: float, sums: np.ndarray, k):
    r"""Return the bound of the pass's duals with each :math:`g_j` moved into point ``k_j``.

    ``sums``: the pass's at ``y`` (its gradient before the points at ``y`` take their
    share); ``k`` ``(P, d)``. Point ``k_j``'s dual gives up :math:`g_j` in coordinate
    ``j`` (a point chosen for several coordinates gives up each), and each such dual is
    then scaled back to its weight: only those few change, so the bound follows from the
    pass's sums, corrected by them. The corrections use their duals as computed here,
    which differ from the pass's by their rounding: the duals certified are the pass's for
    the other points and these plus that difference (``_MARGIN`` of each weight, measured
    into the excess).
    """
    P, d = k.shape
    pi = np.arange(P)[:, None]
    xk = np.asarray(pts.x[rows[:, None], k], dtype=np.float64)  # (P, d points, d)
    wk = pts.w[rows[:, None], k]
    z, _, _, s = _directions(xk.transpose(0, 2, 1), y, p)  # (P, d coords, d points)
    u = wk[:, None, :] * s
    g = sums[:, LP_HEAD : LP_HEAD + d]
    # The first slot of each point takes every g_j moved into it; the others change nothing.
    first = np.argmax(k[:, :, None] == k[:, None, :], axis=2)  # (P, d): the slot of k_j
    v = u.copy()
    np.subtract.at(v, (pi, np.arange(d)[None, :], first), g)
    # A point of weight zero (none other left to choose) takes nothing: its g_j stays.
    own = (first == np.arange(d)[None, :]) & (wk > 0)
    q = dual_exponent(p)
    norms = p_norm(v, q, axis=1)
    v *= np.minimum(1.0, wk / np.where(norms > 0, norms, 1.0))[:, None, :]
    change = np.where(own[:, None, :], v - u, 0.0)
    mag = np.where(own[:, None, :], np.abs(v) + np.abs(u), 0.0)
    z = np.where(own[:, None, :], z, 0.0)  # a NaN row's
    gs = g + np.sum(change, axis=2)
    S = sums[:, LP_S] + np.sum(change * z, axis=(1, 2))
    A = sums[:, LP_A] + np.sum(mag * np.abs(z), axis=(1, 2))
    G = sums[:, LP_HEAD + 3 * d : LP_HEAD + 4 * d] + np.sum(mag, axis=2)
    slack = _MARGIN + dual_rounding(p, d) * 2.0**-52
    ratio = (p_norm(v, q, axis=1) + slack * wk) / np.where(own, wk, 1.0)
    excess = np.maximum(sums[:, LP_EXCESS], np.max(np.where(own, ratio, 0.0), axis=1))
    gs, gnorm = cancel_at_y(gs, sums[:, LP_ETA], p)
    return assemble(
        sums[:, LP_F], sums[:, LP_WEIGHT], S, A, gs, sums[:, LP_HEAD + d : LP_HEAD + 2 * d],
        sums[:, LP_HEAD + 2 * d : LP_HEAD + 3 * d], G, excess, p, gnorm,
    )  # fmt: skip


def certified_gap(f, lb, near_gap, spread) -> np.ndarray:
    """Return the relative gap: the smaller of ``f - lb`` and the near bound, over ``F``.

    0 where ``F = 0`` (every point at ``y``); NaN where ``F`` is, and ``f - lb`` infinite
    where ``lb`` is +inf or NaN (sums that overflowed): never certified.
    """
    gap = np.minimum(np.where(lb < np.inf, f - lb, np.inf), near_gap)
    unset = np.where(spread == 0, 0.0, np.nan)
    return np.where(spread > 0, gap / np.where(spread > 0, spread, 1.0), unset)


def _direction(s: _State, p: float, tol: float, method: str = "newton") -> np.ndarray:
    r"""Return the step of ``method``; for Newton, Weiszfeld's scaled gradient where it fails.

    ``"weiszfeld"``: the Lp generalisation of Weiszfeld's step (iteratively reweighted least
    squares), :math:`y_j \leftarrow \sum_i c_{ij} x_{ij} / \sum_i c_{ij}` with
    :math:`c_{ij} = w_i |z_{ij}|^{p-2} / N_i^{p-1}`, that is :math:`-g_j / \sum_i c_{ij}`;
    ``"gd"``: the gradient scaled by :math:`1 / \sum_i w_i / N_i`; ``"newton"``: Newton's.

    At a data point (weight :math:`\eta` at ``y``, ``g`` what is left once it took its
    share) ``f`` has a cone: along :math:`\delta` it changes by
    :math:`(g + \eta\, g / \lVert g \rVert_q) \cdot \delta + \eta \lVert \delta
    \rVert_p`, which ``-g`` need not decrease for ``p != 2``. There every method steps
    along the p-norm's steepest descent, :math:`-D(g)` with
    :math:`D(g)_j = \operatorname{sign}(g_j) |g_j|^{q-1} / \lVert g \rVert_q^{q-2}`
    (:math:`g \cdot D(g) = \lVert g \rVert_q^2 = \lVert D(g) \rVert_p^2`), scaled as the
    gradient: it decreases ``f`` at the rate :math:`\lVert g \rVert_q^2` whenever
    Kuhn's test fails (:math:`g \ne 0`).
    """
    scale = np.where(s.curvature > 0, s.curvature, 1.0)[:, None]
    at_point = (s.nearest_distance == 0)[:, None]
    fallback = -s.gradient / scale
    if method == "weiszfeld":
        fallback = -s.gradient / np.where(s.irls > 0, s.irls, 1.0)
    if at_point.any():
        fallback = np.where(at_point, -_dual_map(s.gradient, p) / scale, fallback)
    if method != "newton":
        return fallback
    g = s.gradient
    H = s.hessian.copy()
    d = H.shape[-1]
    # A coordinate on a data value has infinite curvature (|t|^(p-1) has an infinite slope
    # at 0): Newton leaves it pinned there where moving it could gain at most tol / 16 of f
    # (near p = 1 a Newton step across the value zigzags, and stalls the other coordinates).
    # Only where every point is near: beside far points only the near bound certifies, and
    # it needs the gradient itself to vanish.
    diagonal = np.arange(d)
    every_near = s.sums[:, LP_W_NEAR] == s.sums[:, LP_WEIGHT]
    pin = (s.pin_gain <= tol / 16.0 * s.spread[:, None]) & every_near[:, None]
    if pin.any():
        H = np.where(pin[:, :, None] | pin[:, None, :], 0.0, H)
        H[:, diagonal, diagonal] = np.where(pin, 1.0, H[:, diagonal, diagonal])
        g = np.where(pin, 0.0, g)
    # A relative ridge of 2**-40 keeps a singular Hessian (a flat direction) solvable.
    ridge = 2.0**-40 * np.max(np.abs(H[:, diagonal, diagonal]), axis=1)
    H[:, diagonal, diagonal] += np.where(ridge > 0, ridge, 1.0)[:, None]
    try:
        step = -np.linalg.solve(H, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        step = np.full_like(g, np.nan)
    # The fallback moves every coordinate, pinned or not: a pin that descent leaves goes.
    bad = ~np.isfinite(step).all(axis=1) | (np.sum(step * g, axis=1) >= 0) | at_point[:, 0]
    return np.where(bad[:, None], fallback, step)


def _dual_map(g: np.ndarray, p: float) -> np.ndarray:
    """Return :math:`D(g)` of :func:`_direction` per row of ``g`` ``(P, d)`` (no overflow)."""
    q = dual_exponent(p)
    big = np.max(np.abs(g), axis=1, keepdims=True)
    r = g / np.where(big > 0, big, 1.0)
    norm = p_norm(r, q, axis=1)[:, None]
    return big * np.sign(r) * abs_power(r, q - 1.0) / np.where(norm > 0, norm, 1.0) ** (q - 2.0)


def newton_median(
    pts: Points,
    y0: np.ndarray,
    p: float,
    tol: float,
    max_iter: int,
    method: str = "newton",
    max_passes: float = np.inf,
):
    """Solve every problem of ``pts`` from ``y0`` ``(P, d)``; return the state per problem.

    ``method``: the step, ``"newton"``, ``"weiszfeld"`` or ``"gd"`` (see ``_direction``),
    each safeguarded by the same line search. A problem whose passes reach ``max_passes``
    takes no further step (its status stays 1, as at ``max_iter``).

    Returns ``(y, f, lb, n_iter, n_passes, status, near_gap, spread)`` with status 0
    (certified), 1 (``max_iter``) or 2 (no decrease found: floating-point resolution); the
    gap is :func:`certified_gap` of ``f``, ``lb``, ``near_gap`` and ``spread``.
    """
    P = pts.x.shape[0]
    y = y0.copy()
    state = evaluate(pts, np.arange(P), y, p)
    f, lb = state.objective.copy(), state.lower_bound.copy()
    near_gap, spread = state.near_gap.copy(), state.spread.copy()
    n_iter = np.zeros(P, dtype=np.int64)
    n_passes = np.ones(P, dtype=np.int64)
    status = np.ones(P, dtype=np.int32)
    flats = np.zeros(P, dtype=np.int64)
    mark = np.full(P, np.inf)
    first = np.ones(P)  # each problem's first trial step (see _secant_step)
    own = np.full(P, np.inf)  # the gap of the gradient's duals at y
    early = p < 2 and isinstance(pts.x, np.ndarray)  # see _polish_pays
    if early:
        wbar = state.weight / np.maximum(np.count_nonzero(pts.w > 0, axis=1), 1)
    zigzags = early and pts.x.shape[1] <= _ZIGZAG_ROWS
    flips = np.zeros(y0.shape, dtype=np.int64)  # steps running that g_j jumped across 0
    for _ in range(max_iter):
        done = certified_gap(f, lb, near_gap, spread) <= tol
        status[done] = 0
        # Sums that overflowed (points 1e-300 of the largest apart, once scaled: 1 / N_i
        # beyond float64) judge no step: stop there (the caller reports the range).
        status[(status == 1) & ~(np.isfinite(f) & np.isfinite(lb))] = 2
        active = np.flatnonzero((status == 1) & ~done & (n_passes < max_passes))
        if active.size == 0:
            break
        sub = _take(state, active)
        direction = _direction(sub, p, tol, method)
        slope = np.sum(direction * sub.gradient, axis=1)
        t = first[active].copy()
        searching = np.ones(active.size, dtype=bool)
        blind = np.zeros(active.size, dtype=np.int64)  # trials f could not judge, rejected
        new = sub
        ynew = y[active].copy()
        for _ in range(_HALVINGS):
            idx = np.flatnonzero(searching & (blind < _BLIND_HALVINGS))
            if idx.size == 0:
                break
            trial = y[active[idx]] + t[idx, None] * direction[idx]
            tr = evaluate(pts, active[idx], trial, p)
            n_passes[active[idx]] += 1
            f0 = sub.objective[idx]
            # Where f cannot resolve the step (far points make f huge: its rounding exceeds
            # the change across the whole cloud), Armijo's test passes any step that leaves
            # f equal; there a step that leaves f within its rounding and shrinks the
            # gradient is progress the certificate will see, and no other.
            level = tr.objective <= f0 + _F_NOISE * np.abs(f0)
            unresolved = np.abs(t[idx] * slope[idx]) <= _F_NOISE * np.abs(f0)
            ok = (tr.objective <= f0 + _ARMIJO * t[idx] * slope[idx]) & ~unresolved
            ok |= certified_gap(tr.objective, tr.lower_bound, tr.near_gap, tr.spread) <= tol
            if (level & unresolved).any():  # the gradient's norm judges these alone
                smaller = np.sum(tr.gradient**2, axis=1) < np.sum(sub.gradient[idx] ** 2, axis=1)
                ok |= level & smaller & unresolved
            blind[idx[~ok & unresolved]] += 1
            acc = idx[ok]
            ynew[acc] = trial[ok]
            new = _put(new, acc, _take(tr, np.flatnonzero(ok)))
            searching[acc] = False
            t[idx[~ok]] *= 0.5
        if method == "newton" and p < 2:  # see _secant_step
            first[active] = _secant_step(sub, new, direction, t, ~searching)
        # Near the optimum (no decrease worth tol left, or none at all) and not yet
        # certified: polish the duals.
        flat = searching | (sub.objective - new.objective <= tol * sub.objective)
        flat &= certified_gap(new.objective, new.lower_bound, new.near_gap, new.spread) > tol
        if flat.any():
            idx = np.flatnonzero(flat)
            where = active[idx]
            yp = np.where(searching[idx, None], y[where], ynew[idx])
            # new holds the state at yp: sub's where no step was accepted.
            better = polished_bound(pts, where, yp, p, _take(new, idx), tol)
            n_passes[where] += 1
            lb[where] = np.maximum(lb[where], better)
        if early:
            gap = certified_gap(new.objective, new.lower_bound, new.near_gap, new.spread)
            # Where the last step was cut short by the secant (the curvature of the data
            # values near y: p near 1), the gradient is slow to certify.
            pays = ~flat & ~searching & (first[active] < 1.0)
            pays &= _polish_pays(new, gap, own[active], wbar[active], p, tol)
            if pays.any():
                idx = np.flatnonzero(pays)
                where = active[idx]
                better = polished_bound(pts, where, ynew[idx], p, _take(new, idx), tol, False)
                n_passes[where] += 1
                lb[where] = np.maximum(lb[where], better)
            own[active[~searching]] = gap[~searching]
        # No decrease left to find, or _FLAT_ROUNDS iterations that did not halve the gap
        # (float64's resolution of y: the steps and the duals reach no further).
        now = certified_gap(f[active], lb[active], near_gap[active], spread[active])
        halved = now <= 0.5 * mark[active]
        mark[active] = np.where(halved, now, mark[active])
        flats[active] = np.where(halved, 0, flats[active] + 1)
        stuck = (searching | (flats[active] >= _FLAT_ROUNDS)) & (now > tol)
        status[active[stuck]] = 2
        moved = ~searching
        new = _try_points(pts, active, ynew, new, p, moved, n_passes)
        if p < 2:  # where Newton creeps, and the polished duals did not certify
            open_ = _uncertified(new, lb[active], tol)
            new = _try_coordinates(pts, active, ynew, new, p, moved & flat & open_, n_passes)
        if zigzags:
            # A coordinate whose gradient jumped across 0 by half a point's weight or more
            # at two steps running zigzags across a data value x_ij (one point's kink, near
            # p = 1), often the optimum's y_j, without landing on it: that coordinate alone
            # is tried on it. Few rows only: the pass is cheap, and among many a flip is
            # mostly Newton's overshoot.
            flip = (np.sign(new.gradient) * np.sign(sub.gradient) < 0) & moved[:, None]
            flip &= np.abs(new.gradient - sub.gradient) >= 0.5 * wbar[active][:, None]
            flips[active] = np.where(flip, flips[active] + 1, 0)
            zigzag = flips[active] >= 2
            open_ = _uncertified(new, lb[active], tol)
            new = _try_coordinates(
                pts, active, ynew, new, p, moved & open_ & zigzag.any(axis=1), n_passes, zigzag
            )
        y[active[moved]] = ynew[moved]
        f[active[moved]] = new.objective[moved]
        lb[active[moved]] = np.maximum(lb[active[moved]], new.lower_bound[moved])
        near_gap[active[moved]] = new.near_gap[moved]
        spread[active[moved]] = new.spread[moved]
        n_iter[active[moved]] += 1
        state = _put(state, active, new)
    done = certified_gap(f, lb, near_gap, spread) <= tol
    status[done] = 0
    return y, f, lb, n_iter, n_passes, status, near_gap, spread


def _uncertified(s: _State, lb: np.ndarray, tol: float) -> np.ndarray:
    """Return where the state ``s`` is not certified, its bound raised to ``lb`` (the best)."""
    lbn = np.maximum(lb, s.lower_bound)
    return certified_gap(s.objective, lbn, s.near_gap, s.spread) > tol


def _secant_step(sub: _State, new: _State, direction, t, accepted) -> np.ndarray:
    r"""Return the next first trial step: shorter where the Hessian understates the curvature.

    Along the accepted step :math:`s = t \delta`, the gradient changed by
    :math:`\rho\, s^T H s` (:math:`\rho = 1` for a quadratic). Near ``p = 1`` the Hessian
    at ``y`` misses the curvature of the data values ``y`` crosses on its way (each a
    spike of :math:`|t|^{p-2}`, absent at ``y`` itself): Newton's full step then overshoots
    at every iteration, and the line search pays a pass to halve it. Where
    :math:`\rho > 3/2` the next search starts at :math:`1 / \rho`; elsewhere at 1
    (quadratic convergence, where :math:`\rho \to 1`, is left alone). Newton's
    method, ``p < 2`` only.
    """
    s = t[:, None] * direction
    Hs = (sub.hessian @ s[:, :, None])[:, :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.sum(s * (new.gradient - sub.gradient), axis=1) / np.sum(s * Hs, axis=1)
    short = accepted & np.isfinite(rho) & (rho > _SECANT_RHO)
    return np.where(short, np.maximum(1.0 / np.where(short, rho, 1.0), 2.0**-10), 1.0)


def _polish_pays(s: _State, gap, before, wbar, p: float, tol: float) -> np.ndarray:
    r"""Return where polished_bound's second duals are worth their pass now (``p < 2``).

    The gradient's duals certify within :math:`\lVert g \rVert`; near ``p = 1`` the
    gradient hardly shrinks once ``y`` is among the data values, while ``f`` keeps
    converging: the polished duals then certify passes earlier. Their pass is taken where
    the next Newton pass is not expected to certify (its gap, at the last rate, above
    ``tol``) and the polished gap is expected within ``2 tol``: :math:`f - f^*` about
    Newton's decrement :math:`-g \cdot \delta / 2`, plus the change of ``S`` as each
    :math:`g_j` moves to a point near :math:`y_j` (at most ``closest_gap`` away), plus
    what scaling that point back costs where :math:`|g_j|` (in units of the mean weight
    ``wbar``) overshoots its :math:`|u_{ij}| \approx (\text{closest\_gap} / \bar N)^{p-1}`
    (its excess q-norm, times its weight and twice :math:`\bar N = f / W`).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        slow = gap * (gap / before) > tol
        mean = (s.objective / s.weight)[:, None]
        u = (s.closest_gap / np.where(mean > 0, mean, 1.0)) ** (p - 1.0)
        share = np.abs(s.gradient) / wbar[:, None]
        q = dual_exponent(p)
        excess = np.sum(np.maximum(np.maximum(share - u, 0.0) ** q - u**q, 0.0), axis=1) / q
    decrement = -np.sum(_direction(s, p, tol) * s.gradient, axis=1) / 2.0
    moved = np.sum(np.abs(s.gradient) * s.closest_gap, axis=1)
    expected = decrement + moved + 2.0 * excess * wbar * mean[:, 0]
    return (gap > tol) & slow & (expected <= 2.0 * tol * s.spread)


def _try_points(pts, active, ynew, new, p, moved, n_passes):
    """Where the iterate nears a data point, take the point itself if it is no worse.

    "Near": within ``2**-10`` of the mean distance to the near points (``F / W``; far points
    would make any point of the cloud near).
    """
    F, W = new.spread, new.weight
    near = (
        moved
        & (new.nearest_distance * W < 2.0**-10 * np.where(F > 0, F, 1.0))
        & (new.nearest_distance > 0)
    )
    idx = np.flatnonzero(near)
    if idx.size == 0:
        return new
    problems, rows = active[idx], new.nearest[idx]
    # A Dask array's rows are gathered pointwise (vindex).
    cand = getattr(pts.x, "vindex", pts.x)[problems, rows]
    cand = np.asarray(cand, dtype=np.float64)
    return _keep_if_no_worse(pts, active, idx, cand, new, new.objective, ynew, p, n_passes)


def _keep_if_no_worse(pts, active, idx, cand, new, f, ynew, p, n_passes):
    """Keep the candidates ``cand`` of problems ``active[idx]`` whose f is no worse than ``f``.

    One pass evaluates them; the kept ones go into ``ynew`` and the state ``new``. A tie in
    ``f`` (within its rounding where far points make it huge) goes to the smaller gradient.
    """
    tr = evaluate(pts, active[idx], cand, p)
    n_passes[active[idx]] += 1
    steeper = np.sum(tr.gradient**2, axis=1) > np.sum(new.gradient[idx] ** 2, axis=1)
    noise = _F_NOISE * np.abs(f[idx])
    ok = (tr.objective < f[idx] - noise) | ((np.abs(tr.objective - f[idx]) <= noise) & ~steeper)
    acc = idx[ok]
    ynew[acc] = cand[ok]
    return _put(new, acc, _take(tr, np.flatnonzero(ok)))


def _try_coordinates(pts, active, ynew, new, p, moved, n_passes, only=None):
    """Snap each coordinate ``y_j`` that nears some ``x_ij`` onto it, if ``f`` is no worse.

    "Nears": as in :func:`_try_points`, per coordinate. ``only`` ``(P, d)``: those
    coordinates alone.
    """
    F, W = new.spread, new.weight
    close = new.closest_gap
    snap = (close > 0) & (close * W[:, None] < 2.0**-10 * np.where(F > 0, F, 1.0)[:, None])
    if only is not None:
        snap &= only
    idx = np.flatnonzero(moved & snap.any(axis=1))
    if idx.size == 0:
        return new
    cand = np.where(snap[idx], new.closest[idx], ynew[idx])
    return _keep_if_no_worse(pts, active, idx, cand, new, new.objective, ynew, p, n_passes)


# idx: sorted distinct problem indices (np.flatnonzero's). A state is never written in
# place (_put copies), so where idx is every problem (one problem: always, while it runs)
# the state itself serves: no copy of its 17 fields.
def _take(s: _State, idx: np.ndarray) -> _State:
    if idx.size == s.objective.shape[0]:
        return s
    return _State(*(field[idx] for field in s))


def _put(s: _State, idx: np.ndarray, part: _State) -> _State:
    if idx.size == 0:
        return s
    if idx.size == s.objective.shape[0]:
        return part
    fields = []
    for field, new in zip(s, part):
        field = field.copy()
        field[idx] = new
        fields.append(field)
    return _State(*fields)
