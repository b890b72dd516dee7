"""One Dask problem ``(n, d)`` for ``p != 2``: the Lp pass as one reduction per pass.

The chunks are persisted once (:class:`~.dask.DaskPoints`, as for ``p = 2``); for
``1 < p < inf`` each pass maps the backend's ``lp_pass`` over them, one thread per task,
and adds their sums on the driver in chunk order with compensation, as the kernel adds its
own chunks: the certificate's rounding allowance holds whatever the number of chunks.
Newton's driver (``geomedian._lp.newton``) then runs unchanged on the combined sums.
``p = 1`` is :mod:`.dask_coordinate_median`; ``p = inf`` is :mod:`.dask_chebyshev`, from
Newton's medians for ``p = 16`` and ``256`` found here.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._contract import LP_F, LP_NEAREST_ROW
from .._kernels import Solved, kernels
from .._lp import chebyshev
from .._lp.coordinate_median import coordinate_median
from .._lp.newton import Points, newton_median
from .._numba import lp_pass as mirror
from .._options import SolveOptions
from .._result import RANGE, GeometricMedianResult, make_result
from .chunked import plain
from .dask_chebyshev import gather_points, solve_chebyshev_dask
from .dask_coordinate_median import NONFINITE_MESSAGE, solve_coordinate_median_dask
from .lp import START_ROWS, finish_lp, in_caller_units, lp_method, near_radius, scale_exponent

__all__ = ["solve_lp_dask"]

# The kernel's own way of adding chunks, run as plain Python (no compilation).
_finish_chunks = plain(mirror.finish_chunks)


def _chunk_top(chunk, w):
    """Return the chunk's largest ``|x_ij|``: NaN or inf if it holds any."""
    return float(np.max(np.abs(chunk))) if chunk.size else 0.0


def _chunk_lp(chunk, w, wscale, xexp, y, shift, near, p, backend):
    # Arrays unpickled on a worker may sit at any byte offset: the kernels need them aligned.
    chunk = np.require(chunk, requirements="CA")[None]
    if xexp:
        chunk = np.ldexp(chunk, -xexp).astype(chunk.dtype)
    w = None if w is None else (np.asarray(w, np.float64) * wscale)[None]
    shift = None if shift is None else shift[None]
    rows, near = np.zeros(1, np.int64), None if near is None else np.array([near])
    return kernels(backend).lp_pass(chunk, w, rows, y[None], shift, near, p, 1)[0]


class DaskLpPass:
    """The ``lp_pass`` of one persisted Dask problem (``DaskPoints``), as the kernels'.

    Over its points scaled by ``2**-xexp`` (:func:`~.lp.scale_exponent`), as in memory.
    """

    def __init__(self, src, xexp: int):
        self.src = src
        self.xexp = xexp
        self.starts = np.cumsum([0, *src.lengths[:-1]]).astype(np.float64)

    def lp_pass(self, x, w, rows, y, shift, near, p, threads) -> np.ndarray:
        """Return the sums ``(1, size)`` of the whole problem at ``y[0]`` (``rows``: ``[0]``)."""
        at = np.asarray(y[0], np.float64)
        moved = None if shift is None else np.asarray(shift[0], np.float64)
        src = self.src
        radius = None if near is None else float(near[0])
        parts = np.array(
            src._map(_chunk_lp, wscale=src.wscale, xexp=self.xexp, y=at, shift=moved,
                     near=radius, p=p, backend=src.backend)
        )  # fmt: skip
        found = parts[:, LP_NEAREST_ROW] >= 0
        parts[found, LP_NEAREST_ROW] += self.starts[found]
        if not np.isfinite(parts[:, LP_F]).all():  # finite points (_top) too far apart
            raise v.range_error()
        out = np.empty(parts.shape[1])
        with np.errstate(over="ignore", invalid="ignore"):  # as quiet as the kernels' own adds
            _finish_chunks(out, parts, len(parts), self.src.d)
        return out[None]


