r"""The public solvers: geometric_median, solve, objective and gradient.

The problem, for points :math:`x_1, \dots, x_n \in \mathbb{R}^d` and weights
:math:`w_i \ge 0` with :math:`W = \sum_i w_i > 0`:

.. math::

    \min_y f(y) = \sum_i w_i \lVert y - x_i \rVert_2, \qquad
    \nabla f(y) = \sum_i w_i \frac{y - x_i}{\lVert y - x_i \rVert_2}.

This module holds the signatures and the documentation. Each call gathers its options into
one validated ``SolveOptions`` (``_options.py``) and hands it, with the data, to the path
that fits (``_paths``); the iteration, the certificate and the stopping rule are
written out in ``csrc/geomedian/*.hpp`` and mirrored in ``_numba/``.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from . import _labelled, _paths
from . import _validate as v
from ._backends import resolve_backend
from ._kernels import kernels
from ._options import SolveOptions
from ._paths.ready import ready_median
from ._result import EMPTY, MAX_ITER, STALLED, ConvergenceWarning, GeometricMedianResult
from ._threads import resolve_threads

__all__ = ["geometric_median", "gradient", "objective", "solve", "tree_median", "tree_solve"]


def solve(
    points: Any,
    weights: Any = None,
    *,
    axis: int | None = None,
    coord_axis: int = -1,
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
    p: float = 2,
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
    points : array_like or pandas.DataFrame, shape (n, d) or (..., n, d)
        Real coordinates: ``axis`` holds the ``n`` points and ``coord_axis`` the ``d``
        coordinates of each (by default one point per row, the last axis holding the
        coordinates). Every other axis indexes independent problems (a batch), like the
        axes ``np.median`` does not reduce: ``(rows, cols, dates, bands)`` imagery gives
        one median per pixel, and a ``(time, band, y, x)`` stack with ``axis=0,
        coord_axis=1`` one per ``(y, x)``. float32 stays float32 (accumulated in float64);
        integers of at most 16 bits are computed in float32 (which holds them exactly),
        wider integers in float64. float32/float64 input is not copied when it is
        C-contiguous in the order (problems..., points, coordinates), e.g. a C-contiguous
        array in the default layout, or its transpose passed with ``coord_axis=0``. Never
        modified. A pandas DataFrame is one problem with a point per row and a coordinate
        per column (nullable columns: ``pd.NA`` is NaN, handled by ``nan_policy``); the
        median is then a ``pandas.Series`` indexed by the column labels. An xarray
        DataArray is refused (a ``TypeError``): its dimension names would be lost; pass
        its ``.values`` with ``axis`` and ``coord_axis``. One ``np.memmap`` problem
        (C-contiguous float32/float64 ``(n, d)``, ``nan_policy="raise"``) is solved chunk
        by chunk with its pages dropped after use, so resident memory stays far below the
        file. A ``dask.array.Array`` ``(n, d)`` is solved by one reduction over its persisted row
        chunks per iteration; a Dask batch ``(..., n, d)`` block by block, lazily: every
        field of the result is then a Dask array. A CPU torch tensor (or any object with
        ``__dlpack__``) is read without a copy, and a tensor's median is a tensor; a
        tensor on a GPU is an error (move it with ``.cpu()``).
    weights : array_like or str, shape (n,) or broadcastable (see below), optional
        Non-negative finite weights, not all zero in any problem. A 1-D array of length n
        weighs the points of every problem alike; otherwise it broadcasts against the
        points without their coordinates axis (in the same layout, points axis included).
        For a DataFrame, the name of a column: that column is then the weights, not a
        coordinate. Default: all ones.
    axis : int, optional
        The points axis. Default: the axis before the coordinates (-2) when those are the
        last axis, the other axis of 2-D points; with ``coord_axis`` elsewhere in an array
        of three or more dimensions it must be given.
    coord_axis : int
        The coordinates axis (default -1, the last). It must differ from ``axis``.
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
    method : {"auto", "newton", "gd", "weiszfeld", "sgd", "gram"}
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
        gradient (one problem only), an epoch at a time until one exact pass
        certifies ``tol`` (default ``1e-3``); ``max_iter`` then counts epochs. At most
        1,024 points (SGD's first sample would be all of them) are solved by the exact
        ``"auto"`` method instead, to the same ``tol`` (``method`` in the result says
        so): its few passes cost less than one epoch, and it reaches what SGD only creeps
        towards (an optimum at a data point).
        ``"gram"``: one problem of few points with many coordinates (``n`` up to a few
        hundred, ``d >= 10^5``) solved in the span of the points, in three passes: their
        Gram matrix, the median, the certificate from exact distances (where that
        certificate fails, the ``"auto"`` solver goes on from there). ``"auto"`` takes it
        for one problem of ``2 <= n <= 64`` points and ``d >= 2^18`` coordinates without
        ``init`` (not a memmap). See the user guide, "Models and tensors".
    backend : {"auto", "cpp", "numba"}
        Kernels to run; ``"auto"`` honours ``GEOMEDIAN_BACKEND`` and otherwise prefers the
        compiled core.
    tol : float, optional
        Target certified relative gap, ``>= 0``, for every problem. Default ``1e-10`` when
        computing in float64, ``1e-6`` in float32. Below the certificate's rounding floor
        (a relative gap of about ``6e-14``; ``0``, say) the solve stops as stalled
        (status 2) once a gap under ``2**-36`` has not halved in 32 iterations.
    max_iter : int, optional
        Maximum accepted iterations per problem (default 1000); for ``p=np.inf`` the
        linear programs solved.
    init : array_like, shape (d,) or broadcastable to (..., d), optional
        Start points. Default: the coordinate-wise weighted median for small problems
        (``n d <= 8192`` and at most 64 points), the weighted mean otherwise, or where a
        quarter of the weight pulls one way from the mean (outliers dragged it off the
        data), the coordinate-wise median of up to 1,024 of the points.
    threads : int, optional
        Threads for this call (OpenMP or Numba): across problems for a batch of small
        ones, within each problem for large ones. Default: scikit-learn's rule, the
        compiled core's ``omp_get_max_threads()`` capped by the cores available to the
        process unless ``OMP_NUM_THREADS`` is set, so ``OMP_NUM_THREADS`` and
        ``threadpoolctl.threadpool_limits`` limit it; without the compiled core,
        ``OMP_NUM_THREADS`` or the available cores (threadpoolctl cannot reach Numba's
        threads). A count above the available cores is lowered to them. Results do not
        depend on it. In a child process started with ``fork``
        every call runs on one thread: GNU OpenMP, used by both backends, hangs or aborts
        in a forked child once the parent has used it.
    batch_size : int, optional
        ``method="sgd"`` only: rows per stochastic gradient step (default 16).
    random_state : int or numpy.random.Generator, optional
        ``method="sgd"`` only: the order of the minibatches. Default: a fixed seed, so
        repeated calls give the same answer.
    progress : bool or callable, optional
        ``callable(iteration, objective, gap)`` after each iteration of the chunked
        solvers (memmap, Dask) and each epoch of ``"sgd"``; ``True``: a progress bar on
        standard error when it is a terminal. An in-memory solve is
        one kernel call and reports once, at the end.
    p : float
        The norm: minimise :math:`\sum_i w_i \lVert y - x_i \rVert_p` for ``1 <= p <= inf``
        (``np.inf``); default 2, the geometric median. ``p = 1`` is the weighted
        coordinate-wise median, exact (an even count of equal weights gives the midpoint
        of the two middle values, as ``np.median``); ``1 < p < inf`` is solved by Newton's
        method with the exact Hessian and a line search; ``p = inf`` by linear programs
        (an exact simplex method, NumPy only). Every answer carries the certificate above
        with the dual norm :math:`\lVert g \rVert_q`, :math:`1/p + 1/q = 1`; for
        ``1 < p < inf`` the gap is relative to the near points' spread, as for ``p = 2``.
        NumPy arrays (a memmap read in place) and batches of them (also a Dask batch), by
        the exact solvers or ``method="sgd"``; one Dask problem takes every ``p``;
        ``method="gram"`` takes ``p = 2`` only (a ``ValueError``). See the user guide,
        "Choosing p".

    Returns
    -------
    GeometricMedianResult
        ``median``, ``objective``, ``lower_bound``, ``gap``, ``scale``, ``n_iter``,
        ``n_passes``, ``converged``, ``status``, ``message``, ``method``, ``backend``:
        scalars for one problem, arrays of the batch shape for a batch (``median``:
        ``(..., d)``). ``f(median) - f* <= gap * W * scale``; on clean data
        ``W * scale`` is the objective. For a DataFrame, ``median`` is a
        ``pandas.Series`` indexed by the coordinates' column labels.

    Warns
    -----
    RuntimeWarning
        Once per call, like ``np.nanmedian``'s "All-NaN slice encountered", when some
        problems have no point of positive weight left once NaN points are omitted (their
        median is NaN, status 5), saying how many.

    Raises
    ------
    TypeError
        Non-real dtypes (complex, object, strings, bool), wrongly typed options, or an
        xarray object (whose dimension names the NumPy API would lose).
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
    res = _paths.solve(points, weights, SolveOptions.of_call(locals()))
    if not _paths.is_dask(res.status):
        _warn_empty(res.status)
    return res


def _warn_empty(status: int | np.ndarray) -> None:
    """Warn, as ``np.nanmedian`` does for an all-NaN slice, for problems left with no point."""
    empty = status == EMPTY if isinstance(status, int) else int(np.count_nonzero(status == EMPTY))
    if not empty:
        return
    if isinstance(status, int):
        which = "the problem has"
    else:
        which = f"{empty} of {status.size} problems have"
    warnings.warn(
        f"All-NaN slice encountered: {which} no point of positive weight left once points "
        "with NaN (or nodata) were omitted; their median is NaN (status 5)",
        RuntimeWarning,
        stacklevel=3,
    )


def geometric_median(
    points: Any,
    weights: Any = None,
    *,
    axis: int | None = None,
    coord_axis: int = -1,
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
    p: float = 2,
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
        For a DataFrame, a ``pandas.Series`` indexed by the coordinates' column labels.
        For a Dask batch ``(..., n, d)``, a lazy Dask array (no warning can be given
        before it is computed: compute ``solve(...).status`` alongside to check).

    Warns
    -----
    ConvergenceWarning
        Once per call, if the certified relative gap of some problems did not reach ``tol``
        (``max_iter`` ran out, or the iterate stalled at floating-point resolution), saying
        how many; their best iterates are returned. NaN results asked for by
        ``nan_policy="propagate"`` do not warn.
    RuntimeWarning
        Once per call, as :func:`solve`, when problems have no point left under
        ``nan_policy="omit"``.

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
    if weights is None and SolveOptions.at_defaults(
        axis, coord_axis, nan_policy, nodata, method, tol, max_iter, init, threads, batch_size,
        random_state, progress, p,
    ):  # fmt: skip
        median = ready_median(points, backend)
        if median is not None:
            return median
    res = _paths.solve(points, weights, SolveOptions.of_call(locals()))
    if _paths.is_dask(res.status):  # a lazy Dask batch: nothing is known yet
        return res.median
    _warn_empty(res.status)
    _warn_unfinished(res)
    return res.median


def _warn_unfinished(res: GeometricMedianResult) -> None:
    """Warn once (``ConvergenceWarning``) if some problem's gap did not reach ``tol``."""
    if isinstance(res.status, int):  # one problem: no array work on the hot path
        if res.status in (MAX_ITER, STALLED):
            warnings.warn(
                f"geometric median not certified: {res.message} "
                f"(gap {res.gap:.3g} after {res.n_iter} iterations)",
                ConvergenceWarning,
                stacklevel=3,
            )
        return
    unfinished = (res.status == MAX_ITER) | (res.status == STALLED)
    if unfinished.any():
        k = int(unfinished.sum())
        worst = float(np.max(np.where(unfinished, res.gap, 0.0)))
        warnings.warn(
            f"geometric median not certified for {k} of {unfinished.size} problems "
            f"(largest gap {worst:.3g}): {res.message}",
            ConvergenceWarning,
            stacklevel=3,
        )


