"""The hot loop: one small ready problem under default options, straight to the kernel.

A call of ``geometric_median`` on a 20 x 3 array spends more in Python than in the solve.
This path skips what default options make moot (weights, batch shapes, the result object)
and asks the kernel for the median and status only. It calls the same kernel with the same
arguments as the in-memory path, so the bits are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as v
from .._backends import resolve_backend
from .._kernels import kernels
from .._result import CONVERGED

__all__ = ["ready_median"]


def ready_median(points: Any, backend: str) -> np.ndarray | None:
    """Return the median of one small ready problem under default options, or None.

    Any other input, or any outcome but a certified one (non-finite values, ``max_iter``),
    returns None and the caller takes the full path, which validates and reports.
    """
    k = kernels(resolve_backend(backend))
    if not v.is_ready_problem(points, k.small_problem_size):
        return None
    median, status = k.entry("median", points.dtype)(
        points, v.METHODS[v.AUTO_METHOD], v.DEFAULT_TOL[points.dtype], v.DEFAULT_MAX_ITER
    )
    if status != CONVERGED:
        return None
    return median.astype(np.float32) if points.dtype == np.float32 else median
