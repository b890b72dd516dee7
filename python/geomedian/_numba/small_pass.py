"""Mirror of ``csrc/geomedian/small_pass.hpp`` and ``csrc/small_pass.cpp``: small problems.

A problem of at most ``SMALL_PROBLEM_SIZE`` coordinates is copied once, transposed, into a
per-thread buffer ``u`` (d x stride): the rows without NaN when NaN is omitted, padded to
whole blocks of ``LANES`` rows that repeat the first present row with weight 0. After the
frame is known, ``u <- (u - c) s`` in place and ``mu = sum_q w_q u_q``; every pass then
reads ``u`` block by block, each lane keeping its own partial sums added in a fixed order
(``lane_sum``), and ``M = mu - W z``. The start point is the coordinate-wise weighted lower
median ``min {u_qj : sum_{r: u_rj <= u_qj} w_r >= W / 2}`` for ``m <= START_MEDIAN_ROWS``.
``lane`` is a (LANE_ROWS, LANES) scratch array holding the lane accumulators. The sums the
certificate reads (``small_sums``, and ``mu`` for M) are taken per lane over groups of at
most ``BLOCK_ROWS`` rows of the lane, added per lane with compensation (``lane_fold``) and
the lanes' totals by ``lane_sum`` (C++: LaneSums).
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
    SLOT_ETA,
    SLOT_F,
    SLOT_F_COINC,
    SLOT_F_NEAR,
    SLOT_HEAD,
    SLOT_INV,
    SLOT_MAX_TERM,
    SLOT_W_FAR,
    START_MEDIAN_ROWS,
)

# Re-exported (redundant aliases): solver.py and schedule.py read them here.
from .._contract import NEWTON_MAX_D as NEWTON_MAX_D
from .._contract import SMALL_PROBLEM_SIZE as SMALL_PROBLEM_SIZE
from .fused_pass import add_compensated, compensated_total
from .jit_options import KERNEL

# Rows of the lane scratch (the C++ kernels' lane arrays); row a's compensated sum per lane
# (C++: LaneSums) in rows L_SUM + a and L_ERR + a.
L_F, L_INV, L_ETA, L_FC, L_MT, L_WF, L_FN, L_A, L_B = 0, 1, 2, 3, 4, 5, 6, 7, 8
L_SUM = 9
L_ERR = L_SUM + L_B
LANE_ROWS = L_ERR + L_B
# Rows of a group: BLOCK_ROWS in each lane.
GROUP_ROWS = BLOCK_ROWS * LANES


@njit(**KERNEL, inline="always")
def padded_rows(m):
    return (m + LANES - 1) // LANES * LANES


@njit(**KERNEL, inline="always")
def lane_sum(a):
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))


@njit(**KERNEL, inline="always")
def lane_clear_sums(lane, a):
    """Start row a's compensated sums (C++: a fresh LaneSums)."""
    for k in range(LANES):
        lane[a, k] = 0.0
        lane[L_SUM + a, k] = 0.0
        lane[L_ERR + a, k] = 0.0


@njit(**KERNEL, inline="always")
def lane_fold(lane, a):
    """Add the group sums of row a into its compensated sums per lane, clear row a."""
    for k in range(LANES):
        lane[L_SUM + a, k], lane[L_ERR + a, k] = add_compensated(
            lane[L_SUM + a, k], lane[L_ERR + a, k], lane[a, k]
        )
        lane[a, k] = 0.0


@njit(**KERNEL, inline="always")
def lane_total(lane, a):
    """lane_sum of the lanes' compensated totals of row a (leaves them in row a)."""
    for k in range(LANES):
        lane[a, k] = compensated_total(lane[L_SUM + a, k], lane[L_ERR + a, k])
    return lane_sum(lane[a])


@njit(**KERNEL, inline="always")
def lane_max(a):
    m = a[0]
    for k in range(1, LANES):
        m = a[k] if a[k] > m else m
    return m


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


@njit(**KERNEL)
def small_moments(u, sw, npad, big, d, lane, out):
    for k in range(LANES):
        lane[L_F, k] = 0.0  # W
        lane[L_INV, k] = 0.0  # bad
        lane[L_ETA, k] = 0.0  # spread
    for i in range(0, npad, LANES):
        for k in range(LANES):
            lane[L_F, k] += sw[i + k]
    for j in range(d):
        x0 = u[j, 0]
        for k in range(LANES):
            lane[L_A, k] = 0.0
        for i in range(0, npad, LANES):
            for k in range(LANES):
                v = u[j, i + k]
                lane[L_INV, k] += 1.0 if not abs(v) <= big else 0.0
                h = 0.5 * v - 0.5 * x0
                lane[L_ETA, k] = abs(h) if abs(h) > lane[L_ETA, k] else lane[L_ETA, k]
                lane[L_A, k] += sw[i + k] * h
        out[MOMENT_HEAD + j] = lane_sum(lane[L_A])
    out[MOMENT_WEIGHT] = lane_sum(lane[L_F])
    out[MOMENT_NONFINITE] = lane_sum(lane[L_INV])
    out[MOMENT_HALF_SPREAD] = lane_max(lane[L_ETA])