def tree_solve(
    models: Any,
    weights: Any = None,
    *,
    per_component: bool = False,
    method: str = "auto",
    backend: str = "auto",
    tol: float | None = None,
    max_iter: int | None = None,
    threads: int | None = None,
) -> GeometricMedianResult:
    r"""Compute the geometric median of n models, in their own structure, with a certificate.

    Robust aggregation of client updates (federated learning), robust model merging: each
    model is one point whose coordinates are all its parameters. The n models are read
    where they are, leaf by leaf, and never concatenated; few models of many parameters
    (``n << d``) are solved in the span of the models in three passes over them (see
    ``method``).

    Parameters
    ----------
    models : sequence of n models, or one array or tensor of shape (n, ...)
        Each model a torch tensor, a NumPy array or a number, or a dict, list or tuple of
        them, nested to any depth (a ``state_dict``, a list of parameter tensors), every
        model with model 0's structure: the same keys, lengths and leaf shapes (leaf
        dtypes may differ). A CPU tensor is read without a copy where it is contiguous.
        Never modified.
    weights : array_like or tensor, shape (n,), optional
        Non-negative weights of the models (a client's number of samples), not all zero.
        Default: all ones.
    per_component : bool
        ``False``: one median of the models as points of all their coordinates together.
        ``True``: one median per leaf (each tensor its own problem).
    method : {"auto", "gram", "newton", "gd", "weiszfeld"}
        ``"gram"``: the solve in the span of the models, as in :func:`solve`: their Gram
        matrix (one pass), the median (one pass), the certificate from exact distances
        (one pass); where the certificate fails, the ``"auto"`` solver goes on from that
        median on one ``(n, d)`` copy of the models. ``"auto"`` takes ``"gram"`` for
        ``2 <= n <= 64`` models of ``d >= 2^18`` coordinates (per leaf, with
        ``per_component=True``), the direct solver on a copy of the problem otherwise. The
        other methods are those of :func:`solve`, on a copy.
    backend, max_iter, threads
        As in :func:`solve`.
    tol : float, optional
        Target certified relative gap. Default ``1e-6`` where some leaf is computed in
        float32, else ``1e-10``.

    Returns
    -------
    GeometricMedianResult
        ``median`` is a model of the same structure: each leaf of model 0's shape and type
        (a torch tensor for a tensor, a NumPy array for an array, a float for a number),
        float32 for float32, float16 and bfloat16 leaves and integers of at most 16 bits,
        float64 otherwise. The other fields as in :func:`solve`: scalars, or with
        ``per_component=True`` arrays of one entry per leaf, in the order of model 0's
        leaves (dicts in their keys' order).

    Raises
    ------
    TypeError
        ``models`` is not a sequence of models, a leaf does not hold real numbers.
    ValueError
        Models whose structures differ (the message names the first difference), no
        model, no coordinates, NaN or inf (named by model and leaf), weights that do not
        match, a tensor on a GPU, unknown options.

    See Also
    --------
    tree_median : The median alone, with a warning where it is not certified.

    Examples
    --------
    >>> import numpy as np, geomedian
    >>> models = [{"w": np.array([[1.0, 2.0]]), "b": np.array([0.0])},
    ...           {"w": np.array([[3.0, 2.0]]), "b": np.array([0.0])},
    ...           {"w": np.array([[2.0, 9.0]]), "b": np.array([1.0])}]
    >>> res = geomedian.tree_solve(models)
    >>> sorted(res.median), res.median["w"].shape, res.converged
    (['b', 'w'], (1, 2), True)
    """
    from ._paths.tree import solve_tree

    options = SolveOptions(
        method=method, backend=backend, tol=tol, max_iter=max_iter, threads=threads
    )
    return solve_tree(models, weights, per_component, options)


