"""The l1 dual of a Chebyshev median's linear program, solved by a dense primal simplex.

For centred points ``x`` ``(m, d)`` with weights ``w``, a linear term ``c`` and a box
``|y_j| <= rho`` (``rho = inf``: no box, then ``c`` must be 0), the program

    min_y  c . y + sum_i w_i ||y - x_i||_inf   subject to   |y_j| <= rho

has the dual (variables ``a_ij, b_ij, s_i >= 0`` and, with a box, ``p_j, q_j >= 0``)

    min  sum_ij (a_ij - b_ij) x_ij + rho sum_j (p_j + q_j)
    s.t. sum_j (a_ij + b_ij) + s_i = w_i                  (row i: ||u_i||_1 <= w_i)
         sum_i (a_ij - b_ij) + p_j - q_j = -c_j           (row m + j: the u_i balance)

with ``u_i = a_i - b_i``. It is in standard form with a feasible basis at hand (with a
box: each point's gradient at the centre or its slack, and ``p_j`` or ``q_j``; without: the
slacks and one point's ``a_j`` at level 0), so no first phase is needed. The simplex
multipliers of rows ``m + j`` are the minimiser ``y``. Entering columns follow Dantzig's
rule, and Bland's smallest-index rule after a run of degenerate pivots (no cycling);
ratio-test ties go to the smallest basic index.
"""

from __future__ import annotations

import numpy as np

__all__ = ["chebyshev_programs"]

_DEGENERATE_RUN = 16  # degenerate pivots in a row before Bland's rule takes over
_NO_ROW = np.iinfo(np.int64).max  # beyond every basic index (np.iinfo costs a call a step)


def chebyshev_programs(x: np.ndarray, w: np.ndarray, c: np.ndarray, rho: float):
    """Solve ``K`` programs, centred points ``x`` ``(K, m, d)``, in step with each other.

    Return ``(y, u, solved)``: ``y`` ``(K, d)``, ``u`` ``(K, d, m)`` and where the program was
    solved (not where the iteration cap was reached or no pivot was safe, by rounding).
    Pivoting the ``K`` tableaus together costs one NumPy call per step for them all.
    """
    K, m, d = x.shape
    starts = [_start(x[k], w[k], c[k], rho) for k in range(K)]
    # One problem: views, not copies (its tableau can be large).
    T, cost, basis = (np.stack(part) if K > 1 else part[0][None] for part in zip(*starts))
    R, N = T.shape[1], T.shape[2] - 1
    if rho == np.inf:  # the rows m + j into the starting basis (see _start)
        for row in range(m, R):
            _pivots(T, np.arange(K), np.full(K, row), basis[:, row])
    scale = np.maximum(np.max(np.abs(cost), axis=1), np.finfo(float).tiny)
    tol_cost = 64 * np.finfo(float).eps * scale * (1 + d)
    tol_pivot = 1e-9
    cb = np.take_along_axis(cost, basis, axis=1)
    obj = cost - np.einsum("kr,krn->kn", cb, T[:, :, :N])
    value = np.einsum("kr,kr->k", cb, T[:, :, N])
    run = np.zeros(K, dtype=np.int64)
    live = np.ones(K, dtype=bool)
    solved = np.zeros(K, dtype=bool)
    for _ in range(50 * (R + N)):
        negative = obj < -tol_cost[:, None]
        done = live & ~negative.any(axis=1)
        solved |= done
        live &= ~done
        if not live.any():
            break
        k = np.flatnonzero(live)
        e = np.where(run[k] >= _DEGENERATE_RUN, np.argmax(negative[k], axis=1),
                     np.argmin(obj[k], axis=1))  # fmt: skip
        col = T[k, :, e]  # (L, R): fancy indices k, e around the slice
        ok = col > tol_pivot
        stuck = ~ok.any(axis=1)  # unbounded: not for these programs, but through rounding
        if stuck.any():
            live[k[stuck]] = False
            k, e, col, ok = k[~stuck], e[~stuck], col[~stuck], ok[~stuck]
            if k.size == 0:
                continue
        ratio = np.where(ok, T[k, :, N] / np.where(ok, col, 1.0), np.inf)
        ties = ratio <= ratio.min(axis=1, keepdims=True)
        r = np.argmin(np.where(ties, basis[k], _NO_ROW), axis=1)
        _pivots(T, k, r, e)
        obj[k] -= obj[k, e][:, None] * T[k, r, :N]
        basis[k, r] = e
        rhs = np.maximum(T[k, :, N], 0.0)  # rounding below 0 on degenerate rows
        T[k, :, N] = rhs
        new = np.einsum("kr,kr->k", cost[k[:, None], basis[k]], rhs)
        run[k] = np.where(new >= value[k], run[k] + 1, 0)
        value[k] = np.minimum(value[k], new)
    y = np.zeros((K, d))
    u = np.zeros((K, d, m))
    for k in np.flatnonzero(solved):
        y[k], u[k] = _read(T[k], obj[k], basis[k], x[k], w[k], rho)
    return y, u, solved


