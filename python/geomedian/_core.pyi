"""Type stub of the compiled core (``csrc/bindings.cpp``), mirrored by ``_numba/bindings.py``.

Every kernel exists as ``<kernel>_f64`` (float64 points) and ``<kernel>_f32`` (float32
points); other arrays are float64 (``blocks``: int64), C-contiguous and aligned, never
converted. Shapes: ``P`` problems of ``n`` points in ``d`` dimensions.
"""

from typing import Any, Final, TypedDict

import numpy as np
import numpy.typing as npt

_F64 = npt.NDArray[np.float64]
_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]
_I32 = npt.NDArray[np.int32]

# (median (P, d), objective, lower_bound, gap, n_iter, n_passes, status, scale), each (P,).
_Solved = tuple[_F64, _F64, _F64, _F64, _I64, _I64, _I32, _F64]

class _BuildInfo(TypedDict):
    openmp: bool
    openmp_version: int | None
    openmp_max_threads: int
    isa_compiled: str
    isa_active: str
    compiler: str
    chunk_rows_d2: int

# Problems of at most this many coordinates (n * d) take the small-problem pass, the only
# one that can omit NaN rows in the kernel.
small_problem_size: Final[int]
# The values shared with geomedian._contract, by name (tests/test_contract.py).
contract: Final[dict[str, int | float]]

def solve_f64(
    points: _F64,
    weights: _F64 | None,
    wscale: _F64 | None,
    init: _F64 | None,
    method: int,
    tol: float,
    max_iter: int,
    threads: int,
    omit_nan: bool = False,
    mads: bool = False,
) -> _Solved | tuple:
    """Solve a batch ``points (P, n, d)``; weights ``(1|P, n)`` with ``wscale (1|P,)``.

    With ``mads``, four more arrays follow: emad, smad, bcmad (float64) and count (int64).
    """

def solve_f32(
    points: _F32,
    weights: _F64 | None,
    wscale: _F64 | None,
    init: _F64 | None,
    method: int,
    tol: float,
    max_iter: int,
    threads: int,
    omit_nan: bool = False,
    mads: bool = False,
) -> _Solved | tuple:
    """Solve a batch of float32 points (as :func:`solve_f64`)."""

def solve_stack_f64(
    stack: npt.NDArray[Any],
    weights: _F64 | None,
    wscale: _F64 | None,
    init: _F64 | None,
    method: int,
    tol: float,
    max_iter: int,
    threads: int,
    omit_nan: bool,
    mads: bool,
    nodata: float | None,
    scale: float | None,
    offset: float | None,
) -> _Solved | tuple:
    """Solve the problems of ``stack (P, n, d)`` as it lies, in float64 (as :func:`solve_f64`).

    ``stack``: int8/16/32, uint8/16/32, float32 or float64 with any strides; each problem
    is read as ``stack.astype(float64) * scale + offset`` with ``nodata`` as NaN gives it.
    """

def solve_stack_f32(
    stack: npt.NDArray[Any],
    weights: _F64 | None,
    wscale: _F64 | None,
    init: _F64 | None,
    method: int,
    tol: float,
    max_iter: int,
    threads: int,
    omit_nan: bool,
    mads: bool,
    nodata: float | None,
    scale: float | None,
    offset: float | None,
) -> _Solved | tuple:
    """Solve the problems of ``stack`` as it lies, in float32 (as :func:`solve_stack_f64`)."""

def median_f64(points: _F64, method: int, tol: float, max_iter: int) -> tuple[_F64, int]:
    """One unweighted problem ``(n, d)`` on the calling thread: ``(median (d,), status)``."""

def median_f32(points: _F32, method: int, tol: float, max_iter: int) -> tuple[_F64, int]:
    """One unweighted float32 problem (as :func:`median_f64`)."""

def evaluate_f64(
    points: _F64, weights: _F64 | None, wscale: float, y: _F64, threads: int
) -> tuple[float, _F64, float] | None:
    """Return ``(f(y), min-norm subgradient (d,), lower bound)``; None for non-finite points."""

def evaluate_f32(
    points: _F32, weights: _F64 | None, wscale: float, y: _F64, threads: int
) -> tuple[float, _F64, float] | None:
    """Evaluate at ``y`` for float32 points (as :func:`evaluate_f64`)."""

def fused_pass_f64(
    points: _F64,
    weights: _F64 | None,
    wscale: float,
    y: _F64,
    s: float,
    threads: int,
    eps: float = ...,
    near: float = ...,
    z: _F64 | None = None,
) -> _F64:
    """Return the sums of one pass at ``y + z / s`` (slots ``SLOT_*``, then R, M)."""

