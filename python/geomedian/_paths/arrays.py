"""NumPy arrays (and memmaps): validated against the options, solved streamed or in memory.

Streamed: ``method="sgd"``, or one memmap problem read chunk by chunk (:mod:`.streamed`);
everything else is one kernel call over the batch (:mod:`.in_memory`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import _validate as v
from .._kernels import kernels
from .._options import SolveOptions
from .._result import GeometricMedianResult, make_result
from .._tools.progress import close as close_report
from .._tools.progress import reporter
from .in_memory import solve_in_memory
from .sgd_route import exact_is_cheaper, to_exact
from .streamed import out_of_core, solve_streamed

__all__ = ["solve_arrays"]


def solve_arrays(
    points: Any, weights: Any, options: SolveOptions, origin: tuple = ()
) -> GeometricMedianResult:
    """Validate the data against ``options`` and solve it on the path that fits.

    ``origin``: where these problems start in a larger batch (a Dask block's offset), for
    the problem indices that error messages name.
    """
    batch = v.as_batch(points, options)
    if origin:
        batch = dataclasses.replace(batch, origin=origin)
    w, wscale = v.as_batch_weights(weights, batch)
    y0 = v.as_batch_init(options.init, batch)
    tol = options.tol_for(batch.x.dtype)
    if options.sgd and batch.single and exact_is_cheaper(batch.x.shape[1]):
        options = to_exact(batch, options)
    k = kernels(options.backend)
    report = reporter(options.progress, tol)
    if options.sgd or out_of_core(points, batch, options):
        out = solve_streamed(k, points, batch, w, wscale, y0, options, tol, report)
    else:
        out = solve_in_memory(k, batch, w, wscale, y0, options, tol)
        if report is not None and batch.single:  # one kernel call: one report, at the end
            report(int(out.n_iter[0]), float(out.objective[0]), float(out.gap[0]))
    close_report(report)
    return make_result(out, batch.single, batch.shape, batch.x.dtype, options)
