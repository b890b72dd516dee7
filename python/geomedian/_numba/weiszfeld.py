"""Mirror of ``csrc/geomedian/weiszfeld.hpp``: the Vardi-Zhang modified Weiszfeld step.

y+ = y + max(0, 1 - eta / ||R||) R / inv, a fixed point exactly when ||R|| <= eta.
"""

import math

from numba import njit

from .fused_pass import SLOT_ETA, SLOT_HEAD, SLOT_INV
from .jit_options import KERNEL


@njit(**KERNEL)
def weiszfeld_step(sums, d, z, z_next):
    """Write the step from z into z_next; return False when z is a fixed point."""
    inv = sums[SLOT_INV]
    eta = sums[SLOT_ETA]
    rn2 = 0.0
    for j in range(d):
        rn2 += sums[SLOT_HEAD + j] * sums[SLOT_HEAD + j]
    rn = math.sqrt(rn2)
    if not inv > 0 or rn <= eta:
        return False
    step = (1.0 - eta / rn) / inv
    moved = False
    for j in range(d):
        z_next[j] = z[j] + step * sums[SLOT_HEAD + j]
        moved |= z_next[j] != z[j]
    return moved
