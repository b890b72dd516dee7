"""Lp medians, ``p != 2``: the batch validated as for ``p = 2``, solved by :mod:`.._lp`.

``p = 1``: the coordinate-wise weighted median (exact, gap 0 where its weight sums are
exact); ``1 < p < inf``: Newton from the coordinate-wise median of a sample (on large
problems from the sample's own Lp median, ``_sample_median``), or ``init``;
``p = inf``: a linear program. Every answer carries the certificate of
:mod:`.._lp.certificate`. ``method="sgd"`` runs its own
iteration (:mod:`.sgd_lp`), certified here; ``OnlineGeometricMedian`` takes its steps.
A memmap is read in place; one Dask problem takes every ``p`` (``dask_lp``); ``method="gram"``
solves ``p = 2`` only, and says so.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._contract import NEAR_FACTOR
from .._kernels import Solved, kernels
from .._lp.certificate import lower_bound
from .._lp.chebyshev import chebyshev_median, newton_start, program_points
from .._lp.coordinate_median import coordinate_median, coordinate_median_bound, median_in_place
from .._lp.newton import Points, carried_gap, certified_gap, evaluate, newton_median
from .._lp.norms import p_norm
from .._options import SolveOptions
from .._result import CONVERGED, EMPTY, MAX_ITER, NONFINITE, RANGE, STALLED

__all__ = [
    "START_ROWS",
    "evaluate_lp",
    "finish_lp",
    "in_caller_units",
    "lp_method",
    "near_radius",
    "refuse_lp",
    "scale_exponent",
    "solve_lp",
]


def lp_method(options: SolveOptions, p: float) -> str:
    """Return the method that solves ``p``: the exact solver's ``"lp"`` for 1 and inf."""
    if p == 1 or p == np.inf:
        return "lp"
    return "newton" if options.method_name == "auto" else options.method_name


def refuse_lp(options: SolveOptions, where: str) -> None:
    """Raise a ``ValueError`` if ``options.p`` is not 2 on a path that solves ``p = 2`` only."""
    if options.p != 2:
        raise ValueError(
            f"p={options.p} is not supported for {where}: only p=2 is; pass the points as an "
            "in-memory NumPy array for other p"
        )


# Rows per block of the NaN scan: a bounded temporary, whatever the size of the data (a
# memmap is read once, in place).
_SCAN_VALUES = 1 << 22
# Problems of more rows start 1 < p < inf from the coordinate-wise median of this many rows
# taken evenly: Newton's few steps make up the difference, and a pass is cheaper than a
# full selection.
START_ROWS = 4096
# The sample's median (_sample_median) is solved to this gap, in at most SAMPLE_ITER
# steps, where the sample is at most 1 / SAMPLE_FRACTION of the rows. The certified gap
# is linear in the distance to the sample's median, far below the sample's own error
# (about START_ROWS ** -0.5): solving it closer buys the full problem nothing.
SAMPLE_TOL = 1e-4
SAMPLE_ITER = 20
SAMPLE_FRACTION = 8
SAMPLE_WORK = 1 << 20
POW_PASS_COST = 10


