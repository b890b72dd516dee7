"""A Dask batch ``(..., n, d)``: solved lazily, block by block of problems.

``map_blocks`` runs the in-memory path (the batched kernel) on each block of problems, and
every field of the result is a Dask array of the batch shape. Each block's problems are
whole: their points and coordinates axes are merged into one chunk.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from .. import _validate as v
from .._options import SolveOptions
from .._result import CONVERGED, GeometricMedianResult
from . import arrays

__all__ = ["solve_blocks"]

# The per-problem fields after the median's d coordinates, in this order.
FIELDS = ("objective", "lower_bound", "gap", "n_iter", "n_passes", "status", "scale")


def _block_solve(block, weights, init, options: SolveOptions, d: int, block_info=None):
    # Where the block's problems sit in the whole batch: the indices errors name, and the
    # block's share of a per-problem init.
    origin = ()
    if block_info is not None and 0 in block_info:
        location = block_info[0]["array-location"][: block.ndim - 2]
        origin = tuple(lo for lo, _ in location)
        if init is not None and np.ndim(init) > 1:
            init = init[tuple(slice(lo, hi) for lo, hi in location)]
    res = arrays.solve_arrays(block, weights, options.replace(init=init), origin)
    out = np.empty((*block.shape[:-2], d + len(FIELDS)))
    out[..., :d] = res.median
    for k, name in enumerate(FIELDS):
        out[..., d + k] = getattr(res, name)
    return out


def solve_blocks(x, dtype, weights, options: SolveOptions) -> GeometricMedianResult:
    """Solve a batch lazily, ``solve`` per block of problems; fields are Dask arrays."""
    if options.sgd:
        raise ValueError("method='sgd' solves one problem (n, d), not a batch")
    n, d = int(x.shape[-2]), int(x.shape[-1])
    if weights is not None and np.ndim(weights) != 1:
        raise ValueError(
            "weights of a batched Dask array must be None or one weight per point, shape "
            f"(n,) = ({n},), shared by every problem"
        )
    init = options.init
    if init is not None and np.ndim(init) > 1:
        # Per-problem starts: checked against the whole batch here, split with the blocks.
        init = v.broadcast_init(init, tuple(int(k) for k in x.shape[:-2]), d)
    inner = options.replace(axis=-2, init=None, progress=None, threads=1)
    ax = x.ndim - 2
    if x.numblocks[ax] != 1 or x.numblocks[ax + 1] != 1:
        x = x.rechunk({ax: -1, ax + 1: -1})
    packed = da.map_blocks(
        _block_solve,
        x,
        weights,
        init,
        inner,
        d,
        dtype=np.float64,
        drop_axis=ax + 1,
        chunks=(*x.chunks[:ax], (d + len(FIELDS),)),
    )
    field = {name: packed[..., d + k] for k, name in enumerate(FIELDS)}
    status = field["status"].astype(np.int32)
    return GeometricMedianResult(
        median=packed[..., :d].astype(dtype),
        objective=field["objective"],
        lower_bound=field["lower_bound"],
        gap=field["gap"],
        scale=field["scale"],
        n_iter=field["n_iter"].astype(np.int64),
        n_passes=field["n_passes"].astype(np.int64),
        converged=status == CONVERGED,
        status=status,
        message="lazy: every field is a Dask array; see status once computed",
        method=options.method_name,
        backend=options.backend,
    )
