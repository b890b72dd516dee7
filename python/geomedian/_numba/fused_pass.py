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

d_i and w_i / d_i come from a square root and a division here; the compiled pass on
AVX-512 forms them from a reciprocal square root refined to 5 ulp instead, at every d
(``fused_pass_rsqrt.cpp``), within the same rounding allowance of the certificate.

Rows of d <= 4 are where the two sides differ in form. C++ puts row i into lane i mod L of
sum arrays held in registers (``short_rows``); LLVM as Numba drives it does not vectorise
a loop that updates such arrays, and that pass ran scalar. Here each block of
BLOCK_ROWS rows is summed by scalar reductions, which LLVM vectorises across the rows
(``short_block``): no accumulator sums more than BLOCK_ROWS rows on either side, so both
meet the certificate's error bound; the bits differ, as they already do where C++ takes
the reciprocal square root.
"""

import math

import numpy as np
from numba import njit

from .._contract import (
    BLOCK_ROWS,
    BUFFERED_ROW_MAX,
    LONG_ROW_BLOCK_BYTES,
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
from .jit_options import ENTRY, KERNEL

# Reassociation lets LLVM vectorise the reductions; no finite-math flags, which would
# break the NaN checks and the coincidence selects (same reasoning as -fno-math-errno only).
HOT_LOOP_MATH = {"reassoc", "contract"}
# error_model="numpy": a division by zero gives inf / NaN instead of raising, so the loops
# carry no zero test (which keeps them scalar); the divisions divide by max(d_i, eps) > 0.
HOT_KERNEL = {**KERNEL, "fastmath": HOT_LOOP_MATH, "error_model": "numpy"}


@njit(**ENTRY)
def sums_size(d):
    return SLOT_HEAD + 2 * d


@njit(**KERNEL)
def moments_size(d):
    return MOMENT_HEAD + d


# The scalar sums in the order of C++'s ScalarSums (max_term apart): rows of the lane and
# group arrays below.
S_F, S_INV, S_ETA, S_FC, S_WF, S_FN, N_SCALAR = range(7)


# Compensated summation (C++: add_compensated): s + c holds the running sum, c the exact
# rounding error of every addition into s (TwoSum). Compiled without reassociation, which
# would simplify the error term to 0, and not inlined by Numba (which would compile it
# with the caller's flags): LLVM inlines it with its own instruction flags.
@njit(**KERNEL)
def add_compensated(s, c, b):
    """Return (s + b, c plus the rounding error of s + b)."""
    t = s + b
    bb = t - s
    return t, c + ((s - (t - bb)) + (b - bb))


@njit(**KERNEL)
def compensated_total(s, c):
    """Return s + c rounded once (s itself once it overflowed)."""
    return s + c if math.isfinite(s) else s


@njit(**KERNEL)
def add_block_vector(total, err, b):
    """Add each entry of b into total/err with compensation, then clear b."""
    for k in range(b.shape[0]):
        total[k], err[k] = add_compensated(total[k], err[k], b[k])
        b[k] = 0.0


@njit(**KERNEL, fastmath=HOT_LOOP_MATH, inline="always")
def row_terms(d2, wi, eps, near):
    """Return (d_i, w_i / d_i or 0 on the iterate, w_i on the iterate or 0, 1 if far or 0)."""
    dist = math.sqrt(d2)
    on = 1.0 if dist <= eps else 0.0
    far = 1.0 if dist > near else 0.0
    # Arithmetic instead of branches, and never a division by zero.
    return dist, (1.0 - on) * wi / max(dist, eps), on * wi, far


@njit(**KERNEL, fastmath=HOT_LOOP_MATH, inline="always")
def add_row_terms(acc, d2, wi, eps, near):
    """Return (t_i, acc with row i's terms added).

    acc: the scalar sums S_F ... S_FN, then max_term's bits (float_bits), as a tuple that
    the loops carry in registers.
    """
    dist, t, on, far = row_terms(d2, wi, eps, near)
    f, inv, eta, fc, wf, fn, mt_bits = acc
    return t, (
        f + wi * dist,
        inv + t,
        eta + on,
        fc + on * dist,
        wf + far * wi,
        fn + (1.0 - far) * wi * dist,
        max(as_bits(t), mt_bits),
    )


@njit(**KERNEL, inline="always")
def no_terms(mt_bits):
    """Return add_row_terms' accumulators before the first row of a block."""
    return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, mt_bits)


