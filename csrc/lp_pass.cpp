// The Lp pass (lp_pass.hpp): the sums of one problem at y, by lanes, blocks and chunks.
#include "geomedian/lp_pass.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "geomedian/fused_pass.hpp"  // add_compensated, compensated_total
#include "geomedian/lanes.hpp"
#include "geomedian/parallel.hpp"    // chunk_rows

namespace geomedian {

namespace {

constexpr int L = static_cast<int>(lp_lanes);
constexpr double root_floor = 0x1p-13;  // sqrt(lp_floor), exactly
constexpr double lp_bounded_q = 512.0;  // the largest q whose excess is bounded, not measured

// The fewest divisions by 8 that bring any sum of d powers of entries in [0, 1] below 8.
constexpr int cube_root_reductions(index_t d) {
    int k = 1;
    for (index_t top = 8; top <= d; top *= 8) ++k;
    return k;
}

// The running state of one chunk: every sum of lp_additive_end(d) slots per lane, the
// block's sums (at most block_rows rows of the lane each) and the lanes' compensated
// totals, and per lane the extremes (largest excess, nearest row, nearest coordinates).
// Slot k of lane l is at k * L + l.
struct LpLanes {
    double* blk;
    double* sum;
    double* err;
    double* excess;
    double* nearest;
    double* nearest_row;
    double* closest;    // d * L: the least |y_j - x_ij| of the lane's rows
    double* closest_x;  // d * L: that x_ij (the smaller one on ties)
};

inline index_t lp_lanes_size(index_t d) { return (3 * lp_additive_end(d) + 3 + 2 * d) * L; }

inline LpLanes start_lanes(double* buf, index_t d) {
    const index_t end = lp_additive_end(d);
    LpLanes s{buf,
              buf + end * L,
              buf + 2 * end * L,
              buf + 3 * end * L,
              buf + (3 * end + 1) * L,
              buf + (3 * end + 2) * L,
              buf + (3 * end + 3) * L,
              buf + (3 * end + 3 + d) * L};
    std::fill(buf, buf + lp_lanes_size(d), 0.0);
    std::fill(s.nearest, s.nearest + L, HUGE_VAL);
    std::fill(s.nearest_row, s.nearest_row + L, -1.0);
    std::fill(s.closest, s.closest + d * L, HUGE_VAL);
    return s;
}

// Every slot before `end` (lp_additive_end) but excess, nearest and nearest_row is a sum.
inline bool additive(index_t k, index_t end) {
    return k < end && k != lp_slot::excess && k != lp_slot::nearest &&
           k != lp_slot::nearest_row;
}

// The nearest coordinate kept: the least |y_j - x_ij|, the smaller x_ij on ties (any order
// of rows, lanes and chunks gives the same).
inline bool closer(double m, double xv, double cm, double cx) {
    return m < cm || (m == cm && xv < cx);
}

// The lanes' totals into out: the sums in lane order with compensation, the extremes.
inline void finish_lanes(const LpLanes& s, index_t d, double* out) {
    const index_t end = lp_additive_end(d);
    for (index_t k = 0; k < end; ++k) {
        double ts = 0.0, tc = 0.0;
        for (int l = 0; l < L; ++l) {
            add_compensated(ts, tc, s.sum[k * L + l]);
            add_compensated(ts, tc, s.err[k * L + l]);
        }
        out[k] = compensated_total(ts, tc);
    }
    out[lp_slot::excess] = 0.0;
    out[lp_slot::nearest] = HUGE_VAL;
    out[lp_slot::nearest_row] = -1.0;
    for (index_t j = 0; j < d; ++j) out[end + j] = HUGE_VAL, out[end + d + j] = 0.0;
    for (int l = 0; l < L; ++l) {
        out[lp_slot::excess] = out[lp_slot::excess] < s.excess[l] ? s.excess[l]
                                                                   : out[lp_slot::excess];
        const double n = s.nearest[l], r = s.nearest_row[l];
        if (n < out[lp_slot::nearest] ||
            (n == out[lp_slot::nearest] && r >= 0.0 && r < out[lp_slot::nearest_row])) {
            out[lp_slot::nearest] = n;
            out[lp_slot::nearest_row] = r;
        }
        for (index_t j = 0; j < d; ++j) {
            if (closer(s.closest[j * L + l], s.closest_x[j * L + l], out[end + j],
                       out[end + d + j])) {
                out[end + j] = s.closest[j * L + l];
                out[end + d + j] = s.closest_x[j * L + l];
            }
        }
    }
}

// Adds chunk sums `part` into acc (err: the compensation terms), keeps the largest excess,
// the nearest row (the first, on ties) and the nearest coordinates.
inline void add_chunk(double* acc, double* err, const double* part, index_t d) {
    const index_t end = lp_additive_end(d);
    for (index_t k = 0; k < end; ++k)
        if (additive(k, end)) add_compensated(acc[k], err[k], part[k]);
    acc[lp_slot::excess] = std::max(acc[lp_slot::excess], part[lp_slot::excess]);
    if (part[lp_slot::nearest] < acc[lp_slot::nearest]) {
        acc[lp_slot::nearest] = part[lp_slot::nearest];
        acc[lp_slot::nearest_row] = part[lp_slot::nearest_row];
    }
    for (index_t j = 0; j < d; ++j) {
        if (closer(part[end + j], part[end + d + j], acc[end + j], acc[end + d + j])) {
            acc[end + j] = part[end + j];
            acc[end + d + j] = part[end + d + j];
        }
    }
}

}  // namespace

// The largest ||s_i||_q for p other than 1.5 and 3, bounded a priori rather than measured
// (d powers per row fewer; the Lp certificate, in the docs). A term T_j = m_j^p of
// pow_fast (or std::pow, within 2 ulps) is within (A + B |log2 T_j|) u of it (A, B:
// lp_pow_ulps, lp_pow_log_ulps), the root t^(1/p) of their sum t (d - 1 roundings) within
// (A + (B + 1) log2(d) / p) u (1/p rounded too), and s_j = (T_j / m_j)(root / t) rounds
// three times. Then ||s_i||_q^q = (root / t)^q sum_j T_j^q / m_j^q up to those roundings,
// = sum_j m_j^p (1 + e_j)^q / t, against t = sum_j m_j^p (1 + e_j): the errors enter
// weighted by m_j^p / t, whose mean of |log2 m_j^p| is at most log2(d) (an entropy; t >= 1
// up to rounding). Its q-th root is below 1 + 1.02 (3 + A (2 + 1/q) + (2 B + 1) ceil(log2 d)
// + (d - 1) / q) u. A term that underflows adds at most 2^(q - 1074) to ||s_i||_q^q:
// negligible up to q = lp_bounded_q (p >= 1.002); beyond it the excess is measured.
namespace {
double lp_excess_bound(index_t d, double q) {
    double log_d = 0.0;  // ceil(log2 d)
    for (index_t top = 1; top < d; top *= 2) log_d += 1.0;
    return 1.0 + 1.02 *
                     (3.0 + lp_pow_ulps * (2.0 + 1.0 / q) + (2.0 * lp_pow_log_ulps + 1.0) * log_d +
                      (static_cast<double>(d) - 1.0) / q) *
                     0x1p-53;
}
}  // namespace

LpPowers lp_powers(double p) {
    LpPowers e{p, p / (p - 1.0), p == 1.5 ? 1 : (p == 3.0 ? 2 : 0), 0, 0.0, 0.0};
    if (p >= 4.0 && p <= static_cast<double>(lp_integer_max) && p == std::floor(p)) {
        e.kind = 3;
        e.n = static_cast<int>(p);
        e.cut_p = lp_power_cutoff(e.n);
        e.cut_h = lp_power_cutoff(e.n - 2);
    }
    return e;
}

// The row kernel per instruction-set level (lp_rows.inc explains why not target_clones).
// Each level specialises d <= lp_fixed_dims. Eight lanes of every d up to 8 fit AVX-512's
// 32 registers; on AVX2's 16 (each lane vector two registers) and on the baseline's SSE2
// (four, and its 64-bit selects scalar) the longer rows spill throughout, and GCC's
// register allocation of them took most of the project's build time, so AVX2 specialises
// d <= 4 and the baseline (CPUs from before 2013) none.
#if defined(GEOMEDIAN_TARGET_CLONES) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define GEOMEDIAN_LP_LEVELS 1
#endif
// Each level also sets lp_pow_block, the vectors whose powers pow_fast takes side by side:
// enough independent chains of multiplications and additions to cover their latency on
// both floating-point units, in registers (32 of AVX-512, 16 of AVX2, SSE2's 16 halved).
namespace lp_base {
#if defined(GEOMEDIAN_LP_LEVELS)
constexpr int lp_fixed_dims = 0;
constexpr int lp_pow_block = 2;
#else
constexpr int lp_fixed_dims = 8;  // the only level: the compiler's target (-march)
#if defined(__AVX512F__)
constexpr int lp_pow_block = 8;
#else
constexpr int lp_pow_block = 4;
#endif
#endif
#include "lp_rows.inc"
}  // namespace lp_base
#if defined(GEOMEDIAN_LP_LEVELS)
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
namespace lp_v3 {
constexpr int lp_fixed_dims = 4;
constexpr int lp_pow_block = 4;
#include "lp_rows.inc"
}  // namespace lp_v3
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
namespace lp_v4 {
constexpr int lp_fixed_dims = 8;
constexpr int lp_pow_block = 8;
#include "lp_rows.inc"
}  // namespace lp_v4
#pragma GCC pop_options
#endif

// Rows [lo, hi) of one problem into out, by the widest level the CPU has.
template <class T>
void lp_rows(const T* x, const double* w, index_t lo, index_t hi, index_t d, const double* y,
             const double* shift, double near, const LpPowers& e, double* out) {
#if defined(GEOMEDIAN_LP_LEVELS)
    static const int level =
        __builtin_cpu_supports("x86-64-v4") ? 4 : (__builtin_cpu_supports("x86-64-v3") ? 3 : 0);
    if (level == 4) return lp_v4::lp_rows(x, w, lo, hi, d, y, shift, near, e, out);
    if (level == 3) return lp_v3::lp_rows(x, w, lo, hi, d, y, shift, near, e, out);
#endif
    return lp_base::lp_rows(x, w, lo, hi, d, y, shift, near, e, out);
}

template <class T>
void lp_pass(const T* x, const double* w, index_t n, index_t d, const double* y,
             const double* shift, double near, const LpPowers& e, int threads, double* out) {
    const index_t step = chunk_rows(d), nc = (n + step - 1) / step, size = lp_sums_size(d),
                  end = lp_additive_end(d);
    std::vector<double> buf(2 * size, 0.0);
    double *err = buf.data(), *part = err + size;
    if (threads <= 1 || nc <= 1) {
        for (index_t k = 0; k < nc; ++k) {
            double* dst = k == 0 ? out : part;
            lp_rows(x, w, k * step, std::min(n, (k + 1) * step), d, y, shift, near, e, dst);
            if (k != 0) add_chunk(out, err, part, d);
        }
    } else {
        std::vector<double> parts(nc * size);
        double* pp = parts.data();
#pragma omp parallel for schedule(static) num_threads(threads)
        for (index_t k = 0; k < nc; ++k)
            lp_rows(x, w, k * step, std::min(n, (k + 1) * step), d, y, shift, near, e,
                    pp + k * size);
        std::copy(pp, pp + size, out);
        for (index_t k = 1; k < nc; ++k) add_chunk(out, err, pp + k * size, d);
    }
    if (nc > 1)
        for (index_t k = 0; k < end; ++k)
            if (additive(k, end)) out[k] = compensated_total(out[k], err[k]);
    out[lp_slot::excess] = e.kind == 0 && e.q <= lp_bounded_q
                               ? lp_excess_bound(d, e.q)
                               : std::pow(out[lp_slot::excess], 1.0 / e.q);
}

template void lp_pass<float>(const float*, const double*, index_t, index_t, const double*,
                             const double*, double, const LpPowers&, int, double*);
template void lp_pass<double>(const double*, const double*, index_t, index_t, const double*,
                              const double*, double, const LpPowers&, int, double*);

}  // namespace geomedian
