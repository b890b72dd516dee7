"""NumPy arrays (and memmaps): validated against the options, solved streamed or in memory.

Streamed: ``method="sgd"``, or one memmap problem read chunk by chunk (:mod:`.streamed`);
``method="gram"``, or ``"auto"`` on one problem of few points with many coordinates: the
solve in the span of the points (:mod:`.gram`); everything else is one kernel call over
the batch (:mod:`.in_memory`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .. import _validate as v
from .._kernels import kernels
from .._options import SolveOptions
from .._result import GeometricMedianResult, make_result
from .._tools.progress import close as close_report
from .._tools.progress import reporter
from .gram import gram_wins, solve_gram_batch
from .in_memory import solve_in_memory
from .sgd_route import exact_is_cheaper, to_exact
from .streamed import out_of_core, solve_streamed

__all__ = ["solve_arrays"]


def in_gram_space(points: Any, batch: v.Batch, y0, options: SolveOptions) -> bool:
    """Whether the Gram path solves ``batch``: asked for, or ``"auto"`` where it wins.

    Not a memmap under ``"auto"``: the streamed path drops its pages as it goes.
    """
    if options.method_name == v.GRAM_METHOD:
        if y0 is not None:
            raise ValueError("method='gram' starts from the points themselves: init is not used")
        return True
    _, n, d = batch.dims
    return (
        options.method == "auto"
        and batch.single
        and y0 is None
        and not isinstance(points, np.memmap)
        and gram_wins(n, d)
    )


def _solve_lp(points: Any, batch: v.Batch, w, y0, options: SolveOptions, tol: float):
    """``p != 2``: in memory or a memmap read in place, or by SGD (not the Gram path)."""
    from .lp import lp_method, refuse_lp, solve_lp
    from .sgd_lp import runs_sgd, solve_sgd_lp

    if options.method_name == v.GRAM_METHOD:
        refuse_lp(options, "method='gram'")
    p = 1 if batch.dims[2] == 1 else options.p
    if options.sgd and runs_sgd(batch):
        out, method = solve_sgd_lp(batch, w, y0, options, tol), "sgd"
    else:
        if options.sgd:  # few points: the exact solver stands in, as for p = 2
            options = to_exact(batch, options)
        out, method = solve_lp(batch, w, y0, options, tol), lp_method(options, p)
    v.report_nonfinite(batch, options.nan_policy, out.status)  # RANGE, as for p = 2
    return make_result(out, batch.single, batch.shape, batch.dtype, options, method)


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
    tol = options.tol_for(batch.dtype)
    if options.p != 2:
        return _solve_lp(points, batch, w, y0, options, tol)
    if options.sgd and batch.single and exact_is_cheaper(batch.dims[1]):
        options = to_exact(batch, options)
    k = kernels(options.backend)
    report = reporter(options.progress, tol)
    method = None
    gram = in_gram_space(points, batch, y0, options)
    if not gram and (options.sgd or out_of_core(points, batch, options)):
        out = solve_streamed(k, points, batch, w, wscale, y0, options, tol, report)
    else:
        if gram:
            out, method = solve_gram_batch(k, batch, w, wscale, options, tol)
        else:
            out = solve_in_memory(k, batch, w, wscale, y0, options, tol)
        if report is not None and batch.single:  # one call: one report, at the end
            report(int(out.n_iter[0]), float(out.objective[0]), float(out.gap[0]))
    close_report(report)
    return make_result(out, batch.single, batch.shape, batch.dtype, options, method)