def _missing(batch: v.Batch, policy: str) -> tuple[np.ndarray | None, np.ndarray]:
    """Return the rows with a NaN ``(P, n)`` (or None) and each problem's largest ``|x_ij|``.

    Raise for inf, and for NaN under "raise".
    """
    x = batch.x
    P, n, d = x.shape
    missing = None
    top = np.zeros(P)
    step = max(1, _SCAN_VALUES // max(P * d, 1))  # an empty batch: no rows to scan
    for lo in range(0, n, step):
        block = x[:, lo : lo + step]
        # Each problem's extremes first, without temporaries: NaN and inf show in them.
        high, low = np.max(block, axis=(1, 2)), np.min(block, axis=(1, 2))
        if np.isfinite(high).all() and np.isfinite(low).all():
            top = np.maximum(top, np.maximum(high, -low))
            continue
        finite = np.isfinite(block)
        top = np.maximum(top, np.max(np.abs(block), axis=(1, 2), where=finite, initial=0.0))
        if np.isinf(block).any():
            k = int(np.argmax(np.isinf(x).any(axis=(1, 2))))
            raise ValueError(
                f"points must be finite, {v.locate_nonfinite(batch, k, inf_only=True)}: inf "
                "is an error under every nan_policy"
            )
        if missing is None:
            missing = np.zeros((P, n), dtype=bool)
        missing[:, lo : lo + step] = ~finite.all(axis=2)
    if missing is not None and policy == "raise":
        k = int(np.argmax(missing.any(axis=1)))
        raise ValueError(
            f"points contain NaN, {v.locate_nonfinite(batch, k)} (pass nan_policy='omit' to "
            "leave such points out, or 'propagate' to give their problem a NaN median)"
        )
    return missing, top


def _transposed(pts: Points) -> np.ndarray:
    """Return a copy of the points as float64 ``(P, d, n)``, rows of weight zero (NaN ones) as 0.

    Always a copy (one coordinate's transpose is the caller's own memory): it is written.
    """
    xt = np.array(pts.x.transpose(0, 2, 1), dtype=np.float64, order="C")
    if not (pts.w > 0).all():
        xt[np.broadcast_to(pts.w[:, None, :] == 0, xt.shape)] = 0.0
    return xt


def solve_lp(batch: v.Batch, w, y0, options: SolveOptions, tol: float) -> Solved:
    """Solve every problem of ``batch`` for ``options.p`` (not 2); ``w``: ``(1|P, n)`` or None."""
    P, n, d = batch.x.shape
    p = 1 if d == 1 else options.p  # one coordinate: every norm is |z|, the median is exact
    missing, top = _missing(batch, options.nan_policy)
    # C order: the kernels read each problem's weights as one row (the caller's may be F).
    wfull = (
        np.ones((P, n))
        if w is None
        else np.array(np.broadcast_to(w, (P, n)), dtype=np.float64, order="C")
    )
    bad = np.zeros(P, dtype=bool)
    if missing is not None:
        bad = missing.any(axis=1) if options.nan_policy == "propagate" else bad
        wfull[missing] = 0.0  # the kernels never read a row of weight zero
    empty = ~(wfull > 0).any(axis=1) & ~bad
    solved = np.flatnonzero(~(empty | bad))
    y = np.full((P, d), np.nan)
    f, lb, gap, scale = (np.full(P, np.nan) for _ in range(4))
    n_iter, n_passes = np.zeros(P, dtype=np.int64), np.zeros(P, dtype=np.int64)
    status = np.where(empty, EMPTY, NONFINITE).astype(np.int32)
    if solved.size:
        every = solved.size == P
        x = batch.x if every else batch.x[solved]
        out = _solve_live(
            x, wfull if every else wfull[solved], w is not None,
            None if y0 is None else (y0 if every else y0[solved]), p, tol, options,
            float(np.max(top[solved])),
        )  # fmt: skip
        for field, value in zip((y, f, lb, gap, n_iter, n_passes, status, scale), out):
            field[solved] = value
    return Solved(y, f, lb, gap, n_iter, n_passes, status, scale)


def _solve_live(x, w, weighted, y0, p, tol, options: SolveOptions, top: float) -> tuple:
    """Solve problems ``x`` ``(P, n, d)``, weights ``w`` ``(P, n)``, each with some positive.

    ``top``: the largest ``|x_ij|``; beyond ``2**500`` (or below ``2**-500``) the points are
    solved scaled by ``2**-scale_exponent(top, p)``, a copy (f is homogeneous in them).
    """
    P, n, d = x.shape
    xexp = scale_exponent(top, p)
    if xexp:
        x = np.ldexp(x, -xexp).astype(x.dtype)
        y0 = None if y0 is None else np.ldexp(y0, -xexp)
    # Huge or tiny weights scaled by a power of two (exactly) to a largest of about 1: f is
    # homogeneous in them, and the certificate's sums of products then stay within
    # float64's range. Others are left alone (integer weights stay integers for p = 1).
    wexp = np.frexp(np.max(w, axis=-1))[1]
    wexp = np.where(np.abs(wexp) > 100, wexp, 0)
    w = np.ldexp(w, -wexp[:, None])
    unit = not weighted and bool((w == 1.0).all())  # no missing rows
    pts = Points(x, w, kernels(options.backend), options.threads, unit=unit)
    # p = 1 and inf read the points as (P, d, n), once; 1 < p < inf only a sample of them.
    xt = _transposed(pts) if p in (1, np.inf) else None
    step = 1 if xt is not None or y0 is not None else max(1, n // START_ROWS)
    sample = Points(x[:, ::step], w[:, ::step], None, 1)
    xs = xt if xt is not None else _transposed(sample)
    # p = 1 reads xt once more, for the certificate's counts and sums, which do not depend
    # on the order of each coordinate's values: the selection may reorder them in place.
    start = coordinate_median(
        xs, sample.w if weighted else None, None if (sample.w > 0).all() else sample.w == 0,
        reorder=p == 1,
    )  # fmt: skip
    start = np.where(np.isfinite(start), start, 0.0)
    if xt is None:
        pts = pts._replace(near=near_radius(xs, sample.w, start, p))
        start = _sample_median(pts, start, p)
    n_iter = np.zeros(P, dtype=np.int64)
    n_passes = np.ones(P, dtype=np.int64)
    status = np.zeros(P, dtype=np.int32)
    optimal = near_gap = spread = None
    if p == 1:
        y = start
        bound, optimal = coordinate_median_bound(xt, w, y)
        f, lb = bound.objective, bound.lower_bound
        n_passes += 1
    elif p == np.inf:
        if y0 is None and n > program_points(d, n):  # start near: Newton for large p
            y0, passes = newton_start(pts, start)
            n_passes += passes
        y, bound, n_iter, status = chebyshev_median(
            xt, w, start if y0 is None else y0, tol, options.max_iter
        )
        n_passes += n_iter
        f, lb = bound.objective, bound.lower_bound
    else:
        y, f, lb, n_iter, n_passes, status, near_gap, spread = newton_median(
            pts, start if y0 is None else y0.copy(), p, tol, options.max_iter,
            lp_method(options, p),
        )  # fmt: skip
    y, f, lb, gap, n_iter, n_passes, status, spread = finish_lp(
        pts, x.dtype, y, f, lb, n_iter, n_passes, status, optimal, p, tol, wexp, near_gap,
        spread,
    )  # fmt: skip
    y, f, lb, gap, spread, status = in_caller_units(xexp, y, f, lb, gap, spread, status)
    W = np.ldexp(np.sum(w, axis=-1), wexp)
    return y, f, lb, gap, n_iter, n_passes, status, spread / W  # the scale: F / W


def scale_exponent(top: float, p: float) -> int:
    """Return ``e``: points whose largest ``|x_ij|`` is ``top`` are solved scaled by ``2**-e``.

    Within ``2**-500 <= top <= 2**500``, 0: the sums stay within float64's range as they are.
    Below, a largest of about 1. Above, a largest of about ``2**500`` for ``p < inf``: the
    sums of distances (``W`` times ``top`` at most) still fit, and a cloud ``2**1000``
    times smaller than ``top`` keeps distances of about ``2**-500``, whose reciprocals (the
    Hessian's ``w_i / N_i``) fit too; scaled to a largest of 1 they would overflow.
    ``p = inf`` (no reciprocals) is scaled to a largest of about 1: its bound has no
    near-point form, and only certifies beside such far rows where the cloud's own
    distances are lost below theirs.
    """
    e = int(np.frexp(top)[1]) if top > 0 else 0
    if e > 500 and p != np.inf:
        return e - 500
    return e if abs(e) > 500 else 0


def in_caller_units(xexp: int, y, f, lb, gap, spread, status):
    """Return ``y, f, lb, gap, spread, status`` of points solved scaled by ``2**-xexp``.

    ``y``, ``f``, ``lb`` and ``spread`` scale back exactly. Where the objective, its bound
    or the median is then beyond float64 (distances whose sum overflows; or sums that
    overflowed in the scaled problem, points 1e-300 of the largest apart making ``1 / N``
    overflow), the problem is RANGE and its values NaN: no answer, as for ``p = 2`` (the
    caller raises).
    """
    with np.errstate(over="ignore"):
        y, f, lb, spread = (np.ldexp(a, xexp) for a in (y, f, lb, spread))
    lost = ~(np.isfinite(f) & np.isfinite(lb) & np.isfinite(y).all(axis=-1))
    if lost.any():
        status = np.where(lost, RANGE, status).astype(np.int32)
        y[lost] = np.nan
        for a in (f, lb, gap, spread):
            a[lost] = np.nan
    return y, f, lb, gap, spread, status


def _sample_median(pts: Points, start: np.ndarray, p: float) -> np.ndarray:
    """Return the Lp median of a sample of ``START_ROWS`` rows ``(1 < p < inf)``, from ``start``.

    It is within the sample's error of the median of all the points (about
    ``START_ROWS ** -0.5`` relative), where the coordinate-wise median is as far as the Lp
    median is from it: Newton's quadratic steps on all the points then begin closer (one
    pass fewer, often), for a few passes over the sample and their Python. ``start`` itself
    for problems of fewer than ``SAMPLE_FRACTION`` samples' rows, or whose pass costs less
    than that Python (below ``SAMPLE_WORK`` coordinates, counted ``POW_PASS_COST`` times
    where the pass takes ``pow``: p other than 1.5 and 3).
    """
    _, n, d = pts.x.shape
    work = n * d * (1 if p in (1.5, 3.0) else POW_PASS_COST)
    if n < SAMPLE_FRACTION * START_ROWS or work < SAMPLE_WORK:
        return start
    step = n // START_ROWS
    x, w = (np.ascontiguousarray(a[:, ::step]) for a in (pts.x, pts.w))
    y = newton_median(pts._replace(x=x, w=w), start, p, SAMPLE_TOL, SAMPLE_ITER)[0]
    return np.where(np.isfinite(y).all(axis=1, keepdims=True), y, start)


def near_radius(xt: np.ndarray, w: np.ndarray, start: np.ndarray, p: float) -> np.ndarray:
    """Return each problem's near radius, ``NEAR_FACTOR`` times a median distance.

    The median is over the distances from ``start`` ``(P, d)`` to the points ``xt``
    ``(P, d, m)`` of positive weight ``w``. Points beyond it are "far": the certificate
    lets only the others absorb the residual gradient (``near_bound``). ``inf`` where that
    median is 0 (every point is near).
    """
    dist = p_norm(xt - start[:, :, None], p, axis=1)
    if (w > 0).all():
        rho = median_in_place(dist)  # np.median's, without its overhead on small problems
    else:
        with np.errstate(all="ignore"):
            rho = np.nanmedian(np.where(w > 0, dist, np.nan), axis=-1)
    return np.where(rho > 0, NEAR_FACTOR * rho, np.inf)


def finish_lp(pts: Points, dtype, y, f, lb, n_iter, n_passes, status, optimal, p, tol, wexp,
            near_gap=None, spread=None, bound_at=None):  # fmt: skip
    """Return the outcomes of solved problems: ``y`` in ``dtype``, its f and certified gap.

    ``f``, ``lb``, ``near_gap`` and ``spread`` (``F``, the gap's unit; None: ``f``) are in
    the weights of ``pts`` (scaled by ``2**-wexp``), returned in the caller's (``spread``
    too); ``optimal``: where ``y`` is proven a minimiser (``p = 1``), or None.
    ``bound_at(y)``: the ``(Bound, optimal)`` at ``y`` where the points are not ``pts.x``
    in memory (one Dask problem, ``p = 1`` or ``inf``).
    """
    y = np.array(y, dtype=np.float64)
    rounded = y.astype(dtype).astype(np.float64)
    if not np.array_equal(rounded, y, equal_nan=True):
        # The answer is returned in the points' dtype: its objective is that point's (the
        # bound, on f*, holds wherever it was found).
        bound, optimal = _bound_at(pts, rounded, p) if bound_at is None else bound_at(rounded)
        if near_gap is not None:
            # f(rounded) - f* <= (f(y) - f*) + carried_gap: second order in the rounding,
            # where the near bound at the rounded point is first order.
            before = np.minimum(np.where(lb < np.inf, f - lb, np.inf), near_gap)
            carried = before + carried_gap(bound, rounded, y, p)
            near_gap = np.minimum(bound.near_gap, np.where(np.isfinite(carried), carried, np.inf))
            spread = bound.spread
        y = rounded
        f, lb = bound.objective, np.maximum(lb, bound.lower_bound)
        n_passes += 1
    if near_gap is None:
        near_gap, spread = np.full_like(f, np.inf), f
    f, lb, near_gap, spread = (np.ldexp(a, wexp) for a in (f, lb, near_gap, spread))
    gap = certified_gap(f, lb, near_gap, spread)
    if p == 1:
        gap[optimal] = 0.0  # a proven minimiser: f(y) = f*
        status = np.where(gap <= tol, CONVERGED, MAX_ITER).astype(np.int32)
    elif p == np.inf:  # optimal up to float64's resolution of y, or stopped by the rounds
        status = np.where(gap <= tol, CONVERGED, np.where(status == CONVERGED, STALLED, status))
        status = status.astype(np.int32)
    else:  # rounded to float32 beyond tol: the resolution of the returned dtype
        status = np.where((status == CONVERGED) & (gap > tol), STALLED, status).astype(np.int32)
    return y, f, lb, gap, n_iter, n_passes, status, spread


def _bound_at(pts: Points, y: np.ndarray, p: float):
    """Return the ``Bound`` at ``y`` ``(P, d)`` from the gradient's duals.

    Also, for ``p = 1``, where ``y`` is proven optimal (else None).
    """
    if p == 1:
        return coordinate_median_bound(_transposed(pts), pts.w, y)
    if p != np.inf:
        return evaluate(pts, np.arange(len(y)), y, p), None
    xt = _transposed(pts)
    w = pts.w
    z = y[:, :, None] - xt
    a = np.abs(z)
    top = np.argmax(a, axis=1)[:, None, :]
    u = np.zeros_like(z)
    np.put_along_axis(u, top, w[:, None, :] * np.sign(np.take_along_axis(z, top, 1)), 1)
    return lower_bound(z, w, np.max(a, axis=1), u, np.inf), None


def evaluate_lp(x: np.ndarray, w: np.ndarray | None, y: np.ndarray, p: float, backend: str,
                threads: int):  # fmt: skip
    """Return ``f(y)`` and a subgradient (the least-norm one for ``p < inf``) for one problem."""
    if not np.isfinite(x).all():
        v.raise_nonfinite(x)
    n = x.shape[0]
    ww = np.ones((1, n)) if w is None else np.asarray(w, dtype=np.float64).reshape(1, n)
    yy = np.asarray(y, dtype=np.float64).reshape(1, -1)
    pts = Points(np.ascontiguousarray(x)[None], ww, kernels(backend), threads)
    bound, _ = _bound_at(pts, yy, p)
    return float(bound.objective[0]), np.asarray(bound.gradient[0])
