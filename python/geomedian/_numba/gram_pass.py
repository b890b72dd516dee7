"""Mirror of ``csrc/geomedian/gram_pass.hpp``: the three passes of the Gram path.

``rows`` is a typed List of n 1-D arrays of one dtype and length (a component: one tensor
of every model). Each pass reads a block of columns of every row into a float64 scratch
``b`` (n rows padded to a multiple of ``GRAM_TILE``, row stride the block's width), over
``GRAM_STRIPES`` stripes of blocks whatever the thread count, the stripes' sums added in
stripe order.
"""

import numpy as np
from numba import njit, prange

from .._contract import GRAM_BLOCK_BYTES, GRAM_STRIPES, GRAM_TILE
from .jit_options import ENTRY, KERNEL


@njit(**KERNEL)
def gram_padded_rows(n):
    return (n + GRAM_TILE - 1) // GRAM_TILE * GRAM_TILE


@njit(**KERNEL)
def gram_block_columns(n):
    return max(64, GRAM_BLOCK_BYTES // (8 * gram_padded_rows(n)) // 64 * 64)


@njit(**KERNEL)
def load_centred(rows, r, scale, lo, hi, b):
    """b[i m + q] = (x_i,lo+q - x_r,lo+q) * scale; padded rows zero."""
    m = hi - lo
    n = len(rows)
    ref = rows[r]
    for i in range(n):
        xi = rows[i]
        for q in range(m):
            b[i * m + q] = (np.float64(xi[lo + q]) - np.float64(ref[lo + q])) * scale
    b[n * m : gram_padded_rows(n) * m] = 0.0


@njit(**KERNEL, fastmath={"reassoc", "contract"})
def add_gram(b, np_, m, G):
    """Add b b^T into G (np_ x np_, upper triangle by tiles of GRAM_TILE = 4 rows).

    The one loop of the mirror whose order of additions is not the core's: each tile is
    16 scalar sums, which LLVM may split into vector lanes (``reassoc``; the core fixes
    GRAM_LANES lanes on its own vector type). Numba has no vector accumulators, and the
    lane-array form of the core runs ten times slower here. G only steers the solve: the
    exact passes that follow certify the answer, whatever G's last bits.
    """
    for i0 in range(0, np_, 4):
        r0 = b[i0 * m : (i0 + 1) * m]
        r1 = b[(i0 + 1) * m : (i0 + 2) * m]
        r2 = b[(i0 + 2) * m : (i0 + 3) * m]
        r3 = b[(i0 + 3) * m : (i0 + 4) * m]
        for k0 in range(i0, np_, 4):
            c0 = b[k0 * m : (k0 + 1) * m]
            c1 = b[(k0 + 1) * m : (k0 + 2) * m]
            c2 = b[(k0 + 2) * m : (k0 + 3) * m]
            c3 = b[(k0 + 3) * m : (k0 + 4) * m]
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0.0
            a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = 0.0
            for q in range(m):
                x0, x1, x2, x3 = r0[q], r1[q], r2[q], r3[q]
                y0, y1, y2, y3 = c0[q], c1[q], c2[q], c3[q]
                a00 += x0 * y0
                a01 += x0 * y1
                a02 += x0 * y2
                a03 += x0 * y3
                a10 += x1 * y0
                a11 += x1 * y1
                a12 += x1 * y2
                a13 += x1 * y3
                a20 += x2 * y0
                a21 += x2 * y1
                a22 += x2 * y2
                a23 += x2 * y3
                a30 += x3 * y0
                a31 += x3 * y1
                a32 += x3 * y2
                a33 += x3 * y3
            g = i0 * np_ + k0
            G[g] += a00
            G[g + 1] += a01
            G[g + 2] += a02
            G[g + 3] += a03
            G[g + np_] += a10
            G[g + np_ + 1] += a11
            G[g + np_ + 2] += a12
            G[g + np_ + 3] += a13
            G[g + 2 * np_] += a20
            G[g + 2 * np_ + 1] += a21
            G[g + 2 * np_ + 2] += a22
            G[g + 2 * np_ + 3] += a23
            G[g + 3 * np_] += a30
            G[g + 3 * np_ + 1] += a31
            G[g + 3 * np_ + 2] += a32
            G[g + 3 * np_ + 3] += a33


@njit(**KERNEL)
def convex_offset(b, n, m, a, off):
    """Set ``off = a . b`` on one block of b = x - x_r (unscaled): y - x_r, unrounded."""
    off[:m] = 0.0
    for i in range(n):
        ai = a[i]
        for q in range(m):
            off[q] += ai * b[i * m + q]


@njit(**KERNEL)
def load_offset(rows, r, lo, hi, a, b, off):
    """load_centred (scale 1) and convex_offset in one sweep, the same additions in order."""
    m = hi - lo
    n = len(rows)
    ref = rows[r]
    off[:m] = 0.0
    for i in range(n):
        xi = rows[i]
        ai = a[i]
        for q in range(m):
            v = np.float64(xi[lo + q]) - np.float64(ref[lo + q])
            b[i * m + q] = v
            off[q] += ai * v
    b[n * m : gram_padded_rows(n) * m] = 0.0


@njit(**KERNEL)
def certified_offset(b, n, m, a, vertex, rounded, y, ref, lo, off):
    """Set ``off``: the certified point's offset from the reference row (gram_pass.hpp).

    ``rounded``: y is float32 (C++ decides it from the dtype at compile time).
    """
    if vertex >= 0:
        off[:m] = b[vertex * m : vertex * m + m]
    elif rounded:
        for q in range(m):
            off[q] = np.float64(y[q]) - np.float64(ref[lo + q])
    else:
        convex_offset(b, n, m, a, off)


@njit(**KERNEL)
def distance_squared(u, v, m, s):
    """Return sum_q ((u_q - v_q) s)^2 in GRAM_LANES = 4 partial sums, as the core adds them."""
    a0 = a1 = a2 = a3 = 0.0
    mv = m // 4 * 4
    for q in range(0, mv, 4):
        e0 = (u[q] - v[q]) * s
        e1 = (u[q + 1] - v[q + 1]) * s
        e2 = (u[q + 2] - v[q + 2]) * s
        e3 = (u[q + 3] - v[q + 3]) * s
        a0 += e0 * e0
        a1 += e1 * e1
        a2 += e2 * e2
        a3 += e3 * e3
    g = 0.0 + a0 + a1 + a2 + a3
    for q in range(mv, m):
        e = (u[q] - v[q]) * s
        g += e * e
    return g


@njit(**KERNEL)
def dot(u, v, m):
    """Return sum_q u_q v_q in GRAM_LANES = 4 partial sums, as the core adds them."""
    a0 = a1 = a2 = a3 = 0.0
    mv = m // 4 * 4
    for q in range(0, mv, 4):
        a0 += u[q] * v[q]
        a1 += u[q + 1] * v[q + 1]
        a2 += u[q + 2] * v[q + 2]
        a3 += u[q + 3] * v[q + 3]
    g = 0.0 + a0 + a1 + a2 + a3
    for q in range(mv, m):
        g += u[q] * v[q]
    return g


@njit(**KERNEL)
def gram_block(rows, r, s, lo, hi, b, G):
    load_centred(rows, r, s, lo, hi, b)
    add_gram(b, gram_padded_rows(len(rows)), hi - lo, G)


@njit(**KERNEL)
def median_block(rows, r, s, a, vertex, rounded, lo, hi, b, off, y, d2):
    n = len(rows)
    m = hi - lo
    ref = rows[r]
    if vertex >= 0:
        load_centred(rows, r, 1.0, lo, hi, b)
        xv = rows[vertex]
        for q in range(m):
            y[q] = xv[lo + q]
        off[:m] = b[vertex * m : vertex * m + m]
    else:
        load_offset(rows, r, lo, hi, a, b, off)
        for q in range(m):
            y[q] = np.float64(ref[lo + q]) + off[q]
        if rounded:
            certified_offset(b, n, m, a, vertex, rounded, y, ref, lo, off)
    for i in range(n):
        d2[i] += distance_squared(b[i * m : i * m + m], off, m, s)


@njit(**KERNEL)
def certificate_block(rows, r, a, vertex, rounded, y, t, ws, lo, hi, b, off, R, M, rr_rm):
    n = len(rows)
    m = hi - lo
    if vertex < 0 and not rounded:
        load_offset(rows, r, lo, hi, a, b, off)  # certified_offset's a . b, in the same sweep
    else:
        load_centred(rows, r, 1.0, lo, hi, b)
        certified_offset(b, n, m, a, vertex, rounded, y, rows[r], lo, off)
    R[:m] = 0.0
    M[:m] = 0.0
    for i in range(n):
        ti = t[i]
        wi = ws[i]
        for q in range(m):
            e = b[i * m + q] - off[q]
            R[q] += ti * e
            M[q] += wi * e
    rr_rm[0] += dot(R, R, m)
    rr_rm[1] += dot(R, M, m)


@njit(**KERNEL)
def stripe_blocks(k, d, mc):
    """Return the blocks [first, last) of stripe k."""
    nb = (d + mc - 1) // mc
    return k * nb // GRAM_STRIPES, (k + 1) * nb // GRAM_STRIPES


@njit(**ENTRY, parallel=True)
def gram_pass(rows, r, s, G):
    """G (n x n) = X_c X_c^T, X_c = (X - x_r) s: one read of the rows."""
    n = len(rows)
    d = rows[0].shape[0]
    np_ = gram_padded_rows(n)
    mc = gram_block_columns(n)
    parts = np.zeros((GRAM_STRIPES, np_ * np_))
    for k in prange(GRAM_STRIPES):
        b = np.empty(np_ * mc)
        first, last = stripe_blocks(k, d, mc)
        for blk in range(first, last):
            lo = blk * mc
            gram_block(rows, r, s, lo, min(d, lo + mc), b, parts[k])
    total = parts[0].copy()
    for k in range(1, GRAM_STRIPES):
        total += parts[k]
    for i in range(n):
        for k in range(i, n):
            G[i, k] = G[k, i] = total[i * np_ + k]


@njit(**ENTRY, parallel=True)
def gram_median_pass(rows, r, s, a, vertex, rounded, y, d2):
    """Set y = x_r + a (X - x_r) in y's dtype (row ``vertex`` itself if >= 0), and d2."""
    n = len(rows)
    d = rows[0].shape[0]
    mc = gram_block_columns(n)
    parts = np.zeros((GRAM_STRIPES, n))
    for k in prange(GRAM_STRIPES):
        b = np.empty(gram_padded_rows(n) * mc)
        off = np.empty(mc)
        first, last = stripe_blocks(k, d, mc)
        for blk in range(first, last):
            lo = blk * mc
            hi = min(d, lo + mc)
            median_block(rows, r, s, a, vertex, rounded, lo, hi, b, off, y[lo:hi], parts[k])
    d2[:] = parts[0]
    for k in range(1, GRAM_STRIPES):
        d2 += parts[k]


@njit(**ENTRY, parallel=True)
def gram_certificate_pass(rows, r, s, a, vertex, rounded, y, t, ws, out):
    """Set out = (||R||^2 s^2, R . M s), R = sum t_i (x_i - y), M = sum ws_i (x_i - y)."""
    n = len(rows)
    d = rows[0].shape[0]
    mc = gram_block_columns(n)
    parts = np.zeros((GRAM_STRIPES, 2))
    for k in prange(GRAM_STRIPES):
        b = np.empty(gram_padded_rows(n) * mc)
        off = np.empty(mc)
        R = np.empty(mc)
        M = np.empty(mc)
        first, last = stripe_blocks(k, d, mc)
        for blk in range(first, last):
            lo = blk * mc
            hi = min(d, lo + mc)
            certificate_block(
                rows, r, a, vertex, rounded, y[lo:hi], t, ws, lo, hi, b, off, R, M, parts[k]
            )
    rr = 0.0
    rm = 0.0
    for k in range(GRAM_STRIPES):
        rr += parts[k, 0]
        rm += parts[k, 1]
    out[0] = rr * s * s
    out[1] = rm * s
