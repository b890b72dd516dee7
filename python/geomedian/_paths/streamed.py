"""One problem streamed through the chunked solvers: ``method="sgd"``, or a memmap (exact).

A memory-mapped file is read chunk by chunk with its pages dropped after use (:mod:`.memmap`)
when it reached the kernels uncopied; anything else is one in-memory chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as v
from .._kernels import Kernels, Solved
from .._options import SolveOptions
from .sgd_route import refuse_omit

__all__ = ["out_of_core", "solve_streamed"]


def out_of_core(points: Any, batch: v.Batch, options: SolveOptions) -> bool:
    """Whether to stream a memmap chunk by chunk instead of mapping it whole.

    One problem, given as a C-contiguous float32/float64 ``(n, d)`` memmap that reached the
    kernels uncopied (no ``nodata`` replaced, no conversion) and ``nan_policy="raise"``.
    """
    return batch.single and options.nan_policy == "raise" and _is_laid_out(points, batch)


def _is_laid_out(points: Any, batch: v.Batch) -> bool:
    """Whether ``points`` is a memmap that is itself the first problem's ``(n, d)`` array.

    That is, it reached the kernels uncopied and in the kernels' layout (not, e.g., the
    transpose of a Fortran-ordered file given with ``coord_axis=0``).
    """
    x = batch.x[0]
    return (
        isinstance(points, np.memmap)
        and points.shape == x.shape
        and points.strides == x.strides
        and points.ctypes.data == x.ctypes.data
    )


def solve_streamed(
    k: Kernels, points: Any, batch: v.Batch, w, wscale, y0, options: SolveOptions, tol, report
) -> Solved:
    """Solve the one problem of ``batch`` by passes over its chunks (or SGD epochs)."""
    from .chunked import ArrayPoints, solve_chunked, start
    from .memmap import MemmapPoints
    from .sgd import solve_sgd

    if not batch.single:
        raise ValueError(
            f"method='sgd' solves one problem: points must have shape (n, d), got "
            f"{batch.ndim}-D points (a batch of {batch.dims[0]} problems)"
        )
    refuse_omit(options)
    init = None if y0 is None else y0[0]
    if _is_laid_out(points, batch):
        src = MemmapPoints(points, w, wscale, k, options.threads)
    else:
        src = ArrayPoints(batch.x[0], w, wscale, k, options.threads)
    if options.sgd:
        res = solve_sgd(k, src, init, options, tol, report)
    else:
        y0, frame = start(src, k, init, options.method_code, options.threads)
        res = solve_chunked(src, y0, frame, options.method_code, tol, options.max_iter, report)
    out = Solved(*res.as_arrays())
    v.report_nonfinite(batch, options.nan_policy, out.status, sgd=options.sgd)
    return out
