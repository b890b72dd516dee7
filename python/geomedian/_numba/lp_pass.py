"""Mirror of ``csrc/geomedian/lp_pass.hpp``: one pass of the Lp median, ``1 < p < inf``.

The sums the Lp Newton step and its certificate need at the iterate ``y``, in one read of
the points (slots ``LP_*`` of the contract; the formulas are written out in
``geomedian._lp.newton``). Lanes of ``LP_LANES`` rows, blocks of ``BLOCK_ROWS`` rows per
lane's accumulator, block totals added with compensation, the lanes in lane order, fixed
chunks in chunk order: the C++ kernel's additions, in its order, so the same bits.
"""

import math
import sys

import numpy as np
from numba import njit, prange

from .._contract import (
    BLOCK_ROWS,
    LP_A,
    LP_CURVATURE,
    LP_ETA,
    LP_EXCESS,
    LP_EXP2_E1,
    LP_EXP2_E2,
    LP_EXP2_E3,
    LP_EXP2_E4,
    LP_EXP2_E5,
    LP_EXP2_E6,
    LP_EXP2_E7,
    LP_EXP2_E8,
    LP_EXP2_E9,
    LP_EXP2_E10,
    LP_EXP2_E11,
    LP_F,
    LP_F_NEAR,
    LP_FLOOR,
    LP_HEAD,
    LP_ICBRT_C0,
    LP_ICBRT_C1,
    LP_ICBRT_C2,
    LP_INTEGER_MAX,
    LP_LANES,
    LP_LOG2_C0,
    LP_LOG2_C1,
    LP_LOG2_C2,
    LP_LOG2_C3,
    LP_LOG2_C4,
    LP_LOG2_C5,
    LP_LOG2_C6,
    LP_LOG2_C7,
    LP_LOG2_C8,
    LP_LOG2_C9,
    LP_LOG2_C10,
    LP_LOG2_C11,
    LP_LOG2_C12,
    LP_LOG2_C13,
    LP_LOG2_C14,
    LP_LOG2_C15,
    LP_LOG2_C16,
    LP_LOG2_C17,
    LP_LOG2_C18,
    LP_LOG2_C19,
    LP_LOG2_C20,
    LP_LOG2_SPLIT,
    LP_NEAREST,
    LP_NEAREST_ROW,
    LP_POW_LIMIT,
    LP_POW_LOG_ULPS,
    LP_POW_ULPS,
    LP_POW_ZERO,
    LP_S,
    LP_W_NEAR,
    LP_WEIGHT,
)
from .float_bits import as_bits, from_bits
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
    """Return the kind of powers of p: 1 is p = 1.5, 2 is p = 3, 3 an integer p, 0 any other.

    Kind 3: an integer from 4 to ``LP_INTEGER_MAX``, its powers by squares; kind 0: pow_fast.
    """
    if 4.0 <= p <= LP_INTEGER_MAX and p == math.floor(p):
        return 3
    return 1 if p == 1.5 else (2 if p == 3.0 else 0)


