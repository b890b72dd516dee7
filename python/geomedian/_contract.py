"""The values the C++ core and the Python package share, on the Python side.

Mirror of ``csrc/geomedian/contract.hpp``, name for name: the method and status codes,
the slots of the pass sums, and the constants that fix the results' bits (why each has its
value is written there). The compiled core exports its own as ``_core.contract``, a dict
with the same names, and ``tests/test_contract.py`` checks that the two agree; every other
module (the Numba kernels, the result codes, the validator) imports them from here.

Plain numbers only, no imports: this module is read by ``import geomedian`` and by the
Numba kernels alike, which treat them as compile-time constants.
"""

# enum class Method: the kernel code of each exact method.
METHOD_WEISZFELD = 0
METHOD_GD = 1
METHOD_NEWTON = 2

# enum class Status: how a solve ended.
STATUS_CONVERGED = 0
STATUS_MAX_ITER = 1
STATUS_STALLED = 2
STATUS_INTERRUPTED = 3
STATUS_NONFINITE = 4
STATUS_EMPTY = 5
STATUS_RANGE = 6

# The sums of the iteration pass (R and M, d entries each, follow SLOT_HEAD) ...
SLOT_F = 0
SLOT_INV = 1
SLOT_ETA = 2
SLOT_F_COINC = 3
SLOT_MAX_TERM = 4
SLOT_W_FAR = 5
SLOT_F_NEAR = 6
SLOT_HEAD = 7
# ... and of the moments pass (the d weighted half-moments follow MOMENT_HEAD).
MOMENT_WEIGHT = 0
MOMENT_NONFINITE = 1
MOMENT_HALF_SPREAD = 2
MOMENT_HEAD = 3

# ... and of the Lp pass (g, M, B, G, the Hessian's diagonal terms and the pins, d entries
# each, then the packed sum of c_i s_i s_i^T, follow LP_HEAD).
LP_F = 0
LP_WEIGHT = 1
LP_S = 2
LP_A = 3
LP_ETA = 4
LP_CURVATURE = 5
LP_EXCESS = 6
LP_NEAREST = 7
LP_NEAREST_ROW = 8
LP_W_NEAR = 9
LP_F_NEAR = 10
LP_HEAD = 11
LP_FLOOR = 2.0**-26
# The Lp pass's lanes (row b + l of a group goes to lane l) and its inverse cube root's
# guess on [1, 8) (a quadratic, then steps of multiplications and additions only).
LP_LANES = 8
LP_ICBRT_C0 = float.fromhex("0x1.1d814a78cf2bep+0")
LP_ICBRT_C1 = float.fromhex("0x1.5a0f12490265bp-3")  # subtracted
LP_ICBRT_C2 = float.fromhex("0x1.83d464e0887c8p-7")
# ... and its powers of other p (2^(b log2 a): the split of the mantissa, the magnitudes of
# log2(1 + f) / f's coefficients, the odd ones subtracted, (2^g - 1) / g's, the range of
# y = b log2 a taken, the relative error bound in u: contract.hpp).
LP_LOG2_SPLIT = float.fromhex("0x1.6a09e667f3bcdp-1")
LP_LOG2_C0 = float.fromhex("0x1.71547652b82fep+0")
LP_LOG2_C1 = float.fromhex("0x1.71547652b8303p-1")
LP_LOG2_C2 = float.fromhex("0x1.ec709dc3a0364p-2")
LP_LOG2_C3 = float.fromhex("0x1.71547652b6906p-2")
LP_LOG2_C4 = float.fromhex("0x1.2776c50f0334cp-2")
LP_LOG2_C5 = float.fromhex("0x1.ec709dc5f6f29p-3")
LP_LOG2_C6 = float.fromhex("0x1.a61762a192f44p-3")
LP_LOG2_C7 = float.fromhex("0x1.7154758d2a3d3p-3")
LP_LOG2_C8 = float.fromhex("0x1.484b147053a37p-3")
LP_LOG2_C9 = float.fromhex("0x1.2776e858de1d5p-3")
LP_LOG2_C10 = float.fromhex("0x1.0c9a95cc33af8p-3")
LP_LOG2_C11 = float.fromhex("0x1.ec6950fd6fdabp-4")
LP_LOG2_C12 = float.fromhex("0x1.c6849c39f15fdp-4")
LP_LOG2_C13 = float.fromhex("0x1.a68767fa9ec17p-4")
LP_LOG2_C14 = float.fromhex("0x1.8afe634e1be8dp-4")
LP_LOG2_C15 = float.fromhex("0x1.6dc9b3b9f5253p-4")
LP_LOG2_C16 = float.fromhex("0x1.4edc4d3980443p-4")
LP_LOG2_C17 = float.fromhex("0x1.51475a6bac289p-4")
LP_LOG2_C18 = float.fromhex("0x1.81a23334b358fp-4")
LP_LOG2_C19 = float.fromhex("0x1.5e13154ec84f7p-4")
LP_LOG2_C20 = float.fromhex("0x1.2d4105d5df91cp-5")
LP_EXP2_E1 = float.fromhex("0x1.62e42fefa39efp-1")
LP_EXP2_E2 = float.fromhex("0x1.ebfbdff82c598p-3")
LP_EXP2_E3 = float.fromhex("0x1.c6b08d704a0c2p-5")
LP_EXP2_E4 = float.fromhex("0x1.3b2ab6fba1ddap-7")
LP_EXP2_E5 = float.fromhex("0x1.5d87fe78a5276p-10")
LP_EXP2_E6 = float.fromhex("0x1.430913096fd9fp-13")
LP_EXP2_E7 = float.fromhex("0x1.ffcbfc670dcd4p-17")
LP_EXP2_E8 = float.fromhex("0x1.62bfd47773353p-20")
LP_EXP2_E9 = float.fromhex("0x1.b524fae627834p-24")
LP_EXP2_E10 = float.fromhex("0x1.e6063f7217bc6p-28")
LP_EXP2_E11 = float.fromhex("0x1.e9d3fe3952179p-32")
LP_POW_LIMIT = 1020.0
LP_POW_ZERO = 1080.0  # a^b below 2**-LP_POW_ZERO rounds to +0, as pow gives it
LP_POW_ULPS = 4.0
LP_POW_LOG_ULPS = 4.0
LP_INTEGER_MAX = 512  # integer p from 4 up to this: powers by squares
# The Hessian pass's lanes: row b + l of each group goes to lane l, added in lane order.
HESSIAN_LANES = 8
# The Hessian pass asks for rows this many bytes ahead of the group in hand (no value changes).
HESSIAN_PREFETCH_BYTES = 8192

