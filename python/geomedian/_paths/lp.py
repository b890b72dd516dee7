"""Lp medians, ``p != 2``: the batch validated as for ``p = 2``, solved by :mod:`.._lp`.

``p = 1``: the coordinate-wise weighted median (exact, gap 0 where its weight sums are
exact); ``1 < p < inf``: Newton from the coordinate-wise median (or ``init``);
``p = inf``: a linear program. Every answer carries the certificate of
:mod:`.._lp.certificate`. ``method="sgd"`` runs its own
Lp iteration (:mod:`.sgd_lp`), certified here. The paths that read the data in pieces
(memmap, one Dask problem, ``OnlineGeometricMedian``) and ``method="gram"`` solve
``p = 2`` only, and say so.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._kernels import Solved
from .._lp.certificate import lower_bound
from .._lp.chebyshev import EXPLICIT_POINTS, ROUNDS, chebyshev_median
from .._lp.coordinate_median import coordinate_median, coordinate_median_bound
from .._lp.newton import evaluate, newton_median
from .._options import SolveOptions
from .._result import CONVERGED, EMPTY, MAX_ITER, NONFINITE, STALLED

__all__ = ["evaluate_lp", "refuse_lp", "solve_lp"]


def refuse_lp(options: SolveOptions, where: str) -> None:
    """Raise a ``ValueError`` if ``options.p`` is not 2 on a path that solves ``p = 2`` only."""
    if options.p != 2:
        raise ValueError(
            f"p={options.p} is not supported for {where}: only p=2 is; pass the points as an "
            "in-memory NumPy array for other p"
        )


def _missing(batch: v.Batch, policy: str) -> np.ndarray | None:
    """Return the rows with a NaN ``(P, n)``, or None; raise for inf, and NaN under "raise"."""
    x = batch.x
    finite = np.isfinite(x)
    if finite.all():
        return None
    if np.isinf(x).any():
        k = int(np.argmax(np.isinf(x).any(axis=(1, 2))))
        raise ValueError(
            f"points must be finite, {v.locate_nonfinite(batch, k, inf_only=True)}: inf is "
            "an error under every nan_policy"
        )
    missing = ~finite.all(axis=2)
    if policy == "raise":
        k = int(np.argmax(missing.any(axis=1)))
        raise ValueError(
            f"points contain NaN, {v.locate_nonfinite(batch, k)} (pass nan_policy='omit' to "
            "leave such points out, or 'propagate' to give their problem a NaN median)"
        )
    return missing


def solve_lp(batch: v.Batch, w, y0, options: SolveOptions, tol: float) -> Solved:
    """Solve every problem of ``batch`` for ``options.p`` (not 2); ``w``: ``(1|P, n)`` or None."""
    P, n, d = batch.x.shape
    p = 1 if d == 1 else options.p  # one coordinate: every norm is |z|, the median is exact
    missing = _missing(batch, options.nan_policy)
    xt = np.ascontiguousarray(batch.x.transpose(0, 2, 1), dtype=np.float64)
    wfull = np.ones((P, n)) if w is None else np.array(np.broadcast_to(w, (P, n)), dtype=np.float64)
    bad = np.zeros(P, dtype=bool)
    if missing is not None:
        bad = missing.any(axis=1) if options.nan_policy == "propagate" else bad
        wfull[missing] = 0.0
        xt = np.where(missing[:, None, :], 0.0, xt)
    empty = ~(wfull > 0).any(axis=1) & ~bad
    wfull[empty | bad] = 1.0  # harmless stand-ins, overwritten below
    # Huge or tiny weights scaled by a power of two (exactly) to a largest of about 1: f is
    # homogeneous in them, and the certificate's sums of products then stay within
    # float64's range. Others are left alone (integer weights stay integers for p = 1).
    wexp = np.frexp(np.max(wfull, axis=-1))[1]
    wexp = np.where(np.abs(wexp) > 100, wexp, 0)
    wfull = np.ldexp(wfull, -wexp[:, None])
    start = coordinate_median(
        xt,
        None if w is None else wfull,
        None if missing is None else missing & ~(empty | bad)[:, None],
    )
    start = np.where(np.isfinite(start), start, 0.0)
    n_iter = np.zeros(P, dtype=np.int64)
    n_passes = np.ones(P, dtype=np.int64)
    status = np.zeros(P, dtype=np.int32)
    if p == 1:
        y = start
        bound, optimal = coordinate_median_bound(xt, wfull, y)
        f, lb = bound.objective, bound.lower_bound
        n_passes += 1
    elif p == np.inf:
        if y0 is None and n > EXPLICIT_POINTS:  # start near: Newton for a large p
            y0, *_, passes, _ = newton_median(xt, wfull, start, 16.0, 1e-3, 50)
            n_passes += passes
        y, bound, n_iter = chebyshev_median(xt, wfull, start if y0 is None else y0, tol)
        n_passes += n_iter
        f, lb = bound.objective, bound.lower_bound
    else:
        y, f, lb, n_iter, n_passes, status = newton_median(
            xt, wfull, start if y0 is None else y0.copy(), p, tol, options.max_iter
        )
    y = np.array(y, dtype=np.float64)
    rounded = y.astype(batch.dtype).astype(np.float64)
    if not np.array_equal(rounded, y, equal_nan=True):
        # The answer is returned in the points' dtype: its objective is that point's (the
        # bound, on f*, holds wherever it was found).
        y = rounded
        bound, optimal = _bound_at(xt, wfull, y, p)
        f, lb = bound.objective, np.maximum(lb, bound.lower_bound)
        n_passes += 1
    f, lb = np.ldexp(f, wexp), np.ldexp(lb, wexp)
    gap = np.where(f > 0, (f - lb) / np.where(f > 0, f, 1.0), 0.0)
    if p == 1:
        gap[optimal] = 0.0  # a proven minimiser: f(y) = f*
        status = np.where(gap <= tol, CONVERGED, MAX_ITER).astype(np.int32)
    elif p == np.inf:  # programs left to solve, or none better: float64's resolution of y
        status = np.where(gap <= tol, CONVERGED, np.where(n_iter < ROUNDS, STALLED, MAX_ITER))
        status = status.astype(np.int32)
    else:  # rounded to float32 beyond tol: the resolution of the returned dtype
        status = np.where((status == CONVERGED) & (gap > tol), STALLED, status).astype(np.int32)
    scale = f / np.ldexp(np.sum(wfull, axis=-1), wexp)
    for mask, code in ((empty, EMPTY), (bad, NONFINITE)):
        if mask.any():
            y[mask] = np.nan
            for field in (f, lb, gap, scale):
                field[mask] = np.nan
            n_iter[mask] = n_passes[mask] = 0
            status[mask] = code
    return Solved(y, f, lb, gap, n_iter, n_passes, status, scale)


def _bound_at(xt: np.ndarray, w: np.ndarray, y: np.ndarray, p: float):
    """Return the ``Bound`` at ``y`` ``(P, d)`` from the gradient's duals.

    Also, for ``p = 1``, where ``y`` is proven optimal (else None).
    """
    if p == 1:
        return coordinate_median_bound(xt, w, y)
    if p != np.inf:
        return evaluate(xt, w, y, p), None
    z = y[:, :, None] - xt
    a = np.abs(z)
    top = np.argmax(a, axis=1)[:, None, :]
    u = np.zeros_like(z)
    np.put_along_axis(u, top, w[:, None, :] * np.sign(np.take_along_axis(z, top, 1)), 1)
    return lower_bound(z, w, np.max(a, axis=1), u, np.inf), None


def evaluate_lp(x: np.ndarray, w: np.ndarray | None, y: np.ndarray, p: float):
    """Return ``f(y)`` and a subgradient (the least-norm one for ``p < inf``) for one problem."""
    if not np.isfinite(x).all():
        v.raise_nonfinite(x)
    xt = np.ascontiguousarray(x.T, dtype=np.float64)[None]
    n = xt.shape[-1]
    ww = np.ones((1, n)) if w is None else np.asarray(w, dtype=np.float64).reshape(1, n)
    yy = np.asarray(y, dtype=np.float64).reshape(1, -1)
    bound, _ = _bound_at(xt, ww, yy, p)
    return float(bound.objective[0]), np.asarray(bound.gradient[0])
