"""Mirror of ``csrc/geomedian/fused_pass.hpp``: the iteration pass and the moments pass.

Sums of one pass at the iterate z (scaled frame, r_i = (x_i - c) s - z, d_i = ||r_i||)::

    f        = sum_i w_i d_i
    inv      = sum_{d_i > eps} w_i / d_i
    eta      = sum_{d_i <= eps} w_i
    f_coinc  = sum_{d_i <= eps} w_i d_i
    max_term = max_{d_i > eps} w_i / d_i
    w_far    = sum_{d_i > near} w_i
    f_near   = sum_{d_i <= near} w_i d_i
    R        = sum_{d_i > eps} w_i r_i / d_i
    M        = sum_i w_i r_i

w_far and f_near feed the certificate that stays exact when far points dominate f
(``certificate.py``); with every point near (near = +inf), w_far is exactly 0 and f_near
has the bits of f.

Moments: W = sum w_i, count of non-finite coordinates, max |x_ij - x_0j| / 2 and
sum_i w_i (x_i - x_0) / 2. An empty weight row means unit weights.
"""

import math

import numpy as np
from numba import njit

from .._contract import (
    BLOCK_ROWS,
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
)
from .float_bits import as_bits, from_bits

# Reassociation lets LLVM vectorise the reductions; no finite-math flags, which would
# break the NaN checks and the coincidence selects (same reasoning as -fno-math-errno only).
HOT_LOOP_MATH = {"reassoc", "contract"}
# error_model="numpy": a division by zero gives inf / NaN instead of raising, so the loops
# carry no zero test (which keeps them scalar); the divisions divide by max(d_i, eps) > 0.
HOT_KERNEL = {"cache": True, "nogil": True, "fastmath": HOT_LOOP_MATH, "error_model": "numpy"}


@njit(cache=True, nogil=True)
def sums_size(d):
    return SLOT_HEAD + 2 * d


@njit(cache=True, nogil=True)
def moments_size(d):
    return MOMENT_HEAD + d


@njit(cache=True, nogil=True, fastmath=HOT_LOOP_MATH, inline="always")
def row_terms(d2, wi, eps, near):
    """Return (d_i, w_i / d_i or 0 on the iterate, w_i on the iterate or 0, 1 if far or 0)."""
    dist = math.sqrt(d2)
    on = 1.0 if dist <= eps else 0.0
    far = 1.0 if dist > near else 0.0
    # Arithmetic instead of branches, and never a division by zero.
    return dist, (1.0 - on) * wi / max(dist, eps), on * wi, far


