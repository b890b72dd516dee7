"""The one place that checks what users pass in.

Every public function runs its arguments through these helpers before any kernel runs,
and they raise ``TypeError`` (wrong kind of thing) or ``ValueError`` (right kind, bad
value) with a message that names the argument and the problem. They never modify the
caller's arrays and never copy C-contiguous float32/float64 points.

One check is deliberately not made here: the finiteness of the points. Reading a million
rows once more in NumPy would cost as much as the solve itself, so the kernels' first
pass (which reads every coordinate anyway, before any iteration) reports NaN/inf and
:func:`raise_nonfinite` turns that into the ``ValueError``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MAX_ITER",
    "DEFAULT_TOL",
    "METHODS",
    "as_init",
    "as_max_iter",
    "as_method",
    "as_point",
    "as_points",
    "as_tol",
    "as_weights",
    "raise_nonfinite",
]

# Certified relative gap by dtype. float32 points are solved in float64, but the answer is
# returned in float32, whose rounding alone moves the objective by ~1e-7 relative at a
# vertex optimum: certifying much below that would promise more than the output holds.
DEFAULT_TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-6}
DEFAULT_MAX_ITER = 1000

# Public method name -> kernel code (csrc/geomedian/types.hpp, enum class Method).
METHODS = {"weiszfeld": 0, "gd": 1}
AUTO_METHOD = "gd"


def _real_array(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} could not be read as a numeric array: {err}") from None
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold real numbers, got booleans (dtype bool)")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def as_points(points: Any) -> np.ndarray:
    """Return the points as a C-contiguous ``(n, d)`` float32 or float64 array.

    Integers become float64 (exact up to 2**53); float16 becomes float32; float32 and
    float64 keep their dtype and are not copied when already C-contiguous.
    """
    arr = _real_array(points, "points")
    if arr.ndim != 2:
        hint = ""
        if arr.ndim == 1:
            hint = (
                "; for n points on a line pass points.reshape(-1, 1), "
                "for one point in d dimensions points.reshape(1, -1)"
            )
        raise ValueError(
            f"points must be a 2-D array of shape (n, d), got {arr.ndim}-D shape {arr.shape}{hint}"
        )
    n, d = arr.shape
    if n == 0:
        raise ValueError("points is empty: need at least one point (got shape (0, d))")
    if d == 0:
        raise ValueError("points have no coordinates: d must be >= 1 (got shape (n, 0))")
    if arr.dtype == np.float32 or arr.dtype == np.float16:
        dtype = np.float32
    else:
        dtype = np.float64
    return np.ascontiguousarray(arr, dtype=dtype)


def as_weights(weights: Any, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Return ``(weights as a (1, n) float64 array, its power-of-two scale as (1,))``.

    ``None`` means unit weights and returns ``(None, None)``. The scale ``2**-e`` brings the
    largest weight into [0.5, 1), so the kernels' sums cannot overflow whatever the units.
    """
    if weights is None:
        return None, None
    w = _real_array(weights, "weights")
    if w.ndim != 1:
        raise ValueError(f"weights must be a 1-D array of length n={n}, got shape {w.shape}")
    if w.shape[0] != n:
        raise ValueError(f"weights has length {w.shape[0]} but points has n={n} rows")
    w = np.ascontiguousarray(w, dtype=np.float64)
    finite = np.isfinite(w)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"weights must be finite, got {w[i]} at index {i}")
    negative = w < 0
    if negative.any():
        i = int(np.argmax(negative))
        raise ValueError(f"weights must be non-negative, got {w[i]} at index {i}")
    wmax = float(w.max())
    if wmax == 0:
        raise ValueError("weights are all zero: at least one weight must be positive")
    _, exponent = np.frexp(wmax)
    # Subnormal weights stop short of [0.5, 1): the scale itself must stay finite.
    exponent = max(int(exponent), -1022)
    return w.reshape(1, n), np.array([np.ldexp(1.0, -exponent)])


def as_tol(tol: Any, dtype: np.dtype) -> float:
    """Return the certified relative gap to reach (the dtype's default when ``None``)."""
    if tol is None:
        return DEFAULT_TOL[np.dtype(dtype)]
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, (int, float, np.number)):
        raise TypeError(f"tol must be a real number or None, got {type(tol).__name__}")
    value = float(tol)
    if math.isnan(value) or value < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    return value


def as_max_iter(max_iter: Any) -> int:
    """Return the iteration budget (``DEFAULT_MAX_ITER`` when ``None``)."""
    if max_iter is None:
        return DEFAULT_MAX_ITER
    if isinstance(max_iter, (bool, np.bool_)):
        raise TypeError("max_iter must be a positive integer or None, got a bool")
    try:
        value = operator.index(max_iter)
    except TypeError:
        raise TypeError(
            f"max_iter must be a positive integer or None, got {type(max_iter).__name__}"
        ) from None
    if value < 1:
        raise ValueError(f"max_iter must be >= 1, got {value}")
    return min(value, 2**62)


def as_method(method: Any) -> tuple[str, int]:
    """Return ``(method name, kernel code)``, resolving ``"auto"``."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    name = AUTO_METHOD if method == "auto" else method
    if name not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of 'auto', 'weiszfeld', 'gd'")
    return name, METHODS[name]


def as_point(y: Any, d: int, name: str) -> np.ndarray:
    """Return a finite point of ``d`` coordinates as a C-contiguous float64 ``(d,)`` array."""
    arr = _real_array(y, name)
    if arr.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},) to match the points, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def as_init(init: Any, d: int) -> np.ndarray | None:
    """Return the start point as a ``(1, d)`` float64 array, or ``None`` (weighted mean)."""
    if init is None:
        return None
    return as_point(init, d, "init").reshape(1, d)


def raise_nonfinite(points: np.ndarray) -> None:
    """Raise the ``ValueError`` for points the kernel found NaN/inf in, naming the first one."""
    block = max(1, (1 << 16) // points.shape[1])
    for lo in range(0, points.shape[0], block):
        bad = ~np.isfinite(points[lo : lo + block])
        if bad.any():
            i, j = np.argwhere(bad)[0]
            row = lo + int(i)
            raise ValueError(
                f"points must be finite, got {points[row, j]} at row {row}, column {int(j)}"
            )
    raise ValueError("points must be finite")
