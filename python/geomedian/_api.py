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
from ._result import (
    CONVERGED,
    INTERRUPTED,
    NONFINITE,
    STATUS_MESSAGES,
    ConvergenceWarning,
    GeometricMedianResult,
)
from ._threads import resolve_threads

__all__ = ["geometric_median", "gradient", "objective", "solve"]


def solve(
    points: Any,
    weights: Any = None,
    *,
    method: str = "auto",
    backend: str = "auto",
    tol: float | None = None,
    max_iter: int | None = None,
    init: Any = None,
    threads: int | None = None,
) -> GeometricMedianResult:
    r"""Compute the geometric median and a certificate of how close it is to optimal.

    Minimises :math:`f(y) = \sum_i w_i \lVert y - x_i \rVert_2` and stops when the
    certified relative duality gap :math:`(f(y) - LB(y)) / f(y)` is at most ``tol``, where
    :math:`LB(y) \le f^*` is a lower bound built from the dual problem at the iterate::

        LB(y) = (S - g . (y - xbar)) / (1 + ||g|| / W)

    with :math:`g` the minimum-norm subgradient at :math:`y`, :math:`S = \sum_i u_i \cdot
    (y - x_i)` for the dual vectors :math:`u_i = w_i (y - x_i) / \lVert y - x_i \rVert`,
    and :math:`\bar x` the weighted mean (derivation in ``csrc/geomedian/certificate.hpp``).

    Parameters
    ----------
    points : array_like, shape (n, d)
        Real coordinates, one point per row. Integers are computed in float64, float32 stays
        float32 (accumulated in float64). Any memory layout; C-contiguous float32/float64
        input is not copied. Never modified.
    weights : array_like, shape (n,), optional
        Non-negative finite weights, not all zero. Default: all ones.
    method : {"auto", "gd", "weiszfeld"}
        ``"weiszfeld"``: Weiszfeld's fixed-point iteration with the Vardi--Zhang
        modification, :math:`y^+ = y + \max(0, 1 - \eta / \lVert R \rVert) R / \sum_{i}
        w_i / d_i` with :math:`R = \sum_i w_i (x_i - y) / d_i` over the points not on
        :math:`y` and :math:`\eta` the weight on it. ``"gd"``: gradient descent with a
        Barzilai--Borwein step, Armijo backtracking and the Weiszfeld step as a safeguard
        (never slower to converge than Weiszfeld, usually far fewer passes). ``"auto"``
        picks the fastest reliable one (currently ``"gd"``).
    backend : {"auto", "cpp", "numba"}
        Kernels to run; ``"auto"`` honours ``GEOMEDIAN_BACKEND`` and otherwise prefers the
        compiled core.
    tol : float, optional
        Target certified relative gap, ``>= 0``. Default ``1e-10`` for float64 and integer
        points, ``1e-6`` for float32 points. ``0`` iterates until the gap is exactly zero,
        the iterate stalls or ``max_iter`` is reached.
    max_iter : int, optional
        Maximum accepted iterations (default 1000).
    init : array_like, shape (d,), optional
        Start point. Default: the weighted mean.
    threads : int, optional
        Threads for this call (OpenMP or Numba). Default: every core available to the
        process (``OMP_NUM_THREADS`` when set). Results do not depend on it.

    Returns
    -------
    GeometricMedianResult
        ``median``, ``objective``, ``lower_bound``, ``gap``, ``n_iter``, ``n_passes``,
        ``converged``, ``status``, ``message``, ``method``, ``backend``.

    Raises
    ------
    TypeError
        Non-real dtypes (complex, object, strings, bool) or wrongly typed options.
    ValueError
        Wrong shapes, empty input, NaN or inf, negative or all-zero weights, ``tol < 0``,
        ``max_iter < 1``, unknown method or backend.
    ImportError
        ``backend`` names a backend that is not installed.

    Notes
    -----
    Points closer to the iterate than ``2**-40`` of the data's spread count as coinciding
    with it; the certificate accounts for them (it stays a valid bound). A minimiser at a
    data point is found exactly: near a point that carries most of
    :math:`\sum_i w_i / d_i` the solver tries that point itself, where Kuhn's test
    :math:`\lVert R \rVert \le \eta` makes the gap close.

    Examples
    --------
    >>> import geomedian
    >>> res = geomedian.solve([[0, 0], [4, 0], [0, 3]])
    >>> res.converged, res.gap <= 1e-10
    (True, True)
    >>> geomedian.solve([[0.0, 0.0], [10.0, 0.0], [5.0, 0.5]]).median  # obtuse: a vertex
    array([5. , 0.5])
    """
    x = v.as_points(points)
    n, d = x.shape
    w, wscale = v.as_weights(weights, n)
    tol_ = v.as_tol(tol, x.dtype)
    max_iter_ = v.as_max_iter(max_iter)
    method_name, method_code = v.as_method(method)
    y0 = v.as_init(init, d)
    nthreads = resolve_threads(threads)
    backend_name = resolve_backend(backend)
    impl = load_backend(backend_name)
    kernel = impl.solve_f32 if x.dtype == np.float32 else impl.solve_f64
    median, obj, lb, gap, n_iter, n_passes, status = kernel(
        x.reshape(1, n, d), w, wscale, y0, method_code, tol_, max_iter_, nthreads
    )
    code = int(status[0])
    if code == NONFINITE:
        v.raise_nonfinite(x)
    if code == INTERRUPTED:  # the Numba backend cannot raise from inside its kernels
        raise KeyboardInterrupt
    return GeometricMedianResult(
        median=median[0].astype(x.dtype, copy=False),
        objective=float(obj[0]),
        lower_bound=float(lb[0]),
        gap=float(gap[0]),
        n_iter=int(n_iter[0]),
        n_passes=int(n_passes[0]),
        converged=code == CONVERGED,
        status=code,
        message=STATUS_MESSAGES[code],
        method=method_name,
        backend=backend_name,
    )


def geometric_median(
    points: Any,
    weights: Any = None,
    *,
    method: str = "auto",
    backend: str = "auto",
    tol: float | None = None,
    max_iter: int | None = None,
    init: Any = None,
    threads: int | None = None,
) -> np.ndarray:
    """Return the (weighted) geometric median of the rows of ``points``.

    Same arguments and stopping rule as :func:`solve`, which also returns the objective,
    the certified gap and the iteration counts.

    Returns
    -------
    ndarray, shape (d,)
        float32 for float32 points, float64 otherwise.

    Warns
    -----
    ConvergenceWarning
        The certified relative gap did not reach ``tol`` (``max_iter`` ran out, or the
        iterate stalled at floating-point resolution); the best iterate is returned.

    Examples
    --------
    >>> import geomedian
    >>> geomedian.geometric_median([[1, 2], [3, 4], [5, 6]])
    array([3., 4.])
    >>> geomedian.geometric_median([[0, 0], [1, 0], [5, 0]], weights=[1, 3, 1])
    array([1., 0.])
    """
    res = solve(
        points,
        weights,
        method=method,
        backend=backend,
        tol=tol,
        max_iter=max_iter,
        init=init,
        threads=threads,
    )
    if not res.converged:
        warnings.warn(
            f"geometric median not certified: {res.message} "
            f"(gap {res.gap:.3g} after {res.n_iter} iterations)",
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
