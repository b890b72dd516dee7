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

Small problems (n d <= SMALL_PROBLEM_SIZE) use the passes of ``small_pass.py`` (the C++
``SmallPass``), larger ones the chunked row passes; a flag picks, as the pass type does in C++.

Ctrl-C: the kernels cannot see Python's signals, so the bindings run them on a worker
thread and set ``stop[0]`` when the main thread gets KeyboardInterrupt; the driver reads
it once per iteration where the C++ one calls ``interrupt()`` (see ``interruptible.py``).
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange

from .certificate import certified_gap, certify, relative_gap
from .fused_pass import (
    MOMENT_HALF_SPREAD,
    MOMENT_HEAD,
    MOMENT_NONFINITE,
    MOMENT_WEIGHT,
    SLOT_ETA,
    SLOT_F,
    SLOT_INV,
    SLOT_MAX_TERM,
    SLOT_W_FAR,
    moments_size,
    sums_size,
)
from .gradient_descent import (
    GD_HAS_PREV,
    GD_STATE_SIZE,
    GD_T,
    GD_T_SAFE,
    gd_accept,
    gd_propose,
    gd_remember,
)
from .newton import NEWTON_SCRATCH_SIZE, newton_accept, newton_propose
from .packed_newton import (
    CERT_F,
    PACK,
    PACKED_PROBLEM_SIZE,
    S_LB,
    S_S,
    S_W,
    V_MEDIAN,
    clear_lane,
    pack_buffers,
    pack_problem,
    packed_newton,
)
from .parallel import n_chunks, pass_scratch_size, run_moments, run_nearest, run_sums
from .robust_frame import (
    FRAME_DEPTH,
    FRAME_HEADROOM,
    NEAR_FACTOR,
    robust_anchor,
    robust_sample_row,
    robust_sample_size,
    scaled_distance,
)
from .small_pass import (
    LANE_ROWS,
    LANES,
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
    small_start,
    small_sums,
)
from .weiszfeld import weiszfeld_step

# csrc/geomedian/types.hpp: enum class Status, enum class Method.
CONVERGED, MAX_ITER, STALLED, INTERRUPTED, NONFINITE, EMPTY, RANGE = 0, 1, 2, 3, 4, 5, 6
METHOD_WEISZFELD, METHOD_GD, METHOD_NEWTON = 0, 1, 2

from .._contract import COINCIDENCE_RADIUS  # noqa: E402

BATCH_BLOCK = 64  # problems per work item when a batch is spread over threads

# A problem's frame (C++ struct FrameFit): scale s, total weight W, and in frame units the
# coincidence radius eps and the near radius (certificate.py; +inf: every point is near);
# half: half the spread of the moments pass.
FrameFit = namedtuple("FrameFit", ["s", "W", "eps", "near", "half"])
# enum class Anchor (the outcome of anchor_frame).
ANCHOR_MOVED, ANCHOR_UNCHANGED, ANCHOR_RANGE = 0, 1, 2
# Where the driver asked for the anchor (the C++ driver calls its anchor lambda there).
ANCHOR_NONE, ANCHOR_AT_START, ANCHOR_AT_CONVERGENCE, ANCHOR_AT_STALL = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def workspace_size(d):
    """Return the doubles of solve_problem's buf.

    Ten d-vectors (c, z, zt, g, gt, z_prev, g_prev, the Newton step, the reference row x0,
    the robust anchor m), then the GD state, the two sums, the moments and the scratch.
    """
    return (
        10 * d
        + GD_STATE_SIZE
        + 2 * sums_size(d)
        + moments_size(d)
        + pass_scratch_size(d)
        + NEWTON_SCRATCH_SIZE
    )


@njit(cache=True, nogil=True)
def small_buffers(n, d):
    """Return the small pass's per-thread buffers (SmallBuffers in C++).

    su (d, stride) the copy, sw (stride) its weights, st (stride) scratch, smu (d)
    sum_q w_q u_q, sidx (n) the present rows, lane (LANE_ROWS, LANES) lane accumulators.
    """
    stride = padded_rows(n)
    return (
        np.empty((d, stride)),
        np.empty(stride),
        np.empty(stride),
        np.empty(d),
        np.empty(n, dtype=np.int64),
        np.empty((LANE_ROWS, LANES)),
    )


