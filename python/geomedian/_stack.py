"""A caller's array of problems as it lies, and how the kernels' dtype is made of it.

A stack of satellite images is ``(y, x, band, time)`` int16 or uint16 with a nodata value;
the kernels solve float32 or float64 ``(P, n, d)`` problems with NaN for missing values.
The compiled core reads each problem from the caller's array while its threads solve it
(``solve_stack``), so no converted copy of the stack is made; the Numba backend converts
a block of problems at a time with :func:`convert`, to the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BLOCK_VALUES", "STACK_DTYPES", "convert", "for_kernels", "nodata_mask", "readable"]

# Values (n d per problem) converted at a time where a converted copy is made: a few MB
# of float32 in cache-friendly pieces, and enough problems per block to keep every thread
# busy.
BLOCK_VALUES = 1 << 20

# The source dtypes the compiled core reads as they lie (native byte order).
STACK_DTYPES = tuple(
    np.dtype(t)
    for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.float32, np.float64)
)


def for_kernels(arr: Any, dtype: Any) -> np.ndarray:
    """Return ``arr`` as a C-contiguous, aligned array of ``dtype``, copying only if needed.

    ``np.ascontiguousarray`` keeps a misaligned buffer (e.g. a view at an odd byte offset);
    the kernels' loads of a misaligned ``double`` are undefined behaviour (UBSan reports it).
    """
    if isinstance(arr, np.ndarray) and arr.dtype == dtype:
        flags = arr.flags
        if flags.c_contiguous and flags.aligned:
            return arr  # the common case, without np.require's Python overhead (hot loops)
    return np.require(arr, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED"])


def nodata_mask(arr: np.ndarray, nodata: Any) -> np.ndarray:
    """Return where ``arr`` holds ``nodata``, compared in the data's own dtype.

    ``-9999.9`` stored as float32 is not float64's ``-9999.9``: a float ``nodata`` is
    rounded to the data's float dtype first, as the data was when it was written. Integer
    data matches an integral ``nodata`` in its range only (``-9999.9`` is no int16 value).
    """
    if arr.dtype.kind == "f":
        return arr == np.asarray(nodata).astype(arr.dtype)
    value = float(nodata)
    info = np.iinfo(arr.dtype)
    if not value.is_integer() or not info.min <= value <= info.max:
        return np.zeros(arr.shape, dtype=bool)
    return arr == int(value)


def readable(raw: np.ndarray) -> bool:
    """Whether ``solve_stack`` reads ``raw`` (a ``(P, n, d)`` array) as it lies."""
    return raw.dtype in STACK_DTYPES and raw.dtype.isnative and raw.flags.aligned


def convert(raw: np.ndarray, dtype: Any, nodata=None, scale=None, offset=None) -> np.ndarray:
    """Return ``raw`` as the kernels read it: C-contiguous ``dtype``, ``nodata`` as NaN.

    ``scale`` and ``offset`` (None: not applied) are applied in ``dtype`` after the
    conversion, as ``raw.astype(dtype) * scale + offset`` would. No copy is made of an
    array that is already C-contiguous ``dtype`` when nothing is to be changed.
    """
    x = for_kernels(raw, dtype)
    if nodata is None and scale is None and offset is None:
        return x
    hit = None if nodata is None else nodata_mask(raw, nodata)
    if scale is None and offset is None and not hit.any():
        return x
    if np.may_share_memory(x, raw):
        x = x.copy()
    if scale is not None:
        x *= x.dtype.type(scale)
    if offset is not None:
        x += x.dtype.type(offset)
    if hit is not None:
        x[hit] = np.nan
    return x
