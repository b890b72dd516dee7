"""Mirror of ``csrc/geomedian/lp_pass.hpp``: one pass of the Lp median, ``1 < p < inf``.

The sums the Lp Newton step and its certificate need at the iterate ``y``, in one read of
the points (slots ``LP_*`` of the contract; the formulas are written out in
``geomedian._lp.newton``). Blocks of ``BLOCK_ROWS`` rows per accumulator, block totals
added with compensation, fixed chunks added in chunk order: the C++ kernel's additions, in
its order, so the same bits.
"""

import math

import numpy as np
from numba import njit, prange

from .._contract import (
    BLOCK_ROWS,
    LP_A,
    LP_CURVATURE,
    LP_ETA,
    LP_EXCESS,
    LP_F,
    LP_F_NEAR,
    LP_FLOOR,
    LP_HEAD,
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


@njit(**KERNEL)
def power_p(m, p, kind):
    if kind == 1:
        return m * math.sqrt(m)
    if kind == 2:
        return m * m * m
    return m**p


@njit(**KERNEL)
def power_p1(a, p, kind):
    if kind == 1:
        return math.sqrt(a)
    if kind == 2:
        return a * a
    return a ** (p - 1.0)


@njit(**KERNEL)
def power_p2(a, p, kind):
    if kind == 1:
        return 1.0 / math.sqrt(a)
    if kind == 2:
        return a
    return a ** (p - 2.0)


@njit(**KERNEL)
def power_q(v, a, q, kind):
    # p = 3: s = a^2 to one rounding, so v a is v^1.5 to half an ulp (no square root).
    if kind == 1:
        return v * v * v
    if kind == 2:
        return v * a
    return v**q


@njit(**KERNEL)
def lp_geometry(z, d, p, kind, a, s):
    """Return ``N = ||z||_p``; ``a = |z| / N`` and ``s = sign(z) a^(p-1)`` into a and s."""
    big = 0.0  # NaN if any coordinate is: a NaN row never passes as one at y
    for j in range(d):
        m = abs(z[j])
        if m > big or m != m:
            big = m
    if big == 0.0:
        for j in range(d):
            a[j] = 0.0
            s[j] = 0.0
        return 0.0
    ap = 0.0
    for j in range(d):
        a[j] = z[j] / big
        ap += power_p(abs(a[j]), p, kind)
    root = ap ** (1.0 / p)
    inv = 1.0 / root
    for j in range(d):
        r = a[j]
        a[j] = abs(r) * inv
        sign = 1.0 if r > 0.0 else (-1.0 if r < 0.0 else 0.0)
        s[j] = sign * power_p1(a[j], p, kind)
    return big * root


@njit(**KERNEL)
def additive(k, end):
    return k < end and k != LP_EXCESS and k != LP_NEAREST and k != LP_NEAREST_ROW


@njit(**KERNEL)
def start_sums(out, d):
    end = lp_additive_end(d)
    for k in range(lp_sums_size(d)):
        out[k] = 0.0
    out[LP_NEAREST] = np.inf
    out[LP_NEAREST_ROW] = -1.0
    for j in range(d):
        out[end + j] = np.inf


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
        if part[end + j] < acc[end + j]:
            acc[end + j] = part[end + j]
            acc[end + d + j] = part[end + d + j]


@njit(**KERNEL, error_model="numpy")
def lp_rows(x, w, lo, hi, d, y, shift, near, p, out):
    """Write the sums of rows [lo, hi) of one problem (x: flat, n rows of d) at y into out."""
    kind = lp_kind(p)
    q = p / (p - 1.0)
    size = lp_sums_size(d)
    end = lp_additive_end(d)
    g0 = LP_HEAD
    m0 = g0 + d
    b0 = m0 + d
    G0 = b0 + d
    h0 = G0 + d
    p0 = h0 + d
    c0 = p0 + d
    blk = np.zeros(size)
    err = np.zeros(size)
    z = np.empty(d)
    zs = np.empty(d)
    a = np.empty(d)
    s = np.empty(d)
    weighted = w.shape[0] > 0
    shifted = shift.shape[0] > 0
    start_sums(out, d)
    for i in range(lo, hi):
        wi = w[i] if weighted else 1.0
        if wi > 0.0:
            for j in range(d):
                z[j] = y[j] - np.float64(x[i * d + j])
            N = lp_geometry(z, d, p, kind, a, s)
            blk[LP_WEIGHT] += wi
            for j in range(d):
                if abs(z[j]) < out[end + j]:
                    out[end + j] = abs(z[j])
                    out[end + d + j] = np.float64(x[i * d + j])
            if N < out[LP_NEAREST]:
                out[LP_NEAREST] = N
                out[LP_NEAREST_ROW] = float(i)
            if N <= near:
                blk[LP_W_NEAR] += wi
                blk[LP_F_NEAR] += wi * N
            if N == 0.0:
                blk[LP_ETA] += wi
            else:
                if shifted:
                    for j in range(d):
                        zs[j] = z[j] + shift[j]
                    lp_geometry(zs, d, p, kind, a, s)
                blk[LP_F] += wi * N
                blk[LP_CURVATURE] += wi / N
                c = wi * (p - 1.0) / N
                qs = 0.0
                for j in range(d):
                    u = wi * s[j]
                    wz = wi * z[j]
                    blk[LP_S] += u * z[j]
                    blk[LP_A] += abs(u * z[j])
                    blk[g0 + j] += u
                    blk[m0 + j] += wz
                    blk[b0 + j] += abs(wz)
                    blk[G0 + j] += abs(u)
                    blk[h0 + j] += c * power_p2(max(a[j], LP_FLOOR), p, kind)
                    qs += power_q(abs(u) / wi, a[j], q, kind)
                    cs = c * s[j]
                    for k in range(j + 1):
                        blk[c0 + j * (j + 1) // 2 + k] += cs * s[k]
                # ||u_i||_q^q / w_i^q: the q-th root of the largest is taken once, at the end.
                out[LP_EXCESS] = max(out[LP_EXCESS], qs)
                if p < 2.0:
                    for j in range(d):
                        if z[j] == 0.0:
                            blk[p0 + j] += wi * N ** (1.0 - p)
        if (i - lo + 1) % BLOCK_ROWS == 0 or i + 1 == hi:
            for k in range(end):
                if additive(k, end):
                    out[k], err[k] = add_compensated(out[k], err[k], blk[k])
                    blk[k] = 0.0
    for k in range(end):
        if additive(k, end):
            out[k] = compensated_total(out[k], err[k])


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