@njit(**KERNEL)
def lp_power_cutoff(n):
    """Return the least v whose ``v^n`` is sure to be normal, a power of two: ``2^-(1022 // n)``."""
    return math.ldexp(1.0, -(1022 // n))


ROOT_FLOOR = 2.0**-13  # sqrt(LP_FLOOR), exactly
BOUNDED_Q = 512.0  # the largest q whose excess is bounded, not measured


# Inlined into callers of either error model: no division.
@njit(**KERNEL, inline="always")
def inverse_cube_root_unit(t):
    """Return ``t^(-1/3)`` for t in ``[1, 8)``: the guess, 2 cubic steps, 1 Newton step."""
    y = LP_ICBRT_C0 + t * (t * LP_ICBRT_C2 - LP_ICBRT_C1)
    for _ in range(2):
        e = 1.0 - t * y * y * y
        y = y + y * (e * (1.0 / 3.0 + e * (2.0 / 9.0)))
    e = 1.0 - t * y * y * y
    return y + y * (e * (1.0 / 3.0))


@njit(**ENTRY)
def inverse_cube_root(t, reductions):
    """Return ``t^(-1/3)`` (inverse_cube_roots of one value): divisions by 8, then the unit's."""
    scale = 1.0
    for _ in range(reductions):
        large = t >= 8.0
        t = t * 0.125 if large else t
        scale = scale * 0.5 if large else scale
    return inverse_cube_root_unit(t) * scale


MAGIC = 1.5 * 2.0**52  # y + MAGIC rounds y to an integer (|y| < 2^51)
MAGIC_BITS = int(np.float64(MAGIC).view(np.int64))
MAGIC_EXPONENT = MAGIC + 1023.0
SPLIT_BITS = int(np.float64(LP_LOG2_SPLIT).view(np.int64))
BIAS = 1023 << 52
SMALLEST_NORMAL = 2.0**-1022
LARGEST = sys.float_info.max


# Inlined into callers of either error model: no division.
@njit(**KERNEL, inline="always")
def pow_fast(a, b):
    """Return ``a^b`` (b > 0) as ``2^(b log2 a)``, NaN where the exact path must take it.

    pow_fast of ``lp_rows.inc`` but for its fallback (``settle_powers``): the exponent k of
    ``a = z 2^k`` and z from a's bits, ``log2 z = f P(f)`` (``f = z - 1``),
    ``y = b (k + f P(f))``, ``2^y = (1 + g R(g)) 2^n`` with n the integer nearest y and
    ``g = y - n``, ``2^n`` written as bits. Outside the proven range (a zero, subnormal,
    infinite or NaN; ``|y| > LP_POW_LIMIT``) NaN, or +0 for ``a = 0`` and for a normal ``a``
    with ``y < -LP_POW_ZERO`` (as pow gives them); those lanes go through a neutral
    ``a = 1``, so no integer overflows (Numba's are undefined).
    """
    normal = (a >= SMALLEST_NORMAL) & (a <= LARGEST)
    bits = as_bits(a if normal else 1.0)
    kb = (bits - SPLIT_BITS + BIAS) >> 52  # k + 1023
    z = from_bits(bits - (kb << 52) + BIAS)
    k = from_bits(kb + MAGIC_BITS) - MAGIC_EXPONENT
    f = z - 1.0
    P = LP_LOG2_C20
    P = LP_LOG2_C19 - f * P
    P = LP_LOG2_C18 - f * P
    P = LP_LOG2_C17 - f * P
    P = LP_LOG2_C16 - f * P
    P = LP_LOG2_C15 - f * P
    P = LP_LOG2_C14 - f * P
    P = LP_LOG2_C13 - f * P
    P = LP_LOG2_C12 - f * P
    P = LP_LOG2_C11 - f * P
    P = LP_LOG2_C10 - f * P
    P = LP_LOG2_C9 - f * P
    P = LP_LOG2_C8 - f * P
    P = LP_LOG2_C7 - f * P
    P = LP_LOG2_C6 - f * P
    P = LP_LOG2_C5 - f * P
    P = LP_LOG2_C4 - f * P
    P = LP_LOG2_C3 - f * P
    P = LP_LOG2_C2 - f * P
    P = LP_LOG2_C1 - f * P
    P = LP_LOG2_C0 - f * P
    y = b * (k + f * P)
    fast = normal & (y >= -LP_POW_LIMIT) & (y <= LP_POW_LIMIT)
    yy = y if fast else 0.0
    shifted = yy + MAGIC
    g = yy - (shifted - MAGIC)
    R = LP_EXP2_E11
    R = LP_EXP2_E10 + g * R
    R = LP_EXP2_E9 + g * R
    R = LP_EXP2_E8 + g * R
    R = LP_EXP2_E7 + g * R
    R = LP_EXP2_E6 + g * R
    R = LP_EXP2_E5 + g * R
    R = LP_EXP2_E4 + g * R
    R = LP_EXP2_E3 + g * R
    R = LP_EXP2_E2 + g * R
    R = LP_EXP2_E1 + g * R
    n = as_bits(shifted) - MAGIC_BITS  # the integer nearest y
    two_n = from_bits((n + 1023) << 52)
    if fast:
        return (1.0 + g * R) * two_n
    return 0.0 if a == 0.0 or (normal and y < -LP_POW_ZERO) else np.nan


@njit(**ENTRY)
def powers(a, b):
    """Return ``a^b`` of every entry of a (b > 0), as the Lp pass takes them (tests)."""
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = pow_fast(a[i], b)
        if out[i] != out[i]:
            out[i] = a[i] ** b
    return out


@njit(**ENTRY)
def cube_root_reductions(d):
    k = 1
    top = 8.0
    while top <= d:
        top *= 8.0
        k += 1
    return k


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


# Rows per tile: the rows' geometry is computed a tile at a time, each step one loop over
# the tile's rows (which LLVM vectorises: Numba's own vectoriser only takes whole loops),
# then its sums added row by row into the rows' lanes. A multiple of LP_LANES that divides
# a block of BLOCK_ROWS rows per lane.
TILE_ROWS = 128
# Rows of the tile's work array: big, its inverse, t, the inverse cube root's scale (the
# root, for other p), N and 1 / N, N and 1 / N of the shifted z (unused), an integer p's
# squares and their product (power_by_squares_rows), the signs; then z, the shifted z, a,
# s and an integer p's a^(p-2) (the Hessian's), d rows each.
W_BIG, W_INV, W_T, W_SCALE, W_N, W_IN, W_NS, W_INS, W_BASE, W_POWER, W_SIGN, W_HEAD = range(12)


@njit(**KERNEL)
def settle_powers(v, base, b, rows):
    """Return v with ``base^b`` (pow) where pow_fast left NaN: the exact path, rarely taken."""
    for r in range(rows):
        if v[r] != v[r]:
            v[r] = base[r] ** b
    return v


@njit(**KERNEL)
def p_roots(t, root, p, nr):
    """Write ``t[r]^(1/p)`` into root, rows ``r < nr``: pow_fast, pow where it left NaN."""
    b = 1.0 / p
    slow = False
    for r in range(nr):
        root[r] = pow_fast(t[r], b)
        slow |= root[r] != root[r]
    if slow:
        settle_powers(root, t, b, nr)


@njit(**KERNEL, error_model="numpy")
def lp_geometry_rows(z, nr, d, p, kind, reductions, a, s, work, nn, ni):
    """lp_geometry_rows of ``lp_rows.inc``, rows ``z[:, r]`` (``r < nr``): N into nn, 1 / N into ni.

    ``N = ||z||_p``; ``a = |z| / N`` and ``s = sign(z) a^(p-1)`` into a and s. For p = 3 and
    1.5 the root comes as ``c = t^(-1/3)`` of ``t = sum |r_j|^p`` (``r = z / max|z|``):
    ``1 / root`` is c (p = 3) or ``c^2`` (p = 1.5), and s of p = 1.5 is
    ``sign(r_j) sqrt|r_j| c``; any other p takes pow_fast (its exact fallback after each
    loop, where it left NaN) and ``s = sign(r_j) (|r_j|^p / |r_j|) (root / t)``. The same
    operations per row as the C++ kernel's per lane, in loops over the rows.
    """
    big = work[W_BIG]
    inv = work[W_INV]
    t = work[W_T]
    sc = work[W_SCALE]
    for r in range(nr):
        big[r] = 0.0
    for j in range(d):
        for r in range(nr):
            m = abs(z[j, r])
            big[r] = m if (m > big[r] or m != m) else big[r]
    for r in range(nr):
        inv[r] = 1.0 / (1.0 if big[r] == 0.0 else big[r])
        t[r] = 0.0
        sc[r] = 1.0
    if kind == 0:
        lp_powers_rows(nr, d, p, a, s, big, inv, t, sc, z, nn, ni)
        return
    if kind == 3:
        lp_integer_rows(nr, d, p, a, s, work[W_HEAD + 4 * d : W_HEAD + 5 * d], big, inv, t, sc,
                        z, nn, ni, work)  # fmt: skip
        return
    for j in range(d):
        for r in range(nr):
            a[j, r] = z[j, r] * inv[r]
            m = abs(a[j, r])
            if kind == 2:
                t[r] += m * m * m
            else:
                s[j, r] = math.sqrt(m)
                t[r] += m * s[j, r]
    for r in range(nr):  # ni: the scale 1 / big until the root's inverse comes
        ni[r] = inv[r]
        nn[r] = t[r]
        t[r] = 1.0 if big[r] == 0.0 else t[r]
    for _ in range(reductions):  # inverse_cube_roots' divisions by 8
        for r in range(nr):
            large = t[r] >= 8.0
            t[r] = t[r] * 0.125 if large else t[r]
            sc[r] = sc[r] * 0.5 if large else sc[r]
    for r in range(nr):
        c = inverse_cube_root_unit(t[r]) * sc[r]
        tr = nn[r]
        root = tr * c * c if kind == 2 else tr * c
        iv = c if kind == 2 else c * c
        inv[r] = iv
        t[r] = c
        ni[r] = ni[r] * iv
        nn[r] = 0.0 if big[r] == 0.0 else big[r] * root
    if kind == 1:
        for j in range(d):
            for r in range(nr):
                rv = a[j, r]
                sign = 1.0 if rv > 0.0 else (-1.0 if rv < 0.0 else 0.0)
                s[j, r] = sign * (s[j, r] * t[r])
    for j in range(d):
        for r in range(nr):
            rv = a[j, r]
            a[j, r] = abs(rv) * inv[r]
            if kind == 2:
                sign = 1.0 if rv > 0.0 else (-1.0 if rv < 0.0 else 0.0)
                s[j, r] = sign * (a[j, r] * a[j, r])


@njit(**KERNEL, error_model="numpy")
def lp_powers_rows(nr, d, p, a, s, big, inv, t, root, z, nn, ni):
    """lp_geometry_rows of p other than 1.5 and 3 (pow_fast), after big and its inverse.

    ``lp_powers_rows`` of ``lp_rows.inc``: all the terms ``m^p`` first, then all the roots,
    each a loop over the rows whose iterations are independent chains of multiplications
    and additions (the C++ kernel takes lp_pow_block vectors side by side in ``pow_rows``).
    """
    slow = False
    for j in range(d):
        for r in range(nr):
            a[j, r] = z[j, r] * inv[r]
            s[j, r] = pow_fast(abs(a[j, r]), p)  # m^p, kept in s until s comes
            slow |= s[j, r] != s[j, r]
    if slow:
        for j in range(d):
            settle_powers(s[j], np.abs(a[j]), p, nr)
    for j in range(d):
        for r in range(nr):
            t[r] += s[j, r]
    p_roots(t, root, p, nr)
    for r in range(nr):  # a^(p-1) = (m^p / m) root^(1-p), root^(1-p) = root / t
        zero = big[r] == 0.0
        rt = 1.0 if zero else root[r]
        inv[r] = 1.0 / rt
        t[r] = rt / (1.0 if zero else t[r])
        ni[r] = 1.0 / (1.0 if zero else big[r] * rt)
        nn[r] = 0.0 if zero else big[r] * rt
    for j in range(d):
        for r in range(nr):
            rv = a[j, r]
            m = abs(rv)
            a[j, r] = m * inv[r]
            sign = 1.0 if rv > 0.0 else (-1.0 if rv < 0.0 else 0.0)
            s[j, r] = sign * ((s[j, r] / (m if m > 0.0 else 1.0)) * t[r])


@njit(**KERNEL)
def power_by_squares_rows(v, n, cutoff, base, out, nr):
    """Write ``|v[r]|^n`` (n >= 1) into out, rows ``r < nr``: power_by_squares of ``lp_rows.inc``.

    The squares of ``|v|`` in turn, multiplied in where n has a bit, from the lowest;
    ``|v|`` below ``cutoff`` (``lp_power_cutoff``) as 0. Each step is a loop over the rows
    (which LLVM vectorises), as the C++ kernel takes each for a vector of rows.
    """
    for r in range(nr):
        m = abs(v[r])
        base[r] = 0.0 if m < cutoff else m
        out[r] = 1.0
    while True:
        if n & 1:
            for r in range(nr):
                out[r] = out[r] * base[r]
        n >>= 1
        if n == 0:
            return
        for r in range(nr):
            base[r] = base[r] * base[r]


@njit(**KERNEL, error_model="numpy")
def lp_integer_rows(nr, d, p, a, s, h, big, inv, t, root, z, nn, ni, work):
    """lp_geometry_rows of an integer p = n from 4 (kind 3), after big and its inverse.

    ``lp_integer_rows`` of ``lp_rows.inc``: the terms ``m^n`` by squares, the roots by
    pow_fast, ``a = m / root`` and ``s = sign(r_j) a^(n-2) a`` by squares of the computed a,
    whose ``a^(n-2)`` goes into h (the Hessian's, which the C++ kernel forms again).
    """
    n = int(p)
    cut_p = lp_power_cutoff(n)
    cut_h = lp_power_cutoff(n - 2)
    base, power, sign = work[W_BASE], work[W_POWER], work[W_SIGN]
    for j in range(d):
        for r in range(nr):
            a[j, r] = z[j, r] * inv[r]
        power_by_squares_rows(a[j], n, cut_p, base, power, nr)
        for r in range(nr):
            t[r] += power[r]
    p_roots(t, root, p, nr)
    for r in range(nr):  # inv: the scale 1 / big until 1 / root comes
        zero = big[r] == 0.0
        rt = 1.0 if zero else root[r]
        iv = 1.0 / rt
        ni[r] = inv[r] * iv
        inv[r] = iv
        nn[r] = 0.0 if zero else big[r] * rt
    for j in range(d):
        for r in range(nr):
            rv = a[j, r]
            sign[r] = 1.0 if rv > 0.0 else (-1.0 if rv < 0.0 else 0.0)
            a[j, r] = abs(rv) * inv[r]
        power_by_squares_rows(a[j], n - 2, cut_h, base, h[j], nr)
        for r in range(nr):
            s[j, r] = sign[r] * (h[j, r] * a[j, r])


@njit(**KERNEL, error_model="numpy")
def lp_tile(x, w, t0, nr, d, y, shift, near, p, q, kind, reductions, floor_h, work, blk,
            excess, nearest, nearest_row, closest, closest_x):
    """Rows ``t0 + r``, ``r < nr``, into lanes ``r % LP_LANES`` (t0 - lo: whole groups).

    lp_group of ``lp_rows.inc``, a tile at a time: the rows' geometry, then their sums.
    Slot k of lane l is ``blk[k * LP_LANES + l]``. A row of weight ``w_i <= 0`` adds
    nothing, and a row at y only its weight (the C++ kernel adds zeros there: the same bits,
    its sums never being -0).
    """
    L = LP_LANES
    g0 = LP_HEAD
    m0 = g0 + d
    b0 = m0 + d
    G0 = b0 + d
    h0 = G0 + d
    p0 = h0 + d
    c0 = p0 + d
    z = work[W_HEAD : W_HEAD + d]
    zs = work[W_HEAD + d : W_HEAD + 2 * d]
    a = work[W_HEAD + 2 * d : W_HEAD + 3 * d]
    sv = work[W_HEAD + 3 * d : W_HEAD + 4 * d]
    hv = work[W_HEAD + 4 * d : W_HEAD + 5 * d]  # kind 3: a^(p-2)
    weighted = w.shape[0] > 0
    for j in range(d):
        for r in range(nr):
            z[j, r] = y[j] - np.float64(x[(t0 + r) * d + j])
    lp_geometry_rows(z, nr, d, p, kind, reductions, a, sv, work, work[W_N], work[W_IN])
    if shift.shape[0] > 0:  # a and s at z + shift, N at z
        for j in range(d):
            for r in range(nr):
                zs[j, r] = z[j, r] + shift[j]
        lp_geometry_rows(zs, nr, d, p, kind, reductions, a, sv, work, work[W_NS], work[W_INS])
    nn = work[W_N]
    ni = work[W_IN]
    for r in range(nr):
        i = t0 + r
        ln = r % L
        wi = w[i] if weighted else 1.0
        if not wi > 0.0:
            continue
        N = nn[r]
        blk[LP_WEIGHT * L + ln] += wi
        for j in range(d):
            m = abs(z[j, r])
            xv = np.float64(x[i * d + j])
            if closer(m, xv, closest[j * L + ln], closest_x[j * L + ln]):
                closest[j * L + ln] = m
                closest_x[j * L + ln] = xv
        if N < nearest[ln]:
            nearest[ln] = N
            nearest_row[ln] = float(i)
        if N <= near:
            blk[LP_W_NEAR * L + ln] += wi
            blk[LP_F_NEAR * L + ln] += wi * N
        if N == 0.0:
            blk[LP_ETA * L + ln] += wi
            continue
        iN = ni[r]
        blk[LP_F * L + ln] += wi * N
        blk[LP_CURVATURE * L + ln] += wi * iN
        c = wi * (p - 1.0) * iN
        qs = 0.0
        for j in range(d):
            sj = sv[j, r]
            zj = z[j, r]
            aj = a[j, r]
            u = wi * sj
            wz = wi * zj
            uz = u * zj
            v = abs(sj)
            blk[LP_S * L + ln] += uz
            blk[LP_A * L + ln] += abs(uz)
            blk[(g0 + j) * L + ln] += u
            blk[(m0 + j) * L + ln] += wz
            blk[(b0 + j) * L + ln] += abs(wz)
            blk[(G0 + j) * L + ln] += abs(u)
            # p = 3: s = a^2 to one rounding, so v a is v^1.5 to half an ulp (no square root).
            if kind == 3:  # a^(p-2) by squares, as s took it; v a is v^q
                h = floor_h if aj < LP_FLOOR else hv[j, r]
                qs += v * aj
            elif kind == 2:
                h = max(aj, LP_FLOOR)
                qs += v * aj
            elif kind == 1:
                h = 1.0 / max(abs(sj), ROOT_FLOOR)
                qs += v * v * v
            else:  # a^(p-2) = |s| / a (floor_h below); ||s||_q is bounded a priori
                h = floor_h if aj < LP_FLOOR else v / aj  # up to BOUNDED_Q
                if q > BOUNDED_Q:
                    qs += v**q
            blk[(h0 + j) * L + ln] += c * h
            cs = c * sj
            base = (c0 + j * (j + 1) // 2) * L + ln
            for k in range(j + 1):
                blk[base + k * L] += cs * sv[k, r]
        # ||s_i||_q^q: the q-th root of the largest is taken once, at the end.
        if (kind != 0 or q > BOUNDED_Q) and excess[ln] < qs:
            excess[ln] = qs
        if p < 2.0:  # the pull N^(1-p) of a point whose z_j = 0 (p < 2 only)
            met = False
            for j in range(d):
                met = met or z[j, r] == 0.0
            if met:  # rare: pow only then
                pull = 1.0 / math.sqrt(N) if kind == 1 else N ** (1.0 - p)
                for j in range(d):
                    if z[j, r] == 0.0:
                        blk[(p0 + j) * L + ln] += wi * pull


@njit(**KERNEL)
def fold_block(blk, sum_, err, end):
    """Add the block's sums into the lanes' compensated totals; the block starts afresh."""
    for k in range(end * LP_LANES):
        sum_[k], err[k] = add_compensated(sum_[k], err[k], blk[k])
        blk[k] = 0.0


@njit(**KERNEL)
def finish_lanes(sum_, err, excess, nearest, nearest_row, closest, closest_x, d, out):
    """Write the lanes' totals into out: sums in lane order with compensation, extremes."""
    L = LP_LANES
    end = lp_additive_end(d)
    for k in range(end):
        ts = 0.0
        tc = 0.0
        for ln in range(L):
            ts, tc = add_compensated(ts, tc, sum_[k * L + ln])
            ts, tc = add_compensated(ts, tc, err[k * L + ln])
        out[k] = compensated_total(ts, tc)
    out[LP_EXCESS] = 0.0
    out[LP_NEAREST] = np.inf
    out[LP_NEAREST_ROW] = -1.0
    for j in range(d):
        out[end + j] = np.inf
        out[end + d + j] = 0.0
    for ln in range(L):
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
            if closer(closest[j * L + ln], closest_x[j * L + ln], out[end + j], out[end + d + j]):
                out[end + j] = closest[j * L + ln]
                out[end + d + j] = closest_x[j * L + ln]


@njit(**KERNEL, error_model="numpy")
def lp_rows(x, w, lo, hi, d, y, shift, near, p, out):
    """Write the sums of rows [lo, hi) of one problem (x: flat, n rows of d) at y into out.

    Row b + l of each group of ``LP_LANES`` rows goes to lane l; each lane's block of
    ``BLOCK_ROWS`` of its rows is added with compensation, the lanes at the end.
    """
    kind = lp_kind(p)
    q = p / (p - 1.0)
    reductions = cube_root_reductions(d)
    # a^(p-2), a floored (exactly a power of two, or 0, for an integer p)
    floor_h = LP_FLOOR ** (p - 2.0) if kind == 0 or kind == 3 else 0.0
    end = lp_additive_end(d)
    L = LP_LANES
    blk = np.zeros(end * L)
    sum_ = np.zeros(end * L)
    err = np.zeros(end * L)
    excess = np.zeros(L)
    nearest = np.full(L, np.inf)
    nearest_row = np.full(L, -1.0)
    closest = np.full(d * L, np.inf)
    closest_x = np.zeros(d * L)
    work = np.empty((W_HEAD + 5 * d, TILE_ROWS))
    full = lo + (hi - lo) // L * L
    group = BLOCK_ROWS * L
    for g in range(lo, full, group):
        g1 = min(full, g + group)
        for t0 in range(g, g1, TILE_ROWS):
            lp_tile(x, w, t0, min(TILE_ROWS, g1 - t0), d, y, shift, near, p, q, kind,
                    reductions, floor_h, work, blk, excess, nearest, nearest_row, closest,
                    closest_x)
        fold_block(blk, sum_, err, end)
    if full < hi:  # the last rows, fewer than LP_LANES, one per lane
        lp_tile(x, w, full, hi - full, d, y, shift, near, p, q, kind, reductions, floor_h,
                work, blk, excess, nearest, nearest_row, closest, closest_x)
        fold_block(blk, sum_, err, end)
    finish_lanes(sum_, err, excess, nearest, nearest_row, closest, closest_x, d, out)


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
def lp_excess_bound(d, q):
    """Return the largest ``||s_i||_q`` of p other than 1.5 and 3: bounded, not measured.

    A term ``T_j = m_j^p`` within ``(A + B |log2 T_j|) u`` (pow_fast, or pow within 2 ulps;
    ``LP_POW_ULPS``, ``LP_POW_LOG_ULPS``), the root of their sum t within
    ``(A + (B + 1) log2(d) / p) u``, ``s_j = (T_j / m_j)(root / t)`` (three roundings):
    ``||s_i||_q^q = sum_j m_j^p (1 + e_j)^q / t`` up to those, the errors weighted by
    ``m_j^p / t`` (a mean of ``|log2 m_j^p|`` at most ``log2 d``). Its q-th root is below
    ``1 + 1.02 (3 + A (2 + 1/q) + (2 B + 1) ceil(log2 d) + (d - 1) / q) u``. A term
    ``m_j^p`` that underflows adds at most ``2^(q - 1074)``: negligible up to
    ``q = BOUNDED_Q`` (p >= 1.002); beyond it the excess is measured.
    """
    log_d = 0.0  # ceil(log2 d)
    top = 1
    while top < d:
        top *= 2
        log_d += 1.0
    return 1.0 + 1.02 * (
        3.0 + LP_POW_ULPS * (2.0 + 1.0 / q) + (2.0 * LP_POW_LOG_ULPS + 1.0) * log_d
        + (d - 1.0) / q
    ) * 2.0**-53


@njit(**KERNEL)
def finish_pass(out, parts, nc, d, p):
    """Add the chunks' sums into out; the q-th root of the largest excess, or its bound."""
    finish_chunks(out, parts, nc, d)
    q = p / (p - 1.0)
    if lp_kind(p) == 0 and q <= BOUNDED_Q:
        out[LP_EXCESS] = lp_excess_bound(d, q)
    else:
        out[LP_EXCESS] = out[LP_EXCESS] ** (1.0 / q)


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
