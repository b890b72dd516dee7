"""The Numba backend's entry points, with the compiled core's names and signatures.

Like ``csrc/bindings.cpp`` this file only converts: ``None`` becomes an empty array (Numba
kernels take no optional arguments), outputs are allocated, and the thread count is set
for the duration of the call. It checks dtypes as the core's ``noconvert()`` does.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.typed import List

from .._contract import NEWTON_MAX_D, SMALL_PROBLEM_SIZE
from .._contract import STATUS_INTERRUPTED as INTERRUPTED
from .._stack import BLOCK_VALUES, convert, readable
from . import gram_pass as gram
from . import solver
from .fused_pass import sums_size
from .hessian_pass import hessian_pass_size, parallel_hessian, serial_hessian
from .interruptible import new_stop_flag, run_interruptible
from .kernel_cache import cache_dir, warm_kernels
from .lp_pass import lp_sums_size, run_lp_pass
from .parallel import n_chunks, parallel_sums, pass_scratch_size, serial_sums
from .robust_frame import sample_rows_anchor
from .sgd import sgd_run
from .thread_blocks import blocks_over_threads

__all__ = [
    "build_info",
    "evaluate_f32",
    "evaluate_f64",
    "fused_pass_f32",
    "fused_pass_f64",
    "gram_certificate_pass_f32",
    "gram_certificate_pass_f64",
    "gram_median_pass_f32",
    "gram_median_pass_f64",
    "gram_pass_f32",
    "gram_pass_f64",
    "hessian_pass_f32",
    "hessian_pass_f64",
    "lp_pass_f32",
    "lp_pass_f64",
    "median_f32",
    "median_f64",
    "robust_anchor",
    "sgd_f32",
    "sgd_f64",
    "small_problem_size",
    "solve_f32",
    "solve_f64",
    "solve_stack_f32",
    "solve_stack_f64",
]


# Problems with at most this many coordinates (n * d) take the small-problem pass, the
# only one that can omit NaN rows in the kernel (as _core.small_problem_size).
small_problem_size = SMALL_PROBLEM_SIZE

# A call reading at most this many coordinates in all (P n d max_iter: every iteration of
# every problem, at most a few passes each) ends within a fraction of a second, so it runs
# on the calling thread: starting the interruptible worker thread costs more than such a
# solve (a 20 x 3 problem takes a few microseconds).
DIRECT_WORK = 1 << 24


class _threads:
    """Set Numba's thread count for one call (thread-local in Numba, restored on exit)."""

    def __init__(self, threads: int):
        self.threads = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))

    def __enter__(self):
        self.saved = numba.get_num_threads()
        numba.set_num_threads(self.threads)

    def __exit__(self, *exc):
        numba.set_num_threads(self.saved)


def _check(points: np.ndarray, dtype: type, ndim: int) -> np.ndarray:
    """Check points as the core's ``noconvert()`` does; return them read-only (_read_only)."""
    if not isinstance(points, np.ndarray) or points.dtype != dtype or points.ndim != ndim:
        raise TypeError(f"points must be a C-contiguous {ndim}-D {np.dtype(dtype)} array")
    if not points.flags.c_contiguous:
        raise TypeError("points must be C-contiguous")
    return _read_only(points)


def _read_only(a):
    """Return a read-only view of the array a (None stays None): no copy.

    Numba compiles a kernel anew for each writability of its array arguments, and arrays
    come read-only from memory maps, ``np.load(mmap_mode="r")`` and other libraries. The
    kernels only read their inputs, so every input is passed read-only: one compilation
    serves both kinds, and a kernel that tried to write to a caller's array would not
    compile.
    """
    if a is None or not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v


def _frozen(a):
    """Return the array a, made read-only in place: for the arrays made here, no view."""
    a.flags.writeable = False
    return a


# The stand-ins for no weights (unit weights), read-only and shared: of a batch, of rows.
NO_WEIGHTS, UNIT_SCALE = _frozen(np.empty((1, 0))), _frozen(np.ones(1))
NO_ROW_WEIGHTS = _frozen(np.empty(0))