@njit(cache=True, nogil=True)
def sample_size(n, d):
    """Doubles of the robust anchor's sample for problems of n rows (C++: Workspace::sample)."""
    return robust_sample_size(n) * (d + 3)


@njit(cache=True, nogil=True)
def sample_anchor(x, w, small, sidx, rows, sample, m):
    """Compute m and rho of ``robust_frame.py`` over a sample of the problem's present rows.

    m into ``m``, rho returned. The present rows: every row for the row passes (rows = n),
    sidx[:rows] for the small pass. ``sample``: at least sample_size(rows, d) doubles.
    """
    d = x.shape[1]
    S = robust_sample_size(rows)
    xs = sample[: S * d].reshape((S, d))
    wv = sample[S * d : S * d + S]
    v = sample[S * d + S : S * d + 2 * S]
    vw = sample[S * d + 2 * S : S * d + 3 * S]
    weighted = w.shape[0] > 0
    for k in range(S):
        q = robust_sample_row(k, rows)
        i = sidx[q] if small else q
        for j in range(d):
            xs[k, j] = x[i, j]
        wv[k] = w[i] if weighted else 1.0
    return robust_anchor(xs, wv, S, d, v, vw, m)


@njit(cache=True, nogil=True)
def make_frame(
    x, w, wscale, parallel, small, omit, mom, scratch, partial, c, x0d, su, sw, smu, sidx, lane
):
    """Fill the centre c; return (frame status, FrameFit, rows present, npad).

    Frame status: CONVERGED (0) for ok, NONFINITE or EMPTY. For the small pass the problem
    is copied into su (frame coordinates) and its present rows counted. x0d (d doubles)
    receives the reference row x0 as float64 (C++: Workspace::reference_row).
    """
    d = x.shape[1]
    m = x.shape[0]
    npad = 0
    unset = FrameFit(1.0, 1.0, COINCIDENCE_RADIUS, math.inf, 0.0)
    if small:
        i0 = small_first_row(x, omit)
        if i0 < 0:
            return EMPTY, unset, 0, 0
        m, npad, inf_in_omitted = small_copy(x, w, wscale, omit, i0, su, sw, sidx)
        big = 1.7976931348623157e308 if x.itemsize == 8 else 3.4028234663852886e38
        small_moments(su, sw, npad, big, d, lane, mom)
        mom[MOMENT_NONFINITE] += inf_in_omitted  # inf is an error even in an omitted row
    else:
        i0 = 0
        run_moments(parallel, x, w, wscale, x[0], mom, scratch, partial)
    if mom[MOMENT_NONFINITE] > 0:
        return NONFINITE, unset, m, npad
    W = mom[MOMENT_WEIGHT]
    # Only omitted rows can leave no weight: the caller rejects all-zero weight rows.
    if not W > 0:
        return EMPTY, unset, m, npad
    half = mom[MOMENT_HALF_SPREAD]
    e = math.frexp(half)[1]  # spread = 2 half < 2^(e+1)
    s = math.ldexp(1.0, min(max(-(e + 1), -1022), 1022)) if half > 0 else 1.0
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
    if small:
        small_load(su, sw, npad, d, c, s, lane, smu)
    return CONVERGED, FrameFit(s, W, COINCIDENCE_RADIUS, math.inf, half), m, npad


@njit(cache=True, nogil=True)
def no_far_points(S, W, reach):
    """Whether the classic certificate speaks at the scale of the data around the iterate.

    No point lies farther than NEAR_FACTOR times the median distance rho_y from y: rho_y >=
    (W / 2 - eta) / inv, and every point lies within reach of y (frame_reach). O(d), no pass.
    """
    half_weight = 0.5 * W - S[SLOT_ETA]
    return half_weight > 0 and S[SLOT_INV] > 0 and reach * S[SLOT_INV] <= NEAR_FACTOR * half_weight


@njit(cache=True, nogil=True)
def frame_reach(c, s, z, x0d, d, half):
    """||y - x0|| + 2 sqrt(d) half in frame units, for the iterate z of the frame (c, s)."""
    q = 0.0
    for j in range(d):
        r = (c[j] - x0d[j]) * s + z[j]
        q += r * r
    return math.sqrt(q) + 2.0 * math.sqrt(d) * half * s


