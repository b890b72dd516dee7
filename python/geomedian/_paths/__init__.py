"""The solve paths, and :func:`solve`, which picks one.

Every path receives the same validated :class:`~geomedian._options.SolveOptions` and
returns the same :class:`~geomedian.GeometricMedianResult`:

- :mod:`.ready`: the hot loop, one small ready problem under default options (taken by
  ``geometric_median`` before anything else);
- :mod:`.arrays`: NumPy arrays and memmaps, :mod:`.in_memory` (one kernel call per batch)
  or :mod:`.streamed` (a memmap chunk by chunk, or :mod:`.sgd`), both on :mod:`.chunked`'s
  iteration where the data is read in chunks;
- :mod:`.dask`: one Dask problem by one reduction per pass; :mod:`.dask_batch`: a Dask
  batch block by block;
- :mod:`.gram`: one problem of few points with many coordinates, in the span of the
  points (taken by :mod:`.arrays` and :mod:`.tree`);
- :mod:`.tree`: models (pytrees), one median over all their leaves or one per leaf;
- :mod:`.online`: ``OnlineGeometricMedian``, a stream of chunks.

Another library's arrays (torch tensors, ``__dlpack__`` objects) are read as NumPy arrays
here (``_interop``), and a torch tensor's median goes back as a tensor.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import _labelled
from .._interop import as_array, is_foreign, like
from .._options import SolveOptions
from .._result import GeometricMedianResult
from .._validate import GRAM_METHOD
from . import arrays

__all__ = ["is_dask", "solve"]


def is_dask(x: Any) -> bool:
    """Tell a Dask collection, without importing dask."""
    return type(x).__module__.startswith("dask.")


def solve(points: Any, weights: Any, options: SolveOptions) -> GeometricMedianResult:
    """Solve ``points`` on the path that fits it: Dask, or arrays (a DataFrame's values).

    A DataFrame's median comes back as a Series labelled by its coordinates' labels.
    """
    if _labelled.is_labelled(points):
        table = _labelled.unwrap(points, weights, options.axis, options.coord_axis)
        res = solve(table.values, table.weights, options)
        return dataclasses.replace(res, median=_labelled.label(res.median, table.labels))
    if is_dask(points):
        from .dask import solve_dask  # only Dask input imports dask

        if options.method_name == GRAM_METHOD:
            raise ValueError("method='gram' needs the points in memory, not a Dask array")
        return solve_dask(points, weights, options)
    if is_foreign(points):
        res = arrays.solve_arrays(as_array(points, "points"), as_array(weights, "weights"),
                                  options)  # fmt: skip
        return dataclasses.replace(res, median=like(points, res.median))
    return arrays.solve_arrays(points, as_array(weights, "weights"), options)