COINCIDENCE_RADIUS = 2.0**-40

# Rows per chunk of a pass: max(CHUNK_MIN_ROWS, CHUNK_COORDINATES // d).
CHUNK_MIN_ROWS = 64
CHUNK_COORDINATES = 32768
# Rows per accumulator of a pass; beyond, partial sums are added with compensation.
BLOCK_ROWS = 128
# A pass buffers the centred rows up to this length; longer rows are read twice from cache,
# in blocks of about this many bytes (4 to BLOCK_ROWS rows).
BUFFERED_ROW_MAX = 128
LONG_ROW_BLOCK_BYTES = 131072

SMALL_PROBLEM_SIZE = 8192
LANES = 8
START_MEDIAN_ROWS = 64
NEWTON_MAX_D = 16

PACK = 8
PACKED_PROBLEM_SIZE = 1024
PACKED_MAX_ITER = 8
NEAR_MARGIN = 2.0**-36

ROBUST_SAMPLE_ROWS = 1024
NEAR_FACTOR = 2.0**10
DRAGGED_START = 0.25
FRAME_HEADROOM = 480
FRAME_DEPTH = 400

SUM_ROUNDING = 2.0**-44

ARMIJO_C = 1e-4
F_NOISE = 8 * 2.0**-52  # 8 ulps of 1: the rounding allowance on f, relative
FAR_NOISE_SHARE = 2.0**-30  # beside far points: f_noise f below this share of f_N
STALL_GAP = 2.0**-36
STALL_ITERATIONS = 32
ROUNDING_RETRIES = 2
ROUNDING_RETRY_TOL = 0.25
NEWTON_PIVOT = 1e-10

# The Gram path's passes: scratch per block, stripes, and the tiles of G's products.
GRAM_BLOCK_BYTES = 1 << 19
GRAM_STRIPES = 8
GRAM_TILE = 4
GRAM_LANES = 4


def shared_values() -> dict:
    """Return every shared value by name, as ``_core.contract`` holds them.

    Returns
    -------
    dict
        Name -> ``int`` or ``float``.
    """
    return {
        name: value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, (int, float))
    }
