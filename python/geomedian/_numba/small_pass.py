"""Mirror of ``csrc/geomedian/small_pass.hpp`` and ``csrc/small_pass.cpp``: small problems.

A problem of at most ``SMALL_PROBLEM_SIZE`` coordinates is copied once, transposed, into a
per-thread buffer ``u`` (d x stride): the rows without NaN when NaN is omitted, padded to
whole blocks of ``LANES`` rows that repeat the first present row with weight 0. After the
frame is known, ``u <- (u - c) s`` in place and ``mu = sum_q w_q u_q``; every pass then
reads ``u`` and ``M = mu - W z``. The start point is the coordinate-wise weighted lower
median ``min {u_qj : sum_{r: u_rj <= u_qj} w_r >= W / 2}`` for ``m <= START_MEDIAN_ROWS``.

The sums the certificate reads (``small_sums``, and ``mu`` for M) are taken over blocks of
``BLOCK_ROWS`` consecutive rows, each block from fresh accumulators, and the blocks are
added with compensation. C++ sums row q into lane q mod LANES of arrays in registers
(LaneSums); as for the pass over rows of d <= 4 (``fused_pass.py``), Numba's LLVM leaves
such lane loops scalar, so here each block is one reduction that LLVM vectorises across
the rows. Either way no accumulator sums more than BLOCK_ROWS rows: the same error bound,
other bits.
"""

import math

from numba import njit

from .._contract import (
    BLOCK_ROWS,
    LANES,
    MOMENT_HALF_SPREAD,
    MOMENT_HEAD,
    MOMENT_NONFINITE,
    MOMENT_WEIGHT,
    SLOT_HEAD,
    START_MEDIAN_ROWS,
)

# Re-exported (redundant aliases): solver.py and schedule.py read them here.
from .._contract import NEWTON_MAX_D as NEWTON_MAX_D
from .._contract import SMALL_PROBLEM_SIZE as SMALL_PROBLEM_SIZE
from .float_bits import as_bits, from_bits
from .fused_pass import (
    HOT_KERNEL,
    N_SCALAR,
    add_block_vector,
    add_compensated,
    add_row_terms,
    add_scalar_sums,
    compensated_total,
    no_terms,
    row_terms,
    store_scalars,
)
from .jit_options import KERNEL

# Rows of the scratch ``lane`` (small_scratch_width columns): small_start's two sums per
# lane; small_sums' block sums, their compensated totals and those totals' errors.
L_A, L_B = 0, 1
L_BLOCK, L_TOTAL, L_ERR = 0, 1, 2
LANE_ROWS = 3


@njit(**KERNEL, inline="always")
def small_scratch_width(d):
    """Columns of the scratch ``lane``: LANES, or small_sums' N_SCALAR + d sums."""
    return max(LANES, N_SCALAR + d)


@njit(**KERNEL, inline="always")
def padded_rows(m):
    return (m + LANES - 1) // LANES * LANES


@njit(**KERNEL)
def row_has_nan(x, i):
    nan = False
    for j in range(x.shape[1]):
        nan |= math.isnan(x[i, j])
    return nan


@njit(**KERNEL)
def small_first_row(x, omit):
    """Index of the reference row x0 (the first present row), -1 if none."""
    for i in range(x.shape[0]):
        if not omit or not row_has_nan(x, i):
            return i
    return -1


@njit(**KERNEL)
def small_copy(x, w, wscale, omit, i0, u, sw, idx):
    """Copy the present rows transposed; return (m, npad, count of inf in omitted rows)."""
    n, d = x.shape
    weighted = w.shape[0] > 0
    inf_in_omitted = 0.0
    m = 0
    for i in range(n):
        if omit and row_has_nan(x, i):
            for j in range(d):
                inf_in_omitted += 1.0 if math.isinf(x[i, j]) else 0.0
            continue
        idx[m] = i
        sw[m] = w[i] * wscale if weighted else 1.0
        for j in range(d):
            u[j, m] = x[i, j]
        m += 1
    npad = padded_rows(m)
    for q in range(m, npad):
        sw[q] = 0.0
        for j in range(d):
            u[j, q] = x[i0, j]
    return m, npad, inf_in_omitted


@njit(**HOT_KERNEL)
def small_moments(u, sw, npad, big, d, out):
    W = 0.0
    for q in range(npad):
        W += sw[q]
    bad = 0.0
    spread = 0  # bits of the half spread (float_bits: |h| >= +0)
    for j in range(d):
        uj = u[j, :npad]
        x0 = uj[0]
        S = 0.0
        for q in range(npad):
            v = uj[q]
            bad += 1.0 if not abs(v) <= big else 0.0
            h = 0.5 * v - 0.5 * x0
            spread = max(as_bits(abs(h)), spread)
            S += sw[q] * h
        out[MOMENT_HEAD + j] = S
    out[MOMENT_WEIGHT] = W
    out[MOMENT_NONFINITE] = bad
    out[MOMENT_HALF_SPREAD] = from_bits(spread)


@njit(**HOT_KERNEL)
def small_load(u, sw, npad, d, c, s, mu):
    for j in range(d):
        cj = c[j]
        total = 0.0
        err = 0.0
        for b0 in range(0, npad, BLOCK_ROWS):
            ub = u[j, b0 : min(npad, b0 + BLOCK_ROWS)]
            wb = sw[b0 : b0 + ub.shape[0]]
            a = 0.0
            for q in range(ub.shape[0]):
                v = (ub[q] - cj) * s
                ub[q] = v
                a += wb[q] * v
            total, err = add_compensated(total, err, a)
        mu[j] = compensated_total(total, err)