def tree_median(
    models: Any,
    weights: Any = None,
    *,
    per_component: bool = False,
    method: str = "auto",
    backend: str = "auto",
    tol: float | None = None,
    max_iter: int | None = None,
    threads: int | None = None,
) -> Any:
    """Return the geometric median of n models, as a model of the same structure.

    Same arguments as :func:`tree_solve`, which also returns the certificate.

    Returns
    -------
    model
        Model 0's structure, each leaf of its shape and type (a torch tensor for a
        tensor).

    Warns
    -----
    ConvergenceWarning
        If the certified gap did not reach ``tol``.

    Examples
    --------
    Ten clients send an update of two tensors; two of them send garbage:

    >>> import numpy as np, geomedian
    >>> rng = np.random.default_rng(0)
    >>> updates = [[rng.normal(1.0, 0.1, (3, 4)), rng.normal(0.0, 0.1, 4)] for _ in range(8)]
    >>> updates += [[np.full((3, 4), 1e6), np.full(4, -1e6)] for _ in range(2)]
    >>> w, b = geomedian.tree_median(updates)
    >>> bool(abs(w.mean() - 1.0) < 0.1), bool(abs(b.mean()) < 0.1)
    (True, True)
    """
    res = tree_solve(
        models, weights, per_component=per_component, method=method, backend=backend,
        tol=tol, max_iter=max_iter, threads=threads,
    )  # fmt: skip
    _warn_unfinished(res)
    return res.median


