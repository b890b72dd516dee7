"""Mirror of ``csrc/geomedian/hessian_pass.hpp``: the Hessian of f over rows read in chunks.

For the Newton steps of the chunked driver (``geomedian._paths.chunked``), which calls it
on each chunk beside the fused pass, so that a Newton iteration reads the data once::

    H = inv I - sum_{d_i > eps} (t_i / d_i^2) r_i r_i^T,   t_i = w_i / d_i  (fused_pass.py)

packed lower triangle (H[j (j + 1) / 2 + k], k <= j), the layout ``newton.py`` factorises,
then inv_sq = sum_{d_i > eps} w_i / d_i^2 for the Newton step's bound
(``geomedian._paths.newton_bound``).
Fixed chunks of rows added in chunk order (``parallel.py``), whatever the thread count;
within a chunk the rows' fixed lanes, added in lane order, and no fused multiply-add:
the C++ kernel's bits.

The C++ kernel reads a block of groups, then has each tile of the triangle take that
block's products; so does this one, with the same additions per accumulator. Its loops
differ in shape: LLVM as Numba drives it unrolls a loop over the HESSIAN_LANES lanes, a
constant, into scalar code, and vectorises one over a run-time count. So the lane counts
go through ``opaque``, which LLVM cannot fold: the per-row loops run over the whole
block, lane ``g HESSIAN_LANES + l`` holding row l of group g, and a tile's loop over the
lanes of a group adds the block's groups in order inside, its accumulators in registers.
Reading the rows into the lanes is the one loop left scalar: moved one coordinate at a
time they transpose faster than through the gathers or scatters LLVM would make of it.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from .._contract import HESSIAN_LANES, HESSIAN_PREFETCH_BYTES, NEWTON_MAX_D
from .jit_options import ENTRY, KERNEL
from .parallel import chunk_rows, n_chunks
from .prefetch import prefetch_span

# The groups of HESSIAN_LANES rows read before the tiles take their products: more groups
# amortise a tile's load and store, fewer keep the block's coordinates in L1.
BLOCK_GROUPS = 8
# The side of a square tile of the triangle: its 16 accumulators and their operands fit the
# vector registers. The triangle is padded to whole tiles; the padding's coordinates are 0
# and its entries unused.
TILE = 4
TILE_ROWS = NEWTON_MAX_D // TILE


@intrinsic
def opaque(typingctx, n):
    """Return the int64 ``n`` through an empty inline assembly, opaque to LLVM.

    LLVM can neither fold the result nor vectorise a loop that calls it.
    """

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
        return builder.asm(fnty, "", "=r,0", [args[0]], side_effect=False)

    return types.int64(types.int64), codegen


@njit(**ENTRY)
def hessian_size(d):
    return d * (d + 1) // 2


@njit(**ENTRY)
def hessian_pass_size(d):
    """Return the pass's output size: the triangle, then inv_sq."""
    return hessian_size(d) + 1


