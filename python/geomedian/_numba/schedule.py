"""Mirror of ``csrc/geomedian/schedule.hpp``: the iteration's schedule, written once.

Which step a solve tries next (a vertex, a Newton step, else gradient descent or
Weiszfeld), how it backs off after a step that did not pay, which trial it keeps and when
it moves its frame onto the iterate. Used by the one-problem driver (``solver.py``, alone
or in a batch) and, as plain Python, by the chunked driver for data read in chunks
(``geomedian._paths.chunked``), so every path stops by the same rule.

The C++ struct Schedule is the named tuple ``Schedule`` (integers and flags only): where
a C++ rule updates the struct through a reference, its mirror returns the updated tuple.
A tuple of scalars lives in registers; an array would cost Numba a reference count at
every rule called with it. C++ enum class Trial: ``TRIAL_*``.
"""

import math
from collections import namedtuple

from numba import njit

from .._contract import F_NOISE, FAR_NOISE_SHARE, STALL_GAP, STALL_ITERATIONS
from .fused_pass import SLOT_ETA, SLOT_F, SLOT_F_NEAR, SLOT_INV, SLOT_MAX_TERM, SLOT_W_FAR
from .gradient_descent import GD_T, GD_T_SAFE, gd_accept
from .jit_options import KERNEL
from .newton import newton_accept
from .small_pass import NEWTON_MAX_D

# struct Schedule: see schedule.hpp for each member's meaning.
Schedule = namedtuple(
    "Schedule",
    ["retry", "last_vertex", "next_vertex_check", "vertex_backoff", "next_probe",
     "recentred_at", "next_newton", "newton_backoff", "recentre", "anchored"],
)  # fmt: skip

TRIAL_VERTEX, TRIAL_NEWTON, TRIAL_GD, TRIAL_WEISZFELD = 0, 1, 2, 3


@njit(**KERNEL)
def schedule_start():
    """Return the schedule at the start of a solve (C++: ``Schedule{}``)."""
    return Schedule(False, -1, 0, 1, 8, -1, 0, 1, False, False)


@njit(**KERNEL, inline="always")
def vertex_due(sc, S, n_iter):
    """Return (whether to look for the nearest data point now, sc); a probe is used up."""
    near_vertex = S[SLOT_MAX_TERM] > 0.5 * S[SLOT_INV] or S[SLOT_ETA] > 0
    probe = n_iter >= sc.next_probe
    if sc.retry or not (probe or (near_vertex and n_iter >= sc.next_vertex_check)):
        return False, sc
    if probe:
        sc = Schedule(
            sc.retry, sc.last_vertex, sc.next_vertex_check, sc.vertex_backoff,
            sc.next_probe * 2, sc.recentred_at, sc.next_newton, sc.newton_backoff,
            sc.recentre, sc.anchored,
        )  # fmt: skip
    return True, sc


@njit(**KERNEL)
def vertex_backs_off(sc, n_iter):
    """Back off after a vertex that did not pay: 1, 2, 4, ... iterations to the next look."""
    return Schedule(
        sc.retry, sc.last_vertex, n_iter + sc.vertex_backoff, sc.vertex_backoff * 2,
        sc.next_probe, sc.recentred_at, sc.next_newton, sc.newton_backoff, sc.recentre,
        sc.anchored,
    )  # fmt: skip


@njit(**KERNEL)
def vertex_new(sc, k, n_iter):
    """Return (whether the nearest point k is not the one tried last, sc)."""
    if k != sc.last_vertex:
        sc = Schedule(
            sc.retry, k, sc.next_vertex_check, sc.vertex_backoff, sc.next_probe,
            sc.recentred_at, sc.next_newton, sc.newton_backoff, sc.recentre, sc.anchored,
        )  # fmt: skip
        return True, sc
    return False, vertex_backs_off(sc, n_iter)


@njit(**KERNEL, inline="always")
def majorize_only(S):
    """Whether f cannot judge a step: far points hide f_N in its rounding (schedule.hpp)."""
    return S[SLOT_W_FAR] > 0 and not (F_NOISE * S[SLOT_F] <= FAR_NOISE_SHARE * S[SLOT_F_NEAR])


@njit(**KERNEL, inline="always")
def newton_due(sc, newton_method, d, n_iter):
    """Whether to try a Newton step (beside far points too: the near gap judges it).

    On a data point too: g and the Hessian leave the coincident points out (schedule.hpp).
    """
    return (
        not sc.retry
        and newton_method
        and d <= NEWTON_MAX_D
        and n_iter >= sc.next_newton
    )


@njit(**KERNEL)
def newton_backs_off(sc, n_iter):
    """Back off after a Newton step that failed or was rejected: 1, 2, 4, ... iterations."""
    return Schedule(
        sc.retry, sc.last_vertex, sc.next_vertex_check, sc.vertex_backoff, sc.next_probe,
        sc.recentred_at, n_iter + sc.newton_backoff, sc.newton_backoff * 2, sc.recentre,
        sc.anchored,
    )  # fmt: skip


@njit(**KERNEL)
def trial_kind(vertex, newton, descent):
    """Return the TRIAL_* proposed: the vertex, Newton's step, else GD (descent) or Weiszfeld."""
    if vertex:
        return TRIAL_VERTEX
    if newton:
        return TRIAL_NEWTON
    return TRIAL_GD if descent else TRIAL_WEISZFELD


