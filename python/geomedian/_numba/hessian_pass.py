"""Mirror of ``csrc/geomedian/hessian_pass.hpp``: the Hessian of f over rows read in chunks.

For the Newton steps of the chunked driver (``geomedian._paths.chunked``), which calls it
on each chunk beside the fused pass, so that a Newton iteration reads the data once::

    H = inv I - sum_{d_i > eps} (t_i / d_i^2) r_i r_i^T,   t_i = w_i / d_i  (fused_pass.py)

packed lower triangle (H[j (j + 1) / 2 + k], k <= j), the layout ``newton.py`` factorises,
then inv_sq = sum_{d_i > eps} w_i / d_i^2 for the Newton step's bound
(``geomedian._paths.newton_bound``).
Fixed chunks of rows added in chunk order (``parallel.py``), whatever the thread count;
within a chunk the rows' fixed lanes, added in lane order, and no fused multiply-add:
the C++ kernel's bits.
"""

import math

import numpy as np
from numba import njit, prange

from .._contract import HESSIAN_LANES, NEWTON_MAX_D
from .jit_options import ENTRY, KERNEL
from .parallel import chunk_rows, n_chunks


@njit(**ENTRY)
def hessian_size(d):
    return d * (d + 1) // 2


@njit(**ENTRY)
def hessian_pass_size(d):
    """Return the pass's output size: the triangle, then inv_sq."""
    return hessian_size(d) + 1


@njit(**KERNEL, error_model="numpy")
def hessian_rows(x, d, w, wscale, lo, hi, c, s, z, eps, out):
    """Write the Hessian at z of rows [lo, hi) of the flat points x, then inv_sq, into out.

    Row b + l of each group of ``HESSIAN_LANES`` rows goes to lane l; the lanes' sums are
    added in lane order at the end, as the C++ kernel adds them.
    """
    L = HESSIAN_LANES
    r = np.empty((NEWTON_MAX_D, L))
    C = np.zeros((hessian_size(d), L))
    inv = np.zeros(L)
    inv_sq = np.zeros(L)
    d2 = np.empty(L)
    v = np.empty(L)
    vr = np.empty(L)
    weighted = w.shape[0] > 0
    for b in range(lo, hi, L):
        m = min(L, hi - b)
        for lane in range(L):
            d2[lane] = 0.0
        for j in range(d):
            for lane in range(L):
                i = b + min(lane, m - 1)  # lanes past the last row read it again, weight 0
                r[j, lane] = (x[i * d + j] - c[j]) * s - z[j]
                d2[lane] += r[j, lane] * r[j, lane]
        for lane in range(L):
            i = b + min(lane, m - 1)
            wi = (w[i] * wscale if weighted else 1.0) if lane < m else 0.0
            dist = math.sqrt(d2[lane])
            hit = 1.0 if dist <= eps else 0.0
            t = (1.0 - hit) * wi / max(dist, eps)
            v[lane] = t / max(d2[lane], eps * eps)  # w_i / d_i^3, 0 on the iterate
            inv[lane] += t
            inv_sq[lane] += v[lane] * dist  # w_i / d_i^2
        for j in range(d):
            for lane in range(L):
                vr[lane] = v[lane] * r[j, lane]
            for k in range(j + 1):
                for lane in range(L):
                    C[j * (j + 1) // 2 + k, lane] += vr[lane] * r[k, lane]
    inv_all = inv[0]
    inv_sq_all = inv_sq[0]
    for lane in range(1, L):
        inv_all += inv[lane]
        inv_sq_all += inv_sq[lane]
    for j in range(d):
        for k in range(j + 1):
            q = j * (j + 1) // 2 + k
            acc = C[q, 0]
            for lane in range(1, L):
                acc += C[q, lane]
            out[q] = (inv_all if j == k else 0.0) - acc
    out[hessian_size(d)] = inv_sq_all


@njit(**ENTRY)
def serial_hessian(x, w, wscale, c, s, z, eps, out, partial):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    m = hessian_pass_size(d)
    for k in range(n_chunks(n, d)):
        hessian_rows(x1, d, w, wscale, k * step, min(n, (k + 1) * step), c, s, z, eps, partial[k])
    for q in range(m):  # element by element, as parallel.parallel_moments says why
        out[q] = partial[0, q]
    for k in range(1, n_chunks(n, d)):
        for q in range(m):
            out[q] += partial[k, q]


@njit(**ENTRY, parallel=True)
def parallel_hessian(x, w, wscale, c, s, z, eps, out, partial):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    m = hessian_pass_size(d)
    nc = n_chunks(n, d)
    for k in prange(nc):
        hessian_rows(x1, d, w, wscale, k * step, min(n, (k + 1) * step), c, s, z, eps, partial[k])
    for q in range(m):  # element by element, as parallel.parallel_moments says why
        out[q] = partial[0, q]
    for k in range(1, nc):
        for q in range(m):
            out[q] += partial[k, q]
