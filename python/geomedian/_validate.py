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
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ._contract import METHOD_GD, METHOD_NEWTON, METHOD_WEISZFELD
from ._result import NONFINITE, RANGE
from ._stack import convert
from ._stack import for_kernels as _for_kernels

__all__ = [
    "DEFAULT_MAX_ITER",
    "DEFAULT_TOL",
    "METHODS",
    "NAN_POLICIES",
    "Batch",
    "as_batch",
    "as_batch_init",
    "as_batch_size",
    "as_batch_weights",
    "as_init",
    "as_layout",
    "as_lazy_points",
    "as_max_iter",
    "as_method",
    "as_nan_policy",
    "as_point",
    "as_points",
    "as_progress",
    "as_random_state",
    "as_tol",
    "as_weights",
    "broadcast_init",
    "locate_nonfinite",
    "raise_nonfinite",
    "report_nonfinite",
]

# Certified relative gap by dtype. float32 points are solved in float64, but the answer is
# returned in float32, whose rounding alone moves the objective by ~1e-7 relative at a
# vertex optimum: certifying much below that would promise more than the output holds.
DEFAULT_TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-6}
DEFAULT_MAX_ITER = 1000

# Public method name -> kernel code (the contract's Method).
METHODS = {"weiszfeld": METHOD_WEISZFELD, "gd": METHOD_GD, "newton": METHOD_NEWTON}
AUTO_METHOD = "newton"
# Averaged stochastic gradient (_sgd.py): its own kernel, no code in the exact driver.
SGD_METHOD = "sgd"
# The solve in the span of few points of many coordinates (_paths/gram.py): Python-side,
# its inner solve runs the kernels' AUTO_METHOD.
GRAM_METHOD = "gram"

NAN_POLICIES = ("raise", "omit", "propagate")


def compute_dtype(dtype: np.dtype) -> type:
    """Return the dtype the kernels compute a batch in (the documented rule).

    float32 and float16 -> float32; integers of at most 16 bits -> float32, which holds
    them exactly (imagery in uint16 then costs half the memory of float64); wider integers,
    float64 and longer floats -> float64 (exact up to 2**53).
    """
    if dtype == np.float32 or dtype == np.float16:
        return np.float32
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        return np.float32
    return np.float64


_READY_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def is_ready_problem(points: Any, limit: int) -> bool:
    """Whether ``points`` can go to a kernel as it is: one problem of ``1 <= n d <= limit``.

    That is an ``(n, d)`` ndarray (not a subclass), native float64 or float32, C-contiguous
    and aligned: what :func:`as_batch` would pass on uncopied. Values are not looked at:
    the kernel's first pass counts non-finite coordinates (status 4), and the caller then
    takes the validating path, which names them. The checks are ordered cheapest first,
    for hot loops calling ``geometric_median`` on tiny problems.
    """
    return (
        type(points) is np.ndarray
        and points.ndim == 2
        and points.dtype in _READY_DTYPES
        and 0 < points.shape[0] * points.shape[1] <= limit
        and points.flags.c_contiguous
        and points.flags.aligned
    )


def _real_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, str):
        raise TypeError(
            f"{name}={value!r} is a string: a column name needs points in a pandas "
            "DataFrame; otherwise pass numbers"
        )
    if type(value).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"{name} is a sparse {type(value).__name__}: sparse input is not supported "
            f"(the median of sparse rows is not sparse); pass {name}.toarray()"
        )
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} could not be read as a numeric array: {err}") from None
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold real numbers, got booleans (dtype bool)")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _one_dimensional_hint(arr: np.ndarray) -> str:
    if arr.ndim != 1:
        return ""
    return (
        "; for n points on a line pass points.reshape(-1, 1), "
        "for one point in d dimensions points.reshape(1, -1)"
    )


