"""Mirror of ``csrc/geomedian/hessian_pass.hpp``: the Hessian of f over rows read in chunks.

For the Newton steps of the chunked driver (``geomedian._paths.chunked``), which calls it
on each chunk beside the fused pass, so that a Newton iteration reads the data once::

    H = inv I - sum_{d_i > eps} (t_i / d_i^2) r_i r_i^T,   t_i = w_i / d_i  (fused_pass.py)

packed lower triangle (H[j (j + 1) / 2 + k], k <= j), the layout ``newton.py`` factorises.
Fixed chunks of rows added in chunk order (``parallel.py``), whatever the thread count;
plain loops, no reassociation: the C++ kernel's bits.
"""

import math

import numpy as np
from numba import njit, prange

from .._contract import NEWTON_MAX_D
from .jit_options import ENTRY, KERNEL
from .parallel import chunk_rows, n_chunks


@njit(**ENTRY)
def hessian_size(d):
    return d * (d + 1) // 2


@njit(**KERNEL, error_model="numpy")
def hessian_rows(x, d, w, wscale, lo, hi, c, s, z, eps, out):
    """Write the Hessian at z of rows [lo, hi) of the flat points x into out (d <= 16)."""
    r = np.empty(NEWTON_MAX_D)
    C = np.zeros(hessian_size(d))
    weighted = w.shape[0] > 0
    inv = 0.0
    for i in range(lo, hi):
        d2 = 0.0
        for j in range(d):
            r[j] = (x[i * d + j] - c[j]) * s - z[j]
            d2 += r[j] * r[j]
        wi = w[i] * wscale if weighted else 1.0
        dist = math.sqrt(d2)
        hit = 1.0 if dist <= eps else 0.0
        t = (1.0 - hit) * wi / max(dist, eps)
        v = t / max(d2, eps * eps)  # w_i / d_i^3, 0 on the iterate
        inv += t
        for j in range(d):
            for k in range(j + 1):
                C[j * (j + 1) // 2 + k] += v * r[j] * r[k]
    for j in range(d):
        for k in range(j + 1):
            out[j * (j + 1) // 2 + k] = (inv if j == k else 0.0) - C[j * (j + 1) // 2 + k]


@njit(**ENTRY)
def serial_hessian(x, w, wscale, c, s, z, eps, out, partial):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    m = hessian_size(d)
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
    m = hessian_size(d)
    nc = n_chunks(n, d)
    for k in prange(nc):
        hessian_rows(x1, d, w, wscale, k * step, min(n, (k + 1) * step), c, s, z, eps, partial[k])
    for q in range(m):  # element by element, as parallel.parallel_moments says why
        out[q] = partial[0, q]
    for k in range(1, nc):
        for q in range(m):
            out[q] += partial[k, q]
