"""Mirror of ``csrc/geomedian/gradient_descent.hpp``: Barzilai-Borwein trial, Armijo test.

t = max(t_BB, t_safe), t_safe = 1 / inv (the Weiszfeld step, always accepted), t_BB only
where s . q exceeds the rounding of g's terms, 2 (d + 8) 2^-53 W ||s||; accept when
f(z - t g) <= f(z) - 1e-4 t ||g||^2 + 8 eps_mach f(z), else t <- max(t / 4, t_safe).
A trial goes no further than ||z|| + 2 sqrt(d), past the data's hull.
The state is a float array: [has_prev, t, t_safe].
"""

import math

from numba import njit

from .._contract import ARMIJO_C, F_NOISE, SLOT_INV
from .jit_options import KERNEL

GD_HAS_PREV, GD_T, GD_T_SAFE, GD_STATE_SIZE = 0, 1, 2, 3


@njit(**KERNEL)
def gd_propose(st, z_prev, g_prev, sums, d, W, z, g, retry, z_next):
    inv = sums[SLOT_INV]
    if not inv > 0:
        return False
    st[GD_T_SAFE] = 1.0 / inv
    if retry:
        st[GD_T] = st[GD_T] / 4 if st[GD_T] / 4 > st[GD_T_SAFE] else st[GD_T_SAFE]
    else:
        st[GD_T] = st[GD_T_SAFE]
        if st[GD_HAS_PREV] > 0:
            ss = 0.0
            sq = 0.0
            for j in range(d):
                s = z[j] - z_prev[j]
                ss += s * s
                sq += s * (g[j] - g_prev[j])
            noise = 2.0 * (d + 8) * 2.0**-53 * W * math.sqrt(ss)
            if sq > noise and ss / sq > st[GD_T]:
                st[GD_T] = ss / sq
    zn2 = 0.0
    gn2 = 0.0
    for j in range(d):
        zn2 += z[j] * z[j]
        gn2 += g[j] * g[j]
    reach = math.sqrt(zn2) + 2.0 * math.sqrt(d)
    if gn2 > 0:
        t_max = reach / math.sqrt(gn2)
        if st[GD_T] > t_max:
            st[GD_T] = t_max if t_max > st[GD_T_SAFE] else st[GD_T_SAFE]
    moved = False
    for j in range(d):
        z_next[j] = z[j] - st[GD_T] * g[j]
        moved |= z_next[j] != z[j]
    return moved


@njit(**KERNEL)
def gd_accept(st, f, f_trial, gnorm):
    if st[GD_T] <= st[GD_T_SAFE]:
        return True  # majorize-minimize: f cannot rise but by rounding
    return f_trial <= f - ARMIJO_C * st[GD_T] * gnorm * gnorm + F_NOISE * f


@njit(**KERNEL)
def gd_remember(st, z_prev, g_prev, d, z, g):
    for j in range(d):
        z_prev[j] = z[j]
        g_prev[j] = g[j]
    st[GD_HAS_PREV] = 1.0
