"""Dask arrays: the exact solver as one reduction per iteration, batches block by block.

Imported only when :func:`geomedian.solve` receives a Dask array (``pip install
geomedian[dask]``); nothing else in the package imports dask.

One problem ``(n, d)``, rows chunked (columns are merged into one chunk): the input is
persisted once and kept as one future per chunk; each pass maps the compiled fused pass
(``fused_pass_f64/f32``, one thread per task, the backend the caller chose) over the
chunks on the workers, each returning its ``2 d + 7`` partial sums (and, where they are not
finite, whether its rows are and how far they reach), which the driver combines
(``_chunked.combine_parts``) before the iteration of ``_chunked.solve_chunked`` certifies
and moves the iterate. The work per iteration is the same small set of tasks on the persisted
chunks, whatever the iteration. With a ``dask.distributed`` client (the current one, as
``distributed.get_client`` finds it) the tasks are submitted as futures (``Client.map``);
without one the local scheduler runs the same functions on the persisted chunks.

A batch ``(..., n, d)`` chunked along its problem axes is solved lazily, block by block:
``map_blocks`` runs :func:`geomedian.solve` (the batched kernel) on each block of problems,
and every field of the result is a Dask array of the batch shape.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from .. import _validate as v
from .._kernels import Solved, kernels
from .._numba.solver import COINCIDENCE_RADIUS
from .._options import SolveOptions
from .._result import NONFINITE, RANGE, GeometricMedianResult, make_result
from .._tools.progress import close as close_report
from .._tools.progress import reporter
from .chunked import ChunkedOutcome, chunk_sums, combine_parts, solve_chunked, start

__all__ = ["DaskPoints", "in_memory_weights", "solve_dask"]


def _chunk_sums(chunk, w, wscale, y, s, eps, near, backend, hessian, z):
    # One thread per task; the Hessian, where asked, from the same chunk (see chunked).
    # Arrays unpickled on a worker may sit at any byte offset: the kernels need them aligned.
    chunk, y = np.require(chunk, requirements="CA"), np.require(y, np.float64, "CA")
    w = None if w is None else np.require(w, np.float64, "CA")
    z = None if z is None else np.require(z, np.float64, "CA")
    return chunk_sums(kernels(backend), chunk, w, wscale, y, s, 1, eps, near, hessian, z)


def _chunk_nearest(chunk, w, y):
    r = np.asarray(chunk, dtype=np.float64) - y
    d2 = np.einsum("ij,ij->i", r, r)
    if w is not None:
        d2[w == 0] = np.inf
    k = int(np.argmin(d2))
    return float(d2[k]), k, np.array(chunk[k], dtype=np.float64)


def _chunk_rows(chunk, w, local):
    return np.array(chunk[local]), None if w is None else w[local]


def _chunk_sample(chunk, w, rows, seed):
    start = int(np.random.default_rng(seed).integers(0, chunk.shape[0] - rows + 1))
    return np.array(chunk[start : start + rows]), None if w is None else w[start : start + rows]


def _client():
    """Return the current dask.distributed client, or None (local scheduler)."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


