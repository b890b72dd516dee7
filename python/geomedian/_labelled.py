"""Labelled inputs at the NumPy API: a pandas DataFrame in, a Series out; xarray refused.

A DataFrame holds one point per row and one coordinate per column (the defaults of
``axis`` and ``coord_axis``), which is what its values give; its column labels then name
the coordinates of the median. An xarray object is refused: its values alone do not say
which dimension holds the points and which the coordinates, and guessing reduced stacks
over the wrong axes. Neither library is imported by ``import geomedian``: objects are told
apart by their type's module, and pandas is imported here only once a pandas object exists.
"""

from __future__ import annotations

import importlib.util
from typing import Any, NamedTuple

import numpy as np

from ._validate import as_layout, compute_dtype

__all__ = ["Unwrapped", "is_labelled", "label", "unwrap"]


def _library(obj: Any) -> str:
    return type(obj).__module__.partition(".")[0]


def is_labelled(obj: Any) -> bool:
    """Whether ``obj`` is a pandas or xarray object (without importing either)."""
    return _library(obj) in ("pandas", "xarray")


def _xarray_refusal(obj: Any, name: str) -> TypeError:
    dims = getattr(obj, "dims", None)
    dims = f" with dims {tuple(dims)}" if isinstance(dims, tuple) else ""
    if importlib.util.find_spec("geomedian.xarray") is not None:
        named = "use geomedian.xarray.geometric_median(da, dim=...), which reduces by name, or "
    else:
        named = ""
    return TypeError(
        f"{name} is an xarray {type(obj).__name__}{dims}: its dimension names cannot reach "
        f"the NumPy API, which would reduce over positional axes; {named}pass da.values with "
        "axis= (the points dimension, da.get_axis_num('time')) and coord_axis= (the "
        "coordinates dimension, da.get_axis_num('band'))"
    )


def _numeric(dtype: Any) -> np.dtype | None:
    """Return the NumPy dtype behind a column's dtype when it holds real numbers, else None."""
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)  # pandas' nullable Int64, Float32...
    if not isinstance(numpy_dtype, np.dtype) or numpy_dtype.kind not in "iuf":
        return None
    return numpy_dtype


def _values(frame: Any, name: str) -> np.ndarray:
    """Return a DataFrame's values as a real array; pd.NA (nullable dtypes) becomes NaN."""
    dtypes = []
    for column, dtype in frame.dtypes.items():
        numeric = _numeric(dtype)
        if numeric is None:
            raise TypeError(
                f"{name} must hold real numbers, but column {column!r} has dtype {dtype}"
            )
        dtypes.append(numeric)
    common = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
    if all(isinstance(dtype, np.dtype) for dtype in frame.dtypes):
        return frame.to_numpy(dtype=common)  # one block of one dtype: a view
    return frame.to_numpy(dtype=compute_dtype(common), na_value=np.nan)


def _column(series: Any, name: str) -> np.ndarray:
    numeric = _numeric(series.dtype)
    if numeric is None:
        raise TypeError(f"{name} must hold real numbers, got dtype {series.dtype}")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


class Unwrapped(NamedTuple):
    """A pandas input as arrays: ``values``, ``weights`` and the coordinates' ``labels``."""

    values: np.ndarray
    weights: Any
    labels: Any


def unwrap(
    points: Any, weights: Any, axis: Any, coord_axis: Any, name: str = "points"
) -> Unwrapped:
    """Return a pandas ``points`` (and ``weights``) as arrays, with the coordinates' labels.

    ``weights`` may name a column of a DataFrame whose columns are the coordinates: that
    column is then the weights and not a coordinate. A Series is refused (one row or one
    column: which, the values do not say), and so is any xarray object.
    """
    library, kind = _library(points), type(points).__name__
    if library == "xarray":
        raise _xarray_refusal(points, name)
    if kind == "Series":
        raise ValueError(
            f"{name} is a pandas Series, one-dimensional: pass series.to_frame() for n "
            "points on a line, or series.to_frame().T for one point in d dimensions"
        )
    if kind != "DataFrame":
        raise TypeError(f"{name} must be an array or a pandas DataFrame, got {kind}")
    _, cx = as_layout(axis, coord_axis, 2)
    if isinstance(weights, str):
        if cx != 1:
            raise ValueError(
                f"weights={weights!r} names a column, but coord_axis={coord_axis} makes the "
                "columns points: weights can name a column only when columns are coordinates"
            )
        if weights not in points.columns:
            raise ValueError(
                f"weights={weights!r} is not a column of the DataFrame; its columns are "
                f"{list(points.columns)}"
            )
        points, weights = points.drop(columns=[weights]), _column(points[weights], "weights")
    elif _library(weights) == "pandas" and type(weights).__name__ == "Series":
        weights = _column(weights, "weights")
    labels = points.columns if cx == 1 else points.index
    return Unwrapped(_values(points, name), weights, labels)


def label(values: Any, labels: Any) -> Any:
    """Return the coordinates ``values`` (shape ``(d,)``) as a Series indexed by ``labels``."""
    import pandas as pd  # present: a DataFrame came in

    return pd.Series(values, index=labels)
