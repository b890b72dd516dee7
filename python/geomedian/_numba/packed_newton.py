"""Mirror of ``csrc/geomedian/packed_newton.hpp`` and ``csrc/packed_newton.cpp``.

Newton's method on a pack of small problems at once, one problem per lane.

C++ packs ``PACK`` problems, one vector register of doubles. Here a pack is as wide as a
batch's block of problems (``solver.pack_width``: up to BATCH_BLOCK lanes, a multiple of
PACK): LLVM as Numba drives it unrolls a loop over PACK lanes into scalar code, and
vectorises a loop over a run-time number of lanes. Every loop over the lanes is a loop
over ``npk``, the lanes of the arrays it is given. A lane's operations are the same at any
width, so a problem's bits do not depend on it.

The compiled core arranges three steps otherwise, with the same values: it sorts the
start's columns before the frame, as floats for float32 points (here after it,
as doubles: the frame's map is monotone and rounds each value alone, so the medians are
the same bits), and it computes geomad's MADs in the lanes (see ``mad.py``). Solved one at a
time (``small_pass.py``, rows in the lanes) every pass ends in horizontal sums and the
Hessian's factorisation, the certificate and the step logic are scalar code; with the
problems in the lanes every operation is vertical over the pack and no sum crosses lanes.

The packed solver runs the common path of ``solver.py``'s driver, in lock step: frame
(c, s) and copy u = (x - c) s as the small pass; start at the coordinate-wise weighted
lower median (``small_start``'s rule; the weighted mean for m > START_MEDIAN_ROWS); one
Weiszfeld step from there (a pass, kept where it descends); then until the certified
relative gap is <= tol: Hessian, Newton step, a pass at the trial point, accepted by
``newton_accept``; finally the rounded answer is certified.

A lane leaves that path (a Weiszfeld step that does not descend, in rounding; a Newton step
that cannot be formed or is rejected; the iterate near a data point; the step below the
frame's resolution; no certificate after PACKED_MAX_ITER iterations or max_iter; a
non-finite or empty problem; a point beyond the near radius, below) by giving its problem
back: the caller solves it from scratch with the general driver. Every operation of a lane
reads that lane only, so a problem's bits do not depend on its neighbours, nor on the batch
size or thread count.

Far points: the classic relative gap (f - LB) / f is the general driver's rule only where
no point of positive weight lies beyond the near radius R = NEAR_FACTOR rho of the answer
(``certificate.py``: then F = f), so a lane is certified only there, R as the general driver
computes it (``robust_frame.py`` over every present row of the problem; R <= 0 or not
finite: given back). rho >= t holds exactly when the rows closer than t to m weigh less
than half: where the start is the median it is m in the frame and the first pass leaves
||u - m||^2, and the count is the exact condition, short of a row within NEAR_MARGIN of the
threshold or weighted sums that robust_anchor might round to another median (given back);
where the start is the mean, a sufficient test at the answer bounds ||m - z|| by counts
along each coordinate, and gives back the lanes it cannot settle.

Layout: ``u[j, q, lane]`` (d, n, npk) is coordinate j of row q of lane lane's problem, ``w``,
``d2``, ``t`` are (n, npk); the present rows of a problem come first, in order, then its
omitted (NaN) rows, which repeat the first present row with weight 0 (they add exactly 0
to every sum, and the median start sees only a duplicate of row 0). Every loop over
``lane in range(npk)`` is innermost, so LLVM can vectorise it. No fast-math flags: the
selects on NaN and on the coincidence radius rely on IEEE comparisons; error_model="numpy"
so a lane's division by zero (a lane with nothing to solve, a zero pivot) gives inf or NaN
in that lane instead of raising.

The C++ kernel's structs are arrays here: the iteration sums of a lane are ``fused_pass``'s
slots along the first axis (``S[SLOT_F, lane]``, R at ``SLOT_HEAD + j``, M at
``SLOT_HEAD + d + j``), a lane's certificate is ``C[CERT_F | CERT_LB | CERT_GNORM, lane]`` and
g at ``C[CERT_G + j, lane]``.
"""

import math

import numpy as np
from numba import njit
from numba.typed import List

from .._contract import (
    BLOCK_ROWS,
    NEAR_FACTOR,
    NEAR_MARGIN,
    NEWTON_PIVOT,
    PACKED_MAX_ITER,
    SLOT_ETA,
    SLOT_F,
    SLOT_F_COINC,
    SLOT_HEAD,
    SLOT_INV,
    SLOT_MAX_TERM,
    START_MEDIAN_ROWS,
    SUM_ROUNDING,
)

# Re-exported (a redundant alias): solver.py reads it here.
from .._contract import PACKED_PROBLEM_SIZE as PACKED_PROBLEM_SIZE
from .certificate import relative_gap
from .fused_pass import add_compensated, compensated_total, sums_size
from .jit_options import KERNEL
from .newton import newton_accept

# A lane's certificate (LaneCertificate in C++): f, the bound, ||g||, then g (d entries).
CERT_F, CERT_LB, CERT_GNORM, CERT_G = 0, 1, 2, 3
# Rows of the per-lane vectors of packed_newton (its stack arrays in C++): centre, iterate,
# trial point, sum_q w_q u_q, Newton step, answer; then the factorisation's L_jk D_k and
# 1 / D_j, and one row's residuals.
V_C, V_Z, V_ZT, V_MU, V_P, V_MEDIAN, V_LD, V_RDIAG, V_R = 0, 1, 2, 3, 4, 5, 6, 7, 8
# Rows of the per-lane scalars: total weight, half spread, scale, best bound, the Newton
# step's ||p||^2, ||z||^2 and g . p; for the near radius: the rounding tolerance of
# weighted sums wtol, the largest squared distance of a weighted row from the answer, tau,
# the weight up to tau from m, r, the largest weight below z_j - r and the smallest up to
# z_j + r over the coordinates, and the weight within reach of z; then SCRATCH_ROWS of
# scratch for the helpers.
S_W, S_HALF, S_S, S_LB, S_PN2, S_ZN2, S_GP = 0, 1, 2, 3, 4, 5, 6
S_WTOL, S_FAR2, S_TAU, S_UPTO, S_R, S_LOWMAX, S_HIGHMIN, S_WITHIN = 7, 8, 9, 10, 11, 12, 13, 14
S_SCRATCH = 15
SCRATCH_ROWS = 5
# Rows of the per-lane flags: still on the packed path, certified, must recentre, stepping
# this iteration, Newton direction formed, step moved z (then: rounding moved the answer),
# takes the trial point; the weighted median start may not be robust_anchor's m.
F_ALIVE, F_DONE, F_RECENTRE, F_ACTIVE, F_OK, F_MOVED, F_TAKE, F_SPLIT = 0, 1, 2, 3, 4, 5, 6, 7


