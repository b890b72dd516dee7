r"""The public solvers: geometric_median, solve, objective and gradient.

The problem, for points :math:`x_1, \dots, x_n \in \mathbb{R}^d` and weights
:math:`w_i \ge 0` with :math:`W = \sum_i w_i > 0`:

.. math::

    \min_y f(y) = \sum_i w_i \lVert y - x_i \rVert_2, \qquad
    \nabla f(y) = \sum_i w_i \frac{y - x_i}{\lVert y - x_i \rVert_2}.

Each call validates once (``_validate.py``), picks a backend (``backends.py``) and hands the
whole solve to one kernel call; the iteration, the certificate and the stopping rule are
written out in ``csrc/geomedian/*.hpp`` and mirrored in ``_numba/``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import _validate as v
from ._backends import load_backend, resolve_backend
from ._paths.chunked import ArrayPoints, solve_chunked, start
from ._paths.memmap import MemmapPoints
from ._paths.sgd import DEFAULT_BATCH_SIZE, SGD_TOL, solve_sgd
from ._paths.warm_start import warm_start
from ._result import (
    CONVERGED,
    EMPTY,
    INTERRUPTED,
    MAX_ITER,
    NONFINITE,
    RANGE,
    STALLED,
    STATUS_MESSAGES,
    ConvergenceWarning,
    GeometricMedianResult,
    batch_message,
)
from ._threads import resolve_threads
from ._tools.progress import close as close_report
from ._tools.progress import reporter

__all__ = ["geometric_median", "gradient", "objective", "solve"]


def solve(
    points: Any,
    weights: Any = None,
    *,
    axis: int = -2,
    nan_policy: str = "raise",
    nodata: float | None = None,
    method: str = "auto",
    backend: str = "auto",
    tol: float | None = None,
    max_iter: int | None = None,
    init: Any = None,
    threads: int | None = None,
    batch_size: int | None = None,
    random_state: Any = None,
    progress: Any = None,
) -> GeometricMedianResult:
    r"""Compute geometric medians and a certificate of how close each is to optimal.

    For each problem minimises :math:`f(y) = \sum_i w_i \lVert y - x_i \rVert_2` and
    stops when the certified relative duality gap :math:`(f(y) - LB(y)) / f(y)` is at most
    ``tol``, where :math:`LB(y) \le f^*` is a lower bound built from the dual problem at
    the iterate::

        LB(y) = (S - g . (y - xbar)) / (1 + ||g|| / W)

    with :math:`g` the minimum-norm subgradient at :math:`y`, :math:`S = \sum_i u_i \cdot
    (y - x_i)` for the dual vectors :math:`u_i = w_i (y - x_i) / \lVert y - x_i \rVert`,
    and :math:`\bar x` the weighted mean. Where points lie farther than
    :math:`R = 2^{10} \rho` from the iterate (:math:`\rho` a robust spread: the median
    distance of a sample of the points to its coordinate-wise median), a second bound lets
    only the near points absorb :math:`g`, :math:`f(y) - f^* \le 2 \beta f_N + 2
    f_\text{coinc}`, and the gap is relative to :math:`W \cdot` ``scale`` (the near
    points' mean distance) instead of :math:`f`: outliers of any magnitude then neither
    drag the answer nor fool the certificate (derivation in the user guide,
    "Tolerances and the certificate").

    Parameters
    ----------
    points : array_like, shape (n, d) or (..., n, d)
        Real coordinates, one point per row; the last axis holds the ``d`` coordinates and
        ``axis`` the ``n`` points. Every other axis indexes independent problems (a batch),
        like the axes ``np.median`` does not reduce: ``(rows, cols, dates, bands)`` imagery
        gives one median per pixel. float32 stays float32 (accumulated in float64);
        integers of at most 16 bits are computed in float32 (which holds them exactly),
        wider integers in float64. C-contiguous float32/float64 input with ``axis=-2`` is
        not copied. Never modified. One ``np.memmap`` problem (C-contiguous float32/float64
        ``(n, d)``, ``nan_policy="raise"``) is solved chunk by chunk with its pages dropped
        after use, so resident memory stays far below the file (``_memmap.py``). A
        ``dask.array.Array`` ``(n, d)`` is solved by one reduction over its persisted row
        chunks per iteration; a Dask batch ``(..., n, d)`` block by block, lazily: every
        field of the result is then a Dask array (``_dask.py``).
    weights : array_like, shape (n,) or broadcastable to points.shape[:-1], optional
        Non-negative finite weights, not all zero in any problem. A 1-D array of length n
        weighs the points of every problem alike; otherwise it broadcasts against the
        points without their last axis (in the same layout, points axis included).
        Default: all ones.
    axis : int
        The points axis (default -2, the one before the coordinates).
    nan_policy : {"raise", "omit", "propagate"}
        What a NaN coordinate means, as in ``scipy.stats``. ``"raise"``: an error naming
        the first problem and row. ``"omit"``: the point (the whole row) is missing and
        left out of its own problem; a problem with no point of positive weight left gets
        a NaN median and status 5. ``"propagate"``: a problem containing NaN gets a NaN
        median and status 4. inf is an error under every policy; NaN in ``weights`` too.
    nodata : number, optional
        A value marking missing data, e.g. 0 in uint16 reflectance: a point with a
        coordinate equal to it is treated as if that coordinate were NaN (so it is handled
        by ``nan_policy``). Costs one comparison over the input, and a copy of float input.
    method : {"auto", "newton", "gd", "weiszfeld", "sgd"}
        ``"weiszfeld"``: Weiszfeld's fixed-point iteration with the Vardi--Zhang
        modification, :math:`y^+ = y + \max(0, 1 - \eta / \lVert R \rVert) R / \sum_{i}
        w_i / d_i` with :math:`R = \sum_i w_i (x_i - y) / d_i` over the points not on
        :math:`y` and :math:`\eta` the weight on it. ``"gd"``: gradient descent with a
        Barzilai--Borwein step, Armijo backtracking and the Weiszfeld step as a safeguard
        (never slower to converge than Weiszfeld, usually far fewer passes). ``"newton"``:
        ``"gd"`` that first tries a Newton step :math:`y - H^{-1} \nabla f(y)`, with
        :math:`H = \sum_i w_i (I - u_i u_i^T) / d_i` and :math:`u_i = (y - x_i) / d_i`,
        accepted by the Armijo test; only where the Hessian is cheap to form (problems of
        at most 8192 coordinates ``n d`` with ``d <= 16``, e.g. a pixel's time series:
        about 5 passes instead of 14), elsewhere it is ``"gd"``. ``"auto"`` picks the
        fastest reliable one (currently ``"newton"``), and for one problem of at
        least 65,536 points without ``init`` starts it from the answer on a random
        subsample of ``n / 256`` points (a fixed seed, so results are reproducible;
        ``n_passes`` counts full passes only). ``"sgd"``: averaged minibatch stochastic
        gradient (``_sgd.py``, one problem only), an epoch at a time until one exact pass
        certifies ``tol`` (default ``1e-3``); ``max_iter`` then counts epochs.
    backend : {"auto", "cpp", "numba"}
        Kernels to run; ``"auto"`` honours ``GEOMEDIAN_BACKEND`` and otherwise prefers the
        compiled core.
    tol : float, optional
        Target certified relative gap, ``>= 0``, for every problem. Default ``1e-10`` when
        computing in float64, ``1e-6`` in float32. ``0`` iterates until the gap is exactly
        zero, the iterate stalls or ``max_iter`` is reached.
    max_iter : int, optional
        Maximum accepted iterations per problem (default 1000).
    init : array_like, shape (d,) or broadcastable to (..., d), optional
        Start points. Default: the coordinate-wise weighted median for small problems
        (``n d <= 8192`` and at most 64 points), the weighted mean otherwise.
    threads : int, optional
        Threads for this call (OpenMP or Numba): across problems for a batch of small
        ones, within each problem for large ones. Default: every core available to the
        process (``OMP_NUM_THREADS`` when set). Results do not depend on it. In a child
        process started with ``fork`` every call runs on one thread: GNU OpenMP, used by
        both backends, hangs or aborts in a forked child once the parent has used it.
    batch_size : int, optional
        ``method="sgd"`` only: rows per stochastic gradient step (default 16).
    random_state : int or numpy.random.Generator, optional
        ``method="sgd"`` only: the order of the minibatches. Default: a fixed seed, so
        repeated calls give the same answer.
    progress : bool or callable, optional
        ``callable(iteration, objective, gap)`` after each iteration of the chunked
        solvers (memmap, Dask) and each epoch of ``"sgd"``; ``True``: a progress bar on
        standard error when it is a terminal (see ``_progress.py``). An in-memory solve is
        one kernel call and reports once, at the end.

    Returns
    -------
    GeometricMedianResult
        ``median``, ``objective``, ``lower_bound``, ``gap``, ``scale``, ``n_iter``,
        ``n_passes``, ``converged``, ``status``, ``message``, ``method``, ``backend``:
        scalars for one problem, arrays of the batch shape for a batch (``median``:
        ``(..., d)``). ``f(median) - f* <= gap * W * scale``; on clean data
        ``W * scale`` is the objective.

    Raises
    ------
    TypeError
        Non-real dtypes (complex, object, strings, bool) or wrongly typed options.
    ValueError
        Wrong shapes (``n == 0``, ``d == 0``, weights that do not match), NaN under
        ``nan_policy="raise"``, inf, negative or all-zero weights, ``tol < 0``,
        ``max_iter < 1``, unknown method, backend or nan_policy, points spanning more than
        ``2**880`` times their robust spread. Messages name the problem.
    ImportError
        ``backend`` names a backend that is not installed.

    Notes
    -----
    Points closer to the iterate than ``2**-40`` of the data's spread (of the near radius
    :math:`R`, where far points make the spread larger) count as coinciding with it; the
    certificate accounts for them (it stays a valid bound). A minimiser at a
    data point is found exactly: near a point that carries most of
    :math:`\sum_i w_i / d_i` the solver tries that point itself, where Kuhn's test
    :math:`\lVert R \rVert \le \eta` makes the gap close.

    A batch is one kernel call: small problems are spread over the threads and each is
    solved on one thread from a cache-resident copy. Newton on problems of at most 1024
    coordinates without ``init`` runs eight problems at once, one per SIMD lane; a problem
    that leaves Newton's common path there (a rejected step, a data-point optimum) is
    solved again by the general driver. The same problem alone or in a batch gives the
    same bits. Missing points are skipped inside the kernel for problems
    of at most 8192 coordinates (``n d``); larger problems with NaN under ``"omit"`` are
    copied, with their NaN rows given weight zero.

    Examples
    --------
    >>> import geomedian
    >>> res = geomedian.solve([[0, 0], [4, 0], [0, 3]])
    >>> res.converged, res.gap <= 1e-10
    (True, True)
    >>> geomedian.solve([[0.0, 0.0], [10.0, 0.0], [5.0, 0.5]]).median  # obtuse: a vertex
    array([5. , 0.5])

    A batch of two problems, one with a missing point:

    >>> import numpy as np
    >>> x = np.array([[[0, 0], [2, 0], [1, 5]], [[0, 0], [4, 0], [np.nan, 1]]])
    >>> res = geomedian.solve(x, nan_policy="omit")
    >>> res.median.shape, res.converged
    ((2, 2), array([ True,  True]))
    """
    if _is_dask(points):
        from ._paths import dask as _dask  # only Dask input imports dask

        options = {k: val for k, val in locals().items() if k not in ("points", "weights", "_dask")}
        return _dask.solve(points, weights, **options)
    batch = v.as_batch(points, axis, nodata)
    policy = v.as_nan_policy(nan_policy)
    w, wscale = v.as_batch_weights(weights, batch)
    method_name, method_code = v.as_method(method)
    sgd = method_name == v.SGD_METHOD
    tol_ = SGD_TOL if sgd and tol is None else v.as_tol(tol, batch.x.dtype)
    max_iter_ = v.as_max_iter(max_iter)
    batch_size_ = v.as_batch_size(batch_size, method_name, DEFAULT_BATCH_SIZE)
    rng = v.as_random_state(random_state, method_name)
    report = reporter(v.as_progress(progress), tol_)
    y0 = v.as_batch_init(init, batch)
    nthreads = resolve_threads(threads)
    backend_name = resolve_backend(backend)
    impl = load_backend(backend_name)
    if sgd or _out_of_core(points, batch, policy):
        out = _solve_streamed(
            impl, points, batch, w, wscale, y0, method_name, method_code, tol_, max_iter_,
            nthreads, policy, batch_size_, rng, report,
        )  # fmt: skip
    else:
        if method == "auto" and y0 is None:
            y0 = warm_start(impl, batch, w, wscale, method_code, nthreads, policy)
        out = _solve_batch(
            impl, batch, w, wscale, y0, method_code, tol_, max_iter_, nthreads, policy
        )
        if report is not None and batch.single:  # one kernel call: one report, at the end
            report(int(out[4][0]), float(out[1][0]), float(out[3][0]))
    close_report(report)
    return make_result(out, batch.single, batch.shape, batch.x.dtype, method_name, backend_name)


def make_result(out, single, shape, dtype, method_name, backend_name) -> GeometricMedianResult:
    """Wrap the kernels' per-problem arrays as the caller's result (scalars for one problem)."""
    median, obj, lb, gap, n_iter, n_passes, status, scale = out
    d = median.shape[-1]
    median = median.astype(dtype, copy=False)
    if single:
        code = int(status[0])
        return GeometricMedianResult(
            median=median[0],
            objective=float(obj[0]),
            lower_bound=float(lb[0]),
            gap=float(gap[0]),
            scale=float(scale[0]),
            n_iter=int(n_iter[0]),
            n_passes=int(n_passes[0]),
            converged=code == CONVERGED,
            status=code,
            message=STATUS_MESSAGES[code],
            method=method_name,
            backend=backend_name,
        )
    return GeometricMedianResult(
        median=median.reshape(*shape, d),
        objective=obj.reshape(shape),
        lower_bound=lb.reshape(shape),
        gap=gap.reshape(shape),
        scale=scale.reshape(shape),
        n_iter=n_iter.reshape(shape),
        n_passes=n_passes.reshape(shape),
        converged=(status == CONVERGED).reshape(shape),
        status=status.reshape(shape),
        message=batch_message(status),
        method=method_name,
        backend=backend_name,
    )


def _is_dask(x: Any) -> bool:
    """Tell a Dask collection, without importing dask."""
    return type(x).__module__.startswith("dask.")


def _out_of_core(points, batch, policy) -> bool:
    """Whether to stream a memmap chunk by chunk (see _memmap.py) instead of mapping it whole.

    One problem, given as a C-contiguous float32/float64 ``(n, d)`` memmap that reached the
    kernels uncopied (no ``nodata`` replaced, no conversion) and ``nan_policy="raise"``.
    """
    return (
        isinstance(points, np.memmap)
        and batch.single
        and policy == "raise"
        and np.may_share_memory(batch.x, points)
        and points.flags.c_contiguous
    )


def _solve_streamed(
    impl, points, batch, w, wscale, y0, method_name, method_code, tol, max_iter, threads,
    policy, batch_size, rng, report,
):  # fmt: skip
    """One problem through the chunked solvers: ``method="sgd"`` or a memmap (exact)."""
    if not batch.single:
        raise ValueError(
            f"method='sgd' solves one problem: points must have shape (n, d), got "
            f"{batch.ndim}-D points (a batch of {batch.x.shape[0]} problems)"
        )
    if policy == "omit":
        raise ValueError("method='sgd' does not support nan_policy='omit'")
    init = None if y0 is None else y0[0]
    if isinstance(points, np.memmap) and np.may_share_memory(batch.x, points):
        src = MemmapPoints(points, w, wscale, impl, threads)
    else:
        src = ArrayPoints(batch.x[0], w, wscale, impl, threads)
    if method_name == v.SGD_METHOD:
        res = solve_sgd(impl, src, init, tol, max_iter, batch_size, rng, report)
    else:
        y0, s = start(src, impl, init, method_code, threads)
        res = solve_chunked(src, y0, s, method_code, tol, max_iter, report)
    out = res.as_arrays()
    report_nonfinite(batch, policy, out[6])
    return out


def _solve_batch(impl, batch, w, wscale, y0, method_code, tol, max_iter, threads, policy):
    """One kernel call for the whole batch, then the nan_policy applied to its statuses."""
    x = batch.x
    P, n, d = x.shape
    if P == 0:  # an empty batch axis: nothing to solve
        f = np.empty(0)
        i = np.empty(0, dtype=np.int64)
        return np.empty((0, d)), f, f, f, i, i, np.empty(0, dtype=np.int32), f
    omit = policy == "omit"
    empty = None
    if omit and n * d > impl.small_problem_size:
        x, w, wscale, empty = _fill_missing(batch, w, wscale)
    kernel = impl.solve_f32 if x.dtype == np.float32 else impl.solve_f64
    out = kernel(x, w, wscale, y0, method_code, tol, max_iter, threads, omit)
    median, obj, lb, gap, n_iter, n_passes, status, scale = out
    if status.max() < INTERRUPTED and empty is None:
        return out  # every problem solved: the common case, and the hot loop's
    if (status == INTERRUPTED).any():  # the Numba backend cannot raise from its kernels
        raise KeyboardInterrupt
    if empty is not None and empty.any():
        median[empty] = np.nan
        obj[empty] = lb[empty] = gap[empty] = scale[empty] = np.nan
        n_iter[empty] = n_passes[empty] = 0
        status[empty] = EMPTY
    report_nonfinite(batch, policy, status)
    return median, obj, lb, gap, n_iter, n_passes, status, scale


def report_nonfinite(batch, policy, status) -> None:
    """Raise for NaN (``nan_policy="raise"``), inf (any policy) and status 6 (range)."""
    out_of_range = np.flatnonzero(status == RANGE)
    if out_of_range.size:
        where = "" if batch.single else f" (problem {int(out_of_range[0])} of the batch)"
        raise ValueError(
            f"points span more than 2**880 (about 1e265) times their robust spread, or distances "
            f"between them exceed the largest float64 (1.8e308){where}: the far points and the "
            "rest cannot be represented together in float64; remove or rescale the far points"
        )
    omit = policy == "omit"
    bad = np.flatnonzero(status == NONFINITE)
    if bad.size:
        if policy == "raise":
            raise ValueError(
                f"points must be finite, {v.locate_nonfinite(batch, bad[0])}; pass "
                "nan_policy='omit' to leave out points with NaN coordinates or "
                "nan_policy='propagate' to get NaN for their problems"
            )
        # Under "omit" the kernel skipped NaN rows, so only inf is left; under "propagate"
        # the problems holding NaN but no inf are the NaN results asked for.
        with_inf = bad if omit else bad[np.isinf(batch.x[bad]).any(axis=(1, 2))]
        if with_inf.size:
            raise ValueError(
                "points must not contain inf (an error under every nan_policy), "
                f"{v.locate_nonfinite(batch, with_inf[0], inf_only=True)}"
            )


def _fill_missing(batch, w, wscale):
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
            "points must not contain inf (an error under every nan_policy), "
            f"{v.locate_nonfinite(batch, k, inf_only=True)}"
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


def _ready_median(points: Any, backend: str) -> np.ndarray | None:
    """Return the median of one small ready problem under default options, or None.

    A call of ``geometric_median`` on a 20 x 3 array spends more in Python than in the
    solve; this path skips what default options make moot (weights, batch shapes, the
    result object) and asks the kernel for the median and status only. It calls the
    same kernel with the same arguments as :func:`solve`, so the bits are the same. Any
    other input, or any outcome but a certified one (non-finite values, ``max_iter``),
    returns None and the caller takes the full path, which validates and reports.
    """
    impl = load_backend(resolve_backend(backend))
    if not v.is_ready_problem(points, impl.small_problem_size):
        return None
    f32 = points.dtype == np.float32
    kernel = impl.median_f32 if f32 else impl.median_f64
    median, status = kernel(
        points, v.METHODS[v.AUTO_METHOD], v.DEFAULT_TOL[points.dtype], v.DEFAULT_MAX_ITER
    )
    if status != CONVERGED:
        return None
    return median.astype(np.float32) if f32 else median


def geometric_median(
    points: Any,
    weights: Any = None,
    *,
    axis: int = -2,
    nan_policy: str = "raise",
    nodata: float | None = None,
    method: str = "auto",
    backend: str = "auto",
    tol: float | None = None,
    max_iter: int | None = None,
    init: Any = None,
    threads: int | None = None,
    batch_size: int | None = None,
    random_state: Any = None,
    progress: Any = None,
) -> np.ndarray:
    """Return the (weighted) geometric median of the rows of ``points``, per problem.

    Same arguments and stopping rule as :func:`solve`, which also returns the objective,
    the certified gap and the iteration counts. For hot loops: one C-contiguous float64 or
    float32 ``(n, d)`` array with ``n d <= 8192`` and every option at its default goes
    straight to the kernel (about 5 microseconds for 20 points in 3-D, the same bits as
    :func:`solve`).

    Returns
    -------
    ndarray, shape (d,) or (..., d)
        float32 for float32 points and integers of at most 16 bits, float64 otherwise.
        For a Dask batch ``(..., n, d)``, a lazy Dask array (no warning can be given
        before it is computed: compute ``solve(...).status`` alongside to check).

    Warns
    -----
    ConvergenceWarning
        Once per call, if the certified relative gap of some problems did not reach ``tol``
        (``max_iter`` ran out, or the iterate stalled at floating-point resolution), saying
        how many; their best iterates are returned. NaN results asked for by
        ``nan_policy`` do not warn.

    Examples
    --------
    >>> import geomedian
    >>> geomedian.geometric_median([[1, 2], [3, 4], [5, 6]])
    array([3., 4.])
    >>> geomedian.geometric_median([[0, 0], [1, 0], [5, 0]], weights=[1, 3, 1])
    array([1., 0.])

    One median per pixel of a (rows, cols, dates, bands) uint16 stack, 0 marking no data:

    >>> import numpy as np
    >>> stack = np.array([[[[10, 20], [0, 0], [12, 22], [11, 21]]]], dtype=np.uint16)
    >>> geomedian.geometric_median(stack, nodata=0, nan_policy="omit")
    array([[[11., 21.]]], dtype=float32)
    """
    if (
        weights is None
        and axis == -2
        and nan_policy == "raise"
        and nodata is None
        and method == "auto"
        and tol is None
        and max_iter is None
        and init is None
        and threads is None
        and batch_size is None
        and random_state is None
        and progress is None
    ):
        median = _ready_median(points, backend)
        if median is not None:
            return median
    res = solve(
        points,
        weights,
        axis=axis,
        nan_policy=nan_policy,
        nodata=nodata,
        method=method,
        backend=backend,
        tol=tol,
        max_iter=max_iter,
        init=init,
        threads=threads,
        batch_size=batch_size,
        random_state=random_state,
        progress=progress,
    )
    if _is_dask(res.median):  # a lazy batch (see _dask.py): nothing is known yet
        return res.median
    if isinstance(res.status, int):  # one problem: no array work on the hot path
        if res.status in (MAX_ITER, STALLED):
            warnings.warn(
                f"geometric median not certified: {res.message} "
                f"(gap {res.gap:.3g} after {res.n_iter} iterations)",
                ConvergenceWarning,
                stacklevel=2,
            )
        return res.median
    unfinished = (res.status == MAX_ITER) | (res.status == STALLED)
    if unfinished.any():
        k = int(unfinished.sum())
        worst = float(np.max(np.where(unfinished, res.gap, 0.0)))
        warnings.warn(
            f"geometric median not certified for {k} of {unfinished.size} problems "
            f"(largest gap {worst:.3g}): {res.message}",
            ConvergenceWarning,
            stacklevel=2,
        )
    return res.median


def _evaluate(y: Any, points: Any, weights: Any, backend: str, threads: int | None):
    x = v.as_points(points)
    n, d = x.shape
    w, wscale = v.as_weights(weights, n)
    yy = v.as_point(y, d, "y")
    impl = load_backend(resolve_backend(backend))
    kernel = impl.evaluate_f32 if x.dtype == np.float32 else impl.evaluate_f64
    out = kernel(
        x,
        None if w is None else w[0],
        1.0 if wscale is None else float(wscale[0]),
        yy,
        resolve_threads(threads),
    )
    if out is None:
        v.raise_nonfinite(x)
    return out


def objective(
    y: Any,
    points: Any,
    weights: Any = None,
    *,
    backend: str = "auto",
    threads: int | None = None,
) -> float:
    r"""Return :math:`f(y) = \sum_i w_i \lVert y - x_i \rVert_2`.

    Parameters
    ----------
    y : array_like, shape (d,)
        Where to evaluate.
    points, weights, backend, threads
        As in :func:`solve`.

    Returns
    -------
    float
        Accumulated in float64 whatever the dtype of ``points``.

    Examples
    --------
    >>> import geomedian
    >>> geomedian.objective([0, 0], [[3, 4], [0, 1]])
    6.0
    """
    return float(_evaluate(y, points, weights, backend, threads)[0])


def gradient(
    y: Any,
    points: Any,
    weights: Any = None,
    *,
    backend: str = "auto",
    threads: int | None = None,
) -> np.ndarray:
    r"""Return the minimum-norm subgradient of :math:`f` at ``y``.

    Away from the data this is :math:`\nabla f(y) = \sum_i w_i (y - x_i) / \lVert y - x_i
    \rVert`. At a data point (within ``2**-40`` of the spread) the points there, of total
    weight :math:`\eta`, contribute any vector of norm at most :math:`\eta`, and the
    subgradient of least norm is :math:`g_s \max(0, 1 - \eta / \lVert g_s \rVert)` with
    :math:`g_s` the gradient of the other points; it is zero exactly when ``y`` is optimal.

    Parameters
    ----------
    y : array_like, shape (d,)
        Where to evaluate.
    points, weights, backend, threads
        As in :func:`solve`.

    Returns
    -------
    ndarray of float64, shape (d,)

    Examples
    --------
    >>> import geomedian
    >>> geomedian.gradient([1, 0], [[0, 0], [1, 0], [5, 0]])  # Kuhn: weight 1 >= |1 - 1|
    array([0., 0.])
    """
    return np.asarray(_evaluate(y, points, weights, backend, threads)[1])
