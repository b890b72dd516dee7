"""Mirror of ``csrc/geomedian/certificate.hpp`` (the derivation is written out there).

LB(y) = (S - g . (y - xbar)) / (1 + ||g|| / W) <= f*, with g the minimum-norm subgradient,
S >= f - 2 f_coinc and g . (y - xbar) = -g . M / W, less SUM_ROUNDING of the magnitudes
(far from the data LB is a small difference of large sums).

Far points (beyond the frame's near radius, w_far > 0): the near points alone absorb g,
which bounds f - f* by gap_near = 2 beta f_N + 2 f_coinc, beta = ||g|| / (2 W_N - W - ||g||),
and the stopping rule divides the smaller gap by F = W f_N / W_N instead of f.
"""

import math
from collections import namedtuple

from numba import njit

from .._contract import (
    SLOT_ETA,
    SLOT_F,
    SLOT_F_COINC,
    SLOT_F_NEAR,
    SLOT_HEAD,
    SLOT_W_FAR,
    SUM_ROUNDING,
)
from .jit_options import KERNEL

# C++ struct Certificate: f, LB, ||g||, gap_near (a bound on f - f*, +inf when not
# applicable) and scale (F, the gap's normaliser), all in scaled units.
Certificate = namedtuple("Certificate", ["f", "lb", "gnorm", "gap_near", "scale"])


@njit(**KERNEL)
def grad_rounding(d):
    """Return a bound on ||computed g - sum_i u_i|| / W: the sums' and the directions' rounding."""
    return SUM_ROUNDING + (d + 8) * 2.0**-53


@njit(**KERNEL)
def certify(sums, d, W, g):
    """Fill g with the minimum-norm subgradient; return the Certificate (f, LB, ||g||, ...)."""
    rn2 = 0.0
    for j in range(d):
        rn2 += sums[SLOT_HEAD + j] * sums[SLOT_HEAD + j]
    rn = math.sqrt(rn2)
    eta = sums[SLOT_ETA]
    # The coincident weight cancels up to eta of the smooth gradient's norm.
    keep = 1.0 - eta / rn if rn > eta else 0.0
    gm = 0.0
    for j in range(d):
        g[j] = -sums[SLOT_HEAD + j] * keep if keep > 0 else 0.0  # +0, not -0, when absorbed
        gm += g[j] * sums[SLOT_HEAD + d + j]
    gnorm = rn * keep
    f = sums[SLOT_F]
    S = f - 2.0 * sums[SLOT_F_COINC]
    slack = SUM_ROUNDING * (abs(S) + abs(gm) / W)
    lb = (S + gm / W - slack) / (1.0 + gnorm / W)
    w_far = sums[SLOT_W_FAR]
    if not w_far > 0:
        return Certificate(f, lb, gnorm, math.inf, f)
    # W_N and the denominator lose the sums' rounding, to stay on the safe side.
    wn = (W - w_far) * (1.0 - SUM_ROUNDING)
    fn = sums[SLOT_F_NEAR]
    gn = gnorm + grad_rounding(d) * W
    den = 2.0 * wn - W * (1.0 + SUM_ROUNDING) - gn
    gap_near = math.inf
    if den > 0 and gn <= den:
        gap_near = (2.0 * (gn / den) * fn + 2.0 * sums[SLOT_F_COINC]) * (1.0 + SUM_ROUNDING)
    scale = fn * (W / (W - w_far)) if wn > 0 else f
    return Certificate(f, lb, gnorm, gap_near, scale)


@njit(**KERNEL)
def units_exponent(s, wscale):
    """Return e with s wscale = 2^e (both powers of two)."""
    return math.frexp(s)[1] + math.frexp(wscale)[1] - 2


@njit(**KERNEL)
def in_units_up(v, s, wscale):
    """Return an objective of the frame's units in the caller's, v / (s wscale), rounded up."""
    e = units_exponent(s, wscale)
    q = math.ldexp(v, -e)
    return math.nextafter(q, math.inf) if math.ldexp(q, e) < v else q


@njit(**KERNEL)
def in_units_down(v, s, wscale):
    """Return a bound of the frame's units in the caller's, v / (s wscale), rounded down."""
    e = units_exponent(s, wscale)
    q = math.ldexp(v, -e)
    return math.nextafter(q, -math.inf) if math.ldexp(q, e) > v else q


@njit(**KERNEL)
def absolute_gap(cert, lb):
    """Return the certified f - f* at an iterate certified by cert, lb the best bound seen."""
    gap = cert.f - lb
    return cert.gap_near if cert.gap_near < gap else gap  # std::min's order


@njit(**KERNEL)
def carried_gap(sums, g, zt, z, d, W):
    """Return a bound on f(zt) - f(z), sums and g the pass at zt and its certify's.

    By convexity, g . (zt - z) + 2 f_coinc, plus g's rounding times |zt - z| and the
    product's: second order in the move (g about H (zt - z)), where the near bound at zt is
    first order. So f(zt) - f* <= absolute_gap(at z) + carried_gap (the rounded answer).
    """
    dot = 0.0
    mag = 0.0
    move2 = 0.0
    for j in range(d):
        dz = zt[j] - z[j]
        t = g[j] * dz
        dot += t
        mag += abs(t)
        move2 += dz * dz
    slack = grad_rounding(d) * W * math.sqrt(move2) + (d + 2) * 2.0**-53 * mag
    return (dot + 2.0 * sums[SLOT_F_COINC] + slack) * (1.0 + SUM_ROUNDING)


@njit(**KERNEL)
def carried(rounded, at_z, lb, sums, g, zt, z, d, W):
    """Return ``rounded`` (the certificate at zt) with the gap of ``at_z`` carried to zt.

    C++: ``rounded.gap_near = std::min(rounded.gap_near, absolute_gap + carried_gap)``.
    """
    moved = absolute_gap(at_z, lb) + carried_gap(sums, g, zt, z, d, W)
    gap_near = moved if moved < rounded.gap_near else rounded.gap_near  # std::min's order
    return Certificate(rounded.f, rounded.lb, rounded.gnorm, gap_near, rounded.scale)


@njit(**KERNEL)
def certified_gap(cert, lb):
    """Return the relative gap the stopping rule compares with tol: absolute_gap / F.

    C++: the overload ``relative_gap(const Certificate&, double)`` (Numba has no overloads).
    0 when F == 0 (every point sits on the iterate, or more than half the weight does with
    the rest far).
    """
    gap = absolute_gap(cert, lb)
    if cert.f == 0:
        return 0.0  # every point sits on the iterate
    if not cert.scale > 0:
        return math.inf if gap > 0 or math.isnan(gap) else 0.0
    r = gap / cert.scale
    return r if r > 0 else (0.0 if r <= 0 else math.inf)  # NaN (an overflowed sum): never


@njit(**KERNEL)
def relative_gap(f, lb):
    """Return the classic relative gap (f - LB) / f, 0 when f == 0.

    For solvers that have checked that no point is beyond the near radius (F = f there).
    """
    if f == 0:
        return 0.0
    gap = (f - lb) / f
    return gap if gap > 0 else (0.0 if gap <= 0 else math.inf)
