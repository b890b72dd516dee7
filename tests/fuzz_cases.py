"""Boundary cases for the fuzz test: built the same way in the test and in the worker.

A case is a plain dict (a *recipe*: picklable, printable, shrinkable by hypothesis); the
arrays it describes, with their odd memory layouts, are built on each side by
:func:`build_points` and :func:`build_weights`, since pickling would not keep a layout.
"""

from __future__ import annotations

import traceback
import warnings

import numpy as np

import geomedian

REAL_KINDS = ["float64", "float32", "float16", "int8", "uint16", "int32", "int64"]
OTHER_KINDS = ["bool", "complex128", "object", "str"]
LAYOUTS = ["c", "fortran", "reversed", "strided", "unaligned", "readonly", "list"]


def _values(recipe: dict) -> np.ndarray:
    """float64 values of the recipe's shape, scale and offset, with NaN/inf put in place."""
    rng = np.random.default_rng(recipe["seed"])
    shape = tuple(recipe["shape"])
    scale, offset = recipe["scale"], recipe["offset"]
    if recipe["weights"] == "wide":  # 1e300 weights at 1e150 distances: f* overflows
        scale, offset = min(scale, 1.0), 0.0
    x = np.asarray(rng.normal(size=shape) * scale + offset)
    if recipe["duplicates"] and x.ndim >= 2 and x.shape[-2] > 0:
        x[..., :, :] = x[..., :1, :]  # every point of a problem on one spot
    if x.size:
        flat = x.reshape(-1)
        for pos, value in recipe["specials"]:
            flat[pos % flat.size] = value
    return x


def _convert(x: np.ndarray, kind: str) -> np.ndarray:
    if kind in ("int8", "uint16", "int32", "int64"):
        info = np.iinfo(kind)
        x = np.nan_to_num(np.round(x), nan=0.0, posinf=info.max, neginf=info.min)
        return np.clip(x, info.min, info.max).astype(kind)
    if kind == "bool":
        return x > 0
    if kind == "object":
        return x.astype(object)
    if kind == "str":
        return x.astype(str)
    with np.errstate(over="ignore"):  # float16 overflows to inf: a case like any other
        return x.astype(kind)


def _lay_out(a: np.ndarray, layout: str):
    """Return the same values in the recipe's memory layout (or as nested lists)."""
    if a.ndim == 0 and layout not in ("readonly", "list"):
        return a
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "reversed":  # negative strides on every axis
        idx = (slice(None, None, -1),) * a.ndim
        return np.ascontiguousarray(a[idx])[idx]
    if layout == "strided":  # a non-contiguous view: every other element of a larger array
        big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
        view = big[(slice(None, None, 2),) * a.ndim]
        view[...] = a
        return view
    if layout == "unaligned" and a.dtype.kind in "iufb" and a.itemsize > 1:
        raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
        view = raw[1:].view(a.dtype).reshape(a.shape)
        view[...] = a
        return view
    if layout == "readonly":
        a = a.copy()
        a.setflags(write=False)
        return a
    if layout == "list":
        return a.tolist()
    return a


def build_points(recipe: dict):
    """The points argument the recipe describes."""
    # NaN/inf cast to integers or strings warn: the values made are the case, not a finding.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _lay_out(_convert(_values(recipe), recipe["kind"]), recipe["layout"])


def passed_points(recipe: dict) -> np.ndarray:
    """The points as NumPy reads the argument (nested lists become int64/float64...)."""
    points = build_points(recipe)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(points)


def build_weights(recipe: dict):
    """The weights argument: None, or an array of the recipe's kind of weights."""
    kind = recipe["weights"]
    if kind is None:
        return None
    shape = tuple(recipe["shape"])
    axis = recipe["axis"]
    n = shape[axis] if len(shape) >= 2 and -len(shape) <= axis < len(shape) else 0
    rng = np.random.default_rng(recipe["seed"] + 1)
    if kind == "batch":  # one weight per point of every problem
        w = np.asarray(rng.uniform(0.1, 10.0, size=shape[:-1]))
    elif kind == "wrong-length":
        w = rng.uniform(0.1, 10.0, size=n + 1)
    else:
        w = rng.uniform(0.1, 10.0, size=n)
        if kind == "some-zero" and n:
            w[::2] = 0.0
        elif kind == "all-zero":
            w[:] = 0.0
        elif kind == "negative" and n:
            w[0] = -1.0
        elif kind == "nan" and n:
            w[0] = np.nan
        elif kind == "inf" and n:
            w[0] = np.inf
        elif kind == "wide" and n:  # 600 decades of weight
            w = 10.0 ** rng.uniform(-300, 300, size=n)
    return _lay_out(w, recipe["weights_layout"])


def _as_plain(value):
    if isinstance(value, np.ndarray):
        return np.array(value)
    return value


def run_case(recipe: dict) -> dict:
    """Call the library as the recipe says; report the outcome (run in the worker)."""
    points = build_points(recipe)
    weights = build_weights(recipe)
    before = (np.array(points, copy=True), None if weights is None else np.array(weights))
    kwargs = {
        "backend": recipe["backend"],
        "nan_policy": recipe["nan_policy"],
        "method": recipe["method"],
        "tol": recipe["tol"],
        "axis": recipe["axis"],
        "threads": recipe["threads"],
        "p": recipe["p"],
    }
    func = getattr(geomedian, recipe["func"])
    outcome: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = func(points, weights, **kwargs)
        except (ValueError, TypeError) as err:
            outcome["error"] = (type(err).__name__, str(err))
        except Exception as err:  # any other exception is a finding: report it whole
            outcome["unexpected"] = "".join(traceback.format_exception(err))
        else:
            if recipe["func"] == "solve":
                outcome["result"] = {
                    k: _as_plain(getattr(res, k))
                    for k in ("median", "objective", "lower_bound", "gap", "status", "converged")
                }
            else:
                outcome["result"] = {"median": _as_plain(res)}
    outcome["warnings"] = [
        (w.category.__name__, str(w.message))
        for w in caught
        if w.category is not DeprecationWarning
    ]
    outcome["points_unchanged"] = _same(before[0], points)
    outcome["weights_unchanged"] = weights is None or _same(before[1], weights)
    return outcome


def _same(before: np.ndarray, after) -> bool:
    after = np.array(after)
    if before.dtype.kind == "O":  # object numbers: compare as numbers, NaN equal to NaN
        before, after = before.astype(np.float64), after.astype(np.float64)
    if before.dtype.kind in "fc":
        return bool(np.array_equal(before, after, equal_nan=True))
    return bool(np.array_equal(before, after))
