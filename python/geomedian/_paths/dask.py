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

from typing import Any

import dask
import dask.array as da
import numpy as np

from .. import _validate as v
from .._backends import load_backend, resolve_backend
from .._numba.solver import COINCIDENCE_RADIUS
from .._result import NONFINITE, RANGE, GeometricMedianResult
from .._tools.progress import close as close_report
from .._tools.progress import reporter
from .chunked import ChunkedOutcome, chunk_probe, combine_parts, solve_chunked, start

__all__ = ["DaskPoints", "solve"]


def _chunk_sums(chunk, w, wscale, y, s, eps, near, backend):
    impl = load_backend(backend)
    kernel = impl.fused_pass_f32 if chunk.dtype == np.float32 else impl.fused_pass_f64
    part = kernel(np.ascontiguousarray(chunk), w, wscale, y, s, 1, eps, near)
    # Sums that are not finite: NaN or inf in the chunk, or a far row (see _chunked).
    return part, None if np.isfinite(part).all() else chunk_probe(chunk, y)


def _chunk_nearest(chunk, w, y):
    r = np.asarray(chunk, dtype=np.float64) - y
    d2 = np.einsum("ij,ij->i", r, r)
    if w is not None:
        d2[w == 0] = np.inf
    k = int(np.argmin(d2))
    return float(d2[k]), np.array(chunk[k], dtype=np.float64)


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
        self.lengths = [int(k) for k in x.chunks[0]]
        edges = np.cumsum([0, *self.lengths])
        wparts = [None if w is None else w[0, a:b] for a, b in zip(edges[:-1], edges[1:])]
        self.client = _client()
        if self.client is not None:
            x = self.client.persist(x)
            self.blocks = self.client.compute(list(x.to_delayed().ravel()))
            self.w = [None] * len(wparts) if w is None else self.client.scatter(wparts)
        else:
            x = x.persist()
            self.blocks = list(x.to_delayed().ravel())
            self.w = wparts
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

    def pass_sums(self, y: np.ndarray, s: float, eps: float, near: float):
        return combine_parts(self._map(_chunk_sums, wscale=self.wscale, y=y, s=s, eps=eps,
                                       near=near, backend=self.backend))  # fmt: skip

    def sums(self, y, s, eps=COINCIDENCE_RADIUS, near=np.inf) -> np.ndarray:
        """Return the combined pass sums alone (see ``ChunkedPoints.pass_sums``)."""
        return self.pass_sums(y, s, eps, near)[0]

    def nearest(self, y: np.ndarray) -> np.ndarray | None:
        found = [(d2, row) for d2, row in self._map(_chunk_nearest, y=y) if np.isfinite(d2)]
        return min(found, key=lambda item: item[0])[1] if found else None

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


def solve(points, weights=None, **options: Any) -> GeometricMedianResult:
    """:func:`geomedian.solve` for a Dask array (the options are those of ``solve``)."""
    x, dtype = v.as_lazy_points(points, options["axis"])
    if x.ndim > 2:
        return _solve_blocks(x, dtype, weights, options)
    from .._api import make_result

    method_name, method_code = v.as_method(options["method"])
    v.lazy_single_options(options, method_name)
    w, wscale = v.as_weights(_in_memory(weights), x.shape[0])
    tol = v.as_tol(options["tol"], dtype)
    max_iter = v.as_max_iter(options["max_iter"])
    init = v.as_init(options["init"], x.shape[1])
    report = reporter(v.as_progress(options["progress"]), tol)
    backend = resolve_backend(options["backend"])
    impl = load_backend(backend)
    src = DaskPoints(x.astype(dtype), w, wscale, backend)
    y0, frame = start(src, impl, None if init is None else init[0], method_code, 1)
    res: ChunkedOutcome = solve_chunked(src, y0, frame, method_code, tol, max_iter, report)
    close_report(report)
    if res.status == NONFINITE:
        raise ValueError("points must be finite: the Dask array holds NaN or inf")
    if res.status == RANGE:
        raise ValueError(
            "points span more than 2**880 (about 1e265) times their robust spread: the "
            "distances between the far points and the rest cannot be represented together in "
            "float64; remove or rescale the far points"
        )
    return make_result(res.as_arrays(), True, (), dtype, method_name, backend)


def _in_memory(weights):
    """Weights of a Dask problem: n numbers, brought to the driver to validate and split."""
    return np.asarray(weights.compute()) if isinstance(weights, da.Array) else weights


def _block_solve(block, weights, init, options, d):
    from .._api import solve as solve_in_memory

    res = solve_in_memory(block, weights, init=init, **options)
    fields = (
        res.objective, res.lower_bound, res.gap, res.n_iter, res.n_passes, res.status, res.scale
    )  # fmt: skip
    out = np.empty((*block.shape[:-2], d + len(fields)))
    out[..., :d] = res.median
    for k, field in enumerate(fields):
        out[..., d + k] = field
    return out


def _solve_blocks(x, dtype, weights, options) -> GeometricMedianResult:
    """Solve a batch lazily, ``solve`` per block of problems; fields are Dask arrays."""
    method_name, _ = v.as_method(options["method"])
    if method_name == v.SGD_METHOD:
        raise ValueError("method='sgd' solves one problem (n, d), not a batch")
    # Checked here, not first when the blocks run.
    v.as_nan_policy(options["nan_policy"])
    v.as_tol(options["tol"], dtype)
    v.as_max_iter(options["max_iter"])
    n, d = int(x.shape[-2]), int(x.shape[-1])
    w = _in_memory(weights)
    if w is not None and np.ndim(w) != 1:
        raise ValueError(
            "weights of a batched Dask array must be None or one weight per point, shape "
            f"(n,) = ({n},), shared by every problem"
        )
    backend = resolve_backend(options["backend"])
    inner = {k: val for k, val in options.items() if k not in ("axis", "init", "progress")}
    inner.update(axis=-2, backend=backend, threads=1)
    ax = x.ndim - 2
    if x.numblocks[ax] != 1 or x.numblocks[ax + 1] != 1:
        x = x.rechunk({ax: -1, ax + 1: -1})
    packed = da.map_blocks(
        _block_solve,
        x,
        w,
        options["init"],
        inner,
        d,
        dtype=np.float64,
        drop_axis=ax + 1,
        chunks=(*x.chunks[:ax], (d + 7,)),
    )
    status = packed[..., d + 5].astype(np.int32)
    return GeometricMedianResult(
        median=packed[..., :d].astype(dtype),
        objective=packed[..., d],
        lower_bound=packed[..., d + 1],
        gap=packed[..., d + 2],
        scale=packed[..., d + 6],
        n_iter=packed[..., d + 3].astype(np.int64),
        n_passes=packed[..., d + 4].astype(np.int64),
        converged=status == 0,
        status=status,
        message="lazy: every field is a Dask array; see status once computed",
        method=method_name,
        backend=backend,
    )
