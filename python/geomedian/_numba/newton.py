"""Mirror of ``csrc/geomedian/newton.hpp``: Newton steps for small problems.

H = sum_i w_i (I - u_i u_i^T) / d_i (from ``small_hessian``), factorised H = L D L^T in
place of its packed lower triangle (H[j (j + 1) / 2 + k], k <= j); the step p solves
H p = g and z - p is accepted when f(z - p) <= f(z) - 1e-4 g . p + 8 eps_mach f(z). No step
when a pivot is not above NEWTON_PIVOT * inv or p reaches past ||z|| + 2 sqrt(d).
"""

import math

from numba import njit

from .._contract import ARMIJO_C, F_NOISE, NEWTON_MAX_D, NEWTON_PIVOT
from .jit_options import KERNEL

HESSIAN_SIZE = NEWTON_MAX_D * (NEWTON_MAX_D + 1) // 2
# H, then the factorisation's two rows of scratch (stack arrays in C++): no allocation per step.
NEWTON_SCRATCH_SIZE = HESSIAN_SIZE + 2 * NEWTON_MAX_D


@njit(**KERNEL)
def newton_direction(H, d, inv, g, p):
    ld = H[HESSIAN_SIZE : HESSIAN_SIZE + NEWTON_MAX_D]  # L_jk D_k of the current row
    rdiag = H[HESSIAN_SIZE + NEWTON_MAX_D : NEWTON_SCRATCH_SIZE]  # 1 / D_j
    for j in range(d):
        jj = j * (j + 1) // 2
        piv = H[jj + j]
        for k in range(j):
            ld[k] = H[jj + k] * H[k * (k + 1) // 2 + k]
            piv -= H[jj + k] * ld[k]
        if not piv > NEWTON_PIVOT * inv:  # also NaN
            return False
        H[jj + j] = piv
        rdiag[j] = 1.0 / piv
        for i in range(j + 1, d):
            ii = i * (i + 1) // 2
            a = H[ii + j]
            for k in range(j):
                a -= H[ii + k] * ld[k]
            H[ii + j] = a * rdiag[j]
    for i in range(d):  # L q = g
        ii = i * (i + 1) // 2
        a = g[i]
        for k in range(i):
            a -= H[ii + k] * p[k]
        p[i] = a
    for i in range(d - 1, -1, -1):  # L^T p = D^-1 q
        a = p[i] * rdiag[i]
        for k in range(i + 1, d):
            a -= H[k * (k + 1) // 2 + i] * p[k]
        p[i] = a
    return True


@njit(**KERNEL)
def newton_propose(H, d, inv, z, g, p, z_next):
    """Return (moved, decrement g . p) for the trial z_next = z - p."""
    if not newton_direction(H, d, inv, g, p):
        return False, 0.0
    pn2 = 0.0
    zn2 = 0.0
    gp = 0.0
    for j in range(d):
        pn2 += p[j] * p[j]
        zn2 += z[j] * z[j]
        gp += g[j] * p[j]
    reach = math.sqrt(zn2) + 2.0 * math.sqrt(d)
    if not gp > 0 or not pn2 <= reach * reach:
        return False, 0.0
    moved = False
    for j in range(d):
        z_next[j] = z[j] - p[j]
        moved |= z_next[j] != z[j]
    return moved, gp


@njit(**KERNEL)
def newton_accept(f, f_trial, decrement):
    return f_trial <= f - ARMIJO_C * decrement + F_NOISE * f