class DaskPoints:
    """A ``(n, d)`` Dask array, persisted once, as a ``ChunkedPoints``."""

    def __init__(self, x, w, wscale, backend: str):
        if x.numblocks[1] != 1:
            x = x.rechunk({1: -1})
        self.n, self.d = (int(k) for k in x.shape)
        self.dtype = np.dtype(x.dtype)
        self.backend = backend
        self.wscale = 1.0 if wscale is None else float(wscale[0])
        self.W = float(self.n) if w is None else float(np.sum(w[0]) * self.wscale)
        lengths = [int(k) for k in x.chunks[0]]
        edges = np.cumsum([0, *lengths])
        # Chunks of no rows (a filter's leftovers) hold nothing to sum or sample: they are
        # left out, so no kernel or sample ever sees an empty block.
        kept = [i for i, k in enumerate(lengths) if k > 0]
        self.lengths = [lengths[i] for i in kept]
        wparts = [None if w is None else w[0, edges[i] : edges[i + 1]] for i in kept]
        self.client = _client()
        x = x.persist() if self.client is None else self.client.persist(x)
        delayed = x.to_delayed().ravel()
        self.blocks = [delayed[i] for i in kept]
        self.w = wparts
        if self.client is not None:
            self.blocks = self.client.compute(self.blocks)
            # Unhashed keys: another solve with equal weight pieces (a retry after an
            # error) gets its own, which the release of these cannot take away.
            if w is not None:
                self.w = self.client.scatter(wparts, hash=False)
        self.persisted = x  # the chunks live as long as this object

    def _map(self, fn, *args, **kwargs):
        """Run ``fn(block, w, *args, **kwargs)`` on every chunk, return the results in order."""
        if self.client is not None:
            futures = self.client.map(fn, self.blocks, self.w, *args, pure=False, **kwargs)
            return self.client.gather(futures)
        tasks = [
            dask.delayed(fn, pure=False)(b, w, *(a[k] for a in args), **kwargs)
            for k, (b, w) in enumerate(zip(self.blocks, self.w))
        ]
        return list(dask.compute(*tasks))

    def pass_sums(self, y: np.ndarray, s: float, eps: float, near: float, hessian=False, z=None):
        return combine_parts(self._map(_chunk_sums, wscale=self.wscale, y=y, s=s, eps=eps,
                                       near=near, backend=self.backend, hessian=hessian,
                                       z=z))  # fmt: skip

    def sums(self, y, s, eps=COINCIDENCE_RADIUS, near=np.inf) -> np.ndarray:
        """Return the combined pass sums alone (see ``ChunkedPoints.pass_sums``)."""
        return self.pass_sums(y, s, eps, near)[0]

    def nearest(self, y: np.ndarray):
        edges = np.cumsum([0, *self.lengths])
        found = [(d2, int(lo) + k, row)
                 for lo, (d2, k, row) in zip(edges, self._map(_chunk_nearest, y=y))
                 if np.isfinite(d2)]  # fmt: skip
        return min(found, key=lambda item: item[0])[1:] if found else (-1, None)

    def sample(self, rows: int, rng: np.random.Generator):
        share = [max(1, min(k, round(rows * k / self.n))) for k in self.lengths]
        seeds = rng.integers(0, 2**63, size=len(share)).tolist()
        parts = self._map(_chunk_sample, share, seeds)
        xs = np.concatenate([p[0] for p in parts])
        ws = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
        return xs, ws

    def take(self, idx: np.ndarray):
        edges = np.cumsum([0, *self.lengths])
        local = [idx[(idx >= a) & (idx < b)] - a for a, b in zip(edges[:-1], edges[1:])]
        parts = self._map(_chunk_rows, local)
        xs = np.concatenate([p[0] for p in parts])
        ws = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
        return xs, ws


def solve_dask(points, weights, options: SolveOptions) -> GeometricMedianResult:
    """Solve a Dask array: one problem ``(n, d)`` here, a batch block by block."""
    x, dtype = v.as_lazy_points(points, options)
    if x.ndim > 2:
        from .dask_batch import solve_blocks

        # x is laid out (..., n, d) now: its blocks take the default axes.
        laid_out = options.replace(axis=None, coord_axis=-1)
        return solve_blocks(x, dtype, in_memory_weights(weights), laid_out)
    if options.sgd:
        raise ValueError(
            "method='sgd' is not available for Dask arrays; feed the chunks to "
            "geomedian.OnlineGeometricMedian.partial_fit, or use method='auto'"
        )
    if options.nan_policy != "raise":
        raise ValueError(
            "one Dask problem (n, d) supports nan_policy='raise' only (NaN is an error); "
            "drop missing rows first"
        )
    if options.nodata is not None:
        raise ValueError("nodata is not supported for one Dask problem (n, d)")
    w, wscale = v.as_weights(in_memory_weights(weights), x.shape[0])
    tol = options.tol_for(dtype)
    init = v.as_init(options.init, x.shape[1])
    report = reporter(options.progress, tol)
    src = DaskPoints(x.astype(dtype), w, wscale, options.backend)
    if options.p != 2:
        from .dask_lp import solve_lp_dask

        return solve_lp_dask(src, dtype, init, options, w)
    method_code = options.method_code
    first = None if init is None else init[0]
    y0, frame = start(src, kernels(options.backend), first, method_code, 1)
    res: ChunkedOutcome = solve_chunked(src, y0, frame, method_code, tol, options.max_iter, report)
    close_report(report)
    if res.status == NONFINITE:
        raise ValueError("points must be finite: the Dask array holds NaN or inf")
    if res.status == RANGE:
        raise v.range_error()
    return make_result(Solved(*res.as_arrays()), True, (), dtype, options)


def in_memory_weights(weights):
    """Weights of a Dask array: n numbers, brought to the driver to validate and split."""
    return np.asarray(weights.compute()) if isinstance(weights, da.Array) else weights