def _start(x: np.ndarray, w: np.ndarray, c: np.ndarray, rho: float):
    """Return the tableau ``(m + d, N + 1)``, the costs and the starting basis.

    With a box the tableau is in that basis; without, rows ``m + j`` are still to be
    pivoted onto ``basis[m + j]`` (the caller does so for all its programs at once).
    """
    m, d = x.shape
    boxed = rho != np.inf
    R = m + d
    N = 2 * m * d + m + (2 * d if boxed else 0)
    T = np.zeros((R, N + 1))
    rows = np.arange(m)[:, None]
    a_cols = np.arange(m * d).reshape(m, d)
    b_cols = a_cols + m * d
    T[rows, a_cols] = 1.0
    T[rows, b_cols] = 1.0
    T[np.arange(m), 2 * m * d + np.arange(m)] = 1.0
    T[m + np.arange(d)[None, :], a_cols] = 1.0
    T[m + np.arange(d)[None, :], b_cols] = -1.0
    T[:m, N] = w
    T[m:, N] = -c
    cost = np.zeros(N)
    cost[: m * d] = x.ravel()
    cost[m * d : 2 * m * d] = -x.ravel()
    basis = np.concatenate([2 * m * d + np.arange(m), np.zeros(d, dtype=np.int64)])
    if boxed:
        p_cols = 2 * m * d + m + np.arange(d)
        T[m + np.arange(d), p_cols] = 1.0
        T[m + np.arange(d), p_cols + d] = -1.0
        cost[2 * m * d + m :] = rho
        # Start from each point's gradient at the centre, u_i = w_i sign(-x_ij) e_j on its
        # largest coordinate: most of them stay there, so few pivots are left. Row i then
        # holds its basic column with a 1, which row m + j loses by subtracting row i.
        top = np.argmax(np.abs(x), axis=1)
        sign = -np.sign(x[np.arange(m), top])
        sign[w == 0] = 0.0
        on = sign != 0
        basis[:m] = np.where(on, a_cols[np.arange(m), top] + np.where(sign < 0, m * d, 0),
                             basis[:m])  # fmt: skip
        M = np.zeros((d, m))
        M[top[on], np.flatnonzero(on)] = sign[on]
        T[m:] -= M @ T[:m]
        negative = T[m:, N] < 0
        T[m:][negative] *= -1.0
        basis[m:] = np.where(negative, p_cols + d, p_cols)
    else:
        if np.any(c != 0):
            raise ValueError("a linear term needs a box")
        # Level 0 whichever point it is; the caller pivots rows m + j onto these columns
        # (the slack rows are canonical already), all programs' at once.
        basis[m:] = a_cols[int(np.argmax(w))]
    return T, cost, basis


def _read(T, obj, basis, x, w, rho):
    """Return ``(y, u)`` from an optimal tableau."""
    m, d = x.shape
    N = T.shape[1] - 1
    # The multipliers from the reduced costs of columns with a single 1 in their row
    # (obj = cost - pi A): the slacks for rows i, then p_j, or one point's a_j.
    pi_rows = -obj[2 * m * d : 2 * m * d + m]
    if rho != np.inf:
        y = rho - obj[2 * m * d + m : 2 * m * d + m + d]
    else:
        k = int(np.argmax(w))
        y = x[k] - pi_rows[k] - obj[k * d : (k + 1) * d]
    level = np.zeros(N)
    level[basis] = T[:, N]
    u = (level[: m * d] - level[m * d : 2 * m * d]).reshape(m, d).T
    return y, u


def _pivots(T: np.ndarray, k: np.ndarray, r: np.ndarray, e: np.ndarray) -> None:
    """Pivot each tableau ``T[k[i]]`` on row ``r[i]``, column ``e[i]``, in place.

    In one NumPy call per step for them all, touching only the rows with a nonzero in the
    column: the columns are sparse.
    """
    T[k, r] /= T[k, r, e][:, None]
    col = T[k, :, e]
    col[np.arange(k.size), r] = 0.0
    kk, rows = np.nonzero(col)
    T[k[kk], rows] -= col[kk, rows][:, None] * T[k[kk], r[kk]]
