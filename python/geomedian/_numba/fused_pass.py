"""Mirror of ``csrc/geomedian/fused_pass.hpp``: the iteration pass and the moments pass.

Sums of one pass at the iterate z (scaled frame, r_i = (x_i - c) s - z, d_i = ||r_i||)::

    f        = sum_i w_i d_i
    inv      = sum_{d_i > eps} w_i / d_i
    eta      = sum_{d_i <= eps} w_i
    f_coinc  = sum_{d_i <= eps} w_i d_i
    max_term = max_{d_i > eps} w_i / d_i
    R        = sum_{d_i > eps} w_i r_i / d_i
    M        = sum_i w_i r_i

Moments: W = sum w_i, count of non-finite coordinates, max |x_ij - x_0j| / 2 and
sum_i w_i (x_i - x_0) / 2. An empty weight row means unit weights.
"""

import math

import numpy as np
from numba import njit

SLOT_F, SLOT_INV, SLOT_ETA, SLOT_F_COINC, SLOT_MAX_TERM, SLOT_HEAD = 0, 1, 2, 3, 4, 5
MOMENT_WEIGHT, MOMENT_NONFINITE, MOMENT_HALF_SPREAD, MOMENT_HEAD = 0, 1, 2, 3

# Reassociation lets LLVM vectorise the reductions; no finite-math flags, which would
# break the NaN checks and the coincidence selects (same reasoning as -fno-math-errno only).
HOT_LOOP_MATH = {"reassoc", "contract"}

# Most rows in a block of the d > 4 pass (C++: block_rows).
BLOCK_ROWS = 128


@njit(cache=True, nogil=True)
def sums_size(d):
    return SLOT_HEAD + 2 * d


@njit(cache=True, nogil=True)
def moments_size(d):
    return MOMENT_HEAD + d


@njit(cache=True, nogil=True, fastmath=HOT_LOOP_MATH, inline="always")
def row_terms(d2, wi, eps):
    """Return (d_i, w_i / d_i or 0 on the iterate, w_i on the iterate or 0)."""
    dist = math.sqrt(d2)
    on = 1.0 if dist <= eps else 0.0
    # Arithmetic instead of branches, and never a division by zero.
    return dist, (1.0 - on) * wi / max(dist, eps), on * wi


