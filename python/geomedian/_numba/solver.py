"""Mirror of ``csrc/geomedian/solver.hpp``: the iteration driver and the batch driver.

1. moments pass -> frame: c = weighted mean, s = 2^-k with spread * s < 1;
2. pass at the start; per iteration: stop when the certified relative gap <= tol, propose
   a step, pass at the trial, keep the best LB, accept or retry. The gap is (f - LB) / f
   while no point can lie beyond 2^10 times the median distance from the iterate
   (``no_far_points``, an O(d) test at the start, at convergence and on a stall). Where one
   may, the frame is anchored once at a robust centre with a near radius R
   (``anchor_frame``, ``robust_frame.py``) and the gap becomes relative to the data within
   R of the iterate (``certificate.py``);
3. near a vertex (max_term > inv / 2, or a point within the coincidence radius) and at
   iterations 8, 16, 32, ... try the nearest weighted data point itself.

Which trial an iteration takes, its back-offs and its acceptance are the rules of
``schedule.py``, shared with the chunked driver (``geomedian._paths.chunked``).
``solve_problem`` runs the frame, the start and the answer's rounding; ``iterate``, the
loop. The C++ struct Solve (one solve's state) is spread over named tuples here: the
problem, the options, the pass and the workspace (fixed for the solve), and the frame fit,
the schedule and the certificate, which the steps return updated.

Small problems (n d <= SMALL_PROBLEM_SIZE) use the passes of ``small_pass.py`` (the C++
``SmallPass``), larger ones the chunked row passes (``SerialPass``, ``OpenMPPass``); the
pass's type picks, as in C++ (``pass_kind.py``).

Ctrl-C: the kernels cannot see Python's signals, so the bindings run them on a worker
thread and set ``stop[0]`` when the main thread gets KeyboardInterrupt; the driver reads
it once per iteration where the C++ one calls ``interrupt()`` (see ``interruptible.py``).
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit

from .certificate import (
    carried,
    certified_gap,
    certify,
    in_units_down,
    in_units_up,
    relative_gap,
)
from .fused_pass import (
    MOMENT_HALF_SPREAD,
    MOMENT_HEAD,
    MOMENT_NONFINITE,
    MOMENT_WEIGHT,
    SLOT_ETA,
    SLOT_F,
    SLOT_INV,
    SLOT_W_FAR,
    moments_size,
    sums_size,
)
from .gradient_descent import GD_HAS_PREV, GD_STATE_SIZE, gd_propose, gd_remember
from .jit_options import ENTRY, KERNEL, one_signature
from .mad import problem_mads
from .newton import NEWTON_SCRATCH_SIZE, newton_propose
from .packed_newton import (
    CERT_F,
    PACKED_PROBLEM_SIZE,
    S_LB,
    S_S,
    S_W,
    V_MEDIAN,
    network_cache,
    pack_buffers,
    pack_lanes,
    packed_newton,
)
from .parallel import (
    n_chunks,
    parallel_moments,
    parallel_nearest,
    parallel_sums,
    pass_scratch_size,
    serial_moments,
    serial_nearest,
    serial_sums,
)
from .pass_kind import by_pass
from .robust_frame import (
    FRAME_DEPTH,
    FRAME_HEADROOM,
    NEAR_FACTOR,
    robust_anchor,
    robust_sample_row,
    robust_sample_size,
    scaled_distance,
)
from .schedule import (
    TRIAL_GD,
    TRIAL_WEISZFELD,
    anchor_reset,
    anchoring,
    gap_progress_start,
    gap_stalled,
    majorize_only,
    newton_backs_off,
    newton_due,
    recentre_due,
    recentred,
    recentring,
    schedule_start,
    stalled,
    trial_accepted,
    trial_done,
    trial_kind,
    trial_remembered,
    vertex_due,
    vertex_new,
)
from .small_pass import (
    LANE_ROWS,
    NEWTON_MAX_D,
    SMALL_PROBLEM_SIZE,
    padded_rows,
    small_copy,
    small_first_row,
    small_hessian,
    small_load,
    small_moments,
    small_nearest,
    small_reload,
    small_scratch_width,
    small_start,
    small_sums,
)
from .weiszfeld import weiszfeld_step

# csrc/geomedian/types.hpp: enum class Status, enum class Method.
CONVERGED, MAX_ITER, STALLED, INTERRUPTED, NONFINITE, EMPTY, RANGE = 0, 1, 2, 3, 4, 5, 6
METHOD_WEISZFELD, METHOD_GD, METHOD_NEWTON = 0, 1, 2

from .._contract import (  # noqa: E402
    COINCIDENCE_RADIUS,
    DRAGGED_START,
    PACK,
    ROUNDING_RETRIES,
    ROUNDING_RETRY_TOL,
)

BATCH_BLOCK = 64  # problems per work item when a batch is spread over threads


# The most bytes of a pack's arrays that grow with its width: a core's L2 cache.
PACK_BYTES = 1 << 20


@njit(**KERNEL)
def pack_width(count, n, d):
    """Return the lanes of each pack for a batch of ``count`` problems of n x d.

    C++ runs its packs PACK wide, a vector register; LLVM as Numba drives it leaves a loop
    over PACK lanes scalar, and vectorises one over a run-time count. Here a pack is
    PACK times a power of two: up to BATCH_BLOCK (a block's problems in one pack), no wider
    than the batch needs (a single problem, the hot loop, keeps PACK lanes), and at most
    PACK_BYTES of coordinates, sorted columns and row sums. Each lane reads and writes its
    own problem only, so a problem's bits do not depend on the width.
    """
    most = min(BATCH_BLOCK, PACK_BYTES // (8 * n * (2 * d + 3)))
    width = PACK
    while width < count and 2 * width <= most:
        width *= 2
    return width


# A problem's frame (C++ struct FrameFit): scale s, total weight W, and in frame units the
# coincidence radius eps and the near radius (certificate.py; +inf: every point is near);
# half: half the spread of the moments pass.
FrameFit = namedtuple("FrameFit", ["s", "W", "eps", "near", "half"])
# enum class Anchor (the outcome of anchor_frame).
ANCHOR_MOVED, ANCHOR_UNCHANGED, ANCHOR_RANGE = 0, 1, 2
# Who asked iterate for the anchor (the C++ driver calls anchor_iterate there); at the
# start from a dragged mean, the walk starts at the robust centre (ANCHOR_FROM_CENTRE).
ANCHOR_NONE, ANCHOR_AT_START, ANCHOR_AT_CONVERGENCE, ANCHOR_AT_STALL = 0, 1, 2, 3
ANCHOR_FROM_CENTRE = 4

# The C++ structs as named tuples. Numba counts references to every array a named tuple
# holds at every call that passes it (two atomic operations per array), so the tuples hold
# few arrays and the iteration's steps stay in one function (iterate), as in C++.
# struct Problem (types.hpp): the points (n, d), their weights (length 0: unit weights) and
# the weights' power-of-two scale.
Problem = namedtuple("Problem", ["x", "w", "wscale"])
# struct Options (types.hpp): the method code, tol, max_iter, omit_nan.
Options = namedtuple("Options", ["method", "tol", "max_iter", "omit"])
# struct Frame (fused_pass.hpp): centre c, scale s, iterate z, coincidence and near radii.
Frame = namedtuple("Frame", ["c", "s", "z", "eps", "near"])
# The pass, one type per kind as in C++ (SmallPass, SerialPass, OpenMPPass): Numba compiles
# a function once per type of its arguments, so a solve compiles its own pass's code only
# (the pass_* functions below pick it by the pass's type, as the C++ overloads do).
# SmallPass: omit (SmallPass::omit); su, sw, st, smu, sidx, lane (small_buffers); rows =
# [m, npad], the rows present and their padded count, set by make_frame (SmallPass::m, npad).
SmallPass = namedtuple("SmallPass", ["omit", "su", "sw", "st", "smu", "sidx", "lane", "rows"])
# SerialPass: a problem's chunks on the calling thread; scratch, one chunk's sums (a
# Workspace's).
SerialPass = namedtuple("SerialPass", ["scratch"])
# OpenMPPass: a problem's chunks over Numba's threads; partial, the chunks' sums (its
# nearest-row search allocates its own, at most once per vertex trial).
OpenMPPass = namedtuple("OpenMPPass", ["partial"])
# struct Workspace: one buffer (workspace_size doubles, read through at() and the other
# accessors below), the robust anchor's sample, and the solve's counts [n_iter, n_passes]
# (C++: Outcome's).
Workspace = namedtuple("Workspace", ["buf", "sample", "counts"])
COUNT_ITER, COUNT_PASSES = 0, 1
# Workspace::at(k): the ten d-vectors at the head of the buffer.
V_C, V_Z, V_ZT, V_G, V_GT, V_Z_PREV, V_G_PREV, V_NEWTON, V_X0, V_ANCHOR = range(10)


@njit(**ENTRY)
def workspace_size(d):
    """Return the doubles of a Workspace's buffer.

    Ten d-vectors (c, z, zt, g, gt, z_prev, g_prev, the Newton step, the reference row x0,
    the robust anchor m), then the GD state, the two sums, the moments, the pass scratch
    and the Hessian with its factorisation's scratch.
    """
    return (
        10 * d
        + GD_STATE_SIZE
        + 2 * sums_size(d)
        + moments_size(d)
        + pass_scratch_size(d)
        + NEWTON_SCRATCH_SIZE
    )


@njit(**KERNEL)
def workspace(buf, sample):
    """Return the Workspace on ``buf`` (workspace_size(d) doubles) and ``sample``."""
    return Workspace(buf, sample, np.zeros(2, dtype=np.int64))


@one_signature
def at(ws, k, d):
    """Return the k-th d-vector of the workspace (V_C, V_Z, ...; C++: Workspace::at)."""
    return ws.buf[k * d : (k + 1) * d]


@one_signature
def gd_of(ws, d):
    """Return the GD state (gradient_descent.py) of the workspace."""
    return ws.buf[10 * d : 10 * d + GD_STATE_SIZE]


@one_signature
def sums_a(ws, d):
    """Return the sums at the iterate (C++: Workspace::sums_a)."""
    o = 10 * d + GD_STATE_SIZE
    return ws.buf[o : o + sums_size(d)]


@one_signature
def sums_b(ws, d):
    """Return the sums at the trial (C++: Workspace::sums_b)."""
    o = 10 * d + GD_STATE_SIZE + sums_size(d)
    return ws.buf[o : o + sums_size(d)]


@one_signature
def moments_of(ws, d):
    """Return the moments' buffer (C++: Workspace::moments)."""
    o = 10 * d + GD_STATE_SIZE + 2 * sums_size(d)
    return ws.buf[o : o + moments_size(d)]


@one_signature
def scratch_of(ws, d):
    """Return the pass scratch, one chunk's sums (C++: Workspace::scratch)."""
    o = 10 * d + GD_STATE_SIZE + 2 * sums_size(d) + moments_size(d)
    return ws.buf[o : o + pass_scratch_size(d)]


@one_signature
def hessian_of(ws, d):
    """Return the Hessian and its factorisation's scratch (a stack array in C++)."""
    o = workspace_size(d) - NEWTON_SCRATCH_SIZE
    return ws.buf[o : o + NEWTON_SCRATCH_SIZE]


@njit(**KERNEL)
def small_buffers(n, d):
    """Return the small pass's per-thread buffers (SmallBuffers in C++).

    su (d, stride) the copy, sw (stride) its weights, st (stride) scratch, smu (d)
    sum_q w_q u_q, sidx (n) the present rows, lane (LANE_ROWS, small_scratch_width(d))
    the start's lane sums, then the pass's.
    """
    stride = padded_rows(n)
    return (
        np.empty((d, stride)),
        np.empty(stride),
        np.empty(stride),
        np.empty(d),
        np.empty(n, dtype=np.int64),
        np.empty((LANE_ROWS, small_scratch_width(d))),
    )


# What the driver asks of its pass, per kind (C++: the pass's methods and the overloads on
# the pass type in solver.hpp). Each stub's implementations follow it; by_pass compiles a
# call as the one for the type of its argument pa. ROW_PASSES: the two row passes, which
# read the caller's rows in place.
ROW_PASSES = (SerialPass, OpenMPPass)


def small_present_rows(pr, pa):
    return pa.rows[0]


def every_row(pr, pa):
    return pr.x.shape[0]


@by_pass({SmallPass: small_present_rows, **dict.fromkeys(ROW_PASSES, every_row)})
def present_rows(pr, pa):
    """Return the count of rows the robust anchor samples (C++: present_rows).

    Every row for the row passes, the present ones (no NaN under omit) for the small pass.
    """


def small_present_row(pa, q):
    return pa.sidx[q]


def same_row(pa, q):
    return q


@by_pass({SmallPass: small_present_row, **dict.fromkeys(ROW_PASSES, same_row)})
def present_row(pa, q):
    """Return the row index of the q-th present row (C++: present_row)."""


def small_pass_first_row(pr, pa):
    i0 = small_first_row(pr.x, pa.omit)
    if i0 < 0:
        pa.rows[0] = pa.rows[1] = 0
    return i0


def row_zero(pr, pa):
    return 0


@by_pass({SmallPass: small_pass_first_row, **dict.fromkeys(ROW_PASSES, row_zero)})
def first_row(pr, pa):
    """Return the reference row x0 of the moments, -1 when none is present (C++: first_row).

    The row passes read every row, so x0 is the first; the small pass may skip rows
    (missing data).
    """


def small_pass_moments(pr, pa, i0, mom):
    x = pr.x
    d = x.shape[1]
    m, npad, inf_in_omitted = small_copy(x, pr.w, pr.wscale, pa.omit, i0, pa.su, pa.sw, pa.sidx)
    big = 1.7976931348623157e308 if x.itemsize == 8 else 3.4028234663852886e38
    small_moments(pa.su, pa.sw, npad, big, d, mom)
    mom[MOMENT_NONFINITE] += inf_in_omitted  # inf is an error even in an omitted row
    pa.rows[0] = m
    pa.rows[1] = npad


def serial_pass_moments(pr, pa, i0, mom):
    serial_moments(pr.x, pr.w, pr.wscale, pr.x[i0], mom, pa.scratch)


def openmp_pass_moments(pr, pa, i0, mom):
    parallel_moments(pr.x, pr.w, pr.wscale, pr.x[i0], mom, pa.partial)


@by_pass(
    {SmallPass: small_pass_moments, SerialPass: serial_pass_moments,
     OpenMPPass: openmp_pass_moments}
)  # fmt: skip
def pass_moments(pr, pa, i0, mom):
    """Write the moments of the problem about row i0 into mom (C++: pass.moments(x0, mom)).

    The small pass copies the problem into pa.su first (frame coordinates) and counts its
    present rows into pa.rows.
    """


def small_frame_ready(pa, c, s):
    small_load(pa.su, pa.sw, pa.rows[1], c.shape[0], c, s, pa.smu)


def nothing_to_load(pa, c, s):
    pass


@by_pass({SmallPass: small_frame_ready, **dict.fromkeys(ROW_PASSES, nothing_to_load)})
def frame_ready(pa, c, s):
    """Once the frame (c, s) is known: the small pass loads the problem into it."""


def small_frame_moved(pr, pa, c, s):
    small_reload(pr.x, pa.sidx, pa.rows[0], pa.rows[1], c, s, pa.su, pa.sw, pa.smu)


def nothing_to_move(pr, pa, c, s):
    pass


@by_pass({SmallPass: small_frame_moved, **dict.fromkeys(ROW_PASSES, nothing_to_move)})
def frame_moved(pr, pa, c, s):
    """After the centre moved: the small pass copies the problem into the new frame."""


def small_default_start(pa, W, d, z):
    small_start(pa.su, pa.sw, W, pa.rows[0], pa.rows[1], d, pa.st, pa.lane, z)


def centre_start(pa, W, d, z):
    for j in range(d):
        z[j] = 0.0


@by_pass({SmallPass: small_default_start, **dict.fromkeys(ROW_PASSES, centre_start)})
def default_start(pa, W, d, z):
    """Write the start without init to z (C++: default_start): the small pass's, else the centre."""


def small_starts_at_mean(pa):
    return False


def row_starts_at_mean(pa):
    return True


@by_pass({SmallPass: small_starts_at_mean, **dict.fromkeys(ROW_PASSES, row_starts_at_mean)})
def starts_at_mean(pa):
    """Whether default_start is the weighted mean, which outliers drag (C++: starts_at_mean)."""


def small_pass_sums(pr, pa, fr, W, out):
    small_sums(
        pa.su, pa.sw, pa.smu, W, pa.rows[1], pr.x.shape[1], fr.z, fr.eps, fr.near, pa.st,
        pa.lane, out,
    )  # fmt: skip


def serial_pass_sums(pr, pa, fr, W, out):
    serial_sums(pr.x, pr.w, pr.wscale, fr.c, fr.s, fr.z, fr.eps, fr.near, out, pa.scratch)


def openmp_pass_sums(pr, pa, fr, W, out):
    parallel_sums(pr.x, pr.w, pr.wscale, fr.c, fr.s, fr.z, fr.eps, fr.near, out, pa.partial)


@by_pass({SmallPass: small_pass_sums, SerialPass: serial_pass_sums, OpenMPPass: openmp_pass_sums})
def pass_sums(pr, pa, fr, W, out):
    """Write the iteration sums at fr.z into out (C++: pass.sums(fr, out); W: SmallPass::W)."""


def small_pass_nearest(pr, pa, fr):
    return pa.sidx[small_nearest(pa.su, pa.sw, pa.rows[0], pr.x.shape[1], fr.z)]


def serial_pass_nearest(pr, pa, fr):
    return serial_nearest(pr.x, pr.w, fr.c, fr.s, fr.z)


def openmp_pass_nearest(pr, pa, fr):
    nc = pa.partial.shape[0]
    best_i, best_d2 = np.empty(nc, dtype=np.int64), np.empty(nc)
    return parallel_nearest(pr.x, pr.w, fr.c, fr.s, fr.z, best_i, best_d2)


@by_pass(
    {SmallPass: small_pass_nearest, SerialPass: serial_pass_nearest,
     OpenMPPass: openmp_pass_nearest}
)  # fmt: skip
def pass_nearest(pr, pa, fr):
    """Return the row of positive weight nearest to the iterate (C++: pass.nearest(fr))."""


def small_pass_hessian(pa, fr, inv, H):
    small_hessian(pa.su, pa.sw, inv, pa.rows[1], fr.z.shape[0], fr.z, fr.eps, pa.st, H)
    return True


def no_hessian(pa, fr, inv, H):
    return False


@by_pass({SmallPass: small_pass_hessian, **dict.fromkeys(ROW_PASSES, no_hessian)})
def pass_hessian(pa, fr, inv, H):
    """Write the Hessian at the iterate to H; return False where the pass forms none.

    C++: pass_hessian. Only the small pass forms it: a d x d accumulation per row would
    cost the row passes more than the passes its Newton steps save.
    """


@njit(**KERNEL)
def sample_size(n, d):
    """Doubles of the robust anchor's sample for problems of n rows (C++: Workspace::sample)."""
    return robust_sample_size(n) * (d + 3)


@njit(**KERNEL)
def sample_anchor(pr, pa, ws, m):
    """Compute m and rho of ``robust_frame.py`` over a sample of the problem's present rows.

    m into ``m``, rho returned (present_rows, present_row).
    """
    x = pr.x
    d = x.shape[1]
    rows = present_rows(pr, pa)
    S = robust_sample_size(rows)
    sample = ws.sample
    xs = sample[: S * d].reshape((S, d))
    wv = sample[S * d : S * d + S]
    v = sample[S * d + S : S * d + 2 * S]
    vw = sample[S * d + 2 * S : S * d + 3 * S]
    weighted = pr.w.shape[0] > 0
    for k in range(S):
        q = robust_sample_row(k, rows)
        i = present_row(pa, q)
        for j in range(d):
            xs[k, j] = x[i, j]
        wv[k] = pr.w[i] if weighted else 1.0
    return robust_anchor(xs, wv, S, d, v, vw, m)


@njit(**KERNEL)
def make_frame(pr, pa, ws):
    """Fill the centre at(ws, V_C); return (frame status, FrameFit).

    Frame status: CONVERGED (0) for ok, NONFINITE or EMPTY. For the small pass the problem
    is copied into pa.su (frame coordinates) and its present rows counted into pa.rows.
    V_X0 receives the reference row x0 as float64 (C++: Workspace::reference_row).
    """
    x = pr.x
    d = x.shape[1]
    c, x0d, mom = at(ws, V_C, d), at(ws, V_X0, d), moments_of(ws, d)
    unset = FrameFit(1.0, 1.0, COINCIDENCE_RADIUS, math.inf, 0.0)
    i0 = first_row(pr, pa)
    if i0 < 0:
        return EMPTY, unset
    pass_moments(pr, pa, i0, mom)
    if mom[MOMENT_NONFINITE] > 0:
        return NONFINITE, unset
    W = mom[MOMENT_WEIGHT]
    # Only omitted rows can leave no weight: the caller rejects all-zero weight rows.
    if not W > 0:
        return EMPTY, unset
    half = mom[MOMENT_HALF_SPREAD]
    e = math.frexp(half)[1]  # spread = 2 half < 2^(e+1)
    s = math.ldexp(1.0, min(max(-(e + 1), -1022), 1022)) if half > 0 else 1.0
    # A spread below 2^-1022 (subnormal coordinates) spans less than 1 in the frame: the
    # coincidence radius shrinks with it.
    eps = COINCIDENCE_RADIUS
    if half > 0 and -(e + 1) > 1022:
        eps = math.ldexp(COINCIDENCE_RADIUS, 1022 + e + 1)
    finite = True
    for j in range(d):
        x0d[j] = x[i0, j]
        c[j] = x0d[j] + 2.0 * (mom[MOMENT_HEAD + j] / W)
        finite &= math.isfinite(c[j])
    # Only a spread near the overflow threshold makes the mean overflow; any finite
    # centre near the data will do, so fall back to the reference point.
    if not finite:
        for j in range(d):
            c[j] = x0d[j]
    frame_ready(pa, c, s)
    return CONVERGED, FrameFit(s, W, eps, math.inf, half)


@njit(**KERNEL)
def no_far_points(S, W, reach):
    """Whether the classic certificate speaks at the scale of the data around the iterate.

    No point lies farther than NEAR_FACTOR times the median distance rho_y from y: rho_y >=
    (W / 2 - eta) / inv, and every point lies within reach of y (frame_reach). O(d), no pass.
    """
    half_weight = 0.5 * W - S[SLOT_ETA]
    return half_weight > 0 and S[SLOT_INV] > 0 and reach * S[SLOT_INV] <= NEAR_FACTOR * half_weight


@njit(**KERNEL)
def frame_reach(c, s, z, x0d, d, half):
    """||y - x0|| + 2 sqrt(d) half in frame units, for the iterate z of the frame (c, s)."""
    q = 0.0
    for j in range(d):
        r = (c[j] - x0d[j]) * s + z[j]
        q += r * r
    return math.sqrt(q) + 2.0 * math.sqrt(d) * half * s


@njit(**KERNEL)
def anchor_frame(pr, pa, ws, fit):
    """Anchor the frame at the robust centre m (far points may lurk); return (Anchor, fit).

    The near radius R = NEAR_FACTOR rho (``robust_frame.py``), the scale raised until R s ~ 1
    as far as the far points' headroom allows, the coincidence radius 2^-40 of R s at most.
    rho = 0 (more than half the sample's weight sits at m): the frame moves to m with its
    scale and the classic certificate. ANCHOR_UNCHANGED: rho not finite; ANCHOR_RANGE: R s
    below 2^-FRAME_DEPTH, beyond float64. m: at(ws, V_ANCHOR), the centre: at(ws, V_C).
    """
    d = pr.x.shape[1]
    c, m = at(ws, V_C, d), at(ws, V_ANCHOR, d)
    rho = sample_anchor(pr, pa, ws, m)
    if rho == 0:
        # More than half the sample's weight sits exactly at m, which (Kuhn) is then the
        # median: go on from m in a frame centred on it, where it is represented exactly
        # (the mean-centred frame may round it away), with the classic certificate.
        for j in range(d):
            c[j] = m[j]
        frame_moved(pr, pa, c, fit.s)
        return ANCHOR_MOVED, fit
    R = NEAR_FACTOR * rho
    if not (R > 0 and math.isfinite(R)):
        return ANCHOR_UNCHANGED, fit
    e = math.frexp(fit.half)[1]
    eR = math.frexp(R)[1]  # R < 2^eR
    up = min(max(e + 1 - eR, 0), FRAME_HEADROOM)
    s = math.ldexp(fit.s, up)  # fit.s: make_frame's scale (anchored once)
    Rs = R * s
    if not Rs >= math.ldexp(1.0, -FRAME_DEPTH):
        return ANCHOR_RANGE, fit
    for j in range(d):
        c[j] = m[j]
    fit = FrameFit(s, fit.W, COINCIDENCE_RADIUS * min(1.0, Rs), Rs, fit.half)
    frame_moved(pr, pa, c, s)
    return ANCHOR_MOVED, fit


@njit(**KERNEL)
def unsolved(median, counts, why):
    """No answer (EMPTY, NONFINITE or RANGE): NaN everywhere, the counts as they stand."""
    median[:] = np.nan
    return np.nan, np.nan, np.nan, counts[COUNT_ITER], counts[COUNT_PASSES], why, np.nan


@njit(**KERNEL, inline="always")
def pass_at_iterate(pr, pa, ws, fit, lb, new_frame):
    """Return (cert, lb) of a pass at the iterate; lb replaced (a new frame) or the best."""
    d = pr.x.shape[1]
    S, g = sums_a(ws, d), at(ws, V_G, d)
    pass_sums(pr, pa, Frame(at(ws, V_C, d), fit.s, at(ws, V_Z, d), fit.eps, fit.near), fit.W, S)
    ws.counts[COUNT_PASSES] += 1
    cert = certify(S, d, fit.W, g)
    return cert, (cert.lb if new_frame else max(lb, cert.lb))


@njit(**KERNEL)
def vouches(ws, fit, sc, d):
    """Whether a certified gap at the iterate vouches for the location (C++: vouches).

    After anchoring always (the certificate then measures the gap at the near points'
    scale), before it where no point can be far (no_far_points).
    """
    if sc.anchored:
        return True
    c, z, x0d = at(ws, V_C, d), at(ws, V_Z, d), at(ws, V_X0, d)
    return no_far_points(sums_a(ws, d), fit.W, frame_reach(c, fit.s, z, x0d, d, fit.half))


@njit(**KERNEL, inline="always")
def anchor_iterate(pr, pa, ws, fit, sc, cert, lb, from_centre):
    """Anchor the frame once; return (Anchor, fit, sc, cert, lb) (C++: anchor_iterate).

    Goes on from the iterate where it lies within the near radius of the robust centre
    (else, or ``from_centre``, from that centre) with a fresh pass; cert and lb unchanged
    unless moved.
    """
    d = pr.x.shape[1]
    c, z, zt = at(ws, V_C, d), at(ws, V_Z, d), at(ws, V_ZT, d)
    sc = anchoring(sc)
    for j in range(d):
        zt[j] = c[j] + z[j] / fit.s  # the iterate, data units
    a, fit = anchor_frame(pr, pa, ws, fit)
    if a != ANCHOR_MOVED:
        return a, fit, sc, cert, lb
    s, near = fit.s, fit.near
    keep = not from_centre and near < math.inf and scaled_distance(zt, c, d) * s <= near
    for j in range(d):
        z[j] = (zt[j] - c[j]) * s if keep else 0.0
    gd_of(ws, d)[GD_HAS_PREV] = 0.0
    sc = anchor_reset(sc)
    # The bounds of the old frame are dropped: where it could not resolve the inliers
    # (rounded together, or their squares underflowed), its sums described another problem.
    cert, lb = pass_at_iterate(pr, pa, ws, fit, lb, True)
    return a, fit, sc, cert, lb


@njit(**KERNEL, inline="always")
def recentre_frame(pr, pa, ws, fit, sc, lb):
    """Move the frame's centre onto the iterate; return (sc, cert, lb) of the pass there.

    Steps have shrunk towards the resolution of z = (y - c) s; where the optimum lies far
    from the weighted mean, z carries too few digits near it (C++: recentre_frame).
    """
    d = pr.x.shape[1]
    c, z = at(ws, V_C, d), at(ws, V_Z, d)
    sc = recentred(sc, ws.counts[COUNT_ITER])
    for j in range(d):
        c[j] += z[j] / fit.s
        z[j] = 0.0
    gd_of(ws, d)[GD_HAS_PREV] = 0.0
    frame_moved(pr, pa, c, fit.s)
    cert, lb = pass_at_iterate(pr, pa, ws, fit, lb, False)
    return sc, cert, lb


@njit(**KERNEL)
def vertex_trial(x, k, c, s, z, zt):
    """Write data point k as the trial zt; return False when z already sits there."""
    moved = False
    for j in range(x.shape[1]):
        zt[j] = (x[k, j] - c[j]) * s
        moved |= zt[j] != z[j]
    return moved


@njit(**KERNEL, inline="always")
def iterate(pr, opt, tol, pa, ws, fit, sc, cert, lb, anchor_first, stop):
    """Run the loop (C++: iterate) to tol; return (status, fit, sc, cert, lb), RANGE: no answer.

    ``sc``: the schedule (C++: Solve::sc), kept across the calls of solve_problem;
    ``anchor_first``: ANCHOR_NONE, or ANCHOR_AT_START / ANCHOR_FROM_CENTRE (solve_problem's
    anchor before the first step).

    The C++ loop anchors where its convergence test or a stall asks (and solve_problem at
    the start); here the anchor has one call site, at the top of the loop, and anchor_at
    says who asked: Numba inlines a copy of a function (the anchor and its pass) at each
    call. The C++ driver swaps the iterate's and the trial's pointers; here the trial's
    values are copied into the iterate's arrays (the same values), so the frames at z and
    at zt change only with the frame's scale (fit).
    """
    x = pr.x
    d = x.shape[1]
    c, z, zt = at(ws, V_C, d), at(ws, V_Z, d), at(ws, V_ZT, d)
    g, gt, S, St = at(ws, V_G, d), at(ws, V_GT, d), sums_a(ws, d), sums_b(ws, d)
    gd, H = gd_of(ws, d), hessian_of(ws, d)
    z_prev, g_prev, newton_step = at(ws, V_Z_PREV, d), at(ws, V_G_PREV, d), at(ws, V_NEWTON, d)
    counts = ws.counts
    progress = gap_progress_start()
    anchor_at = anchor_first
    fz, ft = Frame(c, fit.s, z, fit.eps, fit.near), Frame(c, fit.s, zt, fit.eps, fit.near)
    while True:
        if anchor_at != ANCHOR_NONE:
            from_centre = anchor_at == ANCHOR_FROM_CENTRE
            a, fit, sc, cert, lb = anchor_iterate(pr, pa, ws, fit, sc, cert, lb, from_centre)
            if a == ANCHOR_RANGE:
                return RANGE, fit, sc, cert, lb
            if a != ANCHOR_MOVED and anchor_at == ANCHOR_AT_CONVERGENCE:
                return CONVERGED, fit, sc, cert, lb
            if a != ANCHOR_MOVED and anchor_at == ANCHOR_AT_STALL:
                return STALLED, fit, sc, cert, lb
            anchor_at = ANCHOR_NONE
            progress = gap_progress_start()
            fz, ft = Frame(c, fit.s, z, fit.eps, fit.near), Frame(c, fit.s, zt, fit.eps, fit.near)
        gap = certified_gap(cert, lb)
        if gap <= tol:
            if vouches(ws, fit, sc, d):
                return CONVERGED, fit, sc, cert, lb
            anchor_at = ANCHOR_AT_CONVERGENCE
            continue
        n_iter = counts[COUNT_ITER]
        at_floor, progress = gap_stalled(progress, gap, n_iter)
        if at_floor:
            if not vouches(ws, fit, sc, d):
                anchor_at = ANCHOR_AT_STALL
                continue
            return STALLED, fit, sc, cert, lb
        if n_iter >= opt.max_iter:
            return MAX_ITER, fit, sc, cert, lb
        if stop[0] != 0:
            return INTERRUPTED, fit, sc, cert, lb
        if sc.recentre:
            sc, cert, lb = recentre_frame(pr, pa, ws, fit, sc, lb)
            continue
        vertex = False
        due, sc = vertex_due(sc, S, n_iter)
        if due:
            k = pass_nearest(pr, pa, fz)
            counts[COUNT_PASSES] += 1
            new, sc = vertex_new(sc, k, n_iter)
            if new:
                vertex = vertex_trial(x, k, c, fit.s, z, zt)
        newton = False
        decrement = 0.0
        if (
            not vertex
            and newton_due(sc, opt.method == METHOD_NEWTON, d, n_iter)
            and pass_hessian(pa, fz, S[SLOT_INV], H)
        ):
            newton, decrement = newton_propose(H, d, S[SLOT_INV], z, g, newton_step, zt)
            if not newton:
                sc = newton_backs_off(sc, n_iter)
        majorize = majorize_only(S)
        kind = trial_kind(vertex, newton, opt.method != METHOD_WEISZFELD)
        moved = True
        if kind == TRIAL_GD:
            moved = gd_propose(gd, z_prev, g_prev, S, d, fit.W, z, g, sc.retry, zt)
        elif kind == TRIAL_WEISZFELD:
            moved = weiszfeld_step(S, d, z, zt)
        if not moved:
            if not stalled(sc, z, d, n_iter):
                sc = recentring(sc)
                continue
            if not vouches(ws, fit, sc, d):
                anchor_at = ANCHOR_AT_STALL
                continue
            return STALLED, fit, sc, cert, lb
        pass_sums(pr, pa, ft, fit.W, St)
        counts[COUNT_PASSES] += 1
        ct = certify(St, d, fit.W, gt)
        lb = max(lb, ct.lb)
        accept = trial_accepted(
            kind, majorize, gd, cert, ct, decrement, S[SLOT_W_FAR], St[SLOT_W_FAR]
        )
        recentre = False
        if accept:
            if trial_remembered(kind):
                gd_remember(gd, z_prev, g_prev, d, z, g)
            recentre = recentre_due(z, zt, d)
            for j in range(d):
                z[j] = zt[j]
                g[j] = gt[j]
            for j in range(S.shape[0]):
                S[j] = St[j]
            cert = ct
            counts[COUNT_ITER] += 1
        sc = trial_done(sc, kind, accept, recentre, counts[COUNT_ITER])


@njit(**KERNEL)
def solve_problem(pr, opt, init, has_init, pa, ws, stop, median):
    """Solve one problem; return (objective, lower_bound, gap, n_iter, n_passes, status, scale).

    ``stop``: a one-element array; a non-zero ``stop[0]`` abandons the solve (status
    INTERRUPTED) at the next iteration. ``median``: d entries, written.
    """
    x = pr.x
    d = x.shape[1]
    c, z, zt, g = at(ws, V_C, d), at(ws, V_Z, d), at(ws, V_ZT, d), at(ws, V_G, d)
    S, St, counts = sums_a(ws, d), sums_b(ws, d), ws.counts
    counts[COUNT_ITER] = 0
    counts[COUNT_PASSES] = 1
    gd_of(ws, d)[:] = 0.0
    fs, fit = make_frame(pr, pa, ws)
    if fs != CONVERGED:
        return unsolved(median, counts, fs)
    if has_init:
        for j in range(d):
            z[j] = (init[j] - c[j]) * fit.s
    else:
        default_start(pa, fit.W, d, z)
    pass_sums(pr, pa, Frame(c, fit.s, z, fit.eps, fit.near), fit.W, S)
    counts[COUNT_PASSES] += 1
    # A start so far from the data that its distances overflow tells nothing about them:
    # the usual start instead (the caller's start is a hint, never the answer).
    if has_init and not math.isfinite(S[SLOT_F]):
        default_start(pa, fit.W, d, z)
        pass_sums(pr, pa, Frame(c, fit.s, z, fit.eps, fit.near), fit.W, S)
        counts[COUNT_PASSES] += 1
    # The points are finite (moments), so an infinite objective means distances beyond the
    # largest double: points spanning more than float64 can hold.
    if not math.isfinite(S[SLOT_F]):
        return unsolved(median, counts, RANGE)
    cert = certify(S, d, fit.W, g)
    # Far points that may drag the mean (the usual start) show at once: the anchor comes
    # first. A mean that sees a share of the weight pull one way lies off the bulk of the
    # data: the walk then starts at the robust centre (else from the start, within reach).
    dragged = not has_init and starts_at_mean(pa) and cert.gnorm >= DRAGGED_START * fit.W
    anchor_first = ANCHOR_NONE
    if dragged:
        anchor_first = ANCHOR_FROM_CENTRE
    elif not vouches(ws, fit, schedule_start(), d):
        anchor_first = ANCHOR_AT_START
    # The answer in the caller's coordinates and dtype. Where rounding c + z / s moves it
    # measurably (float32 points; data far from the origin relative to its spread), the
    # rounded point itself is certified, not the iterate it came from; where that costs
    # the gap more than tol allows, the loop goes on towards a tighter target.
    target = opt.tol
    sc = schedule_start()
    lb = cert.lb
    rounded = cert
    moved = False
    for retry in range(ROUNDING_RETRIES + 1):
        status, fit, sc, cert, lb = iterate(
            pr, opt, target, pa, ws, fit, sc, cert, lb,
            anchor_first if retry == 0 else ANCHOR_NONE, stop,
        )  # fmt: skip
        if status == RANGE:
            return unsolved(median, counts, RANGE)
        s = fit.s
        moved2 = 0.0
        for j in range(d):
            median[j] = c[j] + z[j] / s
            if x.itemsize == 4:
                median[j] = np.float32(median[j])
            zt[j] = (median[j] - c[j]) * s
            moved2 += (zt[j] - z[j]) * (zt[j] - z[j])
        moved = math.sqrt(moved2) > fit.eps
        if not moved:
            break
        pass_sums(pr, pa, Frame(c, s, zt, fit.eps, fit.near), fit.W, St)
        counts[COUNT_PASSES] += 1
        # The iterate's gap carried over the move (second order), where the near bound at
        # the rounded point is first order (its gradient's).
        gt = at(ws, V_GT, d)
        rounded = carried(certify(St, d, fit.W, gt), cert, lb, St, gt, zt, z, d, fit.W)
        lb = max(lb, rounded.lb)
        # Done where certified, and hopeless where the rounding alone costs tol.
        after = certified_gap(rounded, lb)
        if status != CONVERGED or after <= opt.tol or after - certified_gap(cert, lb) >= opt.tol:
            break
        target *= ROUNDING_RETRY_TOL
    s, W = fit.s, fit.W
    if moved:
        cert = rounded
        if status == CONVERGED and certified_gap(cert, lb) > opt.tol:
            status = STALLED
    # The near-point gap is the tighter one where far points dominate f; f - gap_near may
    # then round to f itself (the bound is the gap, not this difference).
    bound = cert.f - cert.gap_near if cert.gap_near < cert.f - lb else lb
    objective = in_units_up(cert.f, s, pr.wscale)
    lower_bound = in_units_down(bound, s, pr.wscale)
    gap = certified_gap(cert, lb)
    # An objective or bound beyond float64 in the caller's units certifies nothing there.
    if status == CONVERGED and not (math.isfinite(objective) and math.isfinite(lower_bound)):
        status = STALLED
    n_iter, n_passes = counts[COUNT_ITER], counts[COUNT_PASSES]
    return objective, lower_bound, gap, n_iter, n_passes, status, cert.scale / (W * s)


@njit(**ENTRY)
def evaluate_at(x, w, wscale, y, pa, buf, grad):
    """Return (points finite, f(y), LB(y)) and write the minimum-norm subgradient to grad.

    ``pa``: a SerialPass or an OpenMPPass for x, which the bindings pick by the threads.
    """
    d = x.shape[1]
    ws = workspace(buf, np.empty(0))
    pr = Problem(x, w, wscale)
    fs, fit = make_frame(pr, pa, ws)
    if fs != CONVERGED:
        return False, np.nan, np.nan
    s, W = fit.s, fit.W
    # Centre the frame on y itself so that x_i - y is formed without a detour.
    c, z, S = at(ws, V_C, d), at(ws, V_Z, d), sums_a(ws, d)
    for j in range(d):
        c[j] = y[j]
        z[j] = 0.0
    pass_sums(pr, pa, Frame(c, s, z, fit.eps, fit.near), W, S)
    cert = certify(S, d, W, grad)
    for j in range(d):
        grad[j] /= wscale
    f = in_units_up(cert.f, s, wscale)
    bound = cert.f - cert.gap_near if cert.gap_near < cert.f - cert.lb else cert.lb
    lb = in_units_down(bound, s, wscale)
    return True, f, lb


@njit(**KERNEL)
def small_scratch(n, d, omit):
    """Return (SmallPass, Workspace) for problems of n rows, reused across a thread's problems."""
    su, sw, st, smu, sidx, lane = small_buffers(n, d)
    ws = workspace(np.empty(workspace_size(d)), np.empty(sample_size(n, d)))
    return SmallPass(omit, su, sw, st, smu, sidx, lane, np.zeros(2, dtype=np.int64)), ws


@njit(**KERNEL)
def serial_scratch(n, d):
    """Return (SerialPass, Workspace) for problems of n rows (scratch: the Workspace's)."""
    ws = workspace(np.empty(workspace_size(d)), np.empty(sample_size(n, d)))
    return SerialPass(scratch_of(ws, d)), ws


@njit(**KERNEL)
def openmp_scratch(n, d):
    """Return (OpenMPPass, Workspace) for problems of n rows (every chunk's sums)."""
    ws = workspace(np.empty(workspace_size(d)), np.empty(sample_size(n, d)))
    return OpenMPPass(np.empty((n_chunks(n, d), pass_scratch_size(d)))), ws


@njit(**KERNEL, inline="always")
def solve_one(k, x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads, terms):
    """Solve problem k of a batch into the k-th entries of ``results``.

    ``pa``, ``ws``: a pass and its workspace (``small_scratch`` and the like), reused
    across problems; ``results``:
    (median, objective, lower_bound, gap, n_iter, n_passes, status, scale), the batch's
    output arrays; ``mads``: (emad, smad, bcmad, count), None unless asked for
    (``store_mads``), with ``terms`` their scratch.
    """
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale = results
    row = 0 if w.shape[0] == 1 else k
    pr = Problem(x[k], w[row], wscale[row])
    out = solve_problem(pr, opt, init[k if has_init else 0], has_init, pa, ws, stop, median[k])
    objective[k], lower_bound[k], gap[k], n_iter[k], n_passes[k], status[k], scale[k] = out
    store_mads(k, x, w, median, mads, terms)


@njit(**KERNEL)
def store_mads(k, x, w, median, mads, terms):
    """Problem k's deviations around its stored median, where asked for (``mad.py``).

    ``mads``: None where not asked for, a type of its own, so that only the calls that ask
    compile the deviations.
    """
    if mads is not None:
        problem_mads(x[k], w[0 if w.shape[0] == 1 else k], median[k], terms, mads, k)


@njit(**KERNEL)
def mad_terms(n, mads):
    """Return the scratch of ``store_mads`` for n rows (empty unless asked for)."""
    return np.empty((3, 0 if mads is None else n))


@njit(**KERNEL)
def skip_problems(lo, hi, results):
    """Mark problems lo..hi-1 as not solved because of an interrupt."""
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale = results
    for k in range(lo, hi):
        median[k] = np.nan
        objective[k] = lower_bound[k] = gap[k] = scale[k] = np.nan
        n_iter[k] = n_passes[k] = 0
        status[k] = INTERRUPTED


@njit(**KERNEL, inline="always")
def solve_within(x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads):
    """Few large problems, one after another, each pass by ``pa`` (OpenMPPass: threaded)."""
    P, n = x.shape[0], x.shape[1]
    terms = mad_terms(n, mads)
    status = results[6]
    for k in range(P):
        solve_one(k, x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads, terms)
        if status[k] == INTERRUPTED:
            skip_problems(k + 1, P, results)
            return


@njit(**KERNEL)
def solve_pack(k0, count, x, w, wscale, opt, pb, networks, results, mads, terms):
    """Solve problems k0 ... k0 + count - 1 in the lanes of ``packed_newton``.

    ``pb``: ``pack_buffers(n, d, width)``, width >= count. The certified problems are stored
    as ``solve_problem`` stores its outcome (objective in the caller's units: f / (s
    wscale); scale f / (W s): F = f, no point beyond R); the others are left to the caller,
    by pb's ``certified`` flags.
    """
    d = x.shape[2]
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale = results
    vec, lanes, cert = pb[7], pb[8], pb[11]
    pack_iter, pack_passes, certified = pb[13], pb[14], pb[15]
    used = pack_lanes(x, w, wscale, opt.omit, k0, count, pb, networks)
    unit_weights = w.shape[1] == 0
    packed_newton(used, opt.tol, opt.max_iter, x.itemsize == 4, unit_weights, COINCIDENCE_RADIUS)
    for lane in range(count):
        if not certified[lane]:
            continue
        k = k0 + lane
        for j in range(d):
            median[k, j] = vec[V_MEDIAN, j, lane]
        f = cert[0, CERT_F, lane]
        lb = lanes[S_LB, lane]
        ws = wscale[0 if w.shape[0] == 1 else k]
        objective[k] = in_units_up(f, lanes[S_S, lane], ws)
        lower_bound[k] = in_units_down(lb, lanes[S_S, lane], ws)
        gap[k] = relative_gap(f, lb)
        n_iter[k] = pack_iter[lane]
        n_passes[k] = pack_passes[lane]
        status[k] = CONVERGED
        scale[k] = f / (lanes[S_W, lane] * lanes[S_S, lane])
        store_mads(k, x, w, median, mads, terms)


@njit(**KERNEL, inline="always")
def solve_block(b, x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads, terms):
    """Problems b * BATCH_BLOCK ... of a batch outside packed Newton's lanes, one by one.

    ``solve_block_packed`` without the lanes, for the batches ``packs`` leaves out of them;
    ``pa``, ``ws``, ``terms``: the scratch of the entry point, reused across its blocks.
    Inlined into its entry points: compiled on its own, its library would be optimised once
    more with the whole solver linked in, seconds of compilation (so is ``solve_one``).
    """
    P = x.shape[0]
    lo = b * BATCH_BLOCK
    for k in range(lo, min(P, lo + BATCH_BLOCK)):
        if stop[0] != 0:
            skip_problems(k, k + 1, results)
            continue
        solve_one(k, x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads, terms)


@njit(**KERNEL, inline="always")
def solve_block_packed(
    b, x, w, wscale, init, has_init, opt, pa, ws, pb, networks, stop, results, mads, terms
):
    """Problems b * BATCH_BLOCK ... of a batch, serially on one thread, with scratch reused.

    Newton on small problems without start points runs the block's problems in the lanes
    of packs (``packed_newton.py``, ``pack_width``), giving back to
    ``solve_one`` the few it cannot certify on Newton's common path; the interrupt flag is
    read once per pack. Which path a problem takes depends on n, d and the options only,
    so it gets the same bits alone or in a batch. ``solve_one``, a thin wrapper,
    is inlined into its callers by Numba: compiled on its own, its library would be
    optimised once more with the whole driver linked in, seconds of compilation. ``pa``
    (a SmallPass), ``ws``, ``pb`` (``pack_buffers``), ``networks``, ``terms``: the scratch
    of the entry point, reused across its blocks.
    """
    P, n, d = x.shape
    packed = (  # as packs(n, d, method, has_init), which picked this entry
        opt.method == METHOD_NEWTON
        and d <= NEWTON_MAX_D
        and not has_init
        and n * d <= PACKED_PROBLEM_SIZE
    )
    certified = pb[15]
    width = certified.shape[0]  # divides BATCH_BLOCK (pack_width)
    lo = b * BATCH_BLOCK
    hi = min(P, lo + BATCH_BLOCK)
    for k0 in range(lo, hi, width):
        count = min(width, hi - k0)
        if packed:
            if stop[0] != 0:
                certified[:] = False  # each is marked as not solved below
            else:
                solve_pack(k0, count, x, w, wscale, opt, pb, networks, results, mads, terms)
        for k in range(k0, k0 + count):
            if packed and certified[k - k0]:
                continue
            if stop[0] != 0:
                skip_problems(k, k + 1, results)
                continue
            solve_one(k, x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads, terms)


# The entry points take the outputs one by one, as C++ solve_batch's BatchOutcome, and
# ``mads``: (emad, smad, bcmad, count) where asked for, else None (``store_mads``). C++
# solve_batch picks solve_within or the blocks (over OpenMP's threads), and the pass type;
# here the bindings pick the entry point and spread the blocks over threads of their own,
# so a call compiles only the path and the pass it takes (Numba compiles every branch of a
# function): the lanes of packed Newton (solve_block_packed) only where ``packs`` says a
# batch takes them, the row passes only for problems too large for the small pass.
@njit(**ENTRY)
def solve_batch_within(
    x, w, wscale, init, has_init, method, tol, max_iter, omit, stop,
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale, mads,
):  # fmt: skip
    """Few large problems (C++ solve_batch's ``within`` branch), on the calling thread."""
    n, d = x.shape[1], x.shape[2]
    pa, ws = serial_scratch(n, d)
    results = (median, objective, lower_bound, gap, n_iter, n_passes, status, scale)
    opt = Options(method, tol, max_iter, omit)
    solve_within(x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads)


@njit(**ENTRY)
def solve_batch_within_parallel(
    x, w, wscale, init, has_init, method, tol, max_iter, omit, stop,
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale, mads,
):  # fmt: skip
    """``solve_batch_within`` with each pass over Numba's threads (an OpenMPPass)."""
    n, d = x.shape[1], x.shape[2]
    pa, ws = openmp_scratch(n, d)
    results = (median, objective, lower_bound, gap, n_iter, n_passes, status, scale)
    opt = Options(method, tol, max_iter, omit)
    solve_within(x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads)


def n_blocks(P):
    """Return the blocks of BATCH_BLOCK problems of a batch of P, the last may hold fewer."""
    return (P + BATCH_BLOCK - 1) // BATCH_BLOCK


def packs(n, d, method, has_init):
    """Whether problems of n x d rows go through the lanes of packed Newton (plain Python).

    The bindings pick the ``*_packed`` entry points by it; ``solve_block_packed`` checks the
    same conditions itself.
    """
    return (
        n * d <= SMALL_PROBLEM_SIZE
        and method == METHOD_NEWTON
        and d <= NEWTON_MAX_D
        and not has_init
        and n * d <= PACKED_PROBLEM_SIZE
    )


@njit(**ENTRY)
def solve_batch_serial(
    b0, b1, x, w, wscale, init, has_init, method, tol, max_iter, omit, stop,
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale, mads,
):  # fmt: skip
    """Solve blocks b0 ... b1 - 1 of P problems x[k] (n x d) on the calling thread.

    Problems too large for the small pass (n d > SMALL_PROBLEM_SIZE): the row passes on
    one thread (a SerialPass). w has 1 or P rows (a row of length 0: unit weights). The
    bindings run ranges of blocks on several threads at once (the kernel releases the
    GIL). Never enters Numba's threading layer, which aborts in a child forked from a
    process that has used it (GNU OpenMP), as C++ ``num_threads(1)`` regions never wake
    libgomp's pool. A parallel loop here would compile the whole solver once more, and its
    index (unsigned in the loop's body) would compile it a third time for that signature.
    """
    n, d = x.shape[1], x.shape[2]
    pa, ws = serial_scratch(n, d)
    terms = mad_terms(n, mads)
    results = (median, objective, lower_bound, gap, n_iter, n_passes, status, scale)
    opt = Options(method, tol, max_iter, omit)
    for b in range(b0, b1):
        solve_block(b, x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads, terms)


@njit(**ENTRY)
def solve_batch_small(
    b0, b1, x, w, wscale, init, has_init, method, tol, max_iter, omit, stop,
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale, mads,
):  # fmt: skip
    """``solve_batch_serial`` for small problems (n d <= SMALL_PROBLEM_SIZE): a SmallPass."""
    n, d = x.shape[1], x.shape[2]
    pa, ws = small_scratch(n, d, omit)
    terms = mad_terms(n, mads)
    results = (median, objective, lower_bound, gap, n_iter, n_passes, status, scale)
    opt = Options(method, tol, max_iter, omit)
    for b in range(b0, b1):
        solve_block(b, x, w, wscale, init, has_init, opt, pa, ws, stop, results, mads, terms)


@njit(**ENTRY)
def solve_batch_small_packed(
    b0, b1, x, w, wscale, init, has_init, method, tol, max_iter, omit, stop,
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale, mads,
):  # fmt: skip
    """``solve_batch_small`` for the problems that ``packs`` (``solve_block_packed``)."""
    n, d = x.shape[1], x.shape[2]
    pa, ws = small_scratch(n, d, omit)
    pb = pack_buffers(n, d, pack_width(x.shape[0], n, d))
    networks = network_cache(n)
    terms = mad_terms(n, mads)
    results = (median, objective, lower_bound, gap, n_iter, n_passes, status, scale)
    opt = Options(method, tol, max_iter, omit)
    for b in range(b0, b1):
        solve_block_packed(
            b, x, w, wscale, init, has_init, opt, pa, ws, pb, networks, stop, results, mads,
            terms,
        )  # fmt: skip