@njit(cache=True, nogil=True)
def block_rows_for(d):
    """Rows per block for d > 4: an 8 KiB buffer of centred rows (C++: block_rows_for)."""
    return max(1, min(BLOCK_ROWS, 1024 // d))


@njit(cache=True, nogil=True, inline="always")
def store_scalars(out, f, inv, eta, fc, mt_bits, wf, fn):
    """Write the scalar slots of out (C++: ScalarSums::store); max_term comes as bits."""
    out[SLOT_F] = f
    out[SLOT_INV] = inv
    out[SLOT_ETA] = eta
    out[SLOT_F_COINC] = fc
    out[SLOT_MAX_TERM] = from_bits(mt_bits)
    out[SLOT_W_FAR] = wf
    out[SLOT_F_NEAR] = fn


@njit(**HOT_KERNEL, inline="always")
def row_center(xi, c, s, z, rb):
    """Write r = (x_i - c) s - z into rb and return its squared length (xi: one row)."""
    a = 0.0
    for j in range(xi.shape[0]):
        rb[j] = (xi[j] - c[j]) * s - z[j]
        a += rb[j] * rb[j]
    return a


@njit(**HOT_KERNEL, inline="always")
def block_center(xb, ct, s, zt, rbuf):
    """row_center's r for a whole block of short rows (ct, zt: c and z once per row)."""
    for q in range(xb.shape[0]):
        rbuf[q] = (xb[q] - ct[q]) * s - zt[q]


@njit(**HOT_KERNEL, inline="always")
def row_norm2(rb):
    a = 0.0
    for j in range(rb.shape[0]):
        a += rb[j] * rb[j]
    return a


@njit(**HOT_KERNEL, inline="always")
def block_weights(w, wscale, wb):
    for k in range(w.shape[0]):
        wb[k] = w[k] * wscale


@njit(**HOT_KERNEL, inline="always")
def block_terms(d2, wb, m, eps, near, t, f, inv, eta, fc, mt_bits, wf, fn):
    """Per-row terms of a block into t; return the running sums plus the block's.

    The maximum runs on bit patterns (float_bits), the only form LLVM vectorises.
    """
    bf = 0.0
    binv = 0.0
    beta = 0.0
    bfc = 0.0
    bwf = 0.0
    bfn = 0.0
    for k in range(m):
        dist, tk, on, far = row_terms(d2[k], wb[k], eps, near)
        t[k] = tk
        bf += wb[k] * dist
        binv += tk
        beta += on
        bfc += on * dist
        mt_bits = max(as_bits(tk), mt_bits)
        bwf += far * wb[k]
        bfn += (1.0 - far) * wb[k] * dist
    return f + bf, inv + binv, eta + beta, fc + bfc, mt_bits, wf + bwf, fn + bfn


@njit(**HOT_KERNEL, inline="always")
def row_accumulate(rb, t, wi, R, M):
    """R += t r and M += w r for one buffered row."""
    for j in range(rb.shape[0]):
        R[j] += t * rb[j]
        M[j] += wi * rb[j]


# Without reassociation: the four rows below are added in row order, as four
# row_accumulate calls would add them (with it, LLVM vectorises across the rows instead,
# through gathers).
@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def block_accumulate(rbuf, t, wb, m, d, R, M):
    """row_accumulate for the m buffered rows of a block, in row order.

    C++ calls row_accumulate per row and keeps R and M in registers for every d up to
    16. Numba knows d only at run time, so R and M live in memory, and one row at a time
    waits on the previous row's stores to R and M; four rows per sweep wait a quarter
    as often and add the same terms in the same order.
    """
    k = 0
    while k + 4 <= m:
        o = k * d
        r0 = rbuf[o : o + d]
        r1 = rbuf[o + d : o + 2 * d]
        r2 = rbuf[o + 2 * d : o + 3 * d]
        r3 = rbuf[o + 3 * d : o + 4 * d]
        t0, t1, t2, t3 = t[k], t[k + 1], t[k + 2], t[k + 3]
        w0, w1, w2, w3 = wb[k], wb[k + 1], wb[k + 2], wb[k + 3]
        for j in range(d):
            R[j] = R[j] + t0 * r0[j] + t1 * r1[j] + t2 * r2[j] + t3 * r3[j]
            M[j] = M[j] + w0 * r0[j] + w1 * r1[j] + w2 * r2[j] + w3 * r3[j]
        k += 4
    while k < m:
        row_accumulate(rbuf[k * d : k * d + d], t[k], wb[k], R, M)
        k += 1


@njit(**HOT_KERNEL, inline="always")
def fused_pass_rows(x, D, w, wscale, m, c, s, z, eps, near, out):
    """Sum rows for 1 <= d <= 4: one loop across rows, named scalar accumulators.

    D must be a literal at the call (Numba inlines this function), so that, as for the
    C++ template, row i is x[i D], ..., x[i D + D - 1] with the stride known and the
    unused coordinates folded away: the loop vectorises across rows.
    """
    weighted = w.shape[0] > 0
    f = 0.0
    inv = 0.0
    eta = 0.0
    fc = 0.0
    mt = 0  # bits of max_term (float_bits)
    wf = 0.0
    fn = 0.0
    R0 = R1 = R2 = R3 = M0 = M1 = M2 = M3 = 0.0
    c0, z0 = c[0], z[0]
    c1, z1 = (c[1], z[1]) if D > 1 else (0.0, 0.0)
    c2, z2 = (c[2], z[2]) if D > 2 else (0.0, 0.0)
    c3, z3 = (c[3], z[3]) if D > 3 else (0.0, 0.0)
    for i in range(m):
        r0 = (x[i * D] - c0) * s - z0
        r1 = (x[i * D + 1] - c1) * s - z1 if D > 1 else 0.0
        r2 = (x[i * D + 2] - c2) * s - z2 if D > 2 else 0.0
        r3 = (x[i * D + 3] - c3) * s - z3 if D > 3 else 0.0
        wi = w[i] * wscale if weighted else 1.0
        dist, t, on, far = row_terms(r0 * r0 + r1 * r1 + r2 * r2 + r3 * r3, wi, eps, near)
        f += wi * dist
        inv += t
        eta += on
        fc += on * dist
        mt = max(as_bits(t), mt)
        wf += far * wi
        fn += (1.0 - far) * wi * dist
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
    for j in range(D):
        out[SLOT_HEAD + j] = R[j]
        out[SLOT_HEAD + D + j] = M[j]
    store_scalars(out, f, inv, eta, fc, mt, wf, fn)


@njit(**HOT_KERNEL)
def fused_pass_blocks(x, d, w, wscale, m, c, s, z, eps, near, out):
    """Sum rows for d > 4 in blocks of rows, as in C++.

    Each row is centred once into a buffer (with its squared length), then the per-row
    terms are taken across the block, then R and M from the buffer. C++ keeps both shapes
    in one template (fused_pass_rows); here the small-d one is inlined once per literal d
    and this one is compiled once.
    """
    weighted = w.shape[0] > 0
    R = out[SLOT_HEAD : SLOT_HEAD + d]
    M = out[SLOT_HEAD + d : SLOT_HEAD + 2 * d]
    for j in range(d):
        R[j] = 0.0
        M[j] = 0.0
    brows = block_rows_for(d)
    rbuf = np.empty(brows * d)
    # Rows shorter than an AVX-512 register of float64 leave the loop of row_center scalar,
    # one short loop per row: such blocks are centred in one flat loop against c and z
    # repeated per row (C++ needs neither: its row length is a compile-time constant).
    short = d < 8
    ct = np.empty(brows * d if short else 0)
    zt = np.empty(brows * d if short else 0)
    if short:
        for k in range(brows):
            ct[k * d : k * d + d] = c
            zt[k * d : k * d + d] = z
    d2 = np.empty(brows)
    t = np.empty(brows)
    wb = np.ones(brows)
    f = 0.0
    inv = 0.0
    eta = 0.0
    fc = 0.0
    mt = 0  # bits of max_term (float_bits)
    wf = 0.0
    fn = 0.0
    for b0 in range(0, m, brows):
        mb = min(brows, m - b0)
        xb = x[b0 * d : (b0 + mb) * d]
        if short:
            block_center(xb, ct, s, zt, rbuf)
            for k in range(mb):
                d2[k] = row_norm2(rbuf[k * d : k * d + d])
        else:
            for k in range(mb):
                d2[k] = row_center(xb[k * d : k * d + d], c, s, z, rbuf[k * d : k * d + d])
        if weighted:
            block_weights(w[b0 : b0 + mb], wscale, wb)
        f, inv, eta, fc, mt, wf, fn = block_terms(
            d2, wb, mb, eps, near, t, f, inv, eta, fc, mt, wf, fn
        )
        block_accumulate(rbuf, t, wb, mb, d, R, M)
    store_scalars(out, f, inv, eta, fc, mt, wf, fn)


@njit(**HOT_KERNEL)
def fused_pass(x, d, w, wscale, lo, hi, c, s, z, eps, near, out):
    """Write the sums of rows [lo, hi) into out (eps: coincidence radius, near: near radius).

    x holds the points flattened in C order (row i at x[i d : (i + 1) d]), as the C++
    kernel gets a pointer and d.

    Numba does not vectorise 2-D indexing x[i, j] here, and wraps negative indices with a
    select that turns every load into a gather unless the index is provably >= 0: hence
    the flat array, and views that start at row lo so that every index counts up from 0.
    """
    xs = x[lo * d : hi * d]
    ws = w[lo:hi] if w.shape[0] > 0 else w
    m = hi - lo
    if d == 1:
        fused_pass_rows(xs, 1, ws, wscale, m, c, s, z, eps, near, out)
    elif d == 2:
        fused_pass_rows(xs, 2, ws, wscale, m, c, s, z, eps, near, out)
    elif d == 3:
        fused_pass_rows(xs, 3, ws, wscale, m, c, s, z, eps, near, out)
    elif d == 4:
        fused_pass_rows(xs, 4, ws, wscale, m, c, s, z, eps, near, out)
    else:
        fused_pass_blocks(xs, d, ws, wscale, m, c, s, z, eps, near, out)


@njit(**HOT_KERNEL)
def moments(x, d, w, wscale, lo, hi, x0, out):
    """Moments of rows [lo, hi) of the flat points x (as fused_pass) into out."""
    xs = x[lo * d : hi * d]
    weighted = w.shape[0] > 0
    ws = w[lo:hi] if weighted else w
    W = 0.0
    bad = 0.0
    spread = 0  # bits of the half spread (float_bits: |h| >= +0)
    S = out[MOMENT_HEAD : MOMENT_HEAD + d]
    for j in range(d):
        S[j] = 0.0
    for i in range(hi - lo):
        wi = ws[i] * wscale if weighted else 1.0
        W += wi
        xi = xs[i * d : i * d + d]
        for j in range(d):
            v = xi[j]
            bad += 0.0 if math.isfinite(v) else 1.0
            h = 0.5 * v - 0.5 * x0[j]
            spread = max(as_bits(abs(h)), spread)
            S[j] += wi * h
    out[MOMENT_WEIGHT] = W
    out[MOMENT_NONFINITE] = bad
    out[MOMENT_HALF_SPREAD] = from_bits(spread)


@njit(cache=True, nogil=True)
def nearest_row(x, d, w, lo, hi, c, s, z):
    """Return (index, squared scaled distance) of the weighted row of [lo, hi) nearest to z.

    x is flat, as in fused_pass.
    """
    best_i = lo
    best_d2 = math.inf
    for i in range(lo, hi):
        if w.shape[0] > 0 and w[i] == 0:
            continue  # a weightless point is never the optimum
        d2 = 0.0
        for j in range(d):
            r = (x[i * d + j] - c[j]) * s - z[j]
            d2 += r * r
        if d2 < best_d2:
            best_d2 = d2
            best_i = i
    return best_i, best_d2
