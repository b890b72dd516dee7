"""Mirror of ``csrc/geomedian/robust_frame.hpp``: the robust anchor of a problem's frame.

From a sample of the rows (every row up to ROBUST_SAMPLE_ROWS, else rows
``k n // ROBUST_SAMPLE_ROWS``): m, the coordinate-wise weighted lower median, and rho, the
weighted lower median of the distances ``||x_i - m||``. The near radius is
``NEAR_FACTOR * rho``; the frame keeps far points below ``2**FRAME_HEADROOM`` and the near
radius above ``2**-FRAME_DEPTH``.
"""

import math

import numpy as np
from numba import njit

# The aliased names are re-exported: solver.py and _paths read them here.
from .._contract import FRAME_DEPTH as FRAME_DEPTH
from .._contract import FRAME_HEADROOM as FRAME_HEADROOM
from .._contract import NEAR_FACTOR as NEAR_FACTOR
from .._contract import ROBUST_SAMPLE_ROWS
from .jit_options import ENTRY, KERNEL


@njit(**KERNEL)
def weighted_lower_median(v, w, m):
    """Return min{v_k : sum_{v_i <= v_k} w_i >= W / 2} of v[:m]; reorders v and w together."""
    total = 0.0
    for i in range(m):
        total += w[i]
    need = 0.5 * total
    lo = 0
    hi = m
    while hi - lo > 1:
        a = v[lo]
        b = v[lo + (hi - lo) // 2]
        c = v[hi - 1]
        pivot = max(min(a, b), min(max(a, b), c))
        lt = lo
        i = lo
        gt = hi
        while i < gt:
            if v[i] < pivot:
                v[i], v[lt] = v[lt], v[i]
                w[i], w[lt] = w[lt], w[i]
                lt += 1
                i += 1
            elif v[i] > pivot:
                gt -= 1
                v[i], v[gt] = v[gt], v[i]
                w[i], w[gt] = w[gt], w[i]
            else:
                i += 1
        below = 0.0
        equal = 0.0
        for k in range(lo, lt):
            below += w[k]
        for k in range(lt, gt):
            equal += w[k]
        if below >= need and lt > lo:
            hi = lt
        elif below + equal >= need or gt == hi:
            return pivot
        else:
            need -= below + equal
            lo = gt
    return v[lo]


@njit(**KERNEL)
def scaled_distance(a, b, d):
    """Return ||a - b|| without overflow or underflow of the squares."""
    big = 0.0
    for j in range(d):
        big = max(big, abs(0.5 * a[j] - 0.5 * b[j]))
    if not big > 0:
        return 0.0
    q = 0.0
    for j in range(d):
        r = (0.5 * a[j] - 0.5 * b[j]) / big
        q += r * r
    return 2.0 * big * math.sqrt(q)


@njit(**KERNEL)
def robust_sample_size(n):
    return min(n, ROBUST_SAMPLE_ROWS)


@njit(**KERNEL)
def robust_sample_row(k, n):
    """Return the index of the k-th sampled row among n."""
    return k if n <= ROBUST_SAMPLE_ROWS else (k * n) // ROBUST_SAMPLE_ROWS


@njit(**KERNEL)
def robust_anchor(xs, ws, S, d, v, vw, m):
    """Fill m (d) with the sample's coordinate-wise weighted lower median; return rho.

    xs: (S, d) sample rows (float64), ws: (S,) their weights; v, vw: S doubles of scratch.
    """
    for j in range(d):
        for k in range(S):
            v[k] = xs[k, j]
            vw[k] = ws[k]
        m[j] = weighted_lower_median(v, vw, S)
    for k in range(S):
        v[k] = scaled_distance(xs[k], m, d)
        vw[k] = ws[k]
    return weighted_lower_median(v, vw, S)


@njit(**ENTRY)
def sample_rows_anchor(xs, ws, m):
    """robust_anchor of the sample rows xs (S, d) with weights ws (S,), m into m; return rho."""
    S, d = xs.shape
    return robust_anchor(xs, ws, S, d, np.empty(S), np.empty(S), m)