def as_points(points: Any, axis: Any = None, coord_axis: Any = -1) -> np.ndarray:
    """Return the points as a C-contiguous ``(n, d)`` float32 or float64 array.

    ``axis`` and ``coord_axis`` are the points and coordinates axes (see :func:`as_layout`).
    Integers become float64 (exact up to 2**53); float16 becomes float32; float32 and
    float64 keep their dtype and are not copied when already C-contiguous in that layout.
    """
    arr = _real_array(points, "points")
    if arr.ndim != 2:
        raise ValueError(
            f"points must be a 2-D array of shape (n, d), got {arr.ndim}-D shape {arr.shape}"
            f"{_one_dimensional_hint(arr)}"
        )
    arr = _to_layout(arr, *as_layout(axis, coord_axis, 2))
    n, d = arr.shape
    if n == 0:
        raise ValueError("points is empty: need at least one point (got shape (0, d))")
    if d == 0:
        raise ValueError("points have no coordinates: d must be >= 1 (got shape (n, 0))")
    if arr.dtype == np.float32 or arr.dtype == np.float16:
        dtype = np.float32
    else:
        dtype = np.float64
    return _for_kernels(arr, dtype=dtype)


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
    w = _for_kernels(w, dtype=np.float64)
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


def as_method(method: Any) -> tuple[str, int | None]:
    """Return ``(method name, kernel code)``, resolving ``"auto"``.

    ``"sgd"`` and ``"gram"`` run outside the exact driver and have no code.
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    name = AUTO_METHOD if method == "auto" else method
    if name in (SGD_METHOD, GRAM_METHOD):
        return name, None
    if name not in METHODS:
        expected = ", ".join(repr(m) for m in ("auto", *METHODS, SGD_METHOD, GRAM_METHOD))
        raise ValueError(f"unknown method {method!r}; expected one of {expected}")
    return name, METHODS[name]


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive integer, got a bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__}") from None
    if number < 1:
        raise ValueError(f"{name} must be >= 1, got {number}")
    return number


def as_batch_size(batch_size: Any, method: str, default: int) -> int:
    """Return the SGD minibatch size; an error for the exact methods, which have none."""
    if batch_size is None:
        return default
    if method != SGD_METHOD:
        raise ValueError(f"batch_size applies to method='sgd' only, not method={method!r}")
    return _positive_int(batch_size, "batch_size")


def as_random_state(random_state: Any, method: str) -> np.random.Generator | None:
    """Return a ``numpy.random.Generator``: ``None`` is a fixed seed (reproducible runs).

    Other methods than ``"sgd"`` draw nothing and get ``None`` (a Generator costs more to
    build than a small solve).
    """
    if random_state is not None and method != SGD_METHOD:
        raise ValueError(f"random_state applies to method='sgd' only, not method={method!r}")
    if method != SGD_METHOD:
        return None
    if random_state is None:
        return np.random.default_rng(0)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(
        random_state, (int, np.integer)
    ):
        raise TypeError(
            "random_state must be None, an int or a numpy.random.Generator, got "
            f"{type(random_state).__name__}"
        )
    if random_state < 0:
        raise ValueError(f"random_state must be a non-negative int, got {random_state}")
    return np.random.default_rng(int(random_state))


def as_progress(progress: Any) -> Any:
    """Return ``None``, ``True`` or a callable ``(iteration, objective, gap)``."""
    if progress is None or progress is False:
        return None
    if progress is True or callable(progress):
        return progress
    raise TypeError(
        "progress must be None, a bool or a callable(iteration, objective, gap), got "
        f"{type(progress).__name__}"
    )


def as_point(y: Any, d: int, name: str) -> np.ndarray:
    """Return a finite point of ``d`` coordinates as a C-contiguous float64 ``(d,)`` array."""
    arr = _real_array(y, name)
    if arr.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},) to match the points, got {arr.shape}")
    arr = _for_kernels(arr, dtype=np.float64)
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


def as_p(p: Any) -> float:
    """Return the Lp exponent ``p`` (a real ``>= 1`` or ``np.inf``); 2 stays the int 2."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"p must be a real number >= 1 or np.inf, got {type(p).__name__}")
    value = float(p)
    if math.isnan(value) or value < 1:
        raise ValueError(f"p must be >= 1 (or np.inf), got {p}")
    return 2 if value == 2 else value


def as_nan_policy(nan_policy: Any) -> str:
    """Return a valid ``nan_policy`` (``"raise"``, ``"omit"`` or ``"propagate"``)."""
    if not isinstance(nan_policy, str):
        raise TypeError(f"nan_policy must be a string, got {type(nan_policy).__name__}")
    if nan_policy not in NAN_POLICIES:
        raise ValueError(
            f"unknown nan_policy {nan_policy!r}; expected one of 'raise', 'omit', 'propagate'"
        )
    return nan_policy