@njit(**KERNEL)
def sorting_network(n):
    """Return the comparator pairs (a, b), a < b, of a sorting network for n values.

    Batcher's merge exchange (Knuth, TAOCP 5.2.2, Algorithm M), O(n log^2 n) pairs, as an
    (n_pairs, 2) int64 array.
    """
    pairs = np.empty((max(n * n, 1), 2), dtype=np.int64)  # more than enough
    count = 0
    if n < 2:
        return pairs[:0]
    top = 1
    while 2 * top < n:
        top *= 2  # 2^(t-1), t = ceil(log2 n)
    p = top
    while p > 0:
        q = top
        r = 0
        dd = p
        while True:
            for i in range(n - dd):
                if (i & p) == r:
                    pairs[count, 0] = i
                    pairs[count, 1] = i + dd
                    count += 1
            if q == p:
                break
            dd = q - p
            q //= 2
            r = p
        p //= 2
    return pairs[:count].copy()


@njit(**KERNEL)
def pack_buffers(n, d, width):
    """Return a pack's arrays (PackBuffers, PackOutcome and the kernel's stack in C++).

    Allocated once per thread for the batch's n and d, reused by every pack of ``width``
    lanes (C++: PACK):

    - u (d, n, width) coordinates, raw, then in each lane's frame; w (n, width) weights;
      d2, t (n, width) ||u - z||^2 and w / ||u - z|| of the last pass; srt (n, d width)
      the coordinates, for the median start, then in its first width columns
      ||u - z||^2 at the start z;
      network, ``sorting_network(n)``;
    - m (width) present rows per lane (0: nothing to solve);
    - the kernel's state: vec (9, d, width) rows V_*, lanes (10, width) rows S_*, flags
      (7, width) rows F_*, sums (2, sums_size(d), width) the sums at z and at the trial
      point, cert (2, CERT_G + d, width) their certificates, H (d (d + 1) / 2, width);
    - the outcome per lane: n_iter, n_passes (width) and certified (width).
    """
    return (
        aligned_doubles(d * n * width).reshape((d, n, width)),
        aligned_doubles(n * width).reshape((n, width)),
        aligned_doubles(n * width).reshape((n, width)),
        aligned_doubles(n * width).reshape((n, width)),
        aligned_doubles(n * d * width).reshape((n, d * width)),
        sorting_network(n),
        np.zeros(width, dtype=np.int64),
        aligned_doubles((V_R + 1) * d * width).reshape((V_R + 1, d, width)),
        aligned_doubles((S_SCRATCH + SCRATCH_ROWS) * width).reshape(
            (S_SCRATCH + SCRATCH_ROWS, width)
        ),
        np.empty((F_SPLIT + 1, width), dtype=np.bool_),
        aligned_doubles(2 * sums_size(d) * width).reshape((2, sums_size(d), width)),
        aligned_doubles(2 * (CERT_G + d) * width).reshape((2, CERT_G + d, width)),
        aligned_doubles(d * (d + 1) // 2 * width).reshape((d * (d + 1) // 2, width)),
        np.empty(width, dtype=np.int64),
        np.empty(width, dtype=np.int64),
        np.empty(width, dtype=np.bool_),
    )


# Doubles per cache line: every row of a pack's arrays (a multiple of PACK doubles) then
# starts a line, as C++ PackBuffers::vector_aligned; the allocator aligns to 16 bytes, and
# vectors that straddle two lines cost two loads.
LINE_DOUBLES = 8


@njit(**KERNEL)
def aligned_doubles(size):
    """Return ``size`` zeros (float64) starting at a cache line."""
    buf = np.zeros(size + LINE_DOUBLES)
    skip = (-(buf.ctypes.data // 8)) % LINE_DOUBLES
    return buf[skip : skip + size]


@njit(**KERNEL)
def network_cache(n):
    """Return the sorting networks by row count, 0 ... n, each built when first used."""
    networks = List()
    for _ in range(n + 1):
        networks.append(np.empty((0, 2), dtype=np.int64))
    return networks


@njit(**KERNEL)
def pack_lanes(x, w, wscale, omit, k0, count, buffers, networks):
    """Lay out problems k0 ... k0 + count - 1 of x (P, n, d) in the first lanes.

    Return the pack's buffers as ``packed_newton`` takes them: a problem of the rows some
    lane uses (C++ pack_lanes, with use_rows). ``w`` has 1 or P rows (of length 0: unit
    weights), ``wscale`` as many entries; m (``buffers[6]``) gets each lane's present rows.

    A lane gets its problem's present rows in order (all of them unless ``omit``, else
    those without NaN) with weights w wscale, then, up to the largest count of any lane,
    its first present row again with weight 0: padding that adds exactly 0 to every sum, so
    a problem's bits do not depend on its neighbours. A lane with nothing to solve (past
    ``count``, no present row, or an inf, or a NaN in a present row, which the general
    driver must report) gets zeros of unit weight and m = 0: finite values, so the
    lock-step arithmetic on it stays cheap and raises nothing. The rows are found first;
    then the coordinates go a row of every lane at a time, so that the writes run along
    the lanes (a problem at a time they would jump by the width of the pack). The row
    arrays are cut to that many rows, and the network is the one for that many rows.
    """
    u, pw, d2s, t, srt, network = buffers[:6]
    m = buffers[6]
    d, n, lanes = u.shape
    big = 1.7976931348623157e308 if x.itemsize == 8 else 3.4028234663852886e38
    present = np.zeros((lanes, n), dtype=np.int64)  # each lane's rows in order, then padding
    rows = 1
    every_row = True  # every lane of the pack has all n rows: the rows need no index
    for lane in range(count):
        xk = x[k0 + lane]
        bad = False
        mk = 0
        for i in range(n):  # without branches: missing rows fall at random
            nan = False
            inf = False
            for j in range(d):
                v = float(xk[i, j])
                nan |= v != v
                inf |= abs(v) > big
            bad |= inf | (nan & (not omit))
            present[lane, mk] = i
            mk += 1 - int(nan)
        m[lane] = 0 if bad else mk
        every_row &= m[lane] == n
        rows = max(rows, m[lane])
    for lane in range(count, lanes):
        m[lane] = 0
    if rows < n:
        if networks[rows].shape[0] == 0 and rows > 1:
            networks[rows] = sorting_network(rows)
        network = networks[rows]
    uu = u.reshape(d * n * lanes)[: d * rows * lanes].reshape((d, rows, lanes))
    weighted = w.shape[1] > 0
    if every_row:
        for q in range(rows):
            for j in range(d):
                for lane in range(count):
                    uu[j, q, lane] = float(x[k0 + lane, q, j])
            for lane in range(count):
                row = 0 if w.shape[0] == 1 else k0 + lane
                pw[q, lane] = w[row, q] * wscale[row] if weighted else 1.0
    else:
        # Each lane's rows gathered first, a row at a time, into srt (scratch until the
        # start), then laid out as above; rows past a lane's count repeat its first row.
        rows_of = srt.reshape(n * d * lanes)
        for lane in range(count):
            if m[lane] == n:
                for q in range(n):
                    present[lane, q] = q
            for q in range(m[lane], rows):
                present[lane, q] = present[lane, 0]
            xk = x[k0 + lane]
            for q in range(rows):
                i = present[lane, q]
                for j in range(d):
                    rows_of[(lane * n + q) * d + j] = float(xk[i, j])
        for q in range(rows):
            for j in range(d):
                for lane in range(count):
                    uu[j, q, lane] = rows_of[(lane * n + q) * d + j]
            for lane in range(count):
                row = 0 if w.shape[0] == 1 else k0 + lane
                wq = w[row, present[lane, q]] * wscale[row] if weighted else 1.0
                pw[q, lane] = wq if q < m[lane] else 0.0
    for lane in range(lanes):
        if m[lane] == 0:
            for q in range(rows):
                pw[q, lane] = 1.0
                for j in range(d):
                    uu[j, q, lane] = 0.0
    used = (uu, pw[:rows], d2s[:rows], t[:rows])
    # Concatenated: a tuple display with starred parts does not compile in Numba.
    return used + (srt[:rows], network) + buffers[6:]  # noqa: RUF005


@njit(**KERNEL)
def fold_lane_rows(S, err, blk, skip):
    """Add rows of blk into S/err with compensation per lane (all but row skip), clear blk."""
    npk = S.shape[1]
    for a in range(blk.shape[0]):
        if a == skip:
            continue
        for lane in range(npk):
            S[a, lane], err[a, lane] = add_compensated(S[a, lane], err[a, lane], blk[a, lane])
            blk[a, lane] = 0.0


@njit(**KERNEL)
def finish_lane_rows(S, err, skip):
    """compensated_total of the rows of S and err (all but row skip), into S."""
    npk = S.shape[1]
    for a in range(err.shape[0]):
        if a == skip:
            continue
        for lane in range(npk):
            S[a, lane] = compensated_total(S[a, lane], err[a, lane])


@njit(**KERNEL, error_model="numpy")
def lane_moments(u, w, W, c, half, acc, top):
    """Write make_frame's centre per lane into c (d, npk), from small_moments' sums.

    x0 is row 0: c_j = x0_j + 2 S_j / W with S_j = sum_q w_q (u_qj / 2 - x0_j / 2) in row
    order, and half (npk) is the largest |u_qj / 2 - x0_j / 2|. A row at a time, as C++
    (which keeps each coordinate's sum in a register of its own); acc and top are (d, npk)
    scratch for S and the largest |...| per coordinate.
    """
    d, n, npk = u.shape
    for j in range(d):
        for lane in range(npk):
            acc[j, lane] = 0.0
            top[j, lane] = 0.0
    for q in range(n):
        for j in range(d):
            for lane in range(npk):
                h = 0.5 * u[j, q, lane] - 0.5 * u[j, 0, lane]
                a = abs(h)
                top[j, lane] = a if a > top[j, lane] else top[j, lane]
                acc[j, lane] += w[q, lane] * h
    for lane in range(npk):
        half[lane] = 0.0
    for j in range(d):
        for lane in range(npk):
            half[lane] = top[j, lane] if top[j, lane] > half[lane] else half[lane]
            c[j, lane] = u[j, 0, lane] + 2.0 * (acc[j, lane] / W[lane])


@njit(**KERNEL)
def lane_load(u, w, c, s, mu, acc, err):
    """small_load per lane: u <- (u - c) s, and mu (d, npk) = sum_q w_q u_q.

    Summed in blocks of BLOCK_ROWS rows added with compensation, as ``lane_sums``; a row at
    a time, as ``lane_moments``. acc and err are (d, npk) scratch for a block's sums and
    the compensation.
    """
    d, n, npk = u.shape
    for j in range(d):
        for lane in range(npk):
            mu[j, lane] = 0.0
            acc[j, lane] = 0.0
            err[j, lane] = 0.0
    for q0 in range(0, n, BLOCK_ROWS):
        for q in range(q0, min(n, q0 + BLOCK_ROWS)):
            for j in range(d):
                for lane in range(npk):
                    v = (u[j, q, lane] - c[j, lane]) * s[lane]
                    u[j, q, lane] = v
                    acc[j, lane] += w[q, lane] * v
        for j in range(d):
            for lane in range(npk):
                mu[j, lane], err[j, lane] = add_compensated(mu[j, lane], err[j, lane], acc[j, lane])
                acc[j, lane] = 0.0
    for j in range(d):
        for lane in range(npk):
            mu[j, lane] = compensated_total(mu[j, lane], err[j, lane])


@njit(**KERNEL, error_model="numpy")
def lane_sums(u, w, mu, W, z, eps, d2s, t, S):
    """Fill S with the iteration sums of ``fused_pass`` at z (d, npk) for every lane.

    f = sum w_q d_q, inv = sum t_q (t_q = w_q / d_q, 0 within eps of the iterate),
    eta and f_coinc the weight and f of the rows within eps, max_term = max t_q,
    R = sum t_q (u_q - z), M = mu - W z. Leaves d2 = ||u - z||^2 and t in d2s and t for the
    Hessian at the same point. Blocks of BLOCK_ROWS rows are summed in order and added with
    compensation, as C++ does; the first block is summed into S directly, which is what
    adding it to zero with compensation gives, bit for bit (and with a single block no
    buffer is needed).
    """
    d, n, npk = u.shape
    nb = SLOT_HEAD + d  # the rows of S summed over the rows of the problem
    blk = np.zeros((nb if n > BLOCK_ROWS else 0, npk))
    err = np.zeros((nb if n > BLOCK_ROWS else 0, npk))
    for a in range(SLOT_HEAD + d):
        for lane in range(npk):
            S[a, lane] = 0.0
    for q0 in range(0, n, BLOCK_ROWS):
        A = S if q0 == 0 else blk
        for q in range(q0, min(n, q0 + BLOCK_ROWS)):
            for lane in range(npk):
                d2s[q, lane] = 0.0
            for j in range(d):
                for lane in range(npk):
                    r = u[j, q, lane] - z[j, lane]
                    d2s[q, lane] += r * r
            for lane in range(npk):
                dist = math.sqrt(d2s[q, lane])
                wi = w[q, lane]
                on = 1.0 if dist <= eps else 0.0
                # Arithmetic instead of branches, never a division by zero (as row_terms).
                ti = (1.0 - on) * wi / (eps if dist < eps else dist)
                A[SLOT_F, lane] += wi * dist
                A[SLOT_INV, lane] += ti
                A[SLOT_ETA, lane] += on * wi
                A[SLOT_F_COINC, lane] += on * wi * dist
                mt = S[SLOT_MAX_TERM, lane]
                S[SLOT_MAX_TERM, lane] = ti if ti > mt else mt
                t[q, lane] = ti
            for j in range(d):
                for lane in range(npk):
                    A[SLOT_HEAD + j, lane] += t[q, lane] * (u[j, q, lane] - z[j, lane])
        if q0 > 0:
            fold_lane_rows(S, err, blk, SLOT_MAX_TERM)
    if n > BLOCK_ROWS:
        finish_lane_rows(S, err, SLOT_MAX_TERM)
    for j in range(d):
        for lane in range(npk):
            S[SLOT_HEAD + d + j, lane] = mu[j, lane] - W[lane] * z[j, lane]


@njit(**KERNEL, error_model="numpy")
def lane_objective(u, w, z, f, far2):
    """Write the objective sum_q w_q ||u_q - z|| alone into f (npk), as ``lane_sums`` does.

    And into far2 (npk) the largest ||u_q - z||^2 of a row of positive weight.
    """
    d, n, npk = u.shape
    blk = np.zeros(npk)
    err = np.zeros(npk)
    for lane in range(npk):
        f[lane] = 0.0
        far2[lane] = 0.0
    for q0 in range(0, n, BLOCK_ROWS):
        A = f if q0 == 0 else blk
        for q in range(q0, min(n, q0 + BLOCK_ROWS)):
            for lane in range(npk):
                d2 = 0.0
                for j in range(d):
                    r = u[j, q, lane] - z[j, lane]
                    d2 += r * r
                wq = w[q, lane]
                A[lane] += wq * math.sqrt(d2)
                d2w = d2 if wq > 0.0 else 0.0  # one select per step: see lane_far2
                far2[lane] = d2w if d2w > far2[lane] else far2[lane]
        if q0 > 0:
            for lane in range(npk):
                f[lane], err[lane] = add_compensated(f[lane], err[lane], blk[lane])
                blk[lane] = 0.0
    if n > BLOCK_ROWS:
        for lane in range(npk):
            f[lane] = compensated_total(f[lane], err[lane])


@njit(**KERNEL, error_model="numpy")
def lane_far2(d2s, w, far2):
    """Write into far2 (npk) the largest ||u_q - z||^2 of a row of positive weight.

    From d2s of the last ``lane_sums`` at z. Selects on single comparisons, as C++ (where
    GCC 12 turns a select on two comparisons into a branch per lane).
    """
    n, npk = d2s.shape
    for lane in range(npk):
        far2[lane] = 0.0
    for q in range(n):
        for lane in range(npk):
            d2w = d2s[q, lane] if w[q, lane] > 0.0 else 0.0
            far2[lane] = d2w if d2w > far2[lane] else far2[lane]


@njit(**KERNEL, error_model="numpy")
def lane_certify(S, d, W, scratch, C):
    """``certify`` per lane: f, the bound, ||g|| and the minimum-norm subgradient g into C.

    ``scratch`` is (3, npk): ||R||^2, g . M and the factor keeping g.
    """
    npk = W.shape[0]
    rn2 = scratch[0]
    gm = scratch[1]
    keep = scratch[2]
    for lane in range(npk):
        rn2[lane] = 0.0
        gm[lane] = 0.0
    for j in range(d):
        for lane in range(npk):
            rn2[lane] += S[SLOT_HEAD + j, lane] * S[SLOT_HEAD + j, lane]
    for lane in range(npk):
        rn = math.sqrt(rn2[lane])
        keep[lane] = 1.0 - S[SLOT_ETA, lane] / rn if rn > S[SLOT_ETA, lane] else 0.0
        C[CERT_GNORM, lane] = rn * keep[lane]
    for j in range(d):
        for lane in range(npk):
            g = -S[SLOT_HEAD + j, lane] * keep[lane] if keep[lane] > 0 else 0.0
            C[CERT_G + j, lane] = g
            gm[lane] += g * S[SLOT_HEAD + d + j, lane]
    for lane in range(npk):
        Sv = S[SLOT_F, lane] - 2.0 * S[SLOT_F_COINC, lane]
        slack = SUM_ROUNDING * (abs(Sv) + abs(gm[lane]) / W[lane])
        C[CERT_F, lane] = S[SLOT_F, lane]
        C[CERT_LB, lane] = (Sv + gm[lane] / W[lane] - slack) / (1.0 + C[CERT_GNORM, lane] / W[lane])


@njit(**KERNEL, error_model="numpy")
def lane_hessian(u, d2s, t, inv, z, eps, r, vr, v, H):
    """H = inv I - sum_q v_q r_q r_q^T at z, v_q = t_q / max(d_q^2, eps^2), per lane.

    t and d2s from the last ``lane_sums`` at z; packed lower triangle,
    ``H[j (j + 1) / 2 + k, lane]``; ``r`` and ``vr`` (d, lanes) and ``v`` (lanes) scratch
    for a row: each term is (v_q r_qj) r_qk, v_q r_qj formed once per row.
    """
    d, n, npk = u.shape
    floor2 = eps * eps
    for jk in range(d * (d + 1) // 2):
        for lane in range(npk):
            H[jk, lane] = 0.0
    for q in range(n):
        for lane in range(npk):
            d2 = d2s[q, lane]
            v[lane] = t[q, lane] / (d2 if d2 > floor2 else floor2)
        for j in range(d):
            for lane in range(npk):
                r[j, lane] = u[j, q, lane] - z[j, lane]
                vr[j, lane] = v[lane] * r[j, lane]
        for j in range(d):
            jj = j * (j + 1) // 2
            for k in range(j + 1):
                for lane in range(npk):
                    H[jj + k, lane] += vr[j, lane] * r[k, lane]
    for j in range(d):
        jj = j * (j + 1) // 2
        for k in range(j + 1):
            for lane in range(npk):
                H[jj + k, lane] = (inv[lane] if j == k else 0.0) - H[jj + k, lane]


@njit(**KERNEL, error_model="numpy")
def lane_newton_direction(H, d, inv, g, p, ok, ld, rdiag, a):
    """``newton_direction`` per lane: H = L D L^T in place, then p = H^-1 g.

    ok[lane] is cleared where a pivot is not above NEWTON_PIVOT inv (or not finite); g and p
    are (d, npk); ld, rdiag (d, npk) and a (2, npk) scratch.
    """
    npk = inv.shape[0]
    piv = a[0]
    acc = a[1]
    for j in range(d):
        jj = j * (j + 1) // 2
        for lane in range(npk):
            piv[lane] = H[jj + j, lane]
        for k in range(j):
            kk = k * (k + 1) // 2
            for lane in range(npk):
                ld[k, lane] = H[jj + k, lane] * H[kk + k, lane]
                piv[lane] -= H[jj + k, lane] * ld[k, lane]
        for lane in range(npk):
            ok[lane] = ok[lane] and piv[lane] > NEWTON_PIVOT * inv[lane]
            H[jj + j, lane] = piv[lane]
            rdiag[j, lane] = 1.0 / piv[lane]
        for i in range(j + 1, d):
            ii = i * (i + 1) // 2
            for lane in range(npk):
                acc[lane] = H[ii + j, lane]
            for k in range(j):
                for lane in range(npk):
                    acc[lane] -= H[ii + k, lane] * ld[k, lane]
            for lane in range(npk):
                H[ii + j, lane] = acc[lane] * rdiag[j, lane]
    for i in range(d):  # L q = g
        ii = i * (i + 1) // 2
        for lane in range(npk):
            acc[lane] = g[i, lane]
        for k in range(i):
            for lane in range(npk):
                acc[lane] -= H[ii + k, lane] * p[k, lane]
        for lane in range(npk):
            p[i, lane] = acc[lane]
    for i in range(d - 1, -1, -1):  # L^T p = D^-1 q
        for lane in range(npk):
            acc[lane] = p[i, lane] * rdiag[i, lane]
        for k in range(i + 1, d):
            kk = k * (k + 1) // 2
            for lane in range(npk):
                acc[lane] -= H[kk + i, lane] * p[k, lane]
        for lane in range(npk):
            p[i, lane] = acc[lane]


@njit(**KERNEL, error_model="numpy")
def lane_start(u, w, srt, network, m, W, wtol, unit_weights, cum, z, split):
    """``small_start`` per lane: the coordinate-wise weighted lower median into z.

    For each j, min {u_qj : C_j(u_qj) >= W / 2} with C_j(v) = sum_{r: u_rj <= v} w_r.
    Lanes with more than START_MEDIAN_ROWS rows start at the weighted mean, z = 0. Unit
    weights: the value of rank (m - 1) / 2, by the sorting network on the column (omitted
    rows as +inf, after every present one); otherwise by counting, O(n^2), omitted rows
    repeating row 0 with weight 0 as the small pass's padding. Counting, split[lane] is set
    where the minimum for W / 2 - wtol differs from the one for W / 2 + wtol in some
    column: there robust_anchor's median (its sums rounded otherwise) may not be this
    start. ``srt`` is (n, d lanes) and ``cum`` (5, lanes) scratch. Both sides run all d
    columns through the network at once; C++, when every lane's column is full, only the
    comparators that place the median (``selection_network``): the value at the median's
    position is the same.
    """
    d, n, npk = u.shape
    half = cum[0]
    best = cum[1]
    count = cum[2]
    first = cum[3]
    last = cum[4]
    any_lane = False
    for lane in range(npk):
        half[lane] = 0.5 * W[lane] if m[lane] <= START_MEDIAN_ROWS else math.inf  # never reached
        any_lane |= m[lane] <= START_MEDIAN_ROWS
    if any_lane and unit_weights:
        # Every column at once: row q of srt holds coordinate j of lane l at j npk + l, so
        # each comparator is one loop over all d npk values.
        for q in range(n):
            for j in range(d):
                for lane in range(npk):
                    srt[q, j * npk + lane] = u[j, q, lane] if w[q, lane] > 0.0 else math.inf
        for c in range(network.shape[0]):
            a = network[c, 0]
            b = network[c, 1]
            for e in range(d * npk):
                x = srt[a, e]
                y = srt[b, e]
                srt[a, e] = x if x < y else y
                srt[b, e] = y if x < y else x
        for j in range(d):
            for lane in range(npk):
                # max(m - 1, 0): C++'s (m - 1) / 2 truncates to 0 on an empty lane.
                rank = max(m[lane] - 1, 0) // 2
                z[j, lane] = srt[rank, j * npk + lane] if m[lane] <= START_MEDIAN_ROWS else 0.0
        return
    for j in range(d):
        if not any_lane:
            for lane in range(npk):
                z[j, lane] = 0.0
        else:
            for lane in range(npk):
                best[lane] = math.inf
                first[lane] = math.inf
                last[lane] = math.inf
            # C++ counts four candidate rows at once (independent chains); the counts and
            # so the minimum are the same one row at a time.
            for q in range(n):
                for lane in range(npk):
                    count[lane] = 0.0
                for rr in range(n):
                    for lane in range(npk):
                        count[lane] += w[rr, lane] if u[j, rr, lane] <= u[j, q, lane] else 0.0
                for lane in range(npk):
                    uq = u[j, q, lane]
                    c = count[lane]
                    at = uq if c >= half[lane] else math.inf
                    at_lo = uq if c >= half[lane] - wtol[lane] else math.inf
                    at_hi = uq if c >= half[lane] + wtol[lane] else math.inf
                    best[lane] = at if at < best[lane] else best[lane]
                    first[lane] = at_lo if at_lo < first[lane] else first[lane]
                    last[lane] = at_hi if at_hi < last[lane] else last[lane]
            for lane in range(npk):
                z[j, lane] = 0.0 if best[lane] == math.inf else best[lane]
                split[lane] = split[lane] or first[lane] != last[lane]


@njit(**KERNEL, error_model="numpy")
def take_trial(take, d, zt, St, Ct, z, S, C):
    """Move the lanes of ``take`` to the trial point zt, with its sums and certificate."""
    npk = take.shape[0]
    for j in range(d):
        for lane in range(npk):
            z[j, lane] = zt[j, lane] if take[lane] else z[j, lane]
    for a in range(SLOT_HEAD + 2 * d):
        for lane in range(npk):
            S[a, lane] = St[a, lane] if take[lane] else S[a, lane]
    for a in range(CERT_G + d):
        for lane in range(npk):
            C[a, lane] = Ct[a, lane] if take[lane] else C[a, lane]


@njit(**KERNEL, error_model="numpy")
def packed_newton(buffers, tol, max_iter, to_float, unit_weights, eps):
    """Solve the problems in the lanes of ``buffers`` (see ``pack_buffers``) in lock step.

    u and w as laid out above (raw coordinates, scaled weights), m[lane] present rows of that
    lane (0: nothing to solve); u is moved into each lane's frame. Leaves per lane the answer
    in the caller's coordinates (vec[V_MEDIAN], rounded to float32 if ``to_float``), f and
    the bound in the frame's units (cert[0, CERT_F], lanes[S_LB]), the frame's scale
    lanes[S_S] and total weight lanes[S_W], n_iter, n_passes, and whether it was certified
    (then no point lies beyond the near radius: F = f, and the outcome's scale F / (W s) is
    f / (W s) in the caller's units); eps is the coincidence radius.
    """
    (
        u, w, d2s, t, srt, network, m, vec, lanes, flags, sums, cert, H,
        n_iter, n_passes, certified,
    ) = buffers  # fmt: skip
    d, n, npk = u.shape
    c = vec[V_C]
    z = vec[V_Z]
    zt = vec[V_ZT]
    mu = vec[V_MU]
    p = vec[V_P]
    median = vec[V_MEDIAN]
    W = lanes[S_W]
    half = lanes[S_HALF]
    s = lanes[S_S]
    lb = lanes[S_LB]
    pn2 = lanes[S_PN2]
    zn2 = lanes[S_ZN2]
    gp = lanes[S_GP]
    wtol = lanes[S_WTOL]
    far2 = lanes[S_FAR2]
    tau = lanes[S_TAU]
    upto = lanes[S_UPTO]
    r = lanes[S_R]
    lowmax = lanes[S_LOWMAX]
    highmin = lanes[S_HIGHMIN]
    within = lanes[S_WITHIN]
    scratch = lanes[S_SCRATCH:]
    alive = flags[F_ALIVE]
    done = flags[F_DONE]
    recentre = flags[F_RECENTRE]
    active = flags[F_ACTIVE]
    ok = flags[F_OK]
    moved = flags[F_MOVED]
    take = flags[F_TAKE]
    split = flags[F_SPLIT]
    S = sums[0]
    St = sums[1]
    C = cert[0]
    Ct = cert[1]
    for lane in range(npk):
        alive[lane] = m[lane] > 0
        done[lane] = False
        recentre[lane] = False
        certified[lane] = False
        W[lane] = 0.0

    # The frame, as make_frame with the moments of small_moments: x0 is row 0.
    for q in range(n):
        for lane in range(npk):
            W[lane] += w[q, lane]
    lane_moments(u, w, W, c, half, vec[V_LD], vec[V_RDIAG])  # scratch until the first step
    for lane in range(npk):
        alive[lane] = alive[lane] and W[lane] > 0
        e = math.frexp(half[lane])[1]  # spread = 2 half < 2^(e+1)
        s[lane] = math.ldexp(1.0, min(max(-(e + 1), -1022), 1022)) if half[lane] > 0 else 1.0
        finite = True
        for j in range(d):
            finite &= math.isfinite(c[j, lane])
        if not finite:
            for j in range(d):
                c[j, lane] = u[j, 0, lane]
    lane_load(u, w, c, s, mu, vec[V_LD], vec[V_RDIAG])

    # The rounding of weighted sums of n terms that robust_anchor's choices may differ by
    # (its quickselect's partial sums and their differences, at most n rounds): none with
    # unit weights, whose sums are exact.
    for lane in range(npk):
        wtol[lane] = 0.0 if unit_weights else W[lane] * (float((n + 2) * (n + 2)) * 2.0**-50)
        split[lane] = False
    lane_start(u, w, srt, network, m, W, wtol, unit_weights, scratch, z, split)
    lane_sums(u, w, mu, W, z, eps, d2s, t, S)
    for q in range(n):  # ||u - m||^2 where the start is m
        for lane in range(npk):
            srt[q, lane] = d2s[q, lane]
    lane_certify(S, d, W, scratch, C)
    for lane in range(npk):
        lb[lane] = C[CERT_LB, lane]
        n_iter[lane] = 0
        n_passes[lane] = 2  # moments, start
    # One Weiszfeld step z + R / inv before Newton's, in the lanes that would step (the
    # C++ kernel says why); a lane where it does not descend is given back.
    any_lane = False
    for lane in range(npk):
        active[lane] = (
            alive[lane]
            and relative_gap(C[CERT_F, lane], lb[lane]) > tol
            and S[SLOT_ETA, lane] == 0
            and S[SLOT_MAX_TERM, lane] <= 0.5 * S[SLOT_INV, lane]
        )
        any_lane |= active[lane]
    if any_lane:
        for j in range(d):
            for lane in range(npk):
                zt[j, lane] = (
                    z[j, lane] + S[SLOT_HEAD + j, lane] / S[SLOT_INV, lane]
                    if active[lane]
                    else z[j, lane]
                )
        lane_sums(u, w, mu, W, zt, eps, d2s, t, St)
        lane_certify(St, d, W, scratch, Ct)
        for lane in range(npk):
            take[lane] = active[lane] and Ct[CERT_F, lane] <= C[CERT_F, lane]
            if not active[lane]:
                continue
            lb[lane] = max(lb[lane], Ct[CERT_LB, lane])
            n_passes[lane] += 1
            alive[lane] = take[lane]
        take_trial(take, d, zt, St, Ct, z, S, C)
    iter_cap = min(max_iter, PACKED_MAX_ITER)
    while True:
        any_lane = False
        for lane in range(npk):
            if alive[lane] and not done[lane]:
                if relative_gap(C[CERT_F, lane], lb[lane]) <= tol:
                    done[lane] = True
                elif (
                    n_iter[lane] >= iter_cap
                    or recentre[lane]
                    or S[SLOT_ETA, lane] > 0
                    or S[SLOT_MAX_TERM, lane] > 0.5 * S[SLOT_INV, lane]
                ):
                    alive[lane] = False  # max_iter, the frame must move, or near a vertex
            active[lane] = alive[lane] and not done[lane]
            any_lane |= active[lane]
        if not any_lane:
            break

        lane_hessian(u, d2s, t, S[SLOT_INV], z, eps, vec[V_R], vec[V_LD], scratch[0], H)
        for lane in range(npk):
            ok[lane] = active[lane]
        g = C[CERT_G : CERT_G + d]
        lane_newton_direction(H, d, S[SLOT_INV], g, p, ok, vec[V_LD], vec[V_RDIAG], scratch)
        # newton_propose: the step must descend and stay within reach of the data.
        for lane in range(npk):
            pn2[lane] = 0.0
            zn2[lane] = 0.0
            gp[lane] = 0.0
            moved[lane] = False
        for j in range(d):
            for lane in range(npk):
                pn2[lane] += p[j, lane] * p[j, lane]
                zn2[lane] += z[j, lane] * z[j, lane]
                gp[lane] += g[j, lane] * p[j, lane]
        for j in range(d):
            for lane in range(npk):
                zt[j, lane] = z[j, lane] - p[j, lane] if active[lane] else z[j, lane]
                moved[lane] = moved[lane] or zt[j, lane] != z[j, lane]
        any_lane = False
        for lane in range(npk):
            reach = math.sqrt(zn2[lane]) + 2.0 * math.sqrt(float(d))
            if active[lane] and not (
                ok[lane] and gp[lane] > 0 and pn2[lane] <= reach * reach and moved[lane]
            ):
                alive[lane] = False
                active[lane] = False
            any_lane |= active[lane]
        if not any_lane:
            break

        lane_sums(u, w, mu, W, zt, eps, d2s, t, St)
        lane_certify(St, d, W, scratch, Ct)
        for lane in range(npk):
            if not active[lane]:
                continue
            lb[lane] = max(lb[lane], Ct[CERT_LB, lane])
            if not newton_accept(C[CERT_F, lane], Ct[CERT_F, lane], gp[lane]):
                alive[lane] = False  # the general driver's gradient step takes over
                continue
            step2 = 0.0
            ztn2 = 0.0
            for j in range(d):
                step2 += (zt[j, lane] - z[j, lane]) * (zt[j, lane] - z[j, lane])
                ztn2 += zt[j, lane] * zt[j, lane]
            recentre[lane] = step2 < 2.0**-80 * ztn2  # unless certified now, given back
            n_iter[lane] += 1
            n_passes[lane] += 1
        # Lanes that stepped take the trial point's sums; the others are finished with.
        for lane in range(npk):
            take[lane] = active[lane] and alive[lane]
        take_trial(take, d, zt, St, Ct, z, S, C)

    # The answer in the caller's coordinates and dtype; where rounding moved it, the
    # rounded point itself is certified (solve_problem's last step).
    recheck = False
    for lane in range(npk):
        moved2 = 0.0
        for j in range(d):
            y = c[j, lane] + z[j, lane] / s[lane]
            yr = float(np.float32(y)) if to_float else y
            median[j, lane] = yr
            zt[j, lane] = (yr - c[j, lane]) * s[lane]
            moved2 += (zt[j, lane] - z[j, lane]) * (zt[j, lane] - z[j, lane])
        moved[lane] = done[lane] and math.sqrt(moved2) > eps
        recheck |= moved[lane]
    # The largest squared distance of a weighted row from the point certified: the iterate,
    # or the rounded answer where rounding moved it.
    lane_far2(d2s, w, far2)
    if recheck:
        # The bound holds wherever it was found: only f at the rounded point is new.
        far2_rounded = scratch[0]
        lane_objective(u, w, zt, Ct[CERT_F], far2_rounded)
        for lane in range(npk):
            if not moved[lane]:
                continue
            C[CERT_F, lane] = Ct[CERT_F, lane]
            far2[lane] = far2_rounded[lane]
            n_passes[lane] += 1
            done[lane] = relative_gap(C[CERT_F, lane], lb[lane]) <= tol
    # The near radius R = NEAR_FACTOR rho (module docstring): a lane is certified only where
    # far2 <= (R s)^2, i.e. rho >= tau / s with tau = sqrt(far2) / NEAR_FACTOR; and
    # rho >= tau / s exactly when the rows closer than tau / s to m weigh less than W / 2 (rho
    # is the weighted lower median of those distances), robust_anchor's rounding aside:
    # weight below W / 2 - wtol settles it. Such a rho is at most 2^7 / s, so s >= 2^-990
    # keeps R finite.
    hi2 = scratch[2]
    for lane in range(npk):
        tau[lane] = math.sqrt(far2[lane]) * (1.0 / NEAR_FACTOR)
    # Where the start is m (and not split): the weight ``upto`` of the rows up to
    # tau + NEAR_MARGIN from it, on ||u - m||^2 of the first pass. Below W / 2 - wtol it
    # proves rho >= tau / s; only a row within NEAR_MARGIN of tau can make that differ from
    # the exact count, and then the lane is given back.
    for lane in range(npk):
        upto[lane] = 0.0
        hi = tau[lane] + NEAR_MARGIN
        hi2[lane] = hi * hi
    for q in range(n):
        for lane in range(npk):
            upto[lane] += w[q, lane] if srt[q, lane] <= hi2[lane] else 0.0
    # Where the start is the mean (m > START_MEDIAN_ROWS rows), m is not at hand: a
    # sufficient test at the iterate z instead. With r = (W / 2) / inv / sqrt(d) (inv <=
    # W / (2 rho_z) bounds the median distance rho_z from z below), fewer than W / 2 below
    # z_j - r and at least W / 2 up to z_j + r put m_j within r of z_j, so ||m - z|| <= delta
    # = r sqrt(d); then a row within tau of m lies within tau + delta of z, and fewer than
    # W / 2 of those prove rho >= tau / s. Failing it, the lane is given back.
    any_mean = False
    for lane in range(npk):
        lowmax[lane] = 0.0
        highmin[lane] = math.inf
        within[lane] = math.inf
        any_mean |= m[lane] > START_MEDIAN_ROWS
    if any_mean:
        lowc = scratch[0]
        highc = scratch[1]
        reach2 = scratch[2]
        for lane in range(npk):
            r[lane] = 0.5 * W[lane] / S[SLOT_INV, lane] * (1.0 / math.sqrt(float(d)))
        for j in range(d):
            for lane in range(npk):
                lowc[lane] = 0.0
                highc[lane] = 0.0
            for q in range(n):
                for lane in range(npk):
                    uq = u[j, q, lane]
                    wq = w[q, lane]
                    lowc[lane] += wq if uq < z[j, lane] - r[lane] + NEAR_MARGIN else 0.0
                    highc[lane] += wq if uq <= z[j, lane] + r[lane] - NEAR_MARGIN else 0.0
            for lane in range(npk):
                lowmax[lane] = lowc[lane] if lowc[lane] > lowmax[lane] else lowmax[lane]
                highmin[lane] = highc[lane] if highc[lane] < highmin[lane] else highmin[lane]
        for lane in range(npk):
            reach = tau[lane] + r[lane] * (math.sqrt(float(d)) * (1.0 + 2.0**-40)) + NEAR_MARGIN
            reach2[lane] = reach * reach
            within[lane] = 0.0
        for q in range(n):
            for lane in range(npk):
                within[lane] += w[q, lane] if d2s[q, lane] < reach2[lane] else 0.0
    for lane in range(npk):
        need_lo = 0.5 * W[lane] - wtol[lane]
        need_hi = 0.5 * W[lane] + wtol[lane]
        near = far2[lane] > 0.0 and s[lane] >= 2.0**-990
        if m[lane] <= START_MEDIAN_ROWS:
            near = near and not split[lane] and upto[lane] < need_lo
        else:
            near = (
                near
                and lowmax[lane] < need_lo
                and highmin[lane] >= need_hi
                and within[lane] < need_lo
            )
        certified[lane] = alive[lane] and done[lane] and near
