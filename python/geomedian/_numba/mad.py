"""Mirror of ``csrc/geomedian/mad.hpp``: a problem's three MADs and count after its median.

Over the valid rows x_t (no NaN coordinate, and a positive weight when weights are given)
and the median m: emad = median ||x_t - m||, smad = median (1 - <x_t, m> / (||x_t|| ||m||)),
bcmad = median sum_j |x_tj - m_j| / sum_j |x_tj + m_j|, a ratio with a zero denominator
counting as 0; np.median's value for an even count; NaN without a valid row or a finite
median.

Where the compiled core differs, in how the work is arranged only: it takes the medians of
the three terms with a sorting network (here ``np.partition``: the same values), and for
the problems its packed lanes certify it computes the same sums, in the same order, eight
problems at a time (``packed_mads``); here every problem is done alone. The values agree
to the rounding of fused multiply-adds, which the core may use and Numba does not.
"""

import math

import numpy as np
from numba import njit

from .jit_options import KERNEL
from .small_pass import row_has_nan


@njit(**KERNEL)
def median_of(v, k):
    """Return the median of v[:k] (k >= 1), reordering v: np.median's value."""
    h = k // 2
    part = np.partition(v[:k], h)
    upper = part[h]
    if k % 2 == 1:
        return upper
    lower = part[:h].max()
    return 0.5 * (lower + upper)


@njit(**KERNEL)
def ratio_or_zero(a, b):
    return 0.0 if b == 0.0 else a / b


@njit(**KERNEL)
def problem_mads(x, w, m, terms, mads, k):
    """Problem k's MADs around its median ``m`` into ``mads`` (emad, smad, bcmad, count).

    ``x``: its (n, d) rows; ``w``: its weights (length 0: unit weights); ``terms``: (3, n)
    scratch.
    """
    emad, smad, bcmad, count = mads
    n, d = x.shape
    e, sp, bc = terms[0], terms[1], terms[2]
    mm = 0.0
    finite = True
    for j in range(d):
        mm += m[j] * m[j]
        finite &= math.isfinite(m[j])
    norm_m = math.sqrt(mm)
    c = 0
    for i in range(n):
        if row_has_nan(x, i) or (w.shape[0] > 0 and not w[i] > 0.0):
            continue
        dd = 0.0
        xx = 0.0
        xm = 0.0
        dif = 0.0
        tot = 0.0
        for j in range(d):
            xj = np.float64(x[i, j])
            r = xj - m[j]
            dd += r * r
            xx += xj * xj
            xm += xj * m[j]
            dif += abs(r)
            tot += abs(xj + m[j])
        e[c] = math.sqrt(dd)
        sp[c] = 1.0 - ratio_or_zero(xm, math.sqrt(xx) * norm_m)
        bc[c] = ratio_or_zero(dif, tot)
        c += 1
    count[k] = c
    if c == 0 or not finite:
        emad[k] = smad[k] = bcmad[k] = np.nan
        return
    emad[k] = median_of(e, c)
    smad[k] = median_of(sp, c)
    bcmad[k] = median_of(bc, c)