@njit(cache=True, nogil=True)
def block_rows_for(d):
    """Rows per block for d > 4: an 8 KiB buffer of centred rows (C++: block_rows_for)."""
    return max(1, min(BLOCK_ROWS, 1024 // d))


@njit(cache=True, nogil=True, fastmath=HOT_LOOP_MATH, inline="always")
def row_center(x, i, c, s, z, rb):
    """Write r = (x_i - c) s - z into rb and return its squared length."""
    a = 0.0
    for j in range(x.shape[1]):
        rb[j] = (x[i, j] - c[j]) * s - z[j]
        a += rb[j] * rb[j]
    return a


@njit(cache=True, nogil=True, fastmath=HOT_LOOP_MATH, inline="always")
def block_terms(d2, wb, m, eps, t, f, inv, eta, fc, mt):
    """Per-row terms of a block into t; return the running sums plus the block's.

    C++ may take 1/sqrt from the hardware estimate refined to full precision; Numba has no
    such intrinsic and always uses the exact sqrt and division.
    """
    bf = 0.0
    binv = 0.0
    beta = 0.0
    bfc = 0.0
    for k in range(m):
        dist, tk, on = row_terms(d2[k], wb[k], eps)
        t[k] = tk
        bf += wb[k] * dist
        binv += tk
        beta += on
        bfc += on * dist
        mt = max(tk, mt)
    return f + bf, inv + binv, eta + beta, fc + bfc, mt


@njit(cache=True, nogil=True, fastmath=HOT_LOOP_MATH, inline="always")
def row_accumulate(rb, t, wi, out, r_at, m_at):
    """R += t r and M += w r for one buffered row, in place in out."""
    for j in range(rb.shape[0]):
        out[r_at + j] += t * rb[j]
        out[m_at + j] += wi * rb[j]


@njit(cache=True, nogil=True, fastmath=HOT_LOOP_MATH)
def fused_pass(x, w, wscale, lo, hi, c, s, z, eps, out):
    d = x.shape[1]
    weighted = w.shape[0] > 0
    f = 0.0
    inv = 0.0
    eta = 0.0
    fc = 0.0
    mt = 0.0
    if d <= 4:
        # Small d: named scalar accumulators, as in the C++ row-vectorised shape (2x here).
        R0 = R1 = R2 = R3 = M0 = M1 = M2 = M3 = 0.0
        c0, z0 = c[0], z[0]
        c1, z1 = (c[1], z[1]) if d > 1 else (0.0, 0.0)
        c2, z2 = (c[2], z[2]) if d > 2 else (0.0, 0.0)
        c3, z3 = (c[3], z[3]) if d > 3 else (0.0, 0.0)
        for i in range(lo, hi):
            r0 = (x[i, 0] - c0) * s - z0
            r1 = (x[i, 1] - c1) * s - z1 if d > 1 else 0.0
            r2 = (x[i, 2] - c2) * s - z2 if d > 2 else 0.0
            r3 = (x[i, 3] - c3) * s - z3 if d > 3 else 0.0
            wi = w[i] * wscale if weighted else 1.0
            dist, t, on = row_terms(r0 * r0 + r1 * r1 + r2 * r2 + r3 * r3, wi, eps)
            f += wi * dist
            inv += t
            eta += on
            fc += on * dist
            mt = max(t, mt)
            R0 += t * r0
            M0 += wi * r0
            R1 += t * r1
            M1 += wi * r1
            R2 += t * r2
            M2 += wi * r2
            R3 += t * r3
            M3 += wi * r3
        R = (R0, R1, R2, R3)
        M = (M0, M1, M2, M3)
        for j in range(d):
            out[SLOT_HEAD + j] = R[j]
            out[SLOT_HEAD + d + j] = M[j]
    else:
        # Blocks of rows, as in C++: centre each row once into a buffer (and its squared
        # length), the per-row terms across the block, then R and M from the buffer.
        for j in range(2 * d):
            out[SLOT_HEAD + j] = 0.0
        brows = block_rows_for(d)
        rbuf = np.empty((brows, d))
        d2 = np.empty(brows)
        t = np.empty(brows)
        wb = np.ones(brows)
        for b0 in range(lo, hi, brows):
            m = min(brows, hi - b0)
            for k in range(m):
                d2[k] = row_center(x, b0 + k, c, s, z, rbuf[k])
                if weighted:
                    wb[k] = w[b0 + k] * wscale
            f, inv, eta, fc, mt = block_terms(d2, wb, m, eps, t, f, inv, eta, fc, mt)
            for k in range(m):
                row_accumulate(rbuf[k], t[k], wb[k], out, SLOT_HEAD, SLOT_HEAD + d)
    out[SLOT_F] = f
    out[SLOT_INV] = inv
    out[SLOT_ETA] = eta
    out[SLOT_F_COINC] = fc
    out[SLOT_MAX_TERM] = mt


@njit(cache=True, nogil=True)
def moments(x, w, wscale, lo, hi, x0, out):
    d = x.shape[1]
    weighted = w.shape[0] > 0
    W = 0.0
    bad = 0.0
    spread = 0.0
    for j in range(d):
        out[MOMENT_HEAD + j] = 0.0
    for i in range(lo, hi):
        wi = w[i] * wscale if weighted else 1.0
        W += wi
        for j in range(d):
            v = x[i, j]
            if not math.isfinite(v):
                bad += 1.0
            h = 0.5 * v - 0.5 * x0[j]
            a = abs(h)
            spread = a if a > spread else spread
            out[MOMENT_HEAD + j] += wi * h
    out[MOMENT_WEIGHT] = W
    out[MOMENT_NONFINITE] = bad
    out[MOMENT_HALF_SPREAD] = spread


@njit(cache=True, nogil=True)
def nearest_row(x, w, lo, hi, c, s, z):
    """Return (index, squared scaled distance) of the weighted row of [lo, hi) nearest to z."""
    d = x.shape[1]
    best_i = lo
    best_d2 = math.inf
    for i in range(lo, hi):
        if w.shape[0] > 0 and w[i] == 0:
            continue  # a weightless point is never the optimum
        d2 = 0.0
        for j in range(d):
            r = (x[i, j] - c[j]) * s - z[j]
            d2 += r * r
        if d2 < best_d2:
            best_d2 = d2
            best_i = i
    return best_i, best_d2
