"""The result object of :func:`geomedian.solve` and the warning for unfinished solves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["STATUS_MESSAGES", "ConvergenceWarning", "GeometricMedianResult"]

# Status codes shared with csrc/geomedian/types.hpp (enum class Status).
CONVERGED, MAX_ITER, STALLED, INTERRUPTED, NONFINITE = 0, 1, 2, 3, 4

STATUS_MESSAGES = {
    CONVERGED: "certified relative duality gap is at most tol",
    MAX_ITER: "max_iter reached before the certified gap reached tol",
    STALLED: (
        "floating-point resolution reached before the certified gap reached tol (the iterate "
        "stopped moving, or rounding the answer to the points' dtype cost more than tol)"
    ),
    INTERRUPTED: "interrupted",
    NONFINITE: "points contain NaN or inf",
}


class ConvergenceWarning(RuntimeWarning):
    """A solve stopped before its certified relative gap reached ``tol``."""


@dataclass(frozen=True)
class GeometricMedianResult:
    """Outcome of :func:`geomedian.solve`, in the spirit of ``scipy.optimize.OptimizeResult``.

    Attributes
    ----------
    median : ndarray, shape (d,)
        The minimiser found, in the dtype of the points (float32 stays float32).
    objective : float
        ``f(median) = sum_i w_i ||median - x_i||`` (computed in float64).
    lower_bound : float
        A certified lower bound on the optimal objective ``f*`` from the dual problem.
    gap : float
        Certified relative duality gap ``(objective - lower_bound) / objective``; the true
        relative suboptimality ``(f(median) - f*) / f(median)`` is at most this.
    n_iter : int
        Accepted iterations.
    n_passes : int
        Full passes over the data, including the first one that builds the frame and any
        rejected line-search trials.
    converged : bool
        ``gap <= tol``.
    status : int
        0 converged, 1 max_iter reached, 2 stalled at floating-point resolution.
    message : str
        ``status`` in words.
    method, backend : str
        What actually ran (``"auto"`` resolved).
    """

    median: np.ndarray
    objective: float | np.ndarray
    lower_bound: float | np.ndarray
    gap: float | np.ndarray
    n_iter: int | np.ndarray
    n_passes: int | np.ndarray
    converged: bool | np.ndarray
    status: int | np.ndarray
    message: str
    method: str
    backend: str