@njit(**KERNEL)
def small_reload(x, sidx, m, npad, c, s, u, sw, mu):
    """Copy the present rows again and load them around a new centre c (SmallPass::reload)."""
    d = x.shape[1]
    for q in range(npad):
        i = sidx[q if q < m else 0]
        for j in range(d):
            u[j, q] = x[i, j]
    small_load(u, sw, npad, d, c, s, mu)


@njit(**KERNEL)
def small_start(u, sw, W, m, npad, d, cum, lane, z):
    if m > START_MEDIAN_ROWS:
        for j in range(d):
            z[j] = 0.0
        return
    half = 0.5 * W
    for j in range(d):
        for i in range(0, npad, LANES):
            for k in range(LANES):
                lane[L_A, k] = 0.0
                lane[L_B, k] = 0.0
            r = 0
            while r + 1 < m:
                u0 = u[j, r]
                w0 = sw[r]
                u1 = u[j, r + 1]
                w1 = sw[r + 1]
                for k in range(LANES):
                    lane[L_A, k] += w0 if u0 <= u[j, i + k] else 0.0
                    lane[L_B, k] += w1 if u1 <= u[j, i + k] else 0.0
                r += 2
            if r < m:
                u0 = u[j, r]
                w0 = sw[r]
                for k in range(LANES):
                    lane[L_A, k] += w0 if u0 <= u[j, i + k] else 0.0
            for k in range(LANES):
                cum[i + k] = lane[L_A, k] + lane[L_B, k]
        for k in range(LANES):
            lane[L_A, k] = math.inf
        for i in range(0, npad, LANES):
            for k in range(LANES):
                v = u[j, i + k]
                lane[L_A, k] = v if cum[i + k] >= half and v < lane[L_A, k] else lane[L_A, k]
        lo = lane[L_A, 0]
        for k in range(1, LANES):
            lo = lane[L_A, k] if lane[L_A, k] < lo else lo
        z[j] = lo


@njit(**HOT_KERNEL)
def squared_distances(u, npad, d, z, d2):
    """||u_q - z||^2 of every row into d2 (summed over j in nearest_row's order)."""
    for q in range(npad):
        d2[q] = 0.0
    for j in range(d):
        zj = z[j]
        uj = u[j, :npad]
        for q in range(npad):
            r = uj[q] - zj
            d2[q] += r * r


@njit(**HOT_KERNEL)
def small_sums(u, sw, mu, W, npad, d, z, eps, near, t, lane, out):
    squared_distances(u, npad, d, z, t)
    # A block's sums in fused_pass's order (ScalarSums, then R), their compensated totals.
    nv = N_SCALAR + d
    b = lane[L_BLOCK, :nv]
    total = lane[L_TOTAL, :nv]
    err = lane[L_ERR, :nv]
    for k in range(nv):
        b[k] = total[k] = err[k] = 0.0
    mt = 0  # bits of max_term (float_bits)
    for b0 in range(0, npad, BLOCK_ROWS):
        tb = t[b0 : min(npad, b0 + BLOCK_ROWS)]
        wb = sw[b0 : b0 + tb.shape[0]]
        acc = no_terms(mt)
        for q in range(tb.shape[0]):
            tb[q], acc = add_row_terms(acc, tb[q], wb[q], eps, near)
        mt = add_scalar_sums(b, acc)
        for j in range(d):
            zj = z[j]
            ub = u[j, b0 : b0 + tb.shape[0]]
            a = 0.0
            for q in range(tb.shape[0]):
                a += tb[q] * (ub[q] - zj)
            b[N_SCALAR + j] = a
        add_block_vector(total, err, b)
    store_scalars(out, total, err, mt)
    for j in range(d):
        out[SLOT_HEAD + j] = compensated_total(total[N_SCALAR + j], err[N_SCALAR + j])
        out[SLOT_HEAD + d + j] = mu[j] - W * z[j]


@njit(**HOT_KERNEL)
def small_hessian(u, sw, inv, npad, d, z, eps, v, H):
    """H = inv I - sum_{d_q > eps} v_q r_q r_q^T, v_q = w_q / d_q^3, packed lower triangle."""
    squared_distances(u, npad, d, z, v)
    for q in range(npad):
        d2 = v[q]
        ti = row_terms(d2, sw[q], eps, math.inf)[1]
        v[q] = ti / max(d2, eps * eps)
    for j in range(d):
        zj = z[j]
        uj = u[j, :npad]
        for kk in range(j + 1):
            zk = z[kk]
            uk = u[kk, :npad]
            a = 0.0
            for q in range(npad):
                a += v[q] * (uj[q] - zj) * (uk[q] - zk)
            H[j * (j + 1) // 2 + kk] = (inv if j == kk else 0.0) - a


@njit(**KERNEL)
def small_nearest(u, sw, m, d, z):
    best = 0
    best_d2 = math.inf
    for q in range(m):
        if sw[q] == 0:
            continue  # a weightless point is never the optimum
        d2 = 0.0
        for j in range(d):
            r = u[j, q] - z[j]
            d2 += r * r
        if d2 < best_d2:
            best_d2 = d2
            best = q
    return best
