"""Mirror of ``csrc/geomedian/lp_pass.hpp``: one pass of the Lp median, ``1 < p < inf``.

The sums the Lp Newton step and its certificate need at the iterate ``y``, in one read of
the points (slots ``LP_*`` of the contract; the formulas are written out in
``geomedian._lp.newton``). Lanes of ``LP_LANES`` rows, blocks of ``BLOCK_ROWS`` rows per
lane's accumulator, block totals added with compensation, the lanes in lane order, fixed
chunks in chunk order: the C++ kernel's additions, in its order, so the same bits.
"""

import math

import numpy as np
from numba import njit, prange

from .._contract import (
    BLOCK_ROWS,
    LP_A,
    LP_CBRT_C0,
    LP_CBRT_C1,
    LP_CBRT_C2,
    LP_CURVATURE,
    LP_ETA,
    LP_EXCESS,
    LP_F,
    LP_F_NEAR,
    LP_FLOOR,
    LP_HEAD,
    LP_LANES,
    LP_NEAREST,
    LP_NEAREST_ROW,
    LP_S,
    LP_W_NEAR,
    LP_WEIGHT,
)
from .fused_pass import add_compensated, compensated_total
from .jit_options import ENTRY, KERNEL
from .parallel import chunk_rows, n_chunks


@njit(**KERNEL)
def lp_additive_end(d):
    return LP_HEAD + 6 * d + d * (d + 1) // 2


@njit(**ENTRY)
def lp_sums_size(d):
    return lp_additive_end(d) + 2 * d


@njit(**KERNEL)
def lp_kind(p):
    """Return the kind of powers of p: 1 is p = 1.5, 2 is p = 3, 0 any other (pow)."""
    return 1 if p == 1.5 else (2 if p == 3.0 else 0)


ROOT_FLOOR = 2.0**-13  # sqrt(LP_FLOOR), exactly


@njit(**ENTRY)
def cube_root(t, reductions):
    """Return ``t^(1/3)``: divisions by 8 to ``[1, 8)``, the guess, 2 Halley, 1 Newton step."""
    scale = 1.0
    for _ in range(reductions):
        large = t >= 8.0
        t = t * 0.125 if large else t
        scale = scale * 2.0 if large else scale
    r = LP_CBRT_C0 + t * (LP_CBRT_C1 - t * LP_CBRT_C2)
    for _ in range(2):
        r3 = r * r * r
        r = r * ((r3 + 2.0 * t) / (2.0 * r3 + t))
    r3 = r * r * r
    r = r - (r3 - t) / (3.0 * (r * r))
    return r * scale


@njit(**ENTRY)
def cube_root_reductions(d):
    k = 1
    top = 8.0
    while top <= d:
        top *= 8.0
        k += 1
    return k


@njit(**KERNEL)
def lp_geometry(z, d, p, kind, reductions, a, s):
    """Return ``N = ||z||_p``; ``a = |z| / N`` and ``s = sign(z) a^(p-1)`` into a and s."""
    big = 0.0  # NaN if any coordinate is: a NaN row never passes as one at y
    for j in range(d):
        m = abs(z[j])
        big = m if (m > big or m != m) else big
    zero = big == 0.0
    scale = 1.0 / (1.0 if zero else big)
    t = 0.0
    for j in range(d):
        a[j] = z[j] * scale
        m = abs(a[j])
        if kind == 2:
            t += m * m * m
        elif kind == 1:
            t += m * math.sqrt(m)
        else:
            t += m**p
    if kind == 2:
        root = cube_root(t, reductions)
    elif kind == 1:
        c = cube_root(t, reductions)
        root = c * c
    else:
        root = t ** (1.0 / p)
    root = 1.0 if zero else root
    inv = 1.0 / root
    for j in range(d):
        r = a[j]
        a[j] = abs(r) * inv
        sign = 1.0 if r > 0.0 else (-1.0 if r < 0.0 else 0.0)
        if kind == 2:
            s[j] = sign * (a[j] * a[j])
        elif kind == 1:
            s[j] = sign * math.sqrt(a[j])
        else:
            s[j] = sign * a[j] ** (p - 1.0)
    return 0.0 if zero else big * root