@njit(**KERNEL)
def small_load(u, sw, npad, d, c, s, lane, mu):
    for j in range(d):
        cj = c[j]
        lane_clear_sums(lane, L_A)
        for g0 in range(0, npad, GROUP_ROWS):
            for i in range(g0, min(npad, g0 + GROUP_ROWS), LANES):
                for k in range(LANES):
                    v = (u[j, i + k] - cj) * s
                    u[j, i + k] = v
                    lane[L_A, k] += sw[i + k] * v
            lane_fold(lane, L_A)
        mu[j] = lane_total(lane, L_A)


@njit(**KERNEL)
def small_reload(x, sidx, m, npad, c, s, u, sw, lane, mu):
    """Copy the present rows again and load them around a new centre c (SmallPass::reload)."""
    d = x.shape[1]
    for q in range(npad):
        i = sidx[q if q < m else 0]
        for j in range(d):
            u[j, q] = x[i, j]
    small_load(u, sw, npad, d, c, s, lane, mu)


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


@njit(**KERNEL)
def squared_distances(u, npad, d, z, d2):
    """||u_q - z||^2 of every row into d2, block by block (summed over j in nearest_row's order)."""
    for i in range(0, npad, LANES):
        for k in range(LANES):
            d2[i + k] = 0.0
        for j in range(d):
            zj = z[j]
            for k in range(LANES):
                r = u[j, i + k] - zj
                d2[i + k] += r * r


@njit(**KERNEL)
def small_sums(u, sw, mu, W, npad, d, z, eps, near, t, lane, out):
    squared_distances(u, npad, d, z, t)
    for a in range(L_FN + 1):
        lane_clear_sums(lane, a)
    for g0 in range(0, npad, GROUP_ROWS):
        for i in range(g0, min(npad, g0 + GROUP_ROWS), LANES):
            for k in range(LANES):
                dist = math.sqrt(t[i + k])
                wi = sw[i + k]
                on = 1.0 if dist <= eps else 0.0
                far = 1.0 if dist > near else 0.0
                ti = (1.0 - on) * wi / max(dist, eps)
                lane[L_F, k] += wi * dist
                lane[L_INV, k] += ti
                lane[L_ETA, k] += on * wi
                lane[L_FC, k] += on * wi * dist
                lane[L_MT, k] = ti if ti > lane[L_MT, k] else lane[L_MT, k]
                lane[L_WF, k] += far * wi
                lane[L_FN, k] += (1.0 - far) * wi * dist
                t[i + k] = ti
        for a in (L_F, L_INV, L_ETA, L_FC, L_WF, L_FN):
            lane_fold(lane, a)
    out[SLOT_F] = lane_total(lane, L_F)
    out[SLOT_INV] = lane_total(lane, L_INV)
    out[SLOT_ETA] = lane_total(lane, L_ETA)
    out[SLOT_F_COINC] = lane_total(lane, L_FC)
    out[SLOT_MAX_TERM] = lane_max(lane[L_MT])
    out[SLOT_W_FAR] = lane_total(lane, L_WF)
    out[SLOT_F_NEAR] = lane_total(lane, L_FN)
    for j in range(d):
        zj = z[j]
        lane_clear_sums(lane, L_A)
        for g0 in range(0, npad, GROUP_ROWS):
            for i in range(g0, min(npad, g0 + GROUP_ROWS), LANES):
                for k in range(LANES):
                    lane[L_A, k] += t[i + k] * (u[j, i + k] - zj)
            lane_fold(lane, L_A)
        out[SLOT_HEAD + j] = lane_total(lane, L_A)
        out[SLOT_HEAD + d + j] = mu[j] - W * zj


@njit(**KERNEL)
def small_hessian(u, sw, inv, npad, d, z, eps, v, lane, H):
    """H = inv I - sum_{d_q > eps} v_q r_q r_q^T, v_q = w_q / d_q^3, packed lower triangle."""
    squared_distances(u, npad, d, z, v)
    for i in range(0, npad, LANES):
        for k in range(LANES):
            d2 = v[i + k]
            dist = math.sqrt(d2)
            on = 1.0 if dist <= eps else 0.0
            ti = (1.0 - on) * sw[i + k] / max(dist, eps)
            v[i + k] = ti / max(d2, eps * eps)
    for j in range(d):
        zj = z[j]
        for kk in range(j + 1):
            zk = z[kk]
            for k in range(LANES):
                lane[L_A, k] = 0.0
            for i in range(0, npad, LANES):
                for k in range(LANES):
                    lane[L_A, k] += v[i + k] * (u[j, i + k] - zj) * (u[kk, i + k] - zk)
            H[j * (j + 1) // 2 + kk] = (inv if j == kk else 0.0) - lane_sum(lane[L_A])


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
