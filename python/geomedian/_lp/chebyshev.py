"""``p = inf``: the Chebyshev median by linear programs in a trust region, certified by the l1 dual.

``f(y) = sum_i w_i max_j |y_j - x_ij|`` is piecewise linear. Around the iterate ``y``, a
point whose largest coordinate ``|y_j - x_ij|`` leads the second by more than ``2 rho`` (and
is above ``rho``) contributes the linear term ``w_i sign(y_j - x_ij) (y'_j - x_ij)`` for
every ``y'`` with ``||y' - y||_inf <= rho``; those terms are added up into one vector. The
other points (at most ``EXPLICIT_POINTS``, by the choice of ``rho``; all of them in a
small problem, with no box) enter the linear program

    min sum_E w_i t_i + c . y'   subject to   -t_i <= y'_j - x_ij <= t_i,  |y'_j - y_j| <= rho,

solved by SciPy's HiGHS. Its multipliers ``a_ij, b_ij >= 0`` give ``u_i = a_i - b_i`` with
``||u_i||_1 <= w_i``; the linear points keep ``u_i = w_i sign e_j``. When the box is not
binding these balance (``sum_i u_i = 0``): the l1 dual certifies ``y'`` as a minimiser; the
certificate checks it whatever the solver's tolerances. Otherwise ``y'`` (a decrease of f)
is the next iterate. The start is Newton's Lp median for ``p = 16``.
"""

from __future__ import annotations

import numpy as np

from .certificate import Bound, lower_bound

__all__ = ["EXPLICIT_POINTS", "ROUNDS", "chebyshev_median"]

EXPLICIT_POINTS = 1024
ROUNDS = 200


def _program(x: np.ndarray, w: np.ndarray, c: np.ndarray, y: np.ndarray, rho: float):
    """Solve the program over the explicit points ``x`` ``(m, d)``: ``y'`` and the duals."""
    try:
        from scipy.optimize import linprog
        from scipy.sparse import coo_matrix
    except ImportError as err:
        raise ImportError(
            "p=inf solves linear programs with SciPy, which is not installed (pip install scipy)"
        ) from err

    # Centred at y: the solver's absolute tolerances then apply to the differences, which
    # are small where the data sit far from the origin.
    x = x - y
    m, d = x.shape
    rows = np.arange(m * d)
    ycol = np.tile(np.arange(d), m)
    tcol = d + np.repeat(np.arange(m), d)
    ones = np.ones(m * d)
    A = coo_matrix(
        (
            np.concatenate([ones, -ones, -ones, -ones]),
            (np.concatenate([rows, rows, rows + m * d, rows + m * d]),
             np.concatenate([ycol, tcol, ycol, tcol])),
        ),
        shape=(2 * m * d, d + m),
    ).tocsr()  # fmt: skip
    b = np.concatenate([x.ravel(), -x.ravel()])
    cost = np.concatenate([c, w])
    box = [(None, None) if rho == np.inf else (-rho, rho)] * d
    res = linprog(
        cost, A_ub=A, b_ub=b, bounds=box + [(0, None)] * m, method="highs",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )  # fmt: skip
    if res.status != 0:
        return None, None
    lam = -np.asarray(res.ineqlin.marginals)
    u = (lam[: m * d] - lam[m * d :]).reshape(m, d).T
    l1 = np.sum(np.abs(u), axis=0)  # rounding may leave ||u_i||_1 a hair above w_i
    return y + res.x[:d], u * np.minimum(1.0, w / np.where(l1 > 0, l1, 1.0))


def _one(xt: np.ndarray, w: np.ndarray, y: np.ndarray, tol: float):
    """Solve one problem ``xt`` ``(d, n)`` from ``y``: the median, its bound, the LPs solved."""
    d, n = xt.shape
    bound = None
    for rounds in range(1, ROUNDS + 1):
        z = y[:, None] - xt
        a = np.abs(z)
        top = np.argmax(a, axis=0)
        first = a[top, np.arange(n)]
        a[top, np.arange(n)] = -1.0
        second = np.max(a, axis=0) if d > 1 else np.zeros(n)
        margin = np.minimum((first - second) * 0.5, first)
        margin[w == 0] = np.inf
        if n <= EXPLICIT_POINTS:
            rho, explicit = np.inf, np.ones(n, dtype=bool)
        else:
            rho = float(np.partition(margin, EXPLICIT_POINTS)[EXPLICIT_POINTS]) * (1 - 2**-20)
            explicit = margin <= rho
        u = np.zeros_like(xt)
        lin = ~explicit
        cols = np.flatnonzero(lin)
        u[top[cols], cols] = w[cols] * np.sign(z[top[cols], cols])
        c = np.sum(u, axis=-1)
        ynew, ue = _program(np.ascontiguousarray(xt[:, explicit].T), w[explicit], c, y, rho)
        if ynew is None:
            break
        u[:, explicit] = ue
        if rho != np.inf:  # the linear points' duals are their gradients at ynew
            u[:, lin] = 0.0
            zn = ynew[:, None] - xt[:, lin]
            topn = np.argmax(np.abs(zn), axis=0)
            u[topn, cols] = w[cols] * np.sign(zn[topn, np.arange(cols.size)])
        y = ynew
        zy = y[:, None] - xt
        bound = lower_bound(zy[None], w[None], np.max(np.abs(zy), axis=0)[None], u[None], np.inf,
                            cancel=False)  # fmt: skip
        f, lb = bound.objective[0], bound.lower_bound[0]
        if f - lb <= tol * f or rho == np.inf:
            return y, bound, rounds
    if bound is None:
        zy = y[:, None] - xt
        N = np.max(np.abs(zy), axis=0)
        bound = lower_bound(zy[None], w[None], N[None], np.zeros((1, d, n)), np.inf, cancel=False)
    return y, bound, ROUNDS


def chebyshev_median(xt: np.ndarray, w: np.ndarray, y0: np.ndarray, tol: float):
    """Solve every problem of ``xt`` ``(P, d, n)`` from ``y0`` ``(P, d)``.

    Return ``(medians, Bound, linear programs solved per problem)``.
    """
    P = xt.shape[0]
    y = y0.copy()
    parts = []
    rounds = np.zeros(P, dtype=np.int64)
    for k in range(P):
        y[k], bound, rounds[k] = _one(xt[k], w[k], y0[k], tol)
        parts.append(bound)
    return y, Bound(*(np.concatenate(f) for f in zip(*parts))), rounds