def _top(src) -> float:
    """Return the largest ``|x_ij|`` of ``src``: one pass. Raise if it holds NaN or inf.

    From here on a non-finite sum means finite points beyond float64's reach.
    """
    top = np.max(src._map(_chunk_top))  # NaN wherever it is (the built-in max may skip it)
    if not np.isfinite(top):
        raise ValueError(NONFINITE_MESSAGE)
    return top


def _newton_points(src, init, p: float, xexp: int):
    """Return the ``Points`` of ``src`` for Newton's Lp median and its start ``(1, d)``.

    All in the points scaled by ``2**-xexp``. The start: ``init``, or the coordinate-wise
    median of a sample of ``START_ROWS`` rows, from which the near radius is also found.
    """
    xs, ws = src.sample(min(src.n, START_ROWS), np.random.default_rng(0))
    xt = np.ldexp(np.asarray(xs, dtype=np.float64), -xexp).T[None]
    ws = np.ones((1, xt.shape[-1])) if ws is None else np.asarray(ws, np.float64)[None]
    if init is None:
        start = coordinate_median(xt, ws, None)
        start = np.where(np.isfinite(start), start, 0.0)
    else:
        start = np.ldexp(np.asarray(init, dtype=np.float64).reshape(1, src.d), -xexp)
    near = near_radius(xt, ws, start, p)
    return Points(src.persisted[None], None, DaskLpPass(src, xexp), 1, near), start


def solve_lp_dask(src, dtype, init, options: SolveOptions, w=None) -> GeometricMedianResult:
    """Solve one persisted Dask problem ``src`` (``DaskPoints``) for ``options.p`` != 2.

    ``init``: the start point ``(1, d)``, or None (the coordinate-wise median of a sample);
    ``w``: the caller's weights ``(1, n)``, or None. ``p = 1`` (and every ``p`` in one
    dimension, where the median is the same) is solved exactly by counting passes
    (:mod:`.dask_coordinate_median`); ``p = inf`` by the rounds of
    :mod:`.dask_chebyshev` from Newton's medians for ``p = 16`` and ``256``, or, for at most
    ``program_points(d)`` rows (one program over them all), in memory.
    """
    p = 1 if src.d == 1 else options.p  # one coordinate: every norm is |z|, as in memory
    if p == 1:
        return solve_coordinate_median_dask(src, w, dtype, options)
    if p == np.inf:
        if src.n <= chebyshev.program_points(src.d):
            from .arrays import solve_arrays

            x = gather_points(src)
            laid_out = options.replace(axis=None, coord_axis=-1)
            return solve_arrays(x, None if w is None else np.asarray(w).reshape(-1), laid_out)
        top, passes = _top(src), 1
        if init is None:  # start near: Newton for a large p, as in memory
            xexp = scale_exponent(top, 16.0)
            pts, start = _newton_points(src, None, 16.0, xexp)
            init, newton = chebyshev.newton_start(pts, start)
            init, passes = np.ldexp(init, xexp), passes + 1 + int(newton[0])
        xexp = scale_exponent(top, np.inf)
        return solve_chebyshev_dask(src, w, dtype, init, passes, options, xexp)
    xexp = scale_exponent(_top(src), p)
    pts, start = _newton_points(src, init, p, xexp)
    tol = options.tol_for(dtype)
    method = lp_method(options, p)
    y, f, lb, n_iter, n_passes, status, near_gap, spread = newton_median(
        pts, start, p, tol, options.max_iter, method
    )
    # The kernels saw the weights times wscale, a power of two: f and lb scale back exactly.
    wexp = -int(np.frexp(src.wscale)[1] - 1)
    y, f, lb, gap, n_iter, n_passes, status, spread = finish_lp(
        pts, dtype, y, f, lb, n_iter, n_passes, status, None, p, tol, wexp, near_gap, spread
    )
    y, f, lb, gap, spread, status = in_caller_units(xexp, y, f, lb, gap, spread, status)
    if status[0] == RANGE:
        raise v.range_error()
    W = src.W / src.wscale  # in the caller's weights
    out = Solved(y, f, lb, gap, n_iter, n_passes + 1, status, spread / W)  # + _top's
    return make_result(out, True, (), dtype, options, method)