@njit(cache=True, nogil=True)
def anchor_frame(x, w, small, sidx, rows, npad, sample, m, c, fit, su, sw, smu, lane):
    """Anchor the frame at the robust centre m (far points may lurk); return (Anchor, fit).

    The near radius R = NEAR_FACTOR rho (``robust_frame.py``), the scale raised until R s ~ 1
    as far as the far points' headroom allows, the coincidence radius 2^-40 of R s at most.
    rho = 0 (more than half the sample's weight sits at m): the frame moves to m with its
    scale and the classic certificate. ANCHOR_UNCHANGED: rho not finite; ANCHOR_RANGE: R s
    below 2^-FRAME_DEPTH, beyond float64. ``m``: d doubles (C++: Workspace::anchor); rows: the
    present rows (make_frame's count); the small pass's copy is reloaded in the new frame.
    """
    d = x.shape[1]
    rho = sample_anchor(x, w, small, sidx, rows, sample, m)
    if rho == 0:
        # More than half the sample's weight sits exactly at m, which (Kuhn) is then the
        # median: go on from m in a frame centred on it, where it is represented exactly
        # (the mean-centred frame may round it away), with the classic certificate.
        for j in range(d):
            c[j] = m[j]
        if small:
            small_reload(x, sidx, rows, npad, c, fit.s, su, sw, lane, smu)
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
    if small:
        small_reload(x, sidx, rows, npad, c, s, su, sw, lane, smu)
    return ANCHOR_MOVED, fit


@njit(cache=True, nogil=True)
def pass_sums(
    small, parallel, x, w, wscale, c, s, z, eps, near, out, scratch, partial,
    su, sw, smu, sW, snpad, st, lane,
):  # fmt: skip
    """Write the iteration sums at z into out (C++: pass.sums(Frame{c, s, z, eps, near}, out))."""
    if small:
        small_sums(su, sw, smu, sW, snpad, x.shape[1], z, eps, near, st, lane, out)
    else:
        run_sums(parallel, x, w, wscale, c, s, z, eps, near, out, scratch, partial)


@njit(cache=True, nogil=True)
def pass_nearest(small, parallel, x, w, c, s, z, best_i, best_d2, su, sw, sm, sidx):
    if small:
        return sidx[small_nearest(su, sw, sm, x.shape[1], z)]
    return run_nearest(parallel, x, w, c, s, z, best_i, best_d2)


