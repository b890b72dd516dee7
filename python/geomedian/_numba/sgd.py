"""Mirror of ``csrc/geomedian/sgd.hpp``: averaged minibatch SGD (Cardot, Cenac and Zitt).

G = norm sum_{i in block} w_i (z_i - m) / ||z_i - m||, m <- m + gamma0 / t^alpha G,
mbar <- mbar + (m - mbar) / t, over row blocks [b batch, (b + 1) batch) in the order given.
``state`` is [t, m (d), mbar (d)], updated in place. A row whose squared distance overflows
adds its unit vector, formed from halved differences in the points' units. (The C++ kernel
also prefetches the block it will need a few steps ahead; Numba has no prefetch, the
arithmetic is the same.)
"""

import math

import numpy as np
from numba import njit

from .jit_options import ENTRY


@njit(**ENTRY)
def sgd_run(x, w, wscale, weighted, blocks, batch, norm, c, s, gamma0, alpha, eps, state):
    n, d = x.shape
    G = np.empty(d)
    r = np.empty(d)
    t = state[0]
    for k in range(blocks.shape[0]):
        lo = blocks[k] * batch
        hi = min(n, lo + batch)
        G[:] = 0.0
        for i in range(lo, hi):
            d2 = 0.0
            for j in range(d):
                r[j] = (np.float64(x[i, j]) - c[j]) * s - state[1 + j]
                d2 += r[j] * r[j]
            dist = math.sqrt(d2)
            if math.isinf(d2):
                # A row so far that its squared distance overflows: its unit vector from
                # halved differences in the points' units (C++: the same steps).
                big = 0.0
                for j in range(d):
                    r[j] = (0.5 * np.float64(x[i, j]) - 0.5 * c[j]) - 0.5 * (state[1 + j] / s)
                    big = max(big, abs(r[j]))
                q = 0.0
                for j in range(d):
                    r[j] /= big
                    q += r[j] * r[j]
                dist = math.sqrt(q)
            if dist <= eps:
                continue  # a point on m: its subgradient term may be 0
            wi = w[i] * wscale if weighted else 1.0
            a = wi / dist
            for j in range(d):
                G[j] += a * r[j]
        t += 1.0
        gamma = gamma0 / t**alpha
        for j in range(d):
            state[1 + j] += gamma * norm * G[j]
            state[1 + d + j] += (state[1 + j] - state[1 + d + j]) / t
    state[0] = t
