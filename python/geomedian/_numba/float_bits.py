"""The bit pattern of a float64 as an int64, and back: a maximum the vectoriser accepts.

LLVM does not vectorise a floating-point maximum reduction (``m = max(t, m)``) under the
fastmath flags the hot loops may use (no finite-math flags: see ``HOT_LOOP_MATH``), and
with it the whole row loop stays scalar. For values >= +0, as the terms w_i / d_i and the
halved spreads |x_ij - x_0j| / 2 are (weights are non-negative, coordinates finite), the
int64 bit pattern orders like the value, and an integer maximum does vectorise: the
maximum of ``as_bits(v)`` converted back by ``from_bits`` is the maximum of the values,
bit for bit. (-0.0 maps to a negative integer and loses to any +0.0 start, which has the
same value.) The C++ kernels need no such trick: ``#pragma omp simd reduction(max : ...)``.
"""

from numba import types
from numba.extending import intrinsic


def _bitcast(name, source, target):
    """Return an intrinsic ``name(v)`` reinterpreting the bits of a source value as target."""

    def cast(typingctx, v):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    cast.__name__ = cast.__qualname__ = name
    return intrinsic(cast)


# The int64 holding the bits of a float64 (a bitcast, no conversion), and its inverse.
as_bits = _bitcast("as_bits", types.float64, types.int64)
from_bits = _bitcast("from_bits", types.int64, types.float64)