@njit(cache=True, nogil=True)
def solve_problem(
    x,
    w,
    wscale,
    init,
    has_init,
    method,
    tol,
    max_iter,
    parallel,
    small,
    omit,
    buf,
    partial,
    best_i,
    best_d2,
    sample,
    su,
    sw,
    st,
    smu,
    sidx,
    lane,
    stop,
    median,
):
    """Solve one problem; return (objective, lower_bound, gap, n_iter, n_passes, status, scale).

    ``stop``: a one-element array; a non-zero ``stop[0]`` abandons the solve (status
    INTERRUPTED) at the next iteration. ``sample``: sample_size(n, d) doubles of scratch.
    """
    d = x.shape[1]
    c = buf[0:d]
    z = buf[d : 2 * d]
    zt = buf[2 * d : 3 * d]
    g = buf[3 * d : 4 * d]
    gt = buf[4 * d : 5 * d]
    z_prev = buf[5 * d : 6 * d]
    g_prev = buf[6 * d : 7 * d]
    x0d = buf[8 * d : 9 * d]
    anchor = buf[9 * d : 10 * d]
    o = 10 * d
    gd = buf[o : o + GD_STATE_SIZE]
    o += GD_STATE_SIZE
    S = buf[o : o + sums_size(d)]
    o += sums_size(d)
    St = buf[o : o + sums_size(d)]
    o += sums_size(d)
    mom = buf[o : o + moments_size(d)]
    o += moments_size(d)
    scratch = buf[o : o + pass_scratch_size(d)]
    o += pass_scratch_size(d)
    H = buf[o : o + NEWTON_SCRATCH_SIZE]  # the Hessian and its factorisation's scratch
    newton_step = buf[7 * d : 8 * d]
    descent = method != METHOD_WEISZFELD  # gd, or newton with gd fallback
    gd[:] = 0.0
    n_iter = 0
    n_passes = 1
    fs, fit, sm, snpad = make_frame(
        x, w, wscale, parallel, small, omit, mom, scratch, partial, c, x0d, su, sw, smu, sidx,
        lane,
    )  # fmt: skip
    if fs != CONVERGED:
        median[:] = np.nan
        return np.nan, np.nan, np.nan, 0, n_passes, fs, np.nan
    W = fit.W
    s, eps, near = fit.s, fit.eps, fit.near
    if has_init:
        for j in range(d):
            z[j] = (init[j] - c[j]) * s
    elif small:
        small_start(su, sw, W, sm, snpad, d, st, lane, z)
    else:
        for j in range(d):
            z[j] = 0.0
    pass_sums(
        small, parallel, x, w, wscale, c, s, z, eps, near, S, scratch, partial,
        su, sw, smu, W, snpad, st, lane,
    )  # fmt: skip
    n_passes += 1
    # The points are finite (moments), so an infinite objective means distances beyond the
    # largest double: points spanning more than float64 can hold.
    if not math.isfinite(S[SLOT_F]):
        median[:] = np.nan
        return np.nan, np.nan, np.nan, n_iter, n_passes, RANGE, np.nan
    cert = certify(S, d, W, g)
    lb = cert.lb

    retry = False
    last_vertex = -1
    next_vertex_check = 0
    vertex_backoff = 1
    next_probe = 8
    recentred_at = -1
    recentre = False
    next_newton = 0
    newton_backoff = 1
    anchored = False  # the frame has been anchored robustly (anchor_frame)
    # Whether a certified gap vouches for the location (C++: the lambda vouches): after
    # anchoring always, before it where no point can be far (no_far_points). The C++
    # lambda anchor is the block at the top of the loop, run where anchor_at asks for it:
    # at the start too, since far points that drag the mean (the usual start) show at once.
    anchor_at = ANCHOR_NONE
    if not no_far_points(S, W, frame_reach(c, s, z, x0d, d, fit.half)):
        anchor_at = ANCHOR_AT_START
    while True:
        if anchor_at != ANCHOR_NONE:
            # Anchor the frame once, and go on from the iterate where it lies within the
            # near radius of the robust centre (else from that centre) with a fresh pass.
            asked_at = anchor_at
            anchor_at = ANCHOR_NONE
            anchored = True
            for j in range(d):
                zt[j] = c[j] + z[j] / s  # the iterate, data units
            a, fit = anchor_frame(
                x, w, small, sidx, sm, snpad, sample, anchor, c, fit, su, sw, smu, lane
            )
            if a == ANCHOR_RANGE:
                median[:] = np.nan
                return np.nan, np.nan, np.nan, n_iter, n_passes, RANGE, np.nan
            if a == ANCHOR_MOVED:
                s, eps, near = fit.s, fit.eps, fit.near
                keep = near < math.inf and scaled_distance(zt, c, d) * s <= near
                for j in range(d):
                    z[j] = (zt[j] - c[j]) * s if keep else 0.0
                gd[GD_HAS_PREV] = 0.0
                retry = recentre = False
                last_vertex = -1
                next_vertex_check = next_newton = 0
                vertex_backoff = newton_backoff = 1
                pass_sums(
                    small, parallel, x, w, wscale, c, s, z, eps, near, S, scratch, partial,
                    su, sw, smu, W, snpad, st, lane,
                )  # fmt: skip
                n_passes += 1
                cert = certify(S, d, W, g)
                # The bounds of the old frame are dropped: where it could not resolve the
                # inliers (rounded together, or their squares underflowed), its sums
                # described another problem.
                lb = cert.lb
            elif asked_at == ANCHOR_AT_CONVERGENCE:
                status = CONVERGED
                break
            elif asked_at == ANCHOR_AT_STALL:
                status = STALLED
                break
        if certified_gap(cert, lb) <= tol:
            if anchored or no_far_points(S, W, frame_reach(c, s, z, x0d, d, fit.half)):
                status = CONVERGED
                break
            anchor_at = ANCHOR_AT_CONVERGENCE
            continue
        if n_iter >= max_iter:
            status = MAX_ITER
            break
        if stop[0] != 0:
            status = INTERRUPTED
            break
        if recentre:
            # Steps near the resolution of z = (y - c) s: move the centre onto the iterate.
            recentre = False
            recentred_at = n_iter
            for j in range(d):
                c[j] += z[j] / s
                z[j] = 0.0
            gd[GD_HAS_PREV] = 0.0
            if small:
                small_reload(x, sidx, sm, snpad, c, s, su, sw, lane, smu)
            pass_sums(
                small, parallel, x, w, wscale, c, s, z, eps, near, S, scratch, partial,
                su, sw, smu, W, snpad, st, lane,
            )  # fmt: skip
            n_passes += 1
            cert = certify(S, d, W, g)
            lb = max(lb, cert.lb)
            retry = False
            continue

        vertex = False
        near_vertex = S[SLOT_MAX_TERM] > 0.5 * S[SLOT_INV] or S[SLOT_ETA] > 0
        probe = n_iter >= next_probe
        if not retry and (probe or (near_vertex and n_iter >= next_vertex_check)):
            if probe:
                next_probe *= 2
            k = pass_nearest(small, parallel, x, w, c, s, z, best_i, best_d2, su, sw, sm, sidx)
            n_passes += 1
            if k != last_vertex:
                last_vertex = k
                for j in range(d):
                    zt[j] = (x[k, j] - c[j]) * s
                    vertex |= zt[j] != z[j]  # already there: step as usual
            else:
                next_vertex_check = n_iter + vertex_backoff
                vertex_backoff *= 2
        newton = False
        decrement = 0.0
        # Not beside far points: f's rounding then hides Newton's Armijo test, and the model
        # (near points' curvature, the far points' constant pull) sends steps far off.
        if (
            not vertex
            and not retry
            and method == METHOD_NEWTON
            and small
            and d <= NEWTON_MAX_D
            and S[SLOT_ETA] == 0
            and S[SLOT_W_FAR] == 0
            and n_iter >= next_newton
        ):
            small_hessian(su, sw, S[SLOT_INV], snpad, d, z, eps, st, lane, H)
            newton, decrement = newton_propose(H, d, S[SLOT_INV], z, g, newton_step, zt)
            if not newton:
                next_newton = n_iter + newton_backoff
                newton_backoff *= 2
        # Beside far points f's rounding hides the Armijo test too: Weiszfeld steps only.
        gd_step = descent and S[SLOT_W_FAR] == 0
        if vertex or newton:
            moved = True
        elif gd_step:
            moved = gd_propose(gd, z_prev, g_prev, S, d, z, g, retry, zt)
        else:
            moved = weiszfeld_step(S, d, z, zt)
        if not moved:
            at_centre = True
            for j in range(d):
                at_centre &= z[j] == 0.0
            if at_centre or recentred_at == n_iter:
                if not (anchored or no_far_points(S, W, frame_reach(c, s, z, x0d, d, fit.half))):
                    anchor_at = ANCHOR_AT_STALL
                    continue
                status = STALLED
                break
            recentre = True
            continue

        pass_sums(
            small, parallel, x, w, wscale, c, s, zt, eps, near, St, scratch, partial,
            su, sw, smu, W, snpad, st, lane,
        )  # fmt: skip
        n_passes += 1
        ct = certify(St, d, W, gt)
        lb = max(lb, ct.lb)

        if vertex:
            accept = ct.f <= cert.f
        elif newton:
            accept = newton_accept(cert.f, ct.f, decrement)
        elif gd_step:
            accept = gd_accept(gd, cert.f, ct.f, cert.gnorm)
        else:
            accept = True  # Vardi-Zhang steps never increase f
        # Where far points make f, its rounding exceeds the inliers' whole share, and the
        # tests above accept nearly any step: one that leaves the near points behind (more
        # weight beyond the near radius) is refused. Majorize-minimize steps (Weiszfeld, a
        # GD trial at t_safe) truly decrease f and stay accepted.
        if (
            accept
            and (newton or (gd_step and not vertex and gd[GD_T] > gd[GD_T_SAFE]))
            and St[SLOT_W_FAR] > S[SLOT_W_FAR]
        ):
            accept = False
        if accept:
            if gd_step and not vertex:
                gd_remember(gd, z_prev, g_prev, d, z, g)
            step2 = 0.0
            zn2 = 0.0
            for j in range(d):
                step2 += (zt[j] - z[j]) * (zt[j] - z[j])
                zn2 += zt[j] * zt[j]
            recentre = step2 < 2.0**-80 * zn2  # a step below 2^-40 |z|: 40 bits lost
            z, zt = zt, z
            S, St = St, S
            g, gt = gt, g
            cert = ct
            n_iter += 1
            retry = False
        elif vertex:
            next_vertex_check = n_iter + vertex_backoff
            vertex_backoff *= 2
        elif newton:
            next_newton = n_iter + newton_backoff  # the gradient step comes next
            newton_backoff *= 2
        else:
            retry = True  # GD backtracks; it ends at t_safe, which is always accepted
    # Certify the answer as rounded to the caller's coordinates and dtype when that moved it.
    moved2 = 0.0
    for j in range(d):
        median[j] = c[j] + z[j] / s
        if x.itemsize == 4:
            median[j] = np.float32(median[j])
        zt[j] = (median[j] - c[j]) * s
        moved2 += (zt[j] - z[j]) * (zt[j] - z[j])
    if math.sqrt(moved2) > eps:
        pass_sums(
            small, parallel, x, w, wscale, c, s, zt, eps, near, St, scratch, partial,
            su, sw, smu, W, snpad, st, lane,
        )  # fmt: skip
        n_passes += 1
        ct = certify(St, d, W, gt)
        lb = max(lb, ct.lb)
        cert = ct
        if status == CONVERGED and certified_gap(cert, lb) > tol:
            status = STALLED
    unit = s * wscale
    # The near-point gap is the tighter one where far points dominate f; f - gap_near may
    # then round to f itself (the bound is the gap, not this difference).
    if cert.gap_near < cert.f - lb:
        lower_bound = (cert.f - cert.gap_near) / unit
    else:
        lower_bound = lb / unit
    gap = certified_gap(cert, lb)
    return cert.f / unit, lower_bound, gap, n_iter, n_passes, status, cert.scale / (W * s)