@njit(**KERNEL)
def additive(k, end):
    return k < end and k != LP_EXCESS and k != LP_NEAREST and k != LP_NEAREST_ROW


@njit(**KERNEL)
def closer(m, xv, cm, cx):
    """Return whether ``(m, xv)`` beats ``(cm, cx)``: the least ``|y_j - x_ij|``, then ``x_ij``."""
    return m < cm or (m == cm and xv < cx)


@njit(**KERNEL)
def add_chunk(acc, err, part, d):
    end = lp_additive_end(d)
    for k in range(end):
        if additive(k, end):
            acc[k], err[k] = add_compensated(acc[k], err[k], part[k])
    acc[LP_EXCESS] = max(acc[LP_EXCESS], part[LP_EXCESS])
    if part[LP_NEAREST] < acc[LP_NEAREST]:
        acc[LP_NEAREST] = part[LP_NEAREST]
        acc[LP_NEAREST_ROW] = part[LP_NEAREST_ROW]
    for j in range(d):
        if closer(part[end + j], part[end + d + j], acc[end + j], acc[end + d + j]):
            acc[end + j] = part[end + j]
            acc[end + d + j] = part[end + d + j]


@njit(**KERNEL, error_model="numpy")
def lp_row(x, i, ln, wi, d, y, shift, near, p, q, kind, reductions, scratch, lanes):
    """Row i into lane ``ln`` of ``lanes`` (its weight wi: no term unless wi > 0)."""
    blk, excess, nearest, nearest_row, closest, closest_x = lanes
    g0 = LP_HEAD
    m0 = g0 + d
    b0 = m0 + d
    G0 = b0 + d
    h0 = G0 + d
    p0 = h0 + d
    c0 = p0 + d
    z = scratch[0]
    zs = scratch[1]
    a = scratch[2]
    sv = scratch[3]
    live = wi > 0.0
    for j in range(d):
        z[j] = y[j] - np.float64(x[i * d + j])
    N = lp_geometry(z, d, p, kind, reductions, a, sv)
    if shift.shape[0] > 0:
        for j in range(d):
            zs[j] = z[j] + shift[j]
        lp_geometry(zs, d, p, kind, reductions, a, sv)
    blk[LP_WEIGHT, ln] += wi if live else 0.0
    for j in range(d):
        m = abs(z[j])
        xv = np.float64(x[i * d + j])
        if live and closer(m, xv, closest[j, ln], closest_x[j, ln]):
            closest[j, ln] = m
            closest_x[j, ln] = xv
    if live and N < nearest[ln]:
        nearest[ln] = N
        nearest_row[ln] = float(i)
    close = live and N <= near
    blk[LP_W_NEAR, ln] += wi if close else 0.0
    blk[LP_F_NEAR, ln] += wi * N if close else 0.0
    at = live and N == 0.0
    on = live and not (N == 0.0)
    blk[LP_ETA, ln] += wi if at else 0.0
    iN = 1.0 / (N if on else 1.0)
    blk[LP_F, ln] += wi * N if on else 0.0
    blk[LP_CURVATURE, ln] += wi * iN if on else 0.0
    c = wi * (p - 1.0) * iN
    qs = 0.0
    for j in range(d):
        u = wi * sv[j]
        wz = wi * z[j]
        uz = u * z[j]
        v = abs(u) / wi
        blk[LP_S, ln] += uz if on else 0.0
        blk[LP_A, ln] += abs(uz) if on else 0.0
        blk[g0 + j, ln] += u if on else 0.0
        blk[m0 + j, ln] += wz if on else 0.0
        blk[b0 + j, ln] += abs(wz) if on else 0.0
        blk[G0 + j, ln] += abs(u) if on else 0.0
        # p = 3: s = a^2 to one rounding, so v a is v^1.5 to half an ulp (no square root).
        if kind == 2:
            h = max(a[j], LP_FLOOR)
            qs += v * a[j]
        elif kind == 1:
            h = 1.0 / max(abs(sv[j]), ROOT_FLOOR)
            qs += v * v * v
        else:
            h = max(a[j], LP_FLOOR) ** (p - 2.0)
            qs += v**q
        blk[h0 + j, ln] += c * h if on else 0.0
        cs = c * sv[j]
        for k in range(j + 1):
            blk[c0 + j * (j + 1) // 2 + k, ln] += cs * sv[k] if on else 0.0
    # ||u_i||_q^q / w_i^q: the q-th root of the largest is taken once, at the end.
    if on and excess[ln] < qs:
        excess[ln] = qs
    if p < 2.0:  # the pull N^(1-p) of a point whose z_j = 0 (p < 2 only)
        if kind == 1:
            pull = 1.0 / math.sqrt(N if on else 1.0)
        else:
            pull = (N if on else 1.0) ** (1.0 - p)
        for j in range(d):
            blk[p0 + j, ln] += wi * pull if (on and z[j] == 0.0) else 0.0


@njit(**KERNEL)
def fold_block(blk, sum_, err, end):
    """Add the block's sums into the lanes' compensated totals; the block starts afresh."""
    for k in range(end):
        for ln in range(LP_LANES):
            sum_[k, ln], err[k, ln] = add_compensated(sum_[k, ln], err[k, ln], blk[k, ln])
            blk[k, ln] = 0.0


@njit(**KERNEL)
def finish_lanes(sum_, err, lanes, d, out):
    """Write the lanes' totals into out: sums in lane order with compensation, extremes."""
    _, excess, nearest, nearest_row, closest, closest_x = lanes
    end = lp_additive_end(d)
    for k in range(end):
        ts = 0.0
        tc = 0.0
        for ln in range(LP_LANES):
            ts, tc = add_compensated(ts, tc, sum_[k, ln])
            ts, tc = add_compensated(ts, tc, err[k, ln])
        out[k] = compensated_total(ts, tc)
    out[LP_EXCESS] = 0.0
    out[LP_NEAREST] = np.inf
    out[LP_NEAREST_ROW] = -1.0
    for j in range(d):
        out[end + j] = np.inf
        out[end + d + j] = 0.0
    for ln in range(LP_LANES):
        if out[LP_EXCESS] < excess[ln]:
            out[LP_EXCESS] = excess[ln]
        n = nearest[ln]
        r = nearest_row[ln]
        if n < out[LP_NEAREST] or (
            n == out[LP_NEAREST] and r >= 0.0 and r < out[LP_NEAREST_ROW]
        ):
            out[LP_NEAREST] = n
            out[LP_NEAREST_ROW] = r
        for j in range(d):
            if closer(closest[j, ln], closest_x[j, ln], out[end + j], out[end + d + j]):
                out[end + j] = closest[j, ln]
                out[end + d + j] = closest_x[j, ln]


@njit(**KERNEL, error_model="numpy")
def lp_rows(x, w, lo, hi, d, y, shift, near, p, out):
    """Write the sums of rows [lo, hi) of one problem (x: flat, n rows of d) at y into out.

    Row b + l of each group of ``LP_LANES`` rows goes to lane l; each lane's block of
    ``BLOCK_ROWS`` of its rows is added with compensation, the lanes at the end.
    """
    kind = lp_kind(p)
    q = p / (p - 1.0)
    reductions = cube_root_reductions(d)
    end = lp_additive_end(d)
    blk = np.zeros((end, LP_LANES))
    sum_ = np.zeros((end, LP_LANES))
    err = np.zeros((end, LP_LANES))
    excess = np.zeros(LP_LANES)
    nearest = np.full(LP_LANES, np.inf)
    nearest_row = np.full(LP_LANES, -1.0)
    closest = np.full((d, LP_LANES), np.inf)
    closest_x = np.zeros((d, LP_LANES))
    lanes = (blk, excess, nearest, nearest_row, closest, closest_x)
    scratch = np.empty((4, d))
    weighted = w.shape[0] > 0
    full = lo + (hi - lo) // LP_LANES * LP_LANES
    group = BLOCK_ROWS * LP_LANES
    for g in range(lo, full, group):
        g1 = min(full, g + group)
        for b in range(g, g1, LP_LANES):
            for ln in range(LP_LANES):
                wi = w[b + ln] if weighted else 1.0
                lp_row(x, b + ln, ln, wi, d, y, shift, near, p, q, kind, reductions, scratch,
                       lanes)
        fold_block(blk, sum_, err, end)
    if full < hi:  # the last rows, fewer than LP_LANES, one per lane
        for i in range(full, hi):
            wi = w[i] if weighted else 1.0
            lp_row(x, i, i - full, wi, d, y, shift, near, p, q, kind, reductions, scratch,
                   lanes)
        fold_block(blk, sum_, err, end)
    finish_lanes(sum_, err, lanes, d, out)


@njit(**KERNEL)
def finish_chunks(out, parts, nc, d):
    """Add the chunks' sums ``parts`` into out in chunk order, with compensation."""
    size = lp_sums_size(d)
    end = lp_additive_end(d)
    err = np.zeros(size)
    out[:size] = parts[0, :size]
    for k in range(1, nc):
        add_chunk(out, err, parts[k], d)
    if nc > 1:
        for k in range(end):
            if additive(k, end):
                out[k] = compensated_total(out[k], err[k])


@njit(**KERNEL)
def finish_pass(out, parts, nc, d, p):
    """Add the chunks' sums into out, and take the q-th root of the largest excess."""
    finish_chunks(out, parts, nc, d)
    out[LP_EXCESS] = out[LP_EXCESS] ** (1.0 / (p / (p - 1.0)))


@njit(**KERNEL)
def lp_pass(x, w, d, y, shift, near, p, out):
    """Write the sums of one problem (x flat, rows of d; w empty: unit weights) at y."""
    n = x.shape[0] // d
    step = chunk_rows(d)
    nc = n_chunks(n, d)
    size = lp_sums_size(d)
    parts = np.empty((nc, size))
    for k in range(nc):
        lp_rows(x, w, k * step, min(n, (k + 1) * step), d, y, shift, near, p, parts[k])
    finish_pass(out, parts, nc, d, p)


@njit(**KERNEL, parallel=True)
def lp_pass_chunks(x, w, d, y, shift, near, p, out):
    """As lp_pass, the chunks over the threads (one large problem)."""
    n = x.shape[0] // d
    step = chunk_rows(d)
    nc = n_chunks(n, d)
    size = lp_sums_size(d)
    parts = np.empty((nc, size))
    for k in prange(nc):
        lp_rows(x, w, k * step, min(n, (k + 1) * step), d, y, shift, near, p, parts[k])
    finish_pass(out, parts, nc, d, p)


@njit(**KERNEL, parallel=True)
def lp_pass_problems(x, w, rows, y, shift, near, p, out):
    """Write the sums of problems ``rows`` of x (P, n, d) at y (m, d), over the threads."""
    P, _, d = x.shape
    w_each = w.shape[0] == P and w.shape[1] > 0
    for k in prange(rows.shape[0]):
        r = rows[k]
        wk = w[r] if w_each else w[0]
        lp_pass(x[r].reshape(-1), wk, d, y[k], shift[k], near[k], p, out[k])


@njit(**ENTRY)
def run_lp_pass(parallel, x, w, rows, y, shift, near, p, out):
    """Write the Lp pass sums of problems ``rows``: over the problems, or one's chunks."""
    if rows.shape[0] == 1:
        r = rows[0]
        wk = w[r] if w.shape[0] == x.shape[0] and w.shape[1] > 0 else w[0]
        if parallel:
            lp_pass_chunks(x[r].reshape(-1), wk, x.shape[2], y[0], shift[0], near[0], p, out[0])
        else:
            lp_pass(x[r].reshape(-1), wk, x.shape[2], y[0], shift[0], near[0], p, out[0])
    else:
        lp_pass_problems(x, w, rows, y, shift, near, p, out)
