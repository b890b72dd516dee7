"""Mirror of ``csrc/geomedian/certificate.hpp`` (the derivation is written out there).

LB(y) = (S - g . (y - xbar)) / (1 + ||g|| / W) <= f*, with g the minimum-norm subgradient,
S >= f - 2 f_coinc and g . (y - xbar) = -g . M / W, less SUM_ROUNDING of the magnitudes
(far from the data LB is a small difference of large sums).
"""

import math

from numba import njit

from .fused_pass import SLOT_ETA, SLOT_F, SLOT_F_COINC, SLOT_HEAD

SUM_ROUNDING = 2.0**-44


@njit(cache=True, nogil=True)
def certify(sums, d, W, g):
    """Fill g with the minimum-norm subgradient; return (f, LB, ||g||)."""
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
    return f, lb, gnorm


@njit(cache=True, nogil=True)
def relative_gap(f, lb):
    if not f > 0:
        return 0.0
    gap = (f - lb) / f
    return gap if gap > 0 else 0.0