@njit(cache=True, nogil=True)
def evaluate_at(x, w, wscale, y, parallel, buf, partial, grad):
    """Return (points finite, f(y), LB(y)) and write the minimum-norm subgradient to grad."""
    d = x.shape[1]
    c = buf[0:d]
    z = buf[d : 2 * d]
    x0d = buf[8 * d : 9 * d]
    o = 10 * d + GD_STATE_SIZE
    S = buf[o : o + sums_size(d)]
    o += 2 * sums_size(d)
    mom = buf[o : o + moments_size(d)]
    o += moments_size(d)
    scratch = buf[o : o + pass_scratch_size(d)]
    su, sw, _, smu, sidx, lane = small_buffers(0, 0)
    fs, fit, _, _ = make_frame(
        x, w, wscale, parallel, False, False, mom, scratch, partial, c, x0d, su, sw, smu, sidx,
        lane,
    )  # fmt: skip
    if fs != CONVERGED:
        return False, np.nan, np.nan
    s, W = fit.s, fit.W
    # Centre the frame on y itself so that x_i - y is formed without a detour.
    for j in range(d):
        c[j] = y[j]
        z[j] = 0.0
    run_sums(parallel, x, w, wscale, c, s, z, fit.eps, fit.near, S, scratch, partial)
    cert = certify(S, d, W, grad)
    for j in range(d):
        grad[j] /= wscale
    f = cert.f / (s * wscale)
    lb = (cert.f - cert.gap_near if cert.gap_near < cert.f - cert.lb else cert.lb) / (s * wscale)
    return True, f, lb


