"""Mirror of ``csrc/geomedian/parallel.hpp``: fixed chunks, chunk sums added in chunk order.

The chunk sums are added with compensation (``add_compensated``), so the error bound of
``certificate.hpp`` holds whatever the number of chunks.

``serial_*`` run a problem's chunks on the calling thread (one problem per thread in a
batch; C++ SerialPass); ``parallel_*`` spread them over Numba's threads (``prange``; C++
OpenMPPass). Both add the same chunk sums in the same order, so results do not depend on
the thread count. The callers pick one by the pass's type (``solver.py``) or the thread
count (``bindings.py``), never by a flag inside a kernel: Numba compiles every branch of a
function, and the parallel loops are the costliest code to compile.

The row kernels take the points flattened (see ``fused_pass``): each entry point takes
that view once per pass, not per chunk. ``reshape`` of a C-contiguous array is a view and
never copies; every caller passes one (the bindings check C-contiguity, the batch driver
passes x[k] of a C-contiguous (P, n, d) array), and Numba refuses to reshape any other.
"""

from numba import njit, prange

from .._contract import CHUNK_COORDINATES, CHUNK_MIN_ROWS
from .fused_pass import (
    MOMENT_HALF_SPREAD,
    SLOT_MAX_TERM,
    add_compensated,
    compensated_total,
    fused_pass,
    moments,
    moments_size,
    nearest_row,
    sums_size,
)
from .jit_options import ENTRY, KERNEL


@njit(**KERNEL)
def chunk_rows(d):
    return max(CHUNK_MIN_ROWS, CHUNK_COORDINATES // d)


@njit(**ENTRY)
def n_chunks(n, d):
    return (n + chunk_rows(d) - 1) // chunk_rows(d)


@njit(**ENTRY)
def pass_scratch_size(d):
    """One chunk's sums, then the error terms of accumulate_sums."""
    return max(sums_size(d), moments_size(d)) + sums_size(d)


@njit(**KERNEL)
def accumulate_sums(acc, err, part, d):
    """Add chunk sums part into acc with compensation, the errors collected in err."""
    for k in range(sums_size(d)):
        if k == SLOT_MAX_TERM:
            acc[k] = max(acc[k], part[k])
        else:
            acc[k], err[k] = add_compensated(acc[k], err[k], part[k])


@njit(**KERNEL)
def finish_sums(acc, err, d):
    for k in range(sums_size(d)):
        if k != SLOT_MAX_TERM:
            acc[k] = compensated_total(acc[k], err[k])


@njit(**KERNEL)
def accumulate_moments(acc, part, d):
    for k in range(moments_size(d)):
        if k == MOMENT_HALF_SPREAD:
            acc[k] = max(acc[k], part[k])
        else:
            acc[k] += part[k]


@njit(**KERNEL)
def serial_moments(x, w, wscale, x0, out, scratch):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    for lo in range(0, n, step):
        dst = out if lo == 0 else scratch
        moments(x1, d, w, wscale, lo, min(n, lo + step), x0, dst)
        if lo != 0:
            accumulate_moments(out, dst, d)


@njit(**ENTRY)
def serial_sums(x, w, wscale, c, s, z, eps, near, out, scratch):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    err = scratch[max(sums_size(d), moments_size(d)) :]
    err[: sums_size(d)] = 0.0
    for lo in range(0, n, step):
        dst = out if lo == 0 else scratch
        fused_pass(x1, d, w, wscale, lo, min(n, lo + step), c, s, z, eps, near, dst)
        if lo != 0:
            accumulate_sums(out, err, dst, d)
    if n > step:
        finish_sums(out, err, d)


@njit(**KERNEL)
def serial_nearest(x, w, c, s, z):
    n, d = x.shape
    return nearest_row(x.reshape(-1), d, w, 0, n, c, s, z)[0]


@njit(**KERNEL, parallel=True)
def parallel_moments(x, w, wscale, x0, out, partial):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    nc = n_chunks(n, d)
    for k in prange(nc):
        moments(x1, d, w, wscale, k * step, min(n, (k + 1) * step), x0, partial[k])
    # Element by element: an array assigned to a slice would compile NumPy's shape-mismatch
    # error, whose message needs Numba's string formatting, for a copy.
    for j in range(moments_size(d)):
        out[j] = partial[0, j]
    for k in range(1, nc):
        accumulate_moments(out, partial[k], d)


@njit(**ENTRY, parallel=True)
def parallel_sums(x, w, wscale, c, s, z, eps, near, out, partial):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    nc = n_chunks(n, d)
    for k in prange(nc):
        fused_pass(
            x1, d, w, wscale, k * step, min(n, (k + 1) * step), c, s, z, eps, near, partial[k]
        )
    for j in range(sums_size(d)):  # as in parallel_moments
        out[j] = partial[0, j]
    err = partial[0, partial.shape[1] - sums_size(d) :]  # chunk 0's error terms: free now
    err[:] = 0.0
    for k in range(1, nc):
        accumulate_sums(out, err, partial[k], d)
    if nc > 1:
        finish_sums(out, err, d)


@njit(**KERNEL, parallel=True)
def parallel_nearest(x, w, c, s, z, best_i, best_d2):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    nc = n_chunks(n, d)
    for k in prange(nc):
        best_i[k], best_d2[k] = nearest_row(x1, d, w, k * step, min(n, (k + 1) * step), c, s, z)
    best = 0
    for k in range(1, nc):
        if best_d2[k] < best_d2[best]:
            best = k
    return best_i[best]