def fused_pass_f32(
    points: _F32,
    weights: _F64 | None,
    wscale: float,
    y: _F64,
    s: float,
    threads: int,
    eps: float = ...,
    near: float = ...,
    z: _F64 | None = None,
) -> _F64:
    """Return the pass sums for float32 points (as :func:`fused_pass_f64`)."""

def hessian_pass_f64(
    points: _F64,
    weights: _F64 | None,
    wscale: float,
    y: _F64,
    s: float,
    threads: int,
    eps: float = ...,
    z: _F64 | None = None,
) -> _F64:
    """Return the Hessian at ``y + z / s``, packed lower triangle (``d <= NEWTON_MAX_D``)."""

def hessian_pass_f32(
    points: _F32,
    weights: _F64 | None,
    wscale: float,
    y: _F64,
    s: float,
    threads: int,
    eps: float = ...,
    z: _F64 | None = None,
) -> _F64:
    """Return the Hessian for float32 points (as :func:`hessian_pass_f64`)."""

def lp_pass_f64(
    points: _F64,
    weights: _F64 | None,
    rows: npt.NDArray[np.int64],
    y: _F64,
    shift: _F64 | None,
    near: _F64 | None,
    p: float,
    threads: int,
) -> _F64:
    """Return the Lp pass sums ``(m, size)`` of problems ``rows`` at ``y`` (slots ``LP_*``)."""

def lp_pass_f32(
    points: _F32,
    weights: _F64 | None,
    rows: npt.NDArray[np.int64],
    y: _F64,
    shift: _F64 | None,
    near: _F64 | None,
    p: float,
    threads: int,
) -> _F64:
    """Return the Lp pass sums for float32 points (as :func:`lp_pass_f64`)."""

def gram_pass_f64(rows: list[_F64], r: int, s: float, threads: int) -> _F64:
    """Return ``G = X_c X_c^T`` (n, n) for ``X_c = (X - x_r) s``, the rows read in place."""

def gram_pass_f32(rows: list[_F32], r: int, s: float, threads: int) -> _F64:
    """Return the Gram matrix of float32 rows (as :func:`gram_pass_f64`)."""

def gram_median_pass_f64(
    rows: list[_F64], r: int, s: float, a: _F64, vertex: int, threads: int
) -> tuple[_F64, _F64]:
    """Return ``(y, d2)``: ``y = x_r + a (X - x_r)`` (row ``vertex`` if >= 0), its distances."""

def gram_median_pass_f32(
    rows: list[_F32], r: int, s: float, a: _F64, vertex: int, threads: int
) -> tuple[_F32, _F64]:
    """Return ``(y, d2)`` for float32 rows (as :func:`gram_median_pass_f64`)."""

def gram_certificate_pass_f64(
    rows: list[_F64], r: int, s: float, a: _F64, vertex: int, y: _F64, t: _F64, ws: _F64,
    threads: int,
) -> tuple[float, float]:
    """Return ``(||R||^2 s^2, R.M s)``, R = sum t_i (x_i - y), M = sum ws_i (x_i - y)."""

def gram_certificate_pass_f32(
    rows: list[_F32], r: int, s: float, a: _F64, vertex: int, y: _F32, t: _F64, ws: _F64,
    threads: int,
) -> tuple[float, float]:
    """Return the certificate pass's sums for float32 rows (as the float64 entry)."""

def sgd_f64(
    points: _F64,
    weights: _F64 | None,
    wscale: float,
    blocks: _I64,
    batch: int,
    norm: float,
    c: _F64,
    s: float,
    gamma0: float,
    alpha: float,
    state: _F64,
) -> None:
    """Run averaged SGD over the row blocks, updating ``state [t, m, mbar]`` in place."""

def sgd_f32(
    points: _F32,
    weights: _F64 | None,
    wscale: float,
    blocks: _I64,
    batch: int,
    norm: float,
    c: _F64,
    s: float,
    gamma0: float,
    alpha: float,
    state: _F64,
) -> None:
    """Run averaged SGD for float32 points (as :func:`sgd_f64`)."""

def roofline_read_f64(points: _F64, threads: int) -> float:
    """Benchmark-only: sum of every coordinate (one plain read)."""

def roofline_read_f32(points: _F32, threads: int) -> float:
    """Benchmark-only: sum of every coordinate (one plain read)."""

def roofline_arith(block: _F64, y: _F64, repeats: int, threads: int) -> float:
    """Benchmark-only: repeated sweeps of distance, sqrt and division over a cached block."""

def robust_anchor(sample: _F64, weights: _F64) -> tuple[_F64, float]:
    """Return ``(m, rho)``: the rows' weighted lower median, that of their distances to m."""

def build_info() -> _BuildInfo:
    """Compiler, OpenMP and SIMD facts of this build."""

def openmp_max_threads() -> int:
    """Return ``omp_get_max_threads()`` of the calling thread; 1 without OpenMP."""