@njit(cache=True, nogil=True)
def batch_scratch(n, d, chunks, small_n, small_d):
    """Return the scratch of solve_one, reused across a thread's problems of n rows.

    (buf, partial, best_i, best_d2, sample) for ``chunks`` chunks of rows (sample: the
    robust anchor's, for n rows), then the six small-pass buffers sized for
    (small_n, small_d) ((0, 0): none).
    """
    su, sw, st, smu, sidx, lane = small_buffers(small_n, small_d)
    buf = np.empty(workspace_size(d))
    partial = np.empty((chunks, pass_scratch_size(d)))
    best_i = np.empty(chunks, dtype=np.int64)
    sample = np.empty(sample_size(n, d))
    return buf, partial, best_i, np.empty(chunks), sample, su, sw, st, smu, sidx, lane


@njit(cache=True, nogil=True)
def solve_one(
    k, x, w, wscale, init, has_init, method, tol, max_iter, parallel, small, omit, scratch,
    stop, results,
):  # fmt: skip
    """Solve problem k of a batch into the k-th entries of ``results``.

    ``scratch``: (buf, partial, best_i, best_d2, sample) and the six small-pass buffers,
    reused across problems; ``results``: (median, objective, lower_bound, gap, n_iter,
    n_passes, status, scale), the batch's output arrays.
    """
    buf, partial, best_i, best_d2, sample, su, sw, st, smu, sidx, lane = scratch
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale = results
    row = 0 if w.shape[0] == 1 else k
    out = solve_problem(
        x[k], w[row], wscale[row], init[k if has_init else 0], has_init, method, tol,
        max_iter, parallel, small, omit, buf, partial, best_i, best_d2, sample, su, sw, st,
        smu, sidx, lane, stop, median[k],
    )  # fmt: skip
    objective[k], lower_bound[k], gap[k], n_iter[k], n_passes[k], status[k], scale[k] = out


