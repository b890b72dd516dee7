// Every value the C++ core and the Python package share, in one place: the method and
// status codes, the slots of the pass sums, and the constants that fix the results' bits
// (a Numba mirror with other values would compute other numbers). Each is mirrored under
// the Python name given in for_each_shared_value by python/geomedian/_contract.py; _core
// exports them as `contract` and tests/test_contract.py checks that the two agree.
#pragma once

#include <cstddef>
#include <limits>

namespace geomedian {

using index_t = std::ptrdiff_t;

enum class Method : int { weiszfeld = 0, gd = 1, newton = 2 };

enum class Status : int {
    converged = 0,    // certified relative gap <= tol
    max_iter = 1,     // iteration budget ran out first
    stalled = 2,      // the iterate stopped moving before the gap reached tol (floating-point floor)
    interrupted = 3,  // a signal arrived (Ctrl-C); the caller raises
    nonfinite = 4,    // the points contain NaN or inf; nothing was solved
    empty = 5,        // no point with positive weight left once NaN rows were omitted
    range = 6,        // points span > 2^880 robust spreads (frame_depth), or distances overflow
};

// Where each sum of the iteration pass and of the moments pass sits (fused_pass.hpp);
// R and M (d entries each) follow slot::head, the d moments follow moment::head.
namespace slot {
enum : index_t { f = 0, inv = 1, eta = 2, f_coinc = 3, max_term = 4, w_far = 5, f_near = 6, head = 7 };
}
namespace moment {
enum : index_t { weight = 0, nonfinite = 1, half_spread = 2, head = 3 };
}
// The sums of the Lp pass (lp_pass.hpp): these scalars, then g, M, B, G, the Hessian's
// diagonal terms and the pins (d entries each), then the packed sum of c_i s_i s_i^T.
namespace lp_slot {
enum : index_t {
    f = 0,
    weight = 1,
    s = 2,
    a = 3,
    eta = 4,
    curvature = 5,
    excess = 6,
    nearest = 7,
    nearest_row = 8,
    w_near = 9,
    f_near = 10,
    head = 11
};
}

// Points closer than this to the iterate (in the frame where the data spans < 1) count
// as coinciding with it: far below any meaningful spread, far above rounding of d_i.
constexpr double coincidence_radius = 0x1p-40;

// Rows per chunk of a pass, chunk_rows(d) = max(chunk_min_rows, chunk_coordinates / d)
// (parallel.hpp): ~256 KiB of float64, big enough to amortise a chunk's bookkeeping, small
// enough to balance two threads and to keep the nearest-row rescan of a chunk in cache.
// The chunks fix the order of the additions, so both backends must cut the same ones.
constexpr index_t chunk_min_rows = 64;
constexpr index_t chunk_coordinates = 32768;
// No accumulator of a pass sums more than this many rows (or a row more than this many
// squares): partial sums are added with compensation beyond, which bounds the rounding of
// every sum whatever n and d (certificate.hpp). Rows of d > 4 are also walked in blocks of
// at most this many rows (fused_pass.hpp).
constexpr index_t block_rows = 128;
// A pass buffers the centred coordinates of rows up to this length; longer rows are read
// twice from cache instead (fused_pass.hpp), in blocks of about this many bytes of rows
// (4 to block_rows rows).
constexpr index_t buffered_row_max = 128;
constexpr index_t long_row_block_bytes = 131072;

// At most this many coordinates (n * d) take the small-problem pass (small_pass.hpp): the
// copy (64 KiB of float64) stays in L1/L2 for the whole solve.
constexpr index_t small_problem_size = 8192;
// Rows per SIMD block of that pass: one AVX-512 register of float64 (two AVX2, four SSE2).
constexpr index_t lanes = 8;
// Small problems of at most this many rows start at their coordinate-wise weighted lower
// median (computed by counting, O(m^2 d)); larger ones at the weighted mean.
constexpr index_t start_median_rows = 64;
// Newton steps are tried up to this dimension (the Hessian lives on the stack).
constexpr index_t newton_max_d = 16;

// Problems solved together, one per lane, by the packed Newton solver (packed_newton.hpp).
constexpr index_t pack = 8;
// Problems up to this many coordinates (n d) are packed: a pack's copy (n d L doubles,
// 64 KiB here) stays in L2. Larger small problems vectorise well over their own rows.
constexpr index_t packed_problem_size = 1024;
// As the general driver's first unconditional vertex probe: a problem that needs more
// Newton iterations is unusual, and given back.
constexpr index_t packed_max_iter = 8;
// The packed solver's near-radius tests compare distances in the frame with s times those
// of robust_frame.hpp in the caller's units: they agree to within 2^-40 (u and m are
// rounded once each, |u| < 16; the sum of d <= 16 squares, the square root and
// robust_anchor's own distances add d + 5 ulps of at most 2^7). A row this close to a
// threshold is counted on the side that keeps the test sound (packed_newton.cpp).
constexpr double near_margin = 0x1p-36;

// The robust frame (robust_frame.hpp): every row of a problem of at most this many rows is
// sampled, else rows floor(k n / robust_sample_rows).
constexpr index_t robust_sample_rows = 1024;
// Points farther than near_factor * rho from the iterate are "far": the certificate lets
// only the others absorb the residual gradient, and normalises the gap by the near ones.
constexpr double near_factor = 0x1p10;
// In the frame, far points stay below 2^frame_headroom (squares below 2^960 d: no overflow)
// and the near radius above 2^-frame_depth (squares of near distances stay normal).
constexpr int frame_headroom = 480;
constexpr int frame_depth = 400;
// A weighted mean (the row passes' start) that sees at least dragged_start of the weight
// pull one way, ||g|| >= dragged_start W, lies off the bulk of the data: fill values or a
// far cluster dragged it, or heavy tails. The solve starts at the robust centre instead
// (solver.hpp, solve_problem).
constexpr double dragged_start = 0.25;

// The share of its magnitudes a certificate's bound gives up for the rounding of its
// sums (certificate.hpp).
constexpr double sum_rounding = 0x1p-44;

// The sufficient decrease a gradient or Newton trial must show (Armijo), and the rounding
// allowance on f, relative, that a trial may exceed it by (gradient_descent.hpp).
constexpr double armijo_c = 1e-4;
constexpr double f_noise = 8 * std::numeric_limits<double>::epsilon();
// Beside far points, that allowance (f_noise f, f made of the far points' distances) must
// stay below far_noise_share of the near points' share f_N for gradient and Newton trials
// (schedule.hpp, majorize_only): else f's rounding hides their Armijo test.
constexpr double far_noise_share = 0x1p-30;
// The stall at the certificate's rounding floor (schedule.hpp, gap_stalled): a gap within
// stall_gap that has not halved in stall_iterations accepted iterations stops the solve
// (a tol below the floor, e.g. 0, would otherwise run out max_iter). Above every default tol.
constexpr double stall_gap = 0x1p-36;
constexpr index_t stall_iterations = 32;
// A converged iterate whose answer in the points' dtype (float32; data far from the origin)
// misses tol by the rounding's cost (less than tol itself) iterates on towards
// rounding_retry_tol times its last target, at most rounding_retries times (solver.hpp,
// solve_problem).
constexpr index_t rounding_retries = 2;
constexpr double rounding_retry_tol = 0.25;
// A Newton step is formed only when every pivot of H = L D L^T exceeds newton_pivot * inv
// (newton.hpp).
constexpr double newton_pivot = 1e-10;

// The Lp pass (lp_pass.hpp, p < 2): the Hessian's a^(p-2) of a coordinate where y_j meets
// x_ij is infinite; it is floored at this a (Newton then takes a safeguarded quasi-Newton step).
constexpr double lp_floor = 0x1p-26;
// The Lp pass's lanes: row b + l of each group of lp_lanes rows goes to lane l, whatever the
// instruction set, so the sums have the same bits on every CPU and in the Numba mirror.
constexpr index_t lp_lanes = 8;
// The Hessian pass's lanes (hessian_pass.hpp): row b + l of each group of hessian_lanes rows
// goes to lane l; the lanes' sums are added in lane order at the end of a chunk. Fixed, not
// the CPU's vector width, so every instruction set and the Numba mirror add alike.
constexpr index_t hessian_lanes = 8;
// The Hessian pass asks for rows this many bytes ahead of the group in hand (prefetch.hpp):
// between two groups' reads its products are long enough for the hardware's own prefetcher
// to fall behind. Values are unchanged.
constexpr index_t hessian_prefetch_bytes = 8192;
// The inverse cube root of the Lp pass (p = 3 and 1.5) on [1, 8): the guess
// c0 + t (t c2 - c1) (relative error under 4.2e-2, fitted to t^(-1/3)), then steps of
// multiplications and additions only (lp_rows.inc), so both languages round it alike.
constexpr double lp_icbrt_c0 = 0x1.1d814a78cf2bep+0;
constexpr double lp_icbrt_c1 = 0x1.5a0f12490265bp-3;  // subtracted
constexpr double lp_icbrt_c2 = 0x1.83d464e0887c8p-7;
// The Lp pass's powers a^b of p other than 1.5 and 3 (pow_fast of lp_rows.inc):
// 2^(b log2 a) of multiplications, additions and bit operations only, so both languages
// round them alike. a = z 2^k with z in [lp_log2_split, 2 lp_log2_split) from a's bits;
// log2 z = f P(f), f = z - 1, P(f) = c0 - f (c1 - f (c2 - ...)) of the magnitudes
// lp_log2_c0..c20 (fitted to log2(1 + f) / f for relative error, the odd ones
// subtracted); 2^y = 2^n (1 + g R(g)), n the integer nearest y, g = y - n in [-1/2, 1/2],
// R(g) = e1 + g (e2 + ...) of lp_exp2_e1..e11 (fitted to (2^g - 1) / g), 2^n written
// as bits. Where a is normal and |y| <= lp_pow_limit (a normal result) its relative error
// is within (lp_pow_ulps + lp_pow_log_ulps |log2 a^b|) u, u = 2^-53 (tests/test_lp_pow.py;
// lp_pow_ulps also covers std::pow, which takes the other lanes).
constexpr double lp_log2_split = 0x1.6a09e667f3bcdp-1;  // sqrt(1/2)
constexpr double lp_log2_c0 = 0x1.71547652b82fep+0;
constexpr double lp_log2_c1 = 0x1.71547652b8303p-1;
constexpr double lp_log2_c2 = 0x1.ec709dc3a0364p-2;
constexpr double lp_log2_c3 = 0x1.71547652b6906p-2;
constexpr double lp_log2_c4 = 0x1.2776c50f0334cp-2;
constexpr double lp_log2_c5 = 0x1.ec709dc5f6f29p-3;
constexpr double lp_log2_c6 = 0x1.a61762a192f44p-3;
constexpr double lp_log2_c7 = 0x1.7154758d2a3d3p-3;
constexpr double lp_log2_c8 = 0x1.484b147053a37p-3;
constexpr double lp_log2_c9 = 0x1.2776e858de1d5p-3;
constexpr double lp_log2_c10 = 0x1.0c9a95cc33af8p-3;
constexpr double lp_log2_c11 = 0x1.ec6950fd6fdabp-4;
constexpr double lp_log2_c12 = 0x1.c6849c39f15fdp-4;
constexpr double lp_log2_c13 = 0x1.a68767fa9ec17p-4;
constexpr double lp_log2_c14 = 0x1.8afe634e1be8dp-4;
constexpr double lp_log2_c15 = 0x1.6dc9b3b9f5253p-4;
constexpr double lp_log2_c16 = 0x1.4edc4d3980443p-4;
constexpr double lp_log2_c17 = 0x1.51475a6bac289p-4;
constexpr double lp_log2_c18 = 0x1.81a23334b358fp-4;
constexpr double lp_log2_c19 = 0x1.5e13154ec84f7p-4;
constexpr double lp_log2_c20 = 0x1.2d4105d5df91cp-5;
constexpr double lp_exp2_e1 = 0x1.62e42fefa39efp-1;
constexpr double lp_exp2_e2 = 0x1.ebfbdff82c598p-3;
constexpr double lp_exp2_e3 = 0x1.c6b08d704a0c2p-5;
constexpr double lp_exp2_e4 = 0x1.3b2ab6fba1ddap-7;
constexpr double lp_exp2_e5 = 0x1.5d87fe78a5276p-10;
constexpr double lp_exp2_e6 = 0x1.430913096fd9fp-13;
constexpr double lp_exp2_e7 = 0x1.ffcbfc670dcd4p-17;
constexpr double lp_exp2_e8 = 0x1.62bfd47773353p-20;
constexpr double lp_exp2_e9 = 0x1.b524fae627834p-24;
constexpr double lp_exp2_e10 = 0x1.e6063f7217bc6p-28;
constexpr double lp_exp2_e11 = 0x1.e9d3fe3952179p-32;
constexpr double lp_pow_limit = 1020.0;
// Below 2^-lp_pow_zero (y < -lp_pow_zero, far beyond y's error) a^b rounds to +0, as pow
// gives it: such lanes (many at large p: small ratios to a large power) skip the slow path.
constexpr double lp_pow_zero = 1080.0;
constexpr double lp_pow_ulps = 4.0;
constexpr double lp_pow_log_ulps = 4.0;
// Integer p from 4 up to this take their powers by squares (lp_pass.hpp's kind 3): at most
// 2 log2 of it products each, where pow_fast takes about 40 operations. Up to 512 the
// terms that the cutoff 2^-floor(1022 / p) drops (counted as 0: no product is subnormal)
// are below 2^-511 of the largest, which is 1: far below the rounding of their sum.
constexpr index_t lp_integer_max = 512;

// The Gram path's passes (gram_pass.hpp): a block of columns of every row is read into
// about gram_block_bytes of float64 (L2-sized, so each tile of rows is read from cache),
// the blocks are cut into gram_stripes stripes whatever the thread count, and G's
// products are summed gram_tile x gram_tile rows at a time over gram_lanes columns (16
// accumulators of 4 lanes fit the 16 registers of AVX2; 8 lanes would spill them). All
// four fix the order of the additions.
constexpr index_t gram_block_bytes = index_t{1} << 19;
constexpr index_t gram_stripes = 8;
constexpr index_t gram_tile = 4;
constexpr index_t gram_lanes = 4;

// Calls put(python_name, value) for every value above, enums as int and the rest with
// their own type (index_t, int or double): _core.contract is built from this list.
template <class Put>
void for_each_shared_value(Put&& put) {
    put("METHOD_WEISZFELD", static_cast<int>(Method::weiszfeld));
    put("METHOD_GD", static_cast<int>(Method::gd));
    put("METHOD_NEWTON", static_cast<int>(Method::newton));
    put("STATUS_CONVERGED", static_cast<int>(Status::converged));
    put("STATUS_MAX_ITER", static_cast<int>(Status::max_iter));
    put("STATUS_STALLED", static_cast<int>(Status::stalled));
    put("STATUS_INTERRUPTED", static_cast<int>(Status::interrupted));
    put("STATUS_NONFINITE", static_cast<int>(Status::nonfinite));
    put("STATUS_EMPTY", static_cast<int>(Status::empty));
    put("STATUS_RANGE", static_cast<int>(Status::range));
    put("SLOT_F", static_cast<index_t>(slot::f));
    put("SLOT_INV", static_cast<index_t>(slot::inv));
    put("SLOT_ETA", static_cast<index_t>(slot::eta));
    put("SLOT_F_COINC", static_cast<index_t>(slot::f_coinc));
    put("SLOT_MAX_TERM", static_cast<index_t>(slot::max_term));
    put("SLOT_W_FAR", static_cast<index_t>(slot::w_far));
    put("SLOT_F_NEAR", static_cast<index_t>(slot::f_near));
    put("SLOT_HEAD", static_cast<index_t>(slot::head));
    put("MOMENT_WEIGHT", static_cast<index_t>(moment::weight));
    put("MOMENT_NONFINITE", static_cast<index_t>(moment::nonfinite));
    put("MOMENT_HALF_SPREAD", static_cast<index_t>(moment::half_spread));
    put("MOMENT_HEAD", static_cast<index_t>(moment::head));
    put("COINCIDENCE_RADIUS", coincidence_radius);
    put("CHUNK_MIN_ROWS", chunk_min_rows);
    put("CHUNK_COORDINATES", chunk_coordinates);
    put("BLOCK_ROWS", block_rows);
    put("BUFFERED_ROW_MAX", buffered_row_max);
    put("LONG_ROW_BLOCK_BYTES", long_row_block_bytes);
    put("SMALL_PROBLEM_SIZE", small_problem_size);
    put("LANES", lanes);
    put("START_MEDIAN_ROWS", start_median_rows);
    put("NEWTON_MAX_D", newton_max_d);
    put("PACK", pack);
    put("PACKED_PROBLEM_SIZE", packed_problem_size);
    put("PACKED_MAX_ITER", packed_max_iter);
    put("NEAR_MARGIN", near_margin);
    put("ROBUST_SAMPLE_ROWS", robust_sample_rows);
    put("NEAR_FACTOR", near_factor);
    put("DRAGGED_START", dragged_start);
    put("FRAME_HEADROOM", frame_headroom);
    put("FRAME_DEPTH", frame_depth);
    put("SUM_ROUNDING", sum_rounding);
    put("ARMIJO_C", armijo_c);
    put("F_NOISE", f_noise);
    put("FAR_NOISE_SHARE", far_noise_share);
    put("STALL_GAP", stall_gap);
    put("STALL_ITERATIONS", stall_iterations);
    put("ROUNDING_RETRIES", rounding_retries);
    put("ROUNDING_RETRY_TOL", rounding_retry_tol);
    put("NEWTON_PIVOT", newton_pivot);
    put("LP_F", static_cast<index_t>(lp_slot::f));
    put("LP_WEIGHT", static_cast<index_t>(lp_slot::weight));
    put("LP_S", static_cast<index_t>(lp_slot::s));
    put("LP_A", static_cast<index_t>(lp_slot::a));
    put("LP_ETA", static_cast<index_t>(lp_slot::eta));
    put("LP_CURVATURE", static_cast<index_t>(lp_slot::curvature));
    put("LP_EXCESS", static_cast<index_t>(lp_slot::excess));
    put("LP_NEAREST", static_cast<index_t>(lp_slot::nearest));
    put("LP_NEAREST_ROW", static_cast<index_t>(lp_slot::nearest_row));
    put("LP_W_NEAR", static_cast<index_t>(lp_slot::w_near));
    put("LP_F_NEAR", static_cast<index_t>(lp_slot::f_near));
    put("LP_HEAD", static_cast<index_t>(lp_slot::head));
    put("LP_FLOOR", lp_floor);
    put("LP_LANES", lp_lanes);
    put("HESSIAN_LANES", hessian_lanes);
    put("HESSIAN_PREFETCH_BYTES", hessian_prefetch_bytes);
    put("LP_ICBRT_C0", lp_icbrt_c0);
    put("LP_ICBRT_C1", lp_icbrt_c1);
    put("LP_ICBRT_C2", lp_icbrt_c2);
    put("LP_LOG2_SPLIT", lp_log2_split);
    put("LP_LOG2_C0", lp_log2_c0);
    put("LP_LOG2_C1", lp_log2_c1);
    put("LP_LOG2_C2", lp_log2_c2);
    put("LP_LOG2_C3", lp_log2_c3);
    put("LP_LOG2_C4", lp_log2_c4);
    put("LP_LOG2_C5", lp_log2_c5);
    put("LP_LOG2_C6", lp_log2_c6);
    put("LP_LOG2_C7", lp_log2_c7);
    put("LP_LOG2_C8", lp_log2_c8);
    put("LP_LOG2_C9", lp_log2_c9);
    put("LP_LOG2_C10", lp_log2_c10);
    put("LP_LOG2_C11", lp_log2_c11);
    put("LP_LOG2_C12", lp_log2_c12);
    put("LP_LOG2_C13", lp_log2_c13);
    put("LP_LOG2_C14", lp_log2_c14);
    put("LP_LOG2_C15", lp_log2_c15);
    put("LP_LOG2_C16", lp_log2_c16);
    put("LP_LOG2_C17", lp_log2_c17);
    put("LP_LOG2_C18", lp_log2_c18);
    put("LP_LOG2_C19", lp_log2_c19);
    put("LP_LOG2_C20", lp_log2_c20);
    put("LP_EXP2_E1", lp_exp2_e1);
    put("LP_EXP2_E2", lp_exp2_e2);
    put("LP_EXP2_E3", lp_exp2_e3);
    put("LP_EXP2_E4", lp_exp2_e4);
    put("LP_EXP2_E5", lp_exp2_e5);
    put("LP_EXP2_E6", lp_exp2_e6);
    put("LP_EXP2_E7", lp_exp2_e7);
    put("LP_EXP2_E8", lp_exp2_e8);
    put("LP_EXP2_E9", lp_exp2_e9);
    put("LP_EXP2_E10", lp_exp2_e10);
    put("LP_EXP2_E11", lp_exp2_e11);
    put("LP_POW_LIMIT", lp_pow_limit);
    put("LP_POW_ZERO", lp_pow_zero);
    put("LP_POW_ULPS", lp_pow_ulps);
    put("LP_INTEGER_MAX", lp_integer_max);
    put("LP_POW_LOG_ULPS", lp_pow_log_ulps);
    put("GRAM_BLOCK_BYTES", gram_block_bytes);
    put("GRAM_STRIPES", gram_stripes);
    put("GRAM_TILE", gram_tile);
    put("GRAM_LANES", gram_lanes);
}

}  // namespace geomedian
