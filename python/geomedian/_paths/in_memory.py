"""A batch in memory: one kernel call for every problem, then ``nan_policy`` applied.

A batch is spread over the threads problem by problem; one large problem is solved with
every thread (the kernels decide). Under ``method="auto"`` one large problem without
``init`` starts from the answer on a subsample (:mod:`.warm_start`).
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._kernels import Kernels, Solved
from .._options import SolveOptions
from .._result import EMPTY, INTERRUPTED
from .._stack import readable
from .warm_start import warm_start

__all__ = ["fill_missing", "solve_in_memory"]


def solve_in_memory(
    k: Kernels, batch: v.Batch, w, wscale, y0, options: SolveOptions, tol: float
) -> Solved:
    """Solve every problem of ``batch`` (``y0``: start points or None) in one kernel call.

    Small problems that would need a converted copy (integers, another layout, ``nodata``)
    are read from the caller's array by the kernel as it solves them (``solve_stack``).
    """
    P, n, d = batch.dims
    if P == 0:  # an empty batch axis: nothing to solve
        f = np.empty(0)
        i = np.empty(0, dtype=np.int64)
        return Solved(np.empty((0, d)), f, f, f, i, i, np.empty(0, dtype=np.int32), f)
    policy = options.nan_policy
    omit = policy == "omit"
    if options.method == "auto" and y0 is None:
        y0 = warm_start(k, batch, w, options.method_code, options.threads, policy)
    empty = None
    if n * d <= k.small_problem_size and not batch.ready and readable(batch.raw):
        out = k.solve_stack(batch.raw, w, wscale, y0, options.method_code, tol,
                            options.max_iter, options.threads, omit, batch.dtype,
                            nodata=batch.nodata)  # fmt: skip
    else:
        x = batch.x
        if omit and n * d > k.small_problem_size:
            x, w, wscale, empty = fill_missing(batch, w, wscale)
        out = k.solve(x, w, wscale, y0, options.method_code, tol, options.max_iter,
                      options.threads, omit)  # fmt: skip
    if out.status.max() < INTERRUPTED and empty is None:
        return out  # every problem solved: the common case, and the hot loop's
    if (out.status == INTERRUPTED).any():  # the Numba backend cannot raise from its kernels
        raise KeyboardInterrupt
    if empty is not None and empty.any():
        out.median[empty] = np.nan
        for field in (out.objective, out.lower_bound, out.gap, out.scale):
            field[empty] = np.nan
        out.n_iter[empty] = out.n_passes[empty] = 0
        out.status[empty] = EMPTY
    v.report_nonfinite(batch, policy, out.status)
    return out


def fill_missing(batch: v.Batch, w, wscale):
    """Prepare problems too large for the kernel's NaN skipping (``n d > small size``).

    A copy in which every row with a NaN repeats the problem's first complete row with
    weight 0: it then adds exactly nothing to any sum, and the nearest-point search can only
    find a point that is really there. Problems with no point of positive weight left are
    returned in ``empty`` (and given harmless data, their results are overwritten).
    """
    x = batch.x
    P = x.shape[0]
    missing = np.isnan(x).any(axis=2)
    if not missing.any():
        return x, w, wscale, None
    if np.isinf(x).any():
        k = int(np.argmax(np.isinf(x).any(axis=(1, 2))))
        raise ValueError(
            f"points must be finite, {v.locate_nonfinite(batch, k, inf_only=True)}: inf is "
            "an error under every nan_policy"
        )
    present = ~missing
    wfull = np.where(present, 1.0 if w is None else w, 0.0)
    sfull = np.ones(P) if wscale is None else np.broadcast_to(wscale, (P,)).copy()
    empty = ~(wfull > 0).any(axis=1)
    first = np.argmax(present, axis=1)
    xf = np.where(missing[:, :, None], x[np.arange(P), first][:, None, :], x)
    xf[empty] = 0.0
    wfull[empty] = 1.0
    return np.ascontiguousarray(xf), np.ascontiguousarray(wfull), sfull, empty