@njit(cache=True, nogil=True)
def skip_problems(lo, hi, results):
    """Mark problems lo..hi-1 as not solved because of an interrupt."""
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale = results
    for k in range(lo, hi):
        median[k] = np.nan
        objective[k] = lower_bound[k] = gap[k] = scale[k] = np.nan
        n_iter[k] = n_passes[k] = 0
        status[k] = INTERRUPTED


@njit(cache=True, nogil=True)
def solve_within(
    x, w, wscale, init, has_init, method, tol, max_iter, parallel, omit, stop, results
):
    """Few large problems: one after another, each pass over Numba's threads if parallel."""
    P, n, d = x.shape
    nc = n_chunks(n, d)
    scratch = batch_scratch(n, d, nc, 0, 0)
    status = results[6]
    for k in range(P):
        solve_one(
            k, x, w, wscale, init, has_init, method, tol, max_iter, parallel, False, omit,
            scratch, stop, results,
        )  # fmt: skip
        if status[k] == INTERRUPTED:
            skip_problems(k + 1, P, results)
            return


@njit(cache=True, nogil=True)
def solve_pack(k0, count, x, w, wscale, tol, max_iter, omit, pb, results):
    """Solve problems k0 ... k0 + count - 1 (count <= PACK) in the lanes of ``packed_newton``.

    ``pb``: ``pack_buffers(n, d)``. The certified problems are stored as ``solve_problem``
    stores its outcome (objective in the caller's units: f / (s wscale); scale f / (W s):
    F = f, no point beyond R); the others are left to the caller, by pb's ``certified``
    flags.
    """
    d = x.shape[2]
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale = results
    u, pw, m, vec, lanes, cert = pb[0], pb[1], pb[6], pb[7], pb[8], pb[11]
    pack_iter, pack_passes, certified = pb[13], pb[14], pb[15]
    for lane in range(PACK):
        if lane < count:
            row = 0 if w.shape[0] == 1 else k0 + lane
            m[lane] = pack_problem(x[k0 + lane], w[row], wscale[row], omit, lane, u, pw)
        else:
            m[lane] = 0
            clear_lane(lane, u, pw)
    unit_weights = w.shape[1] == 0
    packed_newton(pb, tol, max_iter, x.itemsize == 4, unit_weights, COINCIDENCE_RADIUS)
    for lane in range(count):
        if not certified[lane]:
            continue
        k = k0 + lane
        for j in range(d):
            median[k, j] = vec[V_MEDIAN, j, lane]
        f = cert[0, CERT_F, lane]
        lb = lanes[S_LB, lane]
        unit = lanes[S_S, lane] * wscale[0 if w.shape[0] == 1 else k]
        objective[k] = f / unit
        lower_bound[k] = lb / unit
        gap[k] = relative_gap(f, lb)
        n_iter[k] = pack_iter[lane]
        n_passes[k] = pack_passes[lane]
        status[k] = CONVERGED
        scale[k] = f / (lanes[S_W, lane] * lanes[S_S, lane])