@njit(**KERNEL, error_model="numpy")
def hessian_rows(x, d, w, wscale, lo, hi, c, s, z, eps, out):
    """Write the Hessian at z of rows [lo, hi) of the flat points x, then inv_sq, into out.

    Row b + l of each group of ``HESSIAN_LANES`` rows goes to lane l; the lanes' sums are
    added in lane order at the end, as the C++ kernel adds them. The last block's lanes
    past hi read row hi - 1 again with weight 0, as a partial group's do in C++: their terms
    are zeros, which leave every sum as it is.
    """
    LN = HESSIAN_LANES
    B = BLOCK_GROUPS * LN
    lanes = opaque(LN)
    groups = opaque(BLOCK_GROUPS)  # run-time too: unrolled, its loops only cost compile time
    block = groups * lanes
    # Coordinate j of lane p at r[j, p], v_p r_j at vr[j, p]; rows d.. stay 0, the padding
    # of the last tiles.
    r = np.zeros((NEWTON_MAX_D, B))
    vr = np.zeros((NEWTON_MAX_D, B))
    # Entry (j, k) of the triangle, lane l: C[(j % TILE) TILE + k % TILE, tile, l], the
    # tiles (j // TILE, k // TILE) in packed order.
    C = np.zeros((TILE * TILE, TILE_ROWS * (TILE_ROWS + 1) // 2, LN))
    inv = np.zeros(LN)
    inv_sq = np.zeros(LN)
    d2 = np.empty(B)
    v = np.empty(B)
    weighted = w.shape[0] > 0
    last = hi - 1
    ahead = max(1, HESSIAN_PREFETCH_BYTES // (d * x.itemsize * LN)) * LN
    for b0 in range(lo, hi, B):
        for g in range(groups):
            a = b0 + g * LN + ahead
            if d > 4 and a < hi:  # rows up to 4 are bound by their sqrt and divisions
                prefetch_span(x, a * d, min(LN, hi - a) * d)
            for j in range(d):
                # Through opaque: the loop stays scalar. Unsigned: no wraparound to test.
                ju = np.uint64(opaque(j))
                for lane in range(LN):
                    r[j, g * LN + lane] = x[np.uint64(min(b0 + g * LN + lane, last) * d) + ju]
        for j in range(d):
            for p in range(block):
                rj = (r[j, p] - c[j]) * s - z[j]
                r[j, p] = rj
                d2[p] = (d2[p] if j > 0 else 0.0) + rj * rj  # from 0.0, as C++
        for g in range(groups):  # groups in row order, as inv and inv_sq add them
            for lane in range(lanes):
                p = g * LN + lane
                i = min(b0 + p, last)
                wi = (w[i] * wscale if weighted else 1.0) if b0 + p < hi else 0.0
                dist = math.sqrt(d2[p])
                hit = 1.0 if dist <= eps else 0.0
                tp = (1.0 - hit) * wi / max(dist, eps)
                v[p] = tp / max(d2[p], eps * eps)  # w_i / d_i^3, 0 on the iterate
                inv[lane] += tp
                inv_sq[lane] += v[p] * dist  # w_i / d_i^2
        for j in range(d):
            for p in range(block):
                vr[j, p] = v[p] * r[j, p]
        # Each tile of the triangle takes the block's products, group after group (a loop
        # over a constant: unrolled, the tile's accumulators stay in registers).
        for a in range((d + TILE - 1) // TILE):
            ja = TILE * a
            for h in range(a + 1):
                kh = TILE * h
                tile = a * (a + 1) // 2 + h
                for lane in range(lanes):
                    c00 = C[0, tile, lane]
                    c01 = C[1, tile, lane]
                    c02 = C[2, tile, lane]
                    c03 = C[3, tile, lane]
                    c10 = C[4, tile, lane]
                    c11 = C[5, tile, lane]
                    c12 = C[6, tile, lane]
                    c13 = C[7, tile, lane]
                    c20 = C[8, tile, lane]
                    c21 = C[9, tile, lane]
                    c22 = C[10, tile, lane]
                    c23 = C[11, tile, lane]
                    c30 = C[12, tile, lane]
                    c31 = C[13, tile, lane]
                    c32 = C[14, tile, lane]
                    c33 = C[15, tile, lane]
                    for g in range(BLOCK_GROUPS):
                        p = g * LN + lane
                        v0 = vr[ja, p]
                        v1 = vr[ja + 1, p]
                        v2 = vr[ja + 2, p]
                        v3 = vr[ja + 3, p]
                        r0 = r[kh, p]
                        r1 = r[kh + 1, p]
                        r2 = r[kh + 2, p]
                        r3 = r[kh + 3, p]
                        c00 += v0 * r0
                        c01 += v0 * r1
                        c02 += v0 * r2
                        c03 += v0 * r3
                        c10 += v1 * r0
                        c11 += v1 * r1
                        c12 += v1 * r2
                        c13 += v1 * r3
                        c20 += v2 * r0
                        c21 += v2 * r1
                        c22 += v2 * r2
                        c23 += v2 * r3
                        c30 += v3 * r0
                        c31 += v3 * r1
                        c32 += v3 * r2
                        c33 += v3 * r3
                    C[0, tile, lane] = c00
                    C[1, tile, lane] = c01
                    C[2, tile, lane] = c02
                    C[3, tile, lane] = c03
                    C[4, tile, lane] = c10
                    C[5, tile, lane] = c11
                    C[6, tile, lane] = c12
                    C[7, tile, lane] = c13
                    C[8, tile, lane] = c20
                    C[9, tile, lane] = c21
                    C[10, tile, lane] = c22
                    C[11, tile, lane] = c23
                    C[12, tile, lane] = c30
                    C[13, tile, lane] = c31
                    C[14, tile, lane] = c32
                    C[15, tile, lane] = c33
    inv_all = inv[0]
    inv_sq_all = inv_sq[0]
    for lane in range(1, LN):
        inv_all += inv[lane]
        inv_sq_all += inv_sq[lane]
    for j in range(d):
        for k in range(j + 1):
            e = (j % TILE) * TILE + k % TILE
            tile = (j // TILE) * (j // TILE + 1) // 2 + k // TILE
            acc = C[e, tile, 0]
            for lane in range(1, LN):
                acc += C[e, tile, lane]
            out[j * (j + 1) // 2 + k] = (inv_all if j == k else 0.0) - acc
    out[hessian_size(d)] = inv_sq_all


@njit(**ENTRY)
def serial_hessian(x, w, wscale, c, s, z, eps, out, partial):
    n, d = x.shape
    x1 = x.reshape(-1)
    step = chunk_rows(d)
    m = hessian_pass_size(d)
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
    m = hessian_pass_size(d)
    nc = n_chunks(n, d)
    for k in prange(nc):
        hessian_rows(x1, d, w, wscale, k * step, min(n, (k + 1) * step), c, s, z, eps, partial[k])
    for q in range(m):  # element by element, as parallel.parallel_moments says why
        out[q] = partial[0, q]
    for k in range(1, nc):
        for q in range(m):
            out[q] += partial[k, q]