@dataclass(frozen=True)
class Batch:
    """Points validated for the kernels, as P problems of n points in d coordinates.

    ``raw`` is the caller's array laid out ``(P, n, d)``: a view where its axes allow, in
    its own dtype and strides. ``x`` is what the kernels read: ``raw`` as a C-contiguous
    array of the compute ``dtype`` (float32/64) with ``nodata`` values as NaN, made on
    first use, and a copy only where ``raw`` is not that already (:attr:`ready`). The
    compiled core can solve small problems from ``raw`` itself (``solve_stack``).

    ``shape`` is the batch shape (``()`` for one problem given as ``(n, d)``), ``axis`` the
    caller's points axis (non-negative) among the axes other than the coordinates (where
    it is in the weights), ``ndim`` the caller's number of dimensions.
    """

    raw: np.ndarray
    shape: tuple
    axis: int
    ndim: int
    # Where this batch starts in the caller's (a block of a Dask batch): added to the
    # problem indices that messages name.
    origin: tuple = ()
    dtype: Any = None  # the compute dtype; None: raw's, which is then float32/64
    nodata: Any = None  # the value marking missing coordinates, None: none

    def __post_init__(self) -> None:
        if self.dtype is None:
            object.__setattr__(self, "dtype", self.raw.dtype)

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(P, n, d)``."""
        return self.raw.shape

    @property
    def ready(self) -> bool:
        """Whether ``x`` is ``raw`` itself: no conversion, no copy."""
        flags = self.raw.flags
        return (
            self.nodata is None
            and self.raw.dtype == self.dtype
            and flags.c_contiguous
            and flags.aligned
        )

    @cached_property
    def x(self) -> np.ndarray:
        """The points as the kernels read them (see the class docstring)."""
        return convert(self.raw, self.dtype, self.nodata)

    @property
    def single(self) -> bool:
        return self.ndim == 2

    def problem(self, k: int) -> tuple:
        """Return the batch index of flat problem ``k``, as the caller sees it."""
        if not self.shape:
            return ()
        index = np.unravel_index(k, self.shape)
        origin = self.origin or (0,) * len(index)
        return tuple(int(i) + int(o) for i, o in zip(index, origin))


def _axis_index(value: Any, name: str, ndim: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got a bool")
    try:
        a = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not -ndim <= a < ndim:
        raise ValueError(f"{name} {a} is out of bounds for points with {ndim} dimensions")
    return a % ndim


def as_layout(axis: Any, coord_axis: Any, ndim: int) -> tuple[int, int]:
    """Return ``(points axis, coordinates axis)`` of ``ndim``-D points, both non-negative.

    ``axis=None`` is the axis before the coordinates when those are last, and the other
    axis of 2-D points; on more dimensions with the coordinates elsewhere it must be given
    (guessing would reduce a stack over whichever axis came first).
    """
    cx = _axis_index(coord_axis, "coord_axis", ndim)
    if axis is not None:
        ax = _axis_index(axis, "axis", ndim)
    elif cx == ndim - 1:
        ax = ndim - 2
    elif ndim == 2:
        ax = 1 - cx
    else:
        raise ValueError(
            f"coord_axis={coord_axis} leaves the points axis ambiguous in {ndim}-D points: "
            "pass axis= too, e.g. axis=0, coord_axis=1 for a (time, band, y, x) stack"
        )
    if ax == cx:
        raise ValueError(
            f"axis={axis} and coord_axis={coord_axis} both name axis {ax} of the {ndim}-D "
            "points: the points axis (n points) and the coordinates axis (d coordinates) "
            "must be two different axes"
        )
    return ax, cx


def _to_layout(arr: Any, ax: int, cx: int) -> Any:
    """Move the points axis to -2 and the coordinates axis to -1: a view, no copy."""
    if (ax, cx) == (arr.ndim - 2, arr.ndim - 1):
        return arr
    return np.moveaxis(arr, (ax, cx), (-2, -1))


def as_batch(points: Any, options: Any) -> Batch:
    """Return the points as a :class:`Batch`, laid out as ``options`` (``SolveOptions``) says.

    ``options.axis`` is the points axis, ``options.coord_axis`` the coordinates axis,
    ``options.nodata`` the value marking missing data. The two axes are moved last (a view)
    and the other axes flattened into P problems. No copy is made of float32/float64 input
    that is C-contiguous in that order (the default layout of a C-contiguous array, or
    e.g. the transpose of one given with ``coord_axis=0``) and in which ``nodata`` does
    not occur; integers are converted by
    :func:`compute_dtype`. ``nodata`` values become NaN (in a copy), so that the point
    holding one counts as missing under ``nan_policy``.
    """
    arr = _real_array(points, "points")
    if arr.ndim < 2:
        raise ValueError(
            f"points must be an array of shape (..., n, d) with at least 2 dimensions, "
            f"got {arr.ndim}-D shape {arr.shape}{_one_dimensional_hint(arr)}"
        )
    ax, cx = as_layout(options.axis, options.coord_axis, arr.ndim)
    arr = _to_layout(arr, ax, cx)
    *batch, n, d = arr.shape
    if n == 0:
        raise ValueError(
            f"points is empty: need at least one point per problem (got {n} points along "
            f"axis {ax}, shape {arr.shape})"
        )
    if d == 0:
        raise ValueError(f"points have no coordinates: d must be >= 1 (got shape {arr.shape})")
    P = math.prod(batch)
    # The weights' layout is the points' without the coordinates axis.
    return Batch(
        arr.reshape(P, n, d), tuple(batch), ax - (cx < ax), arr.ndim,
        dtype=compute_dtype(arr.dtype), nodata=options.nodata,
    )  # fmt: skip


def _weights_error(batch: Batch, k: int, i: int, what: str) -> str:
    where = f"index {i}" if batch.single else f"problem {batch.problem(k)}, index {i}"
    return f"weights must be {what}, got {{}} at {where}"


def as_batch_weights(weights: Any, batch: Batch) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Return ``(weights as (1, n) or (P, n) float64, one power-of-two scale per row)``.

    A 1-D ``weights`` of length n is one weight per point, shared by every problem. Any
    other shape must broadcast against the points without their coordinates axis (the
    caller's layout, points axis included); only then is a (P, n) array made. ``None``:
    unit weights.
    """
    if weights is None:
        return None, None
    P, n, _ = batch.dims
    w = _real_array(weights, "weights")
    if w.ndim == 1 and w.shape[0] == n:
        w = w.reshape(1, n)
    else:
        # The caller's layout: the points axis where the caller put it, no coordinate axis.
        target = list(batch.shape)
        target.insert(batch.axis, n)
        try:
            wb = np.broadcast_to(w, tuple(target))
        except ValueError:
            raise ValueError(
                f"weights of shape {w.shape} do not match the points: expected (n,) = ({n},) "
                f"or a shape that broadcasts to {tuple(target)} (the points' shape without "
                "its coordinates axis)"
            ) from None
        wb = np.moveaxis(wb, batch.axis, -1)
        # Broadcast along every problem axis: one row serves them all, no (P, n) copy. An
        # empty batch has no row to take.
        shared = P > 0 and all(st == 0 for st in wb.strides[:-1])
        w = wb[(0,) * (wb.ndim - 1)].reshape(1, n) if shared else wb.reshape(P, n)
    w = _for_kernels(w, dtype=np.float64)
    finite = np.isfinite(w)
    if not finite.all():
        k, i = np.argwhere(~finite)[0]
        raise ValueError(_weights_error(batch, k, i, "finite").format(w[k, i]))
    negative = w < 0
    if negative.any():
        k, i = np.argwhere(negative)[0]
        raise ValueError(_weights_error(batch, k, i, "non-negative").format(w[k, i]))
    wmax = w.max(axis=1)
    if not (wmax > 0).all():
        k = int(np.argmin(wmax > 0))
        where = "" if batch.single or w.shape[0] == 1 else f" in problem {batch.problem(k)}"
        raise ValueError(f"weights are all zero{where}: at least one weight must be positive")
    _, exponent = np.frexp(wmax)
    # Subnormal weights stop short of [0.5, 1): the scale itself must stay finite.
    return w, np.ldexp(1.0, -np.maximum(exponent, -1022))