def _solve(points, weights, wscale, init, method, tol, max_iter, threads, omit_nan, mads, dtype):
    points = _check(points, dtype, 3)
    P, n, d = points.shape
    if weights is None:
        weights, wscale = NO_WEIGHTS, UNIT_SCALE
    weights, wscale = _read_only(weights), _read_only(wscale)
    # Without a start point the kernel reads no row of init; one zero row keeps every
    # index in bounds all the same.
    init_ = _frozen(np.zeros((1, d))) if init is None else _read_only(init)
    median = np.empty((P, d))
    objective, lower_bound, gap = np.empty(P), np.empty(P), np.empty(P)
    n_iter, n_passes = np.empty(P, dtype=np.int64), np.empty(P, dtype=np.int64)
    status = np.empty(P, dtype=np.int32)
    scale = np.empty(P)
    # None where not asked for: only the calls that ask compile the deviations.
    mads_out = None
    if mads:
        mads_out = (np.empty(P), np.empty(P), np.empty(P), np.empty(P, dtype=np.int64))
    small = n * d <= SMALL_PROBLEM_SIZE
    within = not small and (P == 1 or threads == 1 or n * d >= (1 << 16))
    # A batch of one work item stays on the calling thread: starting threads costs more.
    one_item = not within and P <= solver.BATCH_BLOCK
    stop = new_stop_flag()
    # Each entry point compiles its own pass only (solver.py): the threaded passes (C++
    # OpenMPPass) only for a large problem solved over threads, the small pass only for
    # small problems, packed Newton's lanes only for a batch that takes them.
    if within:
        kernel = solver.solve_batch_within_parallel if threads > 1 else solver.solve_batch_within
    elif not small:
        kernel = solver.solve_batch_serial
    elif solver.packs(n, d, method, init is not None):
        kernel = solver.solve_batch_small_packed
    else:
        kernel = solver.solve_batch_small
    args = (
        points, weights, wscale, init_, init is not None, method, tol, max_iter,
        bool(omit_nan), stop, median, objective, lower_bound, gap, n_iter, n_passes, status,
        scale, mads_out,
    )  # fmt: skip

    def run() -> None:
        if within:
            with _threads(threads):
                kernel(*args)
        elif threads == 1 or one_item:
            kernel(0, solver.n_blocks(P), *args)
        else:
            blocks_over_threads(kernel, solver.n_blocks(P), _threads(threads).threads, args)

    if P * n * d * max_iter <= DIRECT_WORK:
        run()  # bounded work (well under a second): no worker thread, the hot loop's case
    else:
        run_interruptible(run, stop)
    if mads:
        return (median, objective, lower_bound, gap, n_iter, n_passes, status, scale,
                *mads_out)  # fmt: skip
    return median, objective, lower_bound, gap, n_iter, n_passes, status, scale


def solve_f64(
    points, weights, wscale, init, method, tol, max_iter, threads, omit_nan=False, mads=False
):
    """Mirror of ``_core.solve_f64``.

    Returns (median, objective, lower_bound, gap, n_iter, n_passes, status, scale), and
    (emad, smad, bcmad, count) after them when ``mads``.
    """
    return _solve(
        points, weights, wscale, init, method, tol, max_iter, threads, omit_nan, mads, np.float64
    )


def solve_f32(
    points, weights, wscale, init, method, tol, max_iter, threads, omit_nan=False, mads=False
):
    """Mirror of ``_core.solve_f32``.

    Returns (median, objective, lower_bound, gap, n_iter, n_passes, status, scale), and
    (emad, smad, bcmad, count) after them when ``mads``.
    """
    return _solve(
        points, weights, wscale, init, method, tol, max_iter, threads, omit_nan, mads, np.float32
    )


