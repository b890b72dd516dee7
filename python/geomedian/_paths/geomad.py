"""A composite and its deviations (GeoMAD): the batch solved with the MADs.

The kernels compute each problem's three MADs and count right after its median (``mads=True``
of the solve kernel), so this path only lays the data out for them. Small problems (every
pixel of a stack) are read by the kernel from the caller's array as it lies, each converted
to the compute dtype, ``scale`` and ``offset`` applied and ``nodata`` made NaN as it is
solved. Larger problems are taken a block at a time, each block converted in one copy
(never the whole stack at once), since their missing rows are filled here. Missing points
are always omitted.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .. import _validate as v
from .._kernels import Kernels
from .._result import EMPTY, INTERRUPTED
from .._stack import BLOCK_VALUES, convert, readable
from .in_memory import fill_missing

__all__ = ["Composite", "Layout", "as_layout", "solve_geomad"]


class Layout(NamedTuple):
    """The caller's stack as problems: ``x`` a ``(P, n, d)`` view, the batch ``shape``."""

    x: np.ndarray
    shape: tuple
    axis: int
    ndim: int
    dtype: Any  # the compute dtype


class Composite(NamedTuple):
    """The outcomes of :func:`solve_geomad`, arrays of P problems (``median``: ``(P, d)``)."""

    median: np.ndarray
    objective: np.ndarray
    lower_bound: np.ndarray
    gap: np.ndarray
    n_iter: np.ndarray
    n_passes: np.ndarray
    status: np.ndarray
    scale: np.ndarray
    emad: np.ndarray
    smad: np.ndarray
    bcmad: np.ndarray
    count: np.ndarray


def as_layout(points: Any, axis: Any, coord_axis: Any) -> Layout:
    """Return the points as problems ``(P, n, d)``, a view (no copy, any dtype kept)."""
    arr = v._real_array(points, "points")
    if arr.ndim < 2:
        raise ValueError(
            f"points must be an array of shape (..., n, d) with at least 2 dimensions, got "
            f"{arr.ndim}-D shape {arr.shape}"
        )
    ax, cx = v.as_layout(axis, coord_axis, arr.ndim)
    arr = v._to_layout(arr, ax, cx)
    *batch, n, d = arr.shape
    if n == 0 or d == 0:
        raise ValueError(f"points need n >= 1 points of d >= 1 coordinates, got {arr.shape}")
    P = math.prod(batch)
    x = arr.reshape(P, n, d)  # a view where the batch axes merge, else one copy in its dtype
    return Layout(x, tuple(batch), ax - (cx < ax), arr.ndim, v.compute_dtype(arr.dtype))


def as_scaling(value: Any, name: str) -> float | None:
    """Return ``scale`` or ``offset`` as a finite float (None: not given)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a real number or None, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def solve_geomad(
    k: Kernels, lay: Layout, w, wscale, nodata, scale, offset, method_code, tol, max_iter,
    threads,
) -> Composite:  # fmt: skip
    """Solve every problem of ``lay`` and its MADs.

    Small problems in one kernel call that reads each from the caller's array; larger ones
    (whose missing rows are filled here) a block of problems per kernel call.
    """
    P, n, d = lay.x.shape
    if n * d <= k.small_problem_size and readable(lay.x):
        res = k.solve_stack(lay.x, w, wscale, None, method_code, tol, max_iter, threads, True,
                            lay.dtype, mads=True, nodata=nodata, scale=scale,
                            offset=offset)  # fmt: skip
        if (res[6] == INTERRUPTED).any():
            raise KeyboardInterrupt
        out = Composite(*res)
        v.report_nonfinite(v.Batch(lay.x, lay.shape, lay.axis, lay.ndim), "omit", out.status)
        return out
    out = Composite(
        np.empty((P, d)), np.empty(P), np.empty(P), np.empty(P),
        np.empty(P, dtype=np.int64), np.empty(P, dtype=np.int64),
        np.empty(P, dtype=np.int32), np.empty(P), np.empty(P), np.empty(P), np.empty(P),
        np.empty(P, dtype=np.int64),
    )  # fmt: skip
    step = max(1, BLOCK_VALUES // (n * d))
    for k0 in range(0, P, step):
        k1 = min(P, k0 + step)
        x = convert(lay.x[k0:k1], lay.dtype, nodata, scale, offset)
        wb = w if w is None or w.shape[0] == 1 else w[k0:k1]
        sb = wscale if w is None or w.shape[0] == 1 else wscale[k0:k1]
        empty = None
        if n * d > k.small_problem_size:  # the kernel skips NaN rows of small problems only
            block = v.Batch(x, (k1 - k0,), 0, 3)
            x, wb, sb, empty = fill_missing(block, wb, sb)
        res = k.solve_mads(x, wb, sb, None, method_code, tol, max_iter, threads, True)
        if (res[6] == INTERRUPTED).any():
            raise KeyboardInterrupt
        if empty is not None and empty.any():
            res[0][empty] = np.nan
            for field in (1, 2, 3, 7, 8, 9, 10):
                res[field][empty] = np.nan
            res[4][empty] = res[5][empty] = res[11][empty] = 0
            res[6][empty] = EMPTY
        for field, value in zip(out, res):
            field[k0:k1] = value
    v.report_nonfinite(v.Batch(lay.x, lay.shape, lay.axis, lay.ndim), "omit", out.status)
    return out