@njit(**KERNEL, inline="always")
def add_scalar_sums(sb, acc):
    """Add a block's scalar sums (add_row_terms' acc) into sb; return max_term's bits."""
    sb[S_F] += acc[0]
    sb[S_INV] += acc[1]
    sb[S_ETA] += acc[2]
    sb[S_FC] += acc[3]
    sb[S_WF] += acc[4]
    sb[S_FN] += acc[5]
    return acc[6]


@njit(**KERNEL)
def block_rows_for(d):
    """Rows per block up to BUFFERED_ROW_MAX: an 8 KiB buffer of centred rows."""
    return max(1, min(BLOCK_ROWS, 1024 // d))


@njit(**KERNEL)
def long_block_rows(d, itemsize):
    """Rows per block beyond BUFFERED_ROW_MAX: about LONG_ROW_BLOCK_BYTES of rows, at least 4.

    Such rows keep no buffer: r is formed again from the block's rows, still in cache
    (``row_distance2``, ``block_accumulate``).
    """
    return min(BLOCK_ROWS, max(4, LONG_ROW_BLOCK_BYTES // (d * itemsize) // 4 * 4))


@njit(**KERNEL)
def store_scalars(out, total, err, mt_bits):
    """Write the scalar slots of out from their compensated sums (C++: ScalarSums::store).

    max_term comes as bits.
    """
    out[SLOT_F] = compensated_total(total[S_F], err[S_F])
    out[SLOT_INV] = compensated_total(total[S_INV], err[S_INV])
    out[SLOT_ETA] = compensated_total(total[S_ETA], err[S_ETA])
    out[SLOT_F_COINC] = compensated_total(total[S_FC], err[S_FC])
    out[SLOT_MAX_TERM] = from_bits(mt_bits)
    out[SLOT_W_FAR] = compensated_total(total[S_WF], err[S_WF])
    out[SLOT_F_NEAR] = compensated_total(total[S_FN], err[S_FN])


@njit(**HOT_KERNEL, inline="always")
def row_center(xi, c, s, z, rb):
    """Write r = (x_i - c) s - z into rb and return its squared length (xi: one row).

    In segments of BLOCK_ROWS coordinates added with compensation, as C++ sums a row of
    run-time length.
    """
    d = xi.shape[0]
    total = 0.0
    err = 0.0
    for j0 in range(0, d, BLOCK_ROWS):
        m = min(d - j0, BLOCK_ROWS)
        # Views from the segment's start: an index counting up from 0 is one LLVM knows
        # needs no negative-index wrap, so the loop vectorises (fused_pass says why).
        xs, cs, zs, rs = xi[j0 : j0 + m], c[j0 : j0 + m], z[j0 : j0 + m], rb[j0 : j0 + m]
        a = 0.0
        for j in range(m):
            rs[j] = (xs[j] - cs[j]) * s - zs[j]
            a += rs[j] * rs[j]
        total, err = add_compensated(total, err, a)
    return compensated_total(total, err)


@njit(**HOT_KERNEL, inline="always")
def row_distance2(xi, c, s, z):
    """row_center's squared length without storing r: the same segments and operations."""
    d = xi.shape[0]
    total = 0.0
    err = 0.0
    for j0 in range(0, d, BLOCK_ROWS):
        m = min(d - j0, BLOCK_ROWS)
        xs, cs, zs = xi[j0 : j0 + m], c[j0 : j0 + m], z[j0 : j0 + m]
        a = 0.0
        for j in range(m):
            r = (xs[j] - cs[j]) * s - zs[j]
            a += r * r
        total, err = add_compensated(total, err, a)
    return compensated_total(total, err)


# Without reassociation: each lane's squares and the lanes' pairwise total in C++'s order.
@njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
def center_lanes(xi, c, s, z, rb):
    """row_center for a row of 8, 12 or 16 coordinates (C++: block_center4).

    The squares are summed in four lanes (coordinate j into lane j mod 4, in order of j),
    then the lanes pairwise: (l0 + l1) + (l2 + l3).
    """
    d = xi.shape[0]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for j in range(0, d, 4):
        r0 = (xi[j] - c[j]) * s - z[j]
        r1 = (xi[j + 1] - c[j + 1]) * s - z[j + 1]
        r2 = (xi[j + 2] - c[j + 2]) * s - z[j + 2]
        r3 = (xi[j + 3] - c[j + 3]) * s - z[j + 3]
        rb[j] = r0
        rb[j + 1] = r1
        rb[j + 2] = r2
        rb[j + 3] = r3
        a0 += r0 * r0
        a1 += r1 * r1
        a2 += r2 * r2
        a3 += r3 * r3
    return (a0 + a1) + (a2 + a3)


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
def block_terms(d2, wb, m, eps, near, t, sb, mt_bits):
    """Per-row terms of a block into t, its scalar sums added to the group's sb; return mt.

    The maximum runs on bit patterns (float_bits), the only form LLVM vectorises.
    """
    acc = no_terms(mt_bits)
    for k in range(m):
        t[k], acc = add_row_terms(acc, d2[k], wb[k], eps, near)
    return add_scalar_sums(sb, acc)


@njit(**KERNEL, fastmath={"contract"}, inline="always")
def row_value(rows, o, j, centred, c, s, z):
    """r_j of the row at offset o of a block.

    From the buffer of centred rows, or formed again from the rows exactly as
    row_distance2 formed it (``centred``: rows longer than BUFFERED_ROW_MAX).
    """
    if centred:
        return (rows[o + j] - c[j]) * s - z[j]
    return rows[o + j]


# Without reassociation: the four rows below are added in row order, as a row at a time
# would add them (with it, LLVM vectorises across the rows instead, through gathers).
@njit(**KERNEL, fastmath={"contract"}, error_model="numpy")
def block_accumulate(rows, centred, c, s, z, t, wb, m, d, R, M):
    """R += t r and M += w r for the m rows of a block, in row order (see row_value).

    C++ writes the two sources as two functions, block_accumulate (the buffer) and
    block_accumulate_rows (``centred``).

    C++ keeps R and M in registers where d is a compile-time constant (up to 16), and
    calls this for run-time lengths. Numba knows d only at run time, so R and M live in
    memory, and one row at a time waits on the previous row's stores to R and M; four
    rows per sweep wait a quarter as often and add the same terms in the same order.
    """
    k = 0
    while k + 4 <= m:
        o0 = k * d
        o1 = o0 + d
        o2 = o1 + d
        o3 = o2 + d
        t0, t1, t2, t3 = t[k], t[k + 1], t[k + 2], t[k + 3]
        w0, w1, w2, w3 = wb[k], wb[k + 1], wb[k + 2], wb[k + 3]
        for j in range(d):
            r0 = row_value(rows, o0, j, centred, c, s, z)
            r1 = row_value(rows, o1, j, centred, c, s, z)
            r2 = row_value(rows, o2, j, centred, c, s, z)
            r3 = row_value(rows, o3, j, centred, c, s, z)
            R[j] = R[j] + t0 * r0 + t1 * r1 + t2 * r2 + t3 * r3
            M[j] = M[j] + w0 * r0 + w1 * r1 + w2 * r2 + w3 * r3
        k += 4
    while k < m:
        o = k * d
        tk, wk = t[k], wb[k]
        for j in range(d):
            r = row_value(rows, o, j, centred, c, s, z)
            R[j] += tk * r
            M[j] += wk * r
        k += 1


@njit(**HOT_KERNEL, inline="always")
def short_block(xb, D, wb, wscale, m, c, s, z, eps, near, b, mt_bits):
    """Add the sums of the m <= BLOCK_ROWS rows of xb (1 <= D <= 4) into b; return max_term bits.

    Every sum is a scalar reduction over the block (``b`` in ``sums_size`` order from the
    scalar sums on: those, then R, then M), which LLVM vectorises across the rows under
    reassociation. Coordinates beyond D are folded away (D is a literal here).
    """
    weighted = wb.shape[0] > 0
    c0, z0 = c[0], z[0]
    c1, z1 = (c[1], z[1]) if D > 1 else (0.0, 0.0)
    c2, z2 = (c[2], z[2]) if D > 2 else (0.0, 0.0)
    c3, z3 = (c[3], z[3]) if D > 3 else (0.0, 0.0)
    acc = no_terms(mt_bits)
    R0 = R1 = R2 = R3 = M0 = M1 = M2 = M3 = 0.0
    r1 = r2 = r3 = 0.0
    for i in range(m):
        wi = wb[i] * wscale if weighted else 1.0
        r0 = (xb[i * D] - c0) * s - z0
        d2 = r0 * r0
        if D > 1:
            r1 = (xb[i * D + 1] - c1) * s - z1
            d2 += r1 * r1
        if D > 2:
            r2 = (xb[i * D + 2] - c2) * s - z2
            d2 += r2 * r2
        if D > 3:
            r3 = (xb[i * D + 3] - c3) * s - z3
            d2 += r3 * r3
        t, acc = add_row_terms(acc, d2, wi, eps, near)
        R0 += t * r0
        M0 += wi * r0
        if D > 1:
            R1 += t * r1
            M1 += wi * r1
        if D > 2:
            R2 += t * r2
            M2 += wi * r2
        if D > 3:
            R3 += t * r3
            M3 += wi * r3
    mt_bits = add_scalar_sums(b, acc)
    R = (R0, R1, R2, R3)
    M = (M0, M1, M2, M3)
    for j in range(D):
        b[N_SCALAR + j] += R[j]
        b[N_SCALAR + D + j] += M[j]
    return mt_bits


@njit(**HOT_KERNEL, inline="always")
def short_rows(x, D, w, wscale, m, c, s, z, eps, near, out):
    """Sum rows for 1 <= d <= 4 (C++: short_rows), block by block of BLOCK_ROWS rows.

    D must be a literal at the call (Numba inlines this function), so that, as for the
    C++ template, row i is x[i D], ..., x[i D + D - 1] with the stride known. Each block's
    sums (short_block; the module docstring says why blocks, not lanes) are added with
    compensation, in block order.
    """
    nv = N_SCALAR + 2 * D
    b = np.zeros(nv)
    total = np.zeros(nv)
    err = np.zeros(nv)
    mt = 0  # bits of max_term (float_bits)
    weighted = w.shape[0] > 0
    for b0 in range(0, m, BLOCK_ROWS):
        b1 = min(m, b0 + BLOCK_ROWS)
        wb = w[b0:b1] if weighted else w
        mt = short_block(x[b0 * D : b1 * D], D, wb, wscale, b1 - b0, c, s, z, eps, near, b, mt)
        add_block_vector(total, err, b)
    store_scalars(out, total, err, mt)
    for k in range(2 * D):
        out[SLOT_HEAD + k] = compensated_total(total[N_SCALAR + k], err[N_SCALAR + k])


@njit(**HOT_KERNEL)
def fused_pass_blocks(x, d, w, wscale, m, c, s, z, eps, near, out):
    """Sum rows for d > 4 in blocks of rows, as in C++.

    Up to BUFFERED_ROW_MAX coordinates each row is centred once into a buffer (with its
    squared length), then the per-row terms are taken across the block, then R and M from
    the buffer; longer rows are centred again from the block's rows. Whole blocks, at most
    BLOCK_ROWS rows, are summed from fresh accumulators (the group's), then added with
    compensation. C++ keeps both shapes in one template (fused_pass_rows); here the
    small-d one is inlined once per literal d and this one is compiled once.
    """
    weighted = w.shape[0] > 0
    # The group's R and M (2 d entries), then their compensated sums, then the errors.
    rm = np.zeros(6 * d)
    R = rm[:d]
    M = rm[d : 2 * d]
    buffered = d <= BUFFERED_ROW_MAX
    brows = block_rows_for(d) if buffered else long_block_rows(d, x.itemsize)
    group_rows = BLOCK_ROWS // brows * brows
    rbuf = np.empty(brows * d if buffered else 0)
    # Rows shorter than an AVX-512 register of float64 leave the loop of row_center scalar,
    # one short loop per row: such blocks are centred in one flat loop against c and z
    # repeated per row (C++ needs neither: its row length is a compile-time constant).
    short = d < 8
    # Row lengths that C++ sums in four lanes: compile-time lengths that are a multiple of 4.
    in_lanes = d <= 16 and d % 4 == 0
    ct = np.empty(brows * d if short else 0)
    zt = np.empty(brows * d if short else 0)
    if short:
        for k in range(brows):
            # Element by element, as parallel.parallel_moments says why.
            for j in range(d):
                ct[k * d + j] = c[j]
                zt[k * d + j] = z[j]
    d2 = np.empty(brows)
    t = np.empty(brows)
    wb = np.ones(brows)
    sb = np.zeros(N_SCALAR)  # the group's scalar sums
    total = np.zeros(N_SCALAR)
    err = np.zeros(N_SCALAR)
    mt = 0  # bits of max_term (float_bits)
    pending = 0
    for b0 in range(0, m, brows):
        mb = min(brows, m - b0)
        xb = x[b0 * d : (b0 + mb) * d]
        if short:
            block_center(xb, ct, s, zt, rbuf)
            for k in range(mb):
                d2[k] = row_norm2(rbuf[k * d : k * d + d])
        elif in_lanes:
            for k in range(mb):
                d2[k] = center_lanes(xb[k * d : k * d + d], c, s, z, rbuf[k * d : k * d + d])
        elif buffered:
            for k in range(mb):
                d2[k] = row_center(xb[k * d : k * d + d], c, s, z, rbuf[k * d : k * d + d])
        else:
            for k in range(mb):
                d2[k] = row_distance2(xb[k * d : k * d + d], c, s, z)
        if weighted:
            block_weights(w[b0 : b0 + mb], wscale, wb)
        mt = block_terms(d2, wb, mb, eps, near, t, sb, mt)
        if buffered:
            block_accumulate(rbuf, False, c, s, z, t, wb, mb, d, R, M)
        else:
            block_accumulate(xb, True, c, s, z, t, wb, mb, d, R, M)
        pending += mb
        if pending == group_rows or b0 + mb == m:
            add_block_vector(total, err, sb)
            add_block_vector(rm[2 * d : 4 * d], rm[4 * d :], rm[: 2 * d])
            pending = 0
    store_scalars(out, total, err, mt)
    for k in range(2 * d):
        out[SLOT_HEAD + k] = compensated_total(rm[2 * d + k], rm[4 * d + k])


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
        short_rows(xs, 1, ws, wscale, m, c, s, z, eps, near, out)
    elif d == 2:
        short_rows(xs, 2, ws, wscale, m, c, s, z, eps, near, out)
    elif d == 3:
        short_rows(xs, 3, ws, wscale, m, c, s, z, eps, near, out)
    elif d == 4:
        short_rows(xs, 4, ws, wscale, m, c, s, z, eps, near, out)
    else:
        fused_pass_blocks(xs, d, ws, wscale, m, c, s, z, eps, near, out)


@njit(**HOT_KERNEL, inline="always")
def short_moments(xs, D, ws, wscale, m, x0, out):
    """Moments of 1 <= D <= 4 coordinates (a literal): scalar reductions, as in C++."""
    weighted = ws.shape[0] > 0
    W = bad = S0 = S1 = S2 = S3 = 0.0
    spread = 0  # bits of the half spread (float_bits: |h| >= +0)
    for i in range(m):
        wi = ws[i] * wscale if weighted else 1.0
        W += wi
        for j in range(D):
            v = xs[i * D + j]
            bad += 0.0 if math.isfinite(v) else 1.0
            h = 0.5 * v - 0.5 * x0[j]
            spread = max(as_bits(abs(h)), spread)
            if j == 0:
                S0 += wi * h
            elif j == 1:
                S1 += wi * h
            elif j == 2:
                S2 += wi * h
            else:
                S3 += wi * h
    S = (S0, S1, S2, S3)
    for j in range(D):
        out[MOMENT_HEAD + j] = S[j]
    out[MOMENT_WEIGHT] = W
    out[MOMENT_NONFINITE] = bad
    out[MOMENT_HALF_SPREAD] = from_bits(spread)


@njit(**HOT_KERNEL, inline="always")
def long_moments(xs, d, ws, wscale, m, x0, out):
    """Moments of rows of d > 4 coordinates, a row at a time."""
    weighted = ws.shape[0] > 0
    W = 0.0
    bad = 0.0
    spread = 0  # bits of the half spread (float_bits: |h| >= +0)
    S = out[MOMENT_HEAD : MOMENT_HEAD + d]
    for j in range(d):
        S[j] = 0.0
    for i in range(m):
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


@njit(**HOT_KERNEL)
def moments(x, d, w, wscale, lo, hi, x0, out):
    """Moments of rows [lo, hi) of the flat points x (as fused_pass) into out."""
    xs = x[lo * d : hi * d]
    weighted = w.shape[0] > 0
    ws = w[lo:hi] if weighted else w
    m = hi - lo
    if d == 1:
        short_moments(xs, 1, ws, wscale, m, x0, out)
    elif d == 2:
        short_moments(xs, 2, ws, wscale, m, x0, out)
    elif d == 3:
        short_moments(xs, 3, ws, wscale, m, x0, out)
    elif d == 4:
        short_moments(xs, 4, ws, wscale, m, x0, out)
    else:
        long_moments(xs, d, ws, wscale, m, x0, out)


@njit(**KERNEL)
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