def broadcast_init(init: Any, shape: tuple, d: int) -> np.ndarray:
    """Return ``init`` broadcast to the batch ``shape`` plus ``(d,)`` (a read-only view)."""
    arr = _real_array(init, "init")
    try:
        return np.broadcast_to(arr, (*shape, d))
    except ValueError:
        raise ValueError(
            f"init must have shape ({d},) or broadcast to {(*shape, d)}, got {arr.shape}"
        ) from None


def as_batch_init(init: Any, batch: Batch) -> np.ndarray | None:
    """Return start points as a ``(P, d)`` float64 array (``(d,)`` or ``(..., d)`` given)."""
    if init is None:
        return None
    P, _, d = batch.dims
    arr = _for_kernels(broadcast_init(init, batch.shape, d), dtype=np.float64).reshape(P, d)
    if not np.isfinite(arr).all():
        raise ValueError("init must be finite")
    return arr


def locate_nonfinite(batch: Batch, k: int, inf_only: bool = False) -> str:
    """Describe the first NaN/inf (or inf only) coordinate of problem ``k``."""
    xk = batch.x[k]
    bad = np.isinf(xk) if inf_only else ~np.isfinite(xk)
    if not bad.any():
        return ""
    i, j = np.argwhere(bad)[0]
    where = f"at row {int(i)}, column {int(j)}"
    if batch.single:
        return f"got {xk[i, j]} {where}"
    rows = "row" if batch.axis == batch.ndim - 2 else f"index {int(i)} along the points axis,"
    if rows != "row":
        where = f"at {rows} column {int(j)}"
    return f"got {xk[i, j]} in problem {batch.problem(k)} {where}"


