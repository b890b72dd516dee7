"""The result object of :func:`geomedian.solve` and the warning for unfinished solves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._contract import STATUS_CONVERGED as CONVERGED
from ._contract import STATUS_EMPTY as EMPTY
from ._contract import STATUS_INTERRUPTED as INTERRUPTED
from ._contract import STATUS_MAX_ITER as MAX_ITER
from ._contract import STATUS_NONFINITE as NONFINITE
from ._contract import STATUS_RANGE as RANGE
from ._contract import STATUS_STALLED as STALLED

__all__ = [
    "STATUS_MESSAGES",
    "ConvergenceWarning",
    "GeometricMedianResult",
    "batch_message",
    "make_result",
]

STATUS_MESSAGES = {
    CONVERGED: "certified relative duality gap is at most tol",
    MAX_ITER: "max_iter reached before the certified gap reached tol",
    STALLED: (
        "floating-point resolution reached before the certified gap reached tol (the iterate "
        "stopped moving, or rounding the answer to the points' dtype cost more than tol)"
    ),
    INTERRUPTED: "interrupted",
    NONFINITE: "points contain NaN (nan_policy='propagate'): the median is NaN",
    EMPTY: "no point of positive weight left once points with NaN were omitted: the median is NaN",
    RANGE: (
        "the points span more than 2**880 (about 1e265) times their robust spread (the median "
        "distance to their coordinate-wise median), or distances between them exceed the "
        "largest float64: beyond float64's reach, the median is NaN"
    ),
}


def batch_message(status: np.ndarray) -> str:
    """Summarise the status codes of a batch: how many problems ended how."""
    counts = np.bincount(status.ravel(), minlength=len(STATUS_MESSAGES))
    total = status.size
    parts = [f"{counts[CONVERGED]} of {total} problems certified (gap <= tol)"]
    for code in (MAX_ITER, STALLED, NONFINITE, EMPTY, RANGE):
        if counts[code]:
            parts.append(f"{counts[code]}: {STATUS_MESSAGES[code]}")
    return "; ".join(parts)


class ConvergenceWarning(RuntimeWarning):
    """A solve stopped before its certified relative gap reached ``tol``."""


@dataclass(frozen=True)
class GeometricMedianResult:
    """Outcome of :func:`geomedian.solve`, in the spirit of ``scipy.optimize.OptimizeResult``.

    For one problem (points of shape ``(n, d)``) every field but ``median`` is a Python
    scalar; for a batch (points ``(..., n, d)``) they are arrays of the batch shape
    ``(...)`` and ``median`` has shape ``(..., d)``.

    Attributes
    ----------
    median : ndarray, shape (d,) or (..., d)
        The minimiser found, in the computation dtype (float32 stays float32, integers of
        at most 16 bits give float32, other integers float64); NaN for a problem with NaN
        under ``nan_policy="propagate"`` or with no point left under ``"omit"``.
    objective : float or ndarray
        ``f(median) = sum_i w_i ||median - x_i||`` (computed in float64).
    lower_bound : float or ndarray
        A certified lower bound on the optimal objective ``f*`` from the dual problem.
    gap : float or ndarray
        Certified gap relative to the data around the median:
        ``f(median) - f* <= gap * W * scale`` with ``W`` the total weight. Where every point
        lies within ``2**10`` robust spreads of the median (clean data) ``W * scale`` is the
        objective, and ``gap`` is the relative duality gap
        ``(objective - lower_bound) / objective``. Far points (fill values, gross outliers)
        are left out of ``scale``, so ``gap`` measures the answer at the scale of the
        inliers, not of the outliers' distances.
    scale : float or ndarray
        The unit of ``gap``, a distance in the points' units: the mean distance from the
        median to the points within ``2**10`` robust spreads of it (all points, on clean
        data: then ``W * scale`` is the objective).
    n_iter : int or ndarray
        Accepted iterations.
    n_passes : int or ndarray
        Passes over the data, including the first one that builds the frame and any
        rejected line-search trials.
    converged : bool or ndarray
        ``gap <= tol``.
    status : int or ndarray
        0 converged, 1 max_iter reached, 2 stalled at floating-point resolution, 4 NaN
        propagated, 5 no point left after omitting NaN (6: beyond float64's range, raised as
        an error by :func:`geomedian.solve`).
    message : str
        ``status`` in words; for a batch, how many problems ended how.
    method, backend : str
        What actually ran (``"auto"`` resolved).
    """

    median: np.ndarray
    objective: float | np.ndarray
    lower_bound: float | np.ndarray
    gap: float | np.ndarray
    scale: float | np.ndarray
    n_iter: int | np.ndarray
    n_passes: int | np.ndarray
    converged: bool | np.ndarray
    status: int | np.ndarray
    message: str
    method: str
    backend: str

    def __repr__(self) -> str:
        """Aligned ``name: value`` lines, as ``scipy.optimize.OptimizeResult``'s.

        A batch's fields are summarised (shape, range, how many converged), not printed.
        """
        rows = _single_rows(self) if _is_single(self) else _batch_rows(self)
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:>{width}}: {value}" for name, value in rows)


# Per-problem numbers of a batch, summarised by their range.
_SUMMARISED = ("gap", "objective", "lower_bound", "scale", "n_iter", "n_passes")


def _is_single(res: GeometricMedianResult) -> bool:
    return isinstance(res.status, (int, np.integer))


def _array_text(a) -> str:
    text = np.array2string(np.asarray(a), threshold=8, edgeitems=3, precision=8)
    return " ".join(text.split())  # one line, whatever d


def _single_rows(res: GeometricMedianResult) -> list[tuple[str, str]]:
    median = res.median
    if hasattr(median, "index"):  # a pandas Series: coordinates by their labels
        pairs = [f"{label}={value:.8g}" for label, value in list(median.items())[:8]]
        more = ", ..." if len(median) > 8 else ""
        median = f"Series({', '.join(pairs)}{more})"
    else:
        median = _array_text(median)
    return [
        ("message", res.message),
        ("converged", str(res.converged)),
        ("status", str(res.status)),
        ("median", median),
        ("objective", repr(res.objective)),
        ("lower_bound", repr(res.lower_bound)),
        ("gap", repr(res.gap)),
        ("scale", repr(res.scale)),
        ("n_iter", str(res.n_iter)),
        ("n_passes", str(res.n_passes)),
        ("method", res.method),
        ("backend", res.backend),
    ]


def _range(a: np.ndarray) -> str:
    """``min .., median .., max ..`` of the finite values, and how many are not."""
    a = np.asarray(a).ravel()
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    if finite.size == 0:
        return "all NaN" if a.size else "none"
    lo, mid, hi = np.min(finite), np.median(finite), np.max(finite)
    text = f"min {lo:.4g}, median {mid:.4g}, max {hi:.4g}"
    return text if finite.size == a.size else f"{text} ({a.size - finite.size} NaN)"


def _batch_rows(res: GeometricMedianResult) -> list[tuple[str, str]]:
    status = res.status
    if not isinstance(status, np.ndarray):  # a lazy (Dask) batch: nothing computed yet
        return [
            ("message", res.message),
            ("shape", f"{tuple(status.shape)}, lazy ({type(status).__name__})"),
            ("median", f"shape {tuple(res.median.shape)}, lazy"),
            ("method", res.method),
            ("backend", res.backend),
        ]
    counts = np.bincount(status.ravel(), minlength=1)
    rows = [
        ("message", res.message),
        ("converged", f"{counts[CONVERGED]} of {status.size}"),
        ("status", ", ".join(f"{code}: {k}" for code, k in enumerate(counts) if k) or "none"),
        ("shape", f"{status.shape} ({status.size} problems)"),
        ("median", f"shape {res.median.shape}, {res.median.dtype}"),
    ]
    rows += [(name, _range(getattr(res, name))) for name in _SUMMARISED]
    return [*rows, ("method", res.method), ("backend", res.backend)]


def make_result(
    out, single: bool, shape: tuple, dtype, options, method: str | None = None
) -> GeometricMedianResult:
    """Wrap the kernels' per-problem outcomes (``Solved``) as the caller's result.

    Scalars for one problem, arrays of the batch ``shape`` otherwise; the median in the
    points' compute ``dtype``. ``options`` (``SolveOptions``) names the method and backend;
    ``method``, where given, the method that ran instead (``"auto"`` chose the Gram path).
    """
    median = out.median.astype(dtype, copy=False)
    method, backend = method or options.method_name, options.backend
    if single:
        code = int(out.status[0])
        return GeometricMedianResult(
            median=median[0],
            objective=float(out.objective[0]),
            lower_bound=float(out.lower_bound[0]),
            gap=float(out.gap[0]),
            scale=float(out.scale[0]),
            n_iter=int(out.n_iter[0]),
            n_passes=int(out.n_passes[0]),
            converged=code == CONVERGED,
            status=code,
            message=STATUS_MESSAGES[code],
            method=method,
            backend=backend,
        )
    status = out.status.reshape(shape)
    return GeometricMedianResult(
        median=median.reshape(*shape, median.shape[-1]),
        objective=out.objective.reshape(shape),
        lower_bound=out.lower_bound.reshape(shape),
        gap=out.gap.reshape(shape),
        scale=out.scale.reshape(shape),
        n_iter=out.n_iter.reshape(shape),
        n_passes=out.n_passes.reshape(shape),
        converged=status == CONVERGED,
        status=status,
        message=batch_message(out.status),
        method=method,
        backend=backend,
    )