@njit(cache=True, nogil=True)
def solve_block(b, x, w, wscale, init, has_init, method, tol, max_iter, omit, stop, results):
    """Problems b * BATCH_BLOCK ... of a batch, serially on one thread, with scratch reused.

    Newton on small problems without start points runs PACK consecutive problems at a time
    in the lanes (``packed_newton.py``; BATCH_BLOCK is a multiple of PACK), giving back to
    ``solve_one`` the few it cannot certify on Newton's common path; the interrupt flag is
    read once per pack. Which path a problem takes depends on n, d and the options only,
    so it gets the same bits alone or in a batch. ``solve_one`` has a single call site:
    Numba inlines it wherever it is called, and a second copy of the whole driver cost
    seconds of compilation.
    """
    P, n, d = x.shape
    small = n * d <= SMALL_PROBLEM_SIZE
    scratch = batch_scratch(n, d, 1, n if small else 0, d if small else 0)
    packed = (
        small
        and method == METHOD_NEWTON
        and d <= NEWTON_MAX_D
        and not has_init
        and n * d <= PACKED_PROBLEM_SIZE
    )
    pb = pack_buffers(n if packed else 0, d if packed else 0)
    certified = pb[15]
    lo = b * BATCH_BLOCK
    for k in range(lo, min(P, lo + BATCH_BLOCK)):
        lane = (k - lo) % PACK
        if packed and lane == 0:
            if stop[0] != 0:
                certified[:] = False  # each is marked as not solved below
            else:
                solve_pack(k, min(PACK, P - k), x, w, wscale, tol, max_iter, omit, pb, results)
        if packed and certified[lane]:
            continue
        if stop[0] != 0:
            skip_problems(k, k + 1, results)
            continue
        solve_one(
            k, x, w, wscale, init, has_init, method, tol, max_iter, False, small, omit,
            scratch, stop, results,
        )  # fmt: skip


# The two entry points take the outputs one by one, as C++ solve_batch's BatchOutcome.
@njit(cache=True, nogil=True, parallel=True)
def solve_batch(
    x, w, wscale, init, has_init, method, tol, max_iter, within, omit, stop,
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale,
):  # fmt: skip
    """Solve P problems x[k] (n x d); w has 1 or P rows (a row of length 0: unit weights).

    Few large problems (``within``) one after another with each pass over the threads;
    otherwise blocks of problems over the threads, each block solved serially.
    """
    results = (median, objective, lower_bound, gap, n_iter, n_passes, status, scale)
    if within:
        solve_within(x, w, wscale, init, has_init, method, tol, max_iter, True, omit, stop, results)
        return
    for b in prange((x.shape[0] + BATCH_BLOCK - 1) // BATCH_BLOCK):
        solve_block(b, x, w, wscale, init, has_init, method, tol, max_iter, omit, stop, results)


@njit(cache=True, nogil=True)
def solve_batch_serial(
    x, w, wscale, init, has_init, method, tol, max_iter, within, omit, stop,
    median, objective, lower_bound, gap, n_iter, n_passes, status, scale,
):  # fmt: skip
    """``solve_batch`` on the calling thread only (threads=1), the same bits.

    Never enters Numba's threading layer, which aborts in a child forked from a process that
    has used it (GNU OpenMP), as C++ ``num_threads(1)`` regions never wake libgomp's pool.
    """
    results = (median, objective, lower_bound, gap, n_iter, n_passes, status, scale)
    if within:
        solve_within(
            x, w, wscale, init, has_init, method, tol, max_iter, False, omit, stop, results
        )
        return
    for b in range((x.shape[0] + BATCH_BLOCK - 1) // BATCH_BLOCK):
        solve_block(b, x, w, wscale, init, has_init, method, tol, max_iter, omit, stop, results)
