r"""``method="sgd"`` for Lp medians, ``p != 2``: averaged stochastic subgradient, certified.

The schedule and averaging of the ``p = 2`` path (:mod:`.sgd`): minibatches of
``batch_size`` consecutive rows in a random order each epoch,
:math:`\gamma_t = \gamma \sigma / t^{\alpha}`, the Polyak--Ruppert average :math:`\bar m`
the estimate, :math:`\sigma` the mean Lp distance from the start point (the sample's
coordinate-wise median, or ``init``) of a first sample's near rows (within the near radius
of that median, as for ``p = 2``: far rows would make every step theirs). The step
follows the subgradient of :math:`f_p`, :math:`\sum_i w_i s_i` with
:math:`s_i = \operatorname{sign}(z_i) (|z_i| / \lVert z_i \rVert_p)^{p-1}`
(:math:`z_i = m - x_i`; ``p = 1``: the signs; ``p = inf``: the sign at the largest
coordinate), whose dual norm is at most 1. Points beyond ``2**500`` are solved scaled by a
power of two, as by the exact solver.

After each epoch the exact Lp certificate at :math:`\bar m` (rounded to the points' dtype)
gives the objective and a proven lower bound; the run stops at the first epoch whose gap
is at most ``tol``, or after ``max_iter`` epochs. Problems of at most ``SAMPLE_ROWS``
points go to the exact Lp solver (``runs_sgd``), as for ``p = 2``.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._kernels import Solved, kernels
from .._lp.coordinate_median import coordinate_median
from .._lp.newton import Points, certified_gap
from .._lp.norms import abs_power, p_norm
from .._options import SolveOptions
from .._result import CONVERGED, MAX_ITER, NONFINITE
from .lp import _bound_at, _missing, in_caller_units, near_radius, scale_exponent
from .sgd import ALPHA, GAMMA
from .sgd_route import SAMPLE_ROWS, exact_is_cheaper, refuse_omit

__all__ = ["run_lp_blocks", "runs_sgd", "solve_sgd_lp", "subgradient"]


def run_lp_blocks(x, w, blocks, batch, norm, c, s, gamma0, state, p: float) -> None:
    """Take the SGD kernel's steps along the Lp subgradient, on ``state`` ``[t, m, mbar]``.

    Same arguments and frame as the ``p = 2`` kernel (``m`` and ``mbar`` in frame units
    ``(y - c) s``), so that a run may change ``p`` between calls.
    """
    d = c.shape[0]
    t, m, mbar = state[0], state[1 : 1 + d].copy(), state[1 + d :].copy()
    n = x.shape[0]
    for blk in blocks:
        lo, hi = blk * batch, min(n, (blk + 1) * batch)
        z = m - (np.asarray(x[lo:hi], dtype=np.float64) - c) * s
        sub = subgradient(z, p)
        g = np.sum(sub, axis=0) if w is None else w[lo:hi] @ sub
        t += 1
        m = m - gamma0 / t**ALPHA * norm * g
        mbar += (m - mbar) / t
    state[0], state[1 : 1 + d], state[1 + d :] = t, m, mbar


def runs_sgd(batch: v.Batch) -> bool:
    """Whether SGD runs (else the exact Lp solver stands in: few points, or one coordinate)."""
    _, n, d = batch.x.shape
    return not exact_is_cheaper(n) and d > 1


def subgradient(z: np.ndarray, p: float) -> np.ndarray:
    """Return the rows ``s_i`` of ``grad ||z_i||_p`` for ``z`` ``(b, d)`` (zero at ``z_i = 0``)."""
    if p == 1:
        return np.sign(z)
    if p == np.inf:
        s = np.zeros_like(z)
        top = np.argmax(np.abs(z), axis=1)[:, None]
        np.put_along_axis(s, top, np.sign(np.take_along_axis(z, top, 1)), 1)
        return s
    N = p_norm(z, p, axis=1)[:, None]
    return np.sign(z) * abs_power(z / np.where(N > 0, N, 1.0), p - 1.0)


def _one(x: np.ndarray, w: np.ndarray, y0, options: SolveOptions, tol: float, dtype, top):
    """Run averaged SGD on one problem ``x`` ``(n, d)``; return its row of ``Solved``.

    ``top``: the largest ``|x_ij|``; the points are scaled as by the exact solver
    (``scale_exponent``), and the answer scaled back (RANGE where it is beyond float64).
    """
    n = x.shape[0]
    xexp = scale_exponent(top, options.p)
    if xexp:
        x = np.ldexp(x, -xexp)
        y0 = None if y0 is None else np.ldexp(y0, -xexp)
    wexp = int(np.frexp(np.max(w))[1])  # huge or tiny weights: as in the exact solver
    w = np.ldexp(w, -wexp) if abs(wexp) > 100 else w
    wexp = wexp if abs(wexp) > 100 else 0
    p, rng, b = options.p, options.random_state, options.rows_per_step
    pts = Points(x[None], w[None], kernels(options.backend), options.threads)
    rows = np.sort(rng.integers(0, n, size=min(n, SAMPLE_ROWS)))
    sample = np.ascontiguousarray(x[rows].T, dtype=np.float64)[None]
    start = coordinate_median(sample, w[rows][None], None)[0]
    m = start if y0 is None else np.array(y0, dtype=np.float64)
    near = near_radius(sample, w[rows][None], start[None], p)
    if 1 < p < np.inf:  # the far-point bound of the exact solver, from the same sample
        pts = pts._replace(near=near)
    with np.errstate(over="ignore"):
        dist = p_norm(x[rows] - m, p, axis=1)
        within = p_norm(x[rows] - start, p, axis=1) <= near[0]
        sigma = float(np.mean(dist[within] if within.any() else dist))
    gamma0 = GAMMA * (sigma if 0 < sigma < np.inf else 1.0)
    n_blocks = -(-n // b)
    norm = n_blocks / float(np.sum(w))
    mbar = m.copy()
    t = 0
    lb = -np.inf
    status, epoch = MAX_ITER, 0
    while epoch < options.max_iter:
        epoch += 1
        for blk in rng.permutation(n_blocks):
            lo, hi = blk * b, min(n, (blk + 1) * b)
            g = w[lo:hi] @ subgradient(m - x[lo:hi], p)
            t += 1
            m = m - gamma0 / t**ALPHA * norm * g
            mbar += (m - mbar) / t
        y = mbar.astype(dtype).astype(np.float64)  # certified as returned
        bound, optimal = _bound_at(pts, y[None], p)
        f = float(bound.objective[0])
        lb = max(lb, float(bound.lower_bound[0]))
        # 1 < p < inf: relative to the near points' spread F, as the exact solver's gap.
        near_gap, spread = getattr(bound, "near_gap", [np.inf])[0], getattr(bound, "spread", [f])[0]
        gap = float(certified_gap(np.array([f]), np.array([lb]), near_gap, spread)[0])
        if optimal is not None and optimal[0]:
            gap = 0.0
        if gap <= tol:
            status = CONVERGED
            break
    y, f, lb, gap, spread, status = in_caller_units(
        xexp, y[None], *(np.array([a]) for a in (np.ldexp(f, wexp), np.ldexp(lb, wexp), gap)),
        np.array([float(spread)]), np.array([status]),
    )  # fmt: skip
    scale = spread[0] / float(np.sum(w))
    return y[0], f[0], lb[0], gap[0], epoch, 2 * epoch, status[0], scale


def solve_sgd_lp(batch: v.Batch, w, y0, options: SolveOptions, tol: float) -> Solved:
    """Solve every problem of ``batch`` for ``options.p`` (not 2) by averaged SGD."""
    refuse_omit(options)
    P, n, d = batch.x.shape
    missing, top = _missing(batch, options.nan_policy)
    wfull = np.ones((P, n)) if w is None else np.array(np.broadcast_to(w, (P, n)), dtype=float)
    out = [np.zeros((P, d)), *(np.zeros(P) for _ in range(3))]
    counts = [np.zeros(P, dtype=np.int64), np.zeros(P, dtype=np.int64)]
    status, scale = np.zeros(P, dtype=np.int32), np.zeros(P)
    for k in range(P):
        if missing is not None and missing[k].any():  # "propagate": a NaN median
            out[0][k] = np.nan
            for field in (*out[1:], scale):
                field[k] = np.nan
            status[k] = NONFINITE
            continue
        x = np.asarray(batch.x[k], dtype=np.float64)
        row = _one(x, wfull[k], None if y0 is None else y0[k], options, tol, batch.dtype, top[k])
        out[0][k], out[1][k], out[2][k], out[3][k] = row[:4]
        counts[0][k], counts[1][k], status[k], scale[k] = row[4:]
    return Solved(*out, *counts, status, scale)