def _evaluate(y, points, weights, axis, coord_axis, backend, threads, p=2) -> tuple[Any, Any]:
    """Return f, the subgradient and the bound at ``y`` and the coordinates' labels (or None)."""
    labels = None
    if _labelled.is_labelled(points):
        points, weights, labels = _labelled.unwrap(points, weights, axis, coord_axis)
    x = v.as_points(points, axis, coord_axis)
    n, d = x.shape
    w, wscale = v.as_weights(weights, n)
    yy = v.as_point(y, d, "y")
    p = v.as_p(p)
    if p != 2:
        from ._paths.lp import evaluate_lp

        wk = None if w is None else w[0]
        f, g = evaluate_lp(x, wk, yy, p, resolve_backend(backend), resolve_threads(threads))
        return _LpEvaluated(f, g), labels
    k = kernels(resolve_backend(backend))
    out = k.evaluate(
        x,
        None if w is None else w[0],
        1.0 if wscale is None else float(wscale[0]),
        yy,
        resolve_threads(threads),
    )
    if out is None:
        v.raise_nonfinite(x)
    return out, labels


class _LpEvaluated(NamedTuple):
    objective: float
    gradient: np.ndarray


def objective(
    y: Any,
    points: Any,
    weights: Any = None,
    *,
    axis: int | None = None,
    coord_axis: int = -1,
    backend: str = "auto",
    threads: int | None = None,
    p: float = 2,
) -> float:
    r"""Return :math:`f(y) = \sum_i w_i \lVert y - x_i \rVert_2`.

    Parameters
    ----------
    y : array_like, shape (d,)
        Where to evaluate.
    points, weights, axis, coord_axis, backend, threads, p
        As in :func:`solve`, for one problem (``points`` of two dimensions). For ``p != 2``
        the gradient is the least-norm subgradient in the dual norm (for ``p = inf``, a
        subgradient).

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
    out, _ = _evaluate(y, points, weights, axis, coord_axis, backend, threads, p)
    return float(out.objective)


def gradient(
    y: Any,
    points: Any,
    weights: Any = None,
    *,
    axis: int | None = None,
    coord_axis: int = -1,
    backend: str = "auto",
    threads: int | None = None,
    p: float = 2,
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
    points, weights, axis, coord_axis, backend, threads, p
        As in :func:`solve`, for one problem (``points`` of two dimensions). For ``p != 2``
        the gradient is the least-norm subgradient in the dual norm (for ``p = inf``, a
        subgradient).

    Returns
    -------
    ndarray of float64, shape (d,)
        For a DataFrame, a ``pandas.Series`` indexed by the coordinates' column labels.

    Examples
    --------
    >>> import geomedian
    >>> geomedian.gradient([1, 0], [[0, 0], [1, 0], [5, 0]])  # Kuhn: weight 1 >= |1 - 1|
    array([0., 0.])
    """
    out, labels = _evaluate(y, points, weights, axis, coord_axis, backend, threads, p)
    g = np.asarray(out.gradient)
    return g if labels is None else _labelled.label(g, labels)