@njit(**KERNEL, inline="always")
def trial_accepted(kind, majorize, gd, cert, ct, decrement, w_far, w_far_trial):
    """Whether to keep the trial (cert, w_far: at the iterate; ct, w_far_trial: at the trial).

    ``majorize``: majorize_only at the iterate, where the near points' gap judges the trial
    but for a majorizing gradient step at t_safe (schedule.hpp).
    """
    if kind == TRIAL_VERTEX:
        accept = ct.gap_near < cert.gap_near if majorize else ct.f <= cert.f
    elif kind == TRIAL_NEWTON:
        accept = ct.gap_near < cert.gap_near if majorize else newton_accept(cert.f, ct.f, decrement)
    elif kind == TRIAL_GD:
        if majorize:
            accept = gd[GD_T] <= gd[GD_T_SAFE] or ct.gap_near < cert.gap_near
        else:
            accept = gd_accept(gd, cert.f, ct.f, cert.gnorm)
    else:
        accept = True  # Vardi-Zhang steps never increase f
    # Where far points make f, its rounding exceeds the inliers' whole share, and the tests
    # above accept nearly any step: one that leaves the near points behind (more weight
    # beyond the near radius) is refused. Majorize-minimize steps (Weiszfeld, a GD trial at
    # t_safe) truly decrease f and stay accepted.
    if (
        accept
        and (kind == TRIAL_NEWTON or (kind == TRIAL_GD and gd[GD_T] > gd[GD_T_SAFE]))
        and w_far_trial > w_far
    ):
        accept = False
    return accept


@njit(**KERNEL)
def trial_remembered(kind):
    """Whether an accepted step updates GD's memory: gradient and Newton steps."""
    return kind == TRIAL_GD or kind == TRIAL_NEWTON


@njit(**KERNEL, inline="always")
def recentre_due(z, zt, d):
    """Whether the accepted step from z to zt shrank below 2^-40 |zt| (40 bits lost)."""
    step2 = 0.0
    zn2 = 0.0
    for j in range(d):
        step2 += (zt[j] - z[j]) * (zt[j] - z[j])
        zn2 += zt[j] * zt[j]
    return step2 < 2.0**-80 * zn2


@njit(**KERNEL)
def trial_done(sc, kind, accepted, recentre, n_iter):
    """Return the schedule after the trial's pass (accepted, or which step backs off)."""
    if accepted:
        return Schedule(
            False, sc.last_vertex, sc.next_vertex_check, sc.vertex_backoff, sc.next_probe,
            sc.recentred_at, sc.next_newton, sc.newton_backoff, recentre, sc.anchored,
        )  # fmt: skip
    if kind == TRIAL_VERTEX:
        return vertex_backs_off(sc, n_iter)
    if kind == TRIAL_NEWTON:
        return newton_backs_off(sc, n_iter)
    # GD backtracks; it ends at t_safe, which is always accepted.
    return Schedule(
        True, sc.last_vertex, sc.next_vertex_check, sc.vertex_backoff, sc.next_probe,
        sc.recentred_at, sc.next_newton, sc.newton_backoff, sc.recentre, sc.anchored,
    )  # fmt: skip


@njit(**KERNEL)
def recentring(sc):
    """Return the schedule asking to move the frame's centre onto the iterate first."""
    return Schedule(
        sc.retry, sc.last_vertex, sc.next_vertex_check, sc.vertex_backoff, sc.next_probe,
        sc.recentred_at, sc.next_newton, sc.newton_backoff, True, sc.anchored,
    )  # fmt: skip


@njit(**KERNEL)
def recentred(sc, n_iter):
    """Return the schedule once the frame's centre moved onto the iterate at n_iter."""
    return Schedule(
        False, sc.last_vertex, sc.next_vertex_check, sc.vertex_backoff, sc.next_probe,
        n_iter, sc.next_newton, sc.newton_backoff, False, sc.anchored,
    )  # fmt: skip


@njit(**KERNEL)
def stalled(sc, z, d, n_iter):
    """Whether a proposal that cannot move z ends the solve (else it recentres first)."""
    at_centre = True
    for j in range(d):
        at_centre &= z[j] == 0.0
    return at_centre or sc.recentred_at == n_iter


# struct GapProgress: the gap's lowest value so far and the iteration that reached it.
GapProgress = namedtuple("GapProgress", ["best", "at"])


@njit(**KERNEL)
def gap_progress_start():
    """Return GapProgress{} (no gap seen yet)."""
    return GapProgress(math.inf, 0)


@njit(**KERNEL)
def gap_stalled(gp, gap, n_iter):
    """Return (whether a gap within STALL_GAP has not halved in STALL_ITERATIONS, gp)."""
    if gap <= 0.5 * gp.best:
        return False, GapProgress(gap, n_iter)
    return gap <= STALL_GAP and n_iter - gp.at >= STALL_ITERATIONS, gp


@njit(**KERNEL)
def anchoring(sc):
    """Return the schedule of a frame anchored robustly (anchor_frame), for good."""
    return Schedule(
        sc.retry, sc.last_vertex, sc.next_vertex_check, sc.vertex_backoff, sc.next_probe,
        sc.recentred_at, sc.next_newton, sc.newton_backoff, sc.recentre, True,
    )  # fmt: skip


@njit(**KERNEL)
def anchor_reset(sc):
    """Return the schedule after anchoring: back-offs and memories gone, probes go on."""
    return Schedule(
        False, -1, 0, 1, sc.next_probe, sc.recentred_at, 0, 1, False, sc.anchored,
    )  # fmt: skip