def _solve_stack(stack, weights, wscale, init, method, tol, max_iter, threads, omit_nan, mads,
                 nodata, scale, offset, dtype):  # fmt: skip
    # The compiled core reads each problem as its threads solve it; here a block of
    # problems at a time is converted to the same values (_stack.convert) and solved.
    if not isinstance(stack, np.ndarray) or stack.ndim != 3:
        raise ValueError("stack must be a (P, n, d) array")
    if not readable(stack):
        raise TypeError(
            "stack must be a native int8/16/32, uint8/16/32, float32 or float64 array"
        )
    P, n, d = stack.shape
    step = max(1, BLOCK_VALUES // (n * d))
    out = None
    for k0 in range(0, P, step):
        k1 = min(P, k0 + step)
        x = convert(stack[k0:k1], dtype, nodata, scale, offset)
        rows = weights is not None and weights.shape[0] > 1
        part = _solve(
            x, weights[k0:k1] if rows else weights, wscale[k0:k1] if rows else wscale,
            None if init is None else init[k0:k1], method, tol, max_iter, threads, omit_nan,
            mads, dtype,
        )  # fmt: skip
        if out is None:
            out = tuple(np.empty((P, *field.shape[1:]), dtype=field.dtype) for field in part)
        for field, value in zip(out, part):
            field[k0:k1] = value
        if (part[6] == INTERRUPTED).any():  # Ctrl-C: the rest is not solved
            out[0][k1:] = np.nan
            out[6][k1:] = INTERRUPTED
            break
    return out


def solve_stack_f64(stack, weights, wscale, init, method, tol, max_iter, threads, omit_nan,
                    mads, nodata, scale, offset):  # fmt: skip
    """Mirror of ``_core.solve_stack_f64``: ``solve_f64`` on the stack's problems as read."""
    return _solve_stack(stack, weights, wscale, init, method, tol, max_iter, threads, omit_nan,
                        mads, nodata, scale, offset, np.float64)  # fmt: skip


def solve_stack_f32(stack, weights, wscale, init, method, tol, max_iter, threads, omit_nan,
                    mads, nodata, scale, offset):  # fmt: skip
    """Mirror of ``_core.solve_stack_f32``: ``solve_f32`` on the stack's problems as read."""
    return _solve_stack(stack, weights, wscale, init, method, tol, max_iter, threads, omit_nan,
                        mads, nodata, scale, offset, np.float32)  # fmt: skip


def _median(points, method, tol, max_iter, dtype):
    points = _check(points, dtype, 2)
    if points.shape[0] < 1 or points.shape[1] < 1:
        raise ValueError("points must have n, d >= 1")
    out = _solve(points[None], None, None, None, method, tol, max_iter, 1, False, False, dtype)
    return out[0][0], int(out[6][0])


def median_f64(points, method, tol, max_iter):
    """Mirror of ``_core.median_f64``: one (n, d) problem on the calling thread."""
    return _median(points, method, tol, max_iter, np.float64)


def median_f32(points, method, tol, max_iter):
    """Mirror of ``_core.median_f32``: one (n, d) problem on the calling thread."""
    return _median(points, method, tol, max_iter, np.float32)


def _evaluate(points, weights, wscale, y, threads, dtype):
    points = _check(points, dtype, 2)
    n, d = points.shape
    grad = np.empty(d)
    # The pass (C++: SerialPass or OpenMPPass): only the one a call takes compiles.
    if threads > 1:
        pa = solver.OpenMPPass(np.empty((n_chunks(n, d), pass_scratch_size(d))))
    else:
        pa = solver.SerialPass(np.empty(pass_scratch_size(d)))
    with _threads(threads):
        ok, f, lb = solver.evaluate_at(
            points,
            NO_ROW_WEIGHTS if weights is None else _read_only(weights),
            wscale,
            _read_only(y),
            pa,
            np.empty(solver.workspace_size(d)),
            grad,
        )
    return (f, grad, lb) if ok else None


def evaluate_f64(points, weights, wscale, y, threads):
    """Mirror of ``_core.evaluate_f64``."""
    return _evaluate(points, weights, wscale, y, threads, np.float64)


def evaluate_f32(points, weights, wscale, y, threads):
    """Mirror of ``_core.evaluate_f32``."""
    return _evaluate(points, weights, wscale, y, threads, np.float32)


def _offset_in_frame(z, d):
    """Return the iterate's offset z in the frame (C++ offset_in_frame), zeros for None."""
    if z is None:
        return np.zeros(d)
    z = _read_only(z)
    if z.ndim != 1 or z.shape[0] != d:
        raise ValueError("z must be a (d,) array")
    return z


def _fused_pass(points, weights, wscale, y, s, threads, eps, near, z, dtype):
    points = _check(points, dtype, 2)
    n, d = points.shape
    out = np.empty(sums_size(d))
    w = NO_ROW_WEIGHTS if weights is None else _read_only(weights)
    y = _read_only(y)
    z = _offset_in_frame(z, d)
    eps, near = float(eps), float(near)
    # Serial or over the threads (C++ SerialPass, OpenMPPass): only the one taken compiles.
    with _threads(threads):
        if threads > 1:
            partial = np.empty((n_chunks(n, d), pass_scratch_size(d)))
            parallel_sums(points, w, wscale, y, s, z, eps, near, out, partial)
        else:
            scratch = np.empty(pass_scratch_size(d))
            serial_sums(points, w, wscale, y, s, z, eps, near, out, scratch)
    return out


def fused_pass_f64(
    points, weights, wscale, y, s, threads, eps=solver.COINCIDENCE_RADIUS, near=np.inf, z=None
):
    """Mirror of ``_core.fused_pass_f64``.

    Returns the sums [f, inv, eta, f_coinc, max_term, w_far, f_near, R (d), M (d)] of one
    pass at y + z / s, the rows scaled by s in a frame centred on y (z None: at y), with
    coincidence radius eps and near radius near (frame units).
    """
    return _fused_pass(points, weights, wscale, y, s, threads, eps, near, z, np.float64)


def fused_pass_f32(
    points, weights, wscale, y, s, threads, eps=solver.COINCIDENCE_RADIUS, near=np.inf, z=None
):
    """Mirror of ``_core.fused_pass_f32`` (see fused_pass_f64)."""
    return _fused_pass(points, weights, wscale, y, s, threads, eps, near, z, np.float32)


def _hessian_pass(points, weights, wscale, y, s, threads, eps, z, dtype):
    points = _check(points, dtype, 2)
    n, d = points.shape
    if d > NEWTON_MAX_D:
        raise ValueError("hessian_pass takes d <= 16")
    out = np.empty(hessian_pass_size(d))
    w = NO_ROW_WEIGHTS if weights is None else _read_only(weights)
    y = _read_only(y)
    z = _offset_in_frame(z, d)
    partial = np.empty((n_chunks(n, d), hessian_pass_size(d)))
    with _threads(threads):
        hessian = parallel_hessian if threads > 1 else serial_hessian  # only it compiles
        hessian(points, w, wscale, y, s, z, float(eps), out, partial)
    return out


def hessian_pass_f64(points, weights, wscale, y, s, threads, eps=solver.COINCIDENCE_RADIUS, z=None):
    """Mirror of ``_core.hessian_pass_f64``.

    Returns the Hessian of f at y + z / s, packed lower triangle H[j (j + 1) / 2 + k]
    (k <= j), then inv_sq = sum w_i / d_i^2, of the rows scaled by s in a frame centred on
    y (z None: at y; coincidence radius eps); d <= 16.
    """
    return _hessian_pass(points, weights, wscale, y, s, threads, eps, z, np.float64)


def hessian_pass_f32(points, weights, wscale, y, s, threads, eps=solver.COINCIDENCE_RADIUS, z=None):
    """Mirror of ``_core.hessian_pass_f32`` (see hessian_pass_f64)."""
    return _hessian_pass(points, weights, wscale, y, s, threads, eps, z, np.float32)


def _lp_pass(points, weights, rows, y, shift, near, p, threads, dtype):
    points = _check(points, dtype, 3)
    P, _, d = points.shape
    if not (p > 1.0 and np.isfinite(p)):
        raise ValueError("lp_pass takes 1 < p < inf")
    rows = np.asarray(rows)
    if rows.ndim != 1 or rows.dtype != np.int64:
        raise TypeError("rows must be a 1-D int64 array")
    if rows.size and (rows.min() < 0 or rows.max() >= P):
        raise ValueError("rows must index the problems")
    m = rows.shape[0]
    if y.shape != (m, d) or (shift is not None and shift.shape != (m, d)):
        raise ValueError("y and shift must be (m, d) arrays, m = len(rows)")
    if near is not None and near.shape != (m,):
        raise ValueError("near must be an (m,) array")
    w = NO_WEIGHTS if weights is None else _read_only(weights)
    out = np.empty((m, lp_sums_size(d)))
    if m:
        with _threads(threads):
            sh = np.empty((m, 0)) if shift is None else shift
            nr = np.full(m, np.inf) if near is None else near
            run_lp_pass(threads > 1, points, w, rows, y, sh, nr, float(p), out)
    return out


def lp_pass_f64(points, weights, rows, y, shift, near, p, threads):
    """Mirror of ``_core.lp_pass_f64``.

    Returns the Lp pass sums ``(m, size)`` of problems ``rows`` of ``points`` ``(P, n, d)``
    at ``y[k]`` (duals at ``y[k] + shift[k]`` if given; near radius ``near[k]``, or inf),
    ``1 < p < inf``.
    """
    return _lp_pass(points, weights, rows, y, shift, near, p, threads, np.float64)


def lp_pass_f32(points, weights, rows, y, shift, near, p, threads):
    """Mirror of ``_core.lp_pass_f32`` (see lp_pass_f64)."""
    return _lp_pass(points, weights, rows, y, shift, near, p, threads, np.float32)


def _sgd(points, weights, wscale, blocks, batch, norm, c, s, gamma0, alpha, state, dtype):
    points = _check(points, dtype, 2)
    n, d = points.shape
    if state.dtype != np.float64 or state.shape != (1 + 2 * d,):
        raise ValueError("state must be a (1 + 2 d,) array")
    if batch < 1 or blocks.ndim != 1:
        raise ValueError("batch must be >= 1, blocks 1-D")
    if blocks.size and (blocks.min() < 0 or blocks.max() * batch >= n):
        raise ValueError("block index out of range")
    sgd_run(
        points,
        NO_ROW_WEIGHTS if weights is None else _read_only(weights),
        wscale,
        weights is not None,
        blocks,
        batch,
        norm,
        c,
        s,
        gamma0,
        alpha,
        solver.COINCIDENCE_RADIUS,
        state,
    )


def sgd_f64(points, weights, wscale, blocks, batch, norm, c, s, gamma0, alpha, state):
    """Mirror of ``_core.sgd_f64``."""
    _sgd(points, weights, wscale, blocks, batch, norm, c, s, gamma0, alpha, state, np.float64)


def sgd_f32(points, weights, wscale, blocks, batch, norm, c, s, gamma0, alpha, state):
    """Mirror of ``_core.sgd_f32``."""
    _sgd(points, weights, wscale, blocks, batch, norm, c, s, gamma0, alpha, state, np.float32)


def _gram_rows(rows, r: int, vertex: int, dtype) -> List:
    """Check the rows as the core's ``GramRows`` does; return them as a typed List.

    Numba types a list by its first element, so a strided row is copied (the core reads it
    in place).
    """
    if not isinstance(rows, list) or not rows:
        raise TypeError("rows must be a non-empty list of 1-D arrays")
    name = np.dtype(dtype).name
    for row in rows:
        if not isinstance(row, np.ndarray) or row.dtype != dtype:
            raise TypeError(f"every row must be a {name} array")
        if row.ndim != 1:
            raise ValueError("every row must be 1-D")
        if row.shape != rows[0].shape:
            raise ValueError("every row must have the same length and element stride")
    if rows[0].shape[0] < 1:
        raise ValueError("rows must have at least one coordinate")
    if not 0 <= r < len(rows) or not -1 <= vertex < len(rows):
        raise ValueError("r or vertex is not a row index")
    return List([np.ascontiguousarray(row) for row in rows])


def _gram_pass(rows, r, s, threads, dtype):
    typed = _gram_rows(rows, r, -1, dtype)
    G = np.empty((len(rows), len(rows)))
    with _threads(threads):
        gram.gram_pass(typed, r, float(s), G)
    return G


def gram_pass_f64(rows, r, s, threads):
    """Mirror of ``_core.gram_pass_f64``: G = X_c X_c^T for X_c = (X - x_r) s."""
    return _gram_pass(rows, r, s, threads, np.float64)


def gram_pass_f32(rows, r, s, threads):
    """Mirror of ``_core.gram_pass_f32``."""
    return _gram_pass(rows, r, s, threads, np.float32)


def _gram_median_pass(rows, r, s, a, vertex, threads, dtype):
    typed = _gram_rows(rows, r, vertex, dtype)
    y = np.empty(rows[0].shape[0], dtype=dtype)
    d2 = np.empty(len(rows))
    with _threads(threads):
        gram.gram_median_pass(typed, r, float(s), a, vertex, dtype == np.float32, y, d2)
    return y, d2


def gram_median_pass_f64(rows, r, s, a, vertex, threads):
    """Mirror of ``_core.gram_median_pass_f64``: (y, d2)."""
    return _gram_median_pass(rows, r, s, a, vertex, threads, np.float64)


def gram_median_pass_f32(rows, r, s, a, vertex, threads):
    """Mirror of ``_core.gram_median_pass_f32``."""
    return _gram_median_pass(rows, r, s, a, vertex, threads, np.float32)


def _gram_certificate_pass(rows, r, s, a, vertex, y, t, ws, threads, dtype):
    typed = _gram_rows(rows, r, vertex, dtype)
    if not isinstance(y, np.ndarray) or y.dtype != dtype or y.shape != rows[0].shape:
        raise ValueError("y must be a (d,) array of the rows' dtype")
    out = np.empty(2)
    with _threads(threads):
        gram.gram_certificate_pass(
            typed, r, float(s), a, vertex, dtype == np.float32, y, t, ws, out
        )
    return out[0], out[1]


def gram_certificate_pass_f64(rows, r, s, a, vertex, y, t, ws, threads):
    """Mirror of ``_core.gram_certificate_pass_f64``: (||R||^2 s^2, R.M s)."""
    return _gram_certificate_pass(rows, r, s, a, vertex, y, t, ws, threads, np.float64)


def gram_certificate_pass_f32(rows, r, s, a, vertex, y, t, ws, threads):
    """Mirror of ``_core.gram_certificate_pass_f32``."""
    return _gram_certificate_pass(rows, r, s, a, vertex, y, t, ws, threads, np.float32)


def robust_anchor(sample, weights):
    """Mirror of ``_core.robust_anchor``: (m, rho) of the sample rows with their weights."""
    for name, a, ndim in (("sample", sample, 2), ("weights", weights, 1)):
        if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.ndim == ndim
                and a.flags.c_contiguous):  # fmt: skip
            raise TypeError(f"{name} must be a C-contiguous {ndim}-D float64 array")
    S, d = sample.shape
    if S < 1 or d < 1:
        raise ValueError("sample must be a non-empty (S, d) array")
    if weights.shape[0] != S:
        raise ValueError("weights must be (S,)")
    m = np.empty(d)
    rho = sample_rows_anchor(sample, weights, m)
    return m, float(rho)


def build_info() -> dict:
    """Numba version, thread count, where compiled kernels are cached and which are."""
    warm = warm_kernels()
    cached = [name for name, count in warm.items() if count]
    return {
        "numba": numba.__version__,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": numba.config.THREADING_LAYER,
        "cache_dir": str(cache_dir() or "(none writable: kernels compile in every process)"),
        "cache_warm": (
            "yes, every entry kernel"
            if len(cached) == len(warm)
            else f"{len(cached)} of {len(warm)} entry kernels cached"
            + ("" if cached else " (run `geomedian warmup` to compile them ahead of time)")
        ),
        "cached_kernels": ", ".join(f"{name} ({count})" for name, count in warm.items() if count)
        or "none",
    }