def as_lazy_points(points: Any, options: Any) -> tuple[Any, type]:
    """Check a lazy (Dask) array of points without reading it.

    Return it laid out as ``options`` says (points axis at -2, coordinates at -1), and the dtype the
    kernels compute in (:func:`compute_dtype`); the same rules as :func:`as_batch`.
    """
    if points.ndim < 2:
        raise ValueError(
            f"points must be an array of shape (..., n, d) with at least 2 dimensions, "
            f"got {points.ndim}-D shape {points.shape}"
        )
    kind = np.dtype(points.dtype).kind
    if kind == "b" or kind not in "iuf":
        raise TypeError(f"points must hold real numbers, got dtype {points.dtype}")
    if any(math.isnan(k) for k in points.shape):
        raise ValueError(
            f"points has unknown chunk sizes (shape {points.shape}), as after boolean "
            "indexing: call points.compute_chunk_sizes() first"
        )
    points = _to_layout(points, *as_layout(options.axis, options.coord_axis, points.ndim))
    n, d = points.shape[-2:]
    if n == 0 or d == 0:
        raise ValueError(
            f"points must have n >= 1 points of d >= 1 coordinates, got {points.shape}"
        )
    return points, compute_dtype(np.dtype(points.dtype))


def range_error(where: str = "") -> ValueError:
    """Return the error for points beyond float64's reach (status 6); ``where``: the problem."""
    return ValueError(
        f"points span more than 2**880 (about 1e265) times their robust spread, or distances "
        f"between them exceed the largest float64 (1.8e308){where}: the far points and the "
        "rest cannot be represented together in float64; remove or rescale the far points"
    )


def report_nonfinite(batch: Batch, policy: str, status: np.ndarray, *, sgd: bool = False) -> None:
    """Raise for what the kernels found: NaN under ``"raise"``, inf (any policy), range.

    The deferred half of the finiteness check (see the module docstring): the kernels report
    status 4 (non-finite) and 6 (beyond float64's reach) per problem, and this names them.
    """
    out_of_range = np.flatnonzero(status == RANGE)
    if out_of_range.size:
        k = int(out_of_range[0])
        where = "" if batch.single else f" (problem {batch.problem(k)} of the batch)"
        raise range_error(where)
    bad = np.flatnonzero(status == NONFINITE)
    if bad.size:
        if policy == "raise" and not np.isinf(batch.x[bad[0]]).any():
            where = locate_nonfinite(batch, bad[0]) or "got NaN"
            if sgd:
                hint = (
                    "method='sgd' takes finite points only: drop the rows holding NaN, or "
                    "use an exact method with nan_policy='omit'"
                )
            else:
                hint = (
                    "pass nan_policy='omit' to leave out points with NaN coordinates or "
                    "nan_policy='propagate' to get NaN for their problems"
                )
            raise ValueError(f"points must be finite, {where}; {hint}")
        # Under "omit" the kernel skipped NaN rows, so only inf is left; under "propagate"
        # the problems holding NaN but no inf are the NaN results asked for.
        with_inf = bad if policy != "propagate" else bad[np.isinf(batch.x[bad]).any(axis=(1, 2))]
        if with_inf.size:
            where = locate_nonfinite(batch, with_inf[0], inf_only=True) or "got inf"
            raise ValueError(
                f"points must be finite, {where}: inf is an error under every nan_policy"
            )
