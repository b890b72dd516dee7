// The two passes over the data that every solver is built from, written once as
// row loops over [lo, hi) and instantiated per dtype / dimension / ISA in fused_pass.cpp.
//
// The iteration pass: with r_i = (x_i - c) s - z (point minus iterate, in the scaled
// frame) and d_i = ||r_i||, one read of the rows yields
//
//   f        = sum_i w_i d_i                                   objective
//   inv      = sum_{d_i > eps} w_i / d_i                       Weiszfeld denominator
//   eta      = sum_{d_i <= eps} w_i                            weight sitting on the iterate
//   f_coinc  = sum_{d_i <= eps} w_i d_i                        (tiny) objective share of those
//   max_term = max_{d_i > eps} w_i / d_i                       one point dominating inv => near a vertex
//   w_far    = sum_{d_i > near} w_i                            weight beyond the near radius
//   f_near   = sum_{d_i <= near} w_i d_i                       objective share of the near points
//   R        = sum_{d_i > eps} w_i r_i / d_i                   minus the gradient of the smooth part
//   M        = sum_i w_i r_i                                   W (mean - iterate), for the dual bound
//
// w_far and f_near feed the certificate that stays exact when far points dominate f
// (certificate.hpp); with every point near (near = +inf), w_far is exactly 0 and f_near
// has the bits of f.
//
// The moments pass (run once per solve) yields W = sum w_i, the count of non-finite
// coordinates, max |x_ij - x_0j| / 2 (halved so it cannot overflow) and
// sum_i w_i (x_i - x_0) / 2, from which the frame (c, s) is built.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "types.hpp"

#if defined(__GNUC__) || defined(__clang__)
#define GEOMEDIAN_ALWAYS_INLINE inline __attribute__((always_inline))
#define GEOMEDIAN_ALWAYS_INLINE_LAMBDA __attribute__((always_inline))
#else
#define GEOMEDIAN_ALWAYS_INLINE_LAMBDA
#define GEOMEDIAN_ALWAYS_INLINE inline
#endif

namespace geomedian {

// Where the iterate sits: scaled coordinates are (x - c) * s, with s a power of two so
// that the scaling is exact; z is the iterate in that frame.
struct Frame {
    const double* c;
    double s;
    const double* z;
    double eps;   // coincidence radius
    double near;  // near radius (certificate.hpp); +inf: every point is near
};

inline index_t sums_size(index_t d) { return slot::head + 2 * d; }

inline index_t moments_size(index_t d) { return moment::head + d; }

// Rows of d > 4 are walked in blocks of rows. Up to buffered_row_max coordinates
// (contract.hpp) a block's centred coordinates r go to a buffer of 8 KiB that stays in L1
// (block_rows_for), formed once for the row's squared length and R and M. Longer rows keep
// no buffer: each row's r is formed once for its squared length (row_distance2) and again,
// from the rows still in cache, for R and M (block_accumulate_rows); the buffer's store per
// coordinate and its second sweep cost those rows more than their read. Their blocks hold
// about long_row_block_bytes of rows, four at least (one sweep).
constexpr index_t row_buffer = 1024;  // doubles: 8 KiB
constexpr index_t block_rows_for(index_t d) {
    return std::min<index_t>(block_rows, row_buffer / d);
}
inline index_t long_block_rows(index_t d, index_t itemsize) {
    const index_t fit = long_row_block_bytes / (d * itemsize) / 4 * 4;
    return std::min<index_t>(block_rows, std::max<index_t>(4, fit));
}

// Compensated summation (Neumaier; Ogita, Rump and Oishi's Sum2): s + c is a running sum
// with c collecting the exact rounding error of every addition into s (Knuth's TwoSum,
// branch-free, so it vectorises across slots and lanes). No multiplication appears, so no
// contraction into a fused multiply-add can change it; the flags that would (-ffast-math,
// reassociation) are never given to these files.
// V: double, or a vector of doubles (packed_newton.cpp, lane by lane).
template <class V>
GEOMEDIAN_ALWAYS_INLINE void add_compensated(V& s, V& c, V b) {
    const V t = s + b;
    const V bb = t - s;
    c += (s - (t - bb)) + (b - bb);
    s = t;
}

// The sum s + c rounded once; an overflowed s stays as the plain sum left it (its error
// term is NaN after inf - inf).
GEOMEDIAN_ALWAYS_INLINE double compensated_total(double s, double c) {
    return std::isfinite(s) ? s + c : s;
}

// r = (x - c) s - z of one row of run-time length d into rb, and its squared length. The
// restrict qualifiers tell the compiler that rb never aliases the points (for float64 it
// could, as far as it knows). The row is walked in segments of block_rows coordinates,
// each summed from a fresh accumulator and added with compensation (a square sum good to
// 131 u for any d: certificate.hpp); a segment in blocks of 8 (one AVX-512 register of
// float64) plus a scalar tail with its own sum. Compile-time lengths: block_center4.
template <class T>
GEOMEDIAN_ALWAYS_INLINE double row_center(const T* __restrict xi, index_t d,
                                          const double* __restrict c, double s,
                                          const double* __restrict z, double* __restrict rb) {
    double sum = 0, err = 0;
    for (index_t j0 = 0; j0 < d; j0 += block_rows) {
        const index_t j1 = std::min(d, j0 + block_rows), full = j1 - (j1 - j0) % 8;
        double a = 0;
#pragma omp simd reduction(+ : a)
        for (index_t j = j0; j < full; ++j) {
            rb[j] = (static_cast<double>(xi[j]) - c[j]) * s - z[j];
            a += rb[j] * rb[j];
        }
        double tail = 0;
        for (index_t j = full; j < j1; ++j) {
            rb[j] = (static_cast<double>(xi[j]) - c[j]) * s - z[j];
            tail += rb[j] * rb[j];
        }
        add_compensated(sum, err, a + tail);
    }
    return compensated_total(sum, err);
}

// row_center's squared length for a row of run-time length d without storing r: the same
// segments, the same operations. Numba: row_distance2.
template <class T>
GEOMEDIAN_ALWAYS_INLINE double row_distance2(const T* __restrict xi, index_t d,
                                             const double* __restrict c, double s,
                                             const double* __restrict z) {
    double sum = 0, err = 0;
    for (index_t j0 = 0; j0 < d; j0 += block_rows) {
        const index_t j1 = std::min(d, j0 + block_rows), full = j1 - (j1 - j0) % 8;
        double a = 0;
#pragma omp simd reduction(+ : a)
        for (index_t j = j0; j < full; ++j) {
            const double r = (static_cast<double>(xi[j]) - c[j]) * s - z[j];
            a += r * r;
        }
        double tail = 0;
        for (index_t j = full; j < j1; ++j) {
            const double r = (static_cast<double>(xi[j]) - c[j]) * s - z[j];
            tail += r * r;
        }
        add_compensated(sum, err, a + tail);
    }
    return compensated_total(sum, err);
}

// Four float64 lanes as a GCC vector type (packed_newton.cpp does the same with eight):
// one AVX2 register, half an AVX-512 one, two SSE2 ones.
typedef double vec4d __attribute__((vector_size(32)));
typedef long long vec4i __attribute__((vector_size(32)));

// Four consecutive coordinates widened to float64. Element by element, not by
// __builtin_convertvector: GCC 12 splits that one into two half-width conversions.
template <class T>
GEOMEDIAN_ALWAYS_INLINE void load4(const T* p, vec4d& v) {
    for (int l = 0; l < 4; ++l) v[l] = static_cast<double>(p[l]);
}

// One row of length D centred into rb, r = (x - c) s - z, and its squares summed in four
// lanes: coordinate j into lane j mod 4, in order of j. A length that is not a multiple of
// 4 ends with a partial quad: its missing coordinates, and c and z there, are 0, so their
// lanes add +0, which changes no sum; only the row's own coordinates are read and stored.
template <class T, int D>
GEOMEDIAN_ALWAYS_INLINE void row_squares4(const T* __restrict xi, const vec4d* cv, double s,
                                          const vec4d* zv, double* __restrict rb, vec4d& acc) {
    acc = vec4d{};
    for (int q = 0; q < D / 4; ++q) {
        vec4d x;
        load4(xi + 4 * q, x);
        const vec4d r = (x - cv[q]) * s - zv[q];
        __builtin_memcpy(rb + 4 * q, &r, sizeof r);
        acc += r * r;
    }
    if constexpr (D % 4 != 0) {
        constexpr int q = D / 4;
        vec4d x = {};
        for (int l = 0; l < D % 4; ++l) x[l] = static_cast<double>(xi[4 * q + l]);
        const vec4d r = (x - cv[q]) * s - zv[q];
        for (int l = 0; l < D % 4; ++l) rb[4 * q + l] = r[l];
        acc += r * r;
    }
}

// r and the squared distances of a block of m rows of compile-time length D, four rows at a
// time: the four rows' lane sums are added pairwise by a 4 x 4 transpose (two
// rounds of shuffles and adds), which gives row k the sum (l0 + l1) + (l2 + l3) of its
// lanes without a horizontal sum per row (GCC adds a row's lanes one after the other: 8
// dependent scalar additions per row at d = 16, and 16 for float32 rows, whose
// vectorisation doubles the lanes: that made the float32 pass slower than the float64 one).
// Numba: center_lanes, the same order, for lengths that are a multiple of 4; it sums other
// lengths in row order (row_center), so there the two backends' bits differ. Lanes for
// those lengths cost the Numba pass more than they saved (a per-row function with the tail
// was no longer inlined, a per-block one indexed rows from a run-time offset).
template <class T, int D>
GEOMEDIAN_ALWAYS_INLINE void block_center4(const T* __restrict xb, index_t m,
                                           const double* __restrict c, double s,
                                           const double* __restrict z,
                                           double* __restrict rbuf, double* __restrict d2) {
    constexpr int quads = (D + 3) / 4;
    vec4d cv[quads] = {}, zv[quads] = {};  // the last quad's missing coordinates stay 0
    for (int j = 0; j < D; ++j) {
        cv[j / 4][j % 4] = c[j];
        zv[j / 4][j % 4] = z[j];
    }
    index_t k = 0;
    for (; k + 4 <= m; k += 4) {
        vec4d p0, p1, p2, p3;
        row_squares4<T, D>(xb + k * D, cv, s, zv, rbuf + k * D, p0);
        row_squares4<T, D>(xb + (k + 1) * D, cv, s, zv, rbuf + (k + 1) * D, p1);
        row_squares4<T, D>(xb + (k + 2) * D, cv, s, zv, rbuf + (k + 2) * D, p2);
        row_squares4<T, D>(xb + (k + 3) * D, cv, s, zv, rbuf + (k + 3) * D, p3);
        // a0 = (p0 l0 + l1, p1 l0 + l1, p0 l2 + l3, p1 l2 + l3), a1 the same for p2, p3.
        const vec4d a0 = __builtin_shuffle(p0, p1, vec4i{0, 4, 2, 6}) +
                         __builtin_shuffle(p0, p1, vec4i{1, 5, 3, 7});
        const vec4d a1 = __builtin_shuffle(p2, p3, vec4i{0, 4, 2, 6}) +
                         __builtin_shuffle(p2, p3, vec4i{1, 5, 3, 7});
        const vec4d t = __builtin_shuffle(a0, a1, vec4i{0, 1, 4, 5}) +
                        __builtin_shuffle(a0, a1, vec4i{2, 3, 6, 7});
        __builtin_memcpy(d2 + k, &t, sizeof t);
    }
    for (; k < m; ++k) {
        vec4d p;
        row_squares4<T, D>(xb + k * D, cv, s, zv, rbuf + k * D, p);
        d2[k] = (p[0] + p[1]) + (p[2] + p[3]);
    }
}

// R += t r and M += w r for one buffered row; unweighted, M += r.
template <int D, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void row_accumulate(const double* __restrict rb, index_t d, double t,
                                            double wi, double* __restrict R,
                                            double* __restrict M) {
#pragma omp simd
    for (index_t j = 0; j < (D > 0 ? D : d); ++j) {
        R[j] += t * rb[j];
        M[j] += Weighted ? wi * rb[j] : rb[j];
    }
}

// row_accumulate for the m buffered rows of a block of run-time length d, four rows per
// sweep. With d known only at run time R and M live in memory, and a row at a time waited
// on the previous row's stores to them; four rows per sweep wait a quarter as often and add
// the same terms in the same (row) order. Numba: block_accumulate.
template <bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void block_accumulate(const double* __restrict rbuf,
                                              const double* __restrict t,
                                              const double* __restrict wb, index_t m, index_t d,
                                              double* __restrict R, double* __restrict M) {
    index_t k = 0;
    for (; k + 4 <= m; k += 4) {
        const double* __restrict r0 = rbuf + k * d;
        const double* __restrict r1 = r0 + d;
        const double* __restrict r2 = r1 + d;
        const double* __restrict r3 = r2 + d;
        const double t0 = t[k], t1 = t[k + 1], t2 = t[k + 2], t3 = t[k + 3];
        const double w0 = Weighted ? wb[k] : 1.0, w1 = Weighted ? wb[k + 1] : 1.0,
                     w2 = Weighted ? wb[k + 2] : 1.0, w3 = Weighted ? wb[k + 3] : 1.0;
#pragma omp simd
        for (index_t j = 0; j < d; ++j) {
            R[j] = R[j] + t0 * r0[j] + t1 * r1[j] + t2 * r2[j] + t3 * r3[j];
            M[j] = M[j] + w0 * r0[j] + w1 * r1[j] + w2 * r2[j] + w3 * r3[j];
        }
    }
    for (; k < m; ++k)
        row_accumulate<0, Weighted>(rbuf + k * d, d, t[k], Weighted ? wb[k] : 1.0, R, M);
}

// block_accumulate for rows longer than buffered_row_max, r formed again from the rows
// exactly as row_distance2 formed it. Numba: block_accumulate (centred). Written apart from
// block_accumulate, and row_distance2 apart from row_center, on purpose: builds that shared
// one template between them left the buffered d = 64 pass 20-30 % slower (three builds; the
// cause not found), this one did not.
template <class T, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void block_accumulate_rows(const T* __restrict xb, index_t d,
                                                   const double* __restrict c, double s,
                                                   const double* __restrict z,
                                                   const double* __restrict t,
                                                   const double* __restrict wb, index_t m,
                                                   double* __restrict R, double* __restrict M) {
    index_t k = 0;
    for (; k + 4 <= m; k += 4) {
        const T* __restrict x0 = xb + k * d;
        const T* __restrict x1 = x0 + d;
        const T* __restrict x2 = x1 + d;
        const T* __restrict x3 = x2 + d;
        const double t0 = t[k], t1 = t[k + 1], t2 = t[k + 2], t3 = t[k + 3];
        const double w0 = Weighted ? wb[k] : 1.0, w1 = Weighted ? wb[k + 1] : 1.0,
                     w2 = Weighted ? wb[k + 2] : 1.0, w3 = Weighted ? wb[k + 3] : 1.0;
#pragma omp simd
        for (index_t j = 0; j < d; ++j) {
            const double r0 = (static_cast<double>(x0[j]) - c[j]) * s - z[j];
            const double r1 = (static_cast<double>(x1[j]) - c[j]) * s - z[j];
            const double r2 = (static_cast<double>(x2[j]) - c[j]) * s - z[j];
            const double r3 = (static_cast<double>(x3[j]) - c[j]) * s - z[j];
            R[j] = R[j] + t0 * r0 + t1 * r1 + t2 * r2 + t3 * r3;
            M[j] = M[j] + w0 * r0 + w1 * r1 + w2 * r2 + w3 * r3;
        }
    }
    for (; k < m; ++k) {
        const T* __restrict xi = xb + k * d;
        const double tk = t[k], wk = Weighted ? wb[k] : 1.0;
#pragma omp simd
        for (index_t j = 0; j < d; ++j) {
            const double r = (static_cast<double>(xi[j]) - c[j]) * s - z[j];
            R[j] += tk * r;
            M[j] += Weighted ? wk * r : r;
        }
    }
}

GEOMEDIAN_ALWAYS_INLINE void block_weights(const double* w, double wscale, index_t m,
                                           double* __restrict wb) {
#pragma omp simd
    for (index_t k = 0; k < m; ++k) wb[k] = w[k] * wscale;
}

// The scalar slots' sums over a chunk: block totals (at most block_rows rows each, from
// fresh accumulators) added with compensation; max_term as a plain maximum.
struct ScalarSums {
    enum { f, inv, eta, fc, wf, fn, count };
    double sum[count] = {}, err[count] = {};
    double mt = 0;

    GEOMEDIAN_ALWAYS_INLINE void add_block(const double* b) {
        for (int k = 0; k < count; ++k) add_compensated(sum[k], err[k], b[k]);
    }

    void store(double* out) const {
        out[slot::f] = compensated_total(sum[f], err[f]);
        out[slot::inv] = compensated_total(sum[inv], err[inv]);
        out[slot::eta] = compensated_total(sum[eta], err[eta]);
        out[slot::f_coinc] = compensated_total(sum[fc], err[fc]);
        out[slot::max_term] = mt;
        out[slot::w_far] = compensated_total(sum[wf], err[wf]);
        out[slot::f_near] = compensated_total(sum[fn], err[fn]);
    }
};

// Each entry of sum/err (n of them) takes the block total b of its slot with compensation;
// b is then cleared for the next block.
GEOMEDIAN_ALWAYS_INLINE void add_block_vector(double* __restrict sum, double* __restrict err,
                                              double* __restrict b, index_t n) {
#pragma omp simd
    for (index_t k = 0; k < n; ++k) {
        add_compensated(sum[k], err[k], b[k]);
        b[k] = 0.0;
    }
}

// Per-row terms of a block: t_k = w_k / d_k (0 for a point on the iterate) into `t`, the
// scalar sums added to the group's `b` (ScalarSums order), the maximum into max_term. The
// comparison is a select of constants, which GCC vectorises once -fno-trapping-math
// (CMakeLists.txt) lets it if-convert: with the default, GCC 12 keeps every sqrt and
// division of this loop scalar on AVX2 (3x at d = 2).
template <bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void block_terms(const double* __restrict d2,
                                         const double* __restrict wb, index_t m, double eps,
                                         double near, double* __restrict t, double* __restrict b,
                                         double& max_term) {
    double f = b[ScalarSums::f], inv = b[ScalarSums::inv], eta = b[ScalarSums::eta];
    double fc = b[ScalarSums::fc], mt = max_term, wf = b[ScalarSums::wf], fn = b[ScalarSums::fn];
#pragma omp simd reduction(+ : f, inv, eta, fc, wf, fn) reduction(max : mt)
    for (index_t k = 0; k < m; ++k) {
        const double wk = Weighted ? wb[k] : 1.0, dist = std::sqrt(d2[k]);
        const double hit = dist <= eps ? 1.0 : 0.0;
        const double far = dist > near ? 1.0 : 0.0;
        // Never a division by zero.
        const double tk = (1.0 - hit) * wk / std::max(dist, eps);
        t[k] = tk;
        f += wk * dist;
        inv += tk;
        eta += hit * wk;
        fc += hit * wk * dist;
        mt = tk > mt ? tk : mt;
        wf += far * wk;
        fn += (1.0 - far) * wk * dist;
    }
    b[ScalarSums::f] = f;
    b[ScalarSums::inv] = inv;
    b[ScalarSums::eta] = eta;
    b[ScalarSums::fc] = fc;
    max_term = mt;
    b[ScalarSums::wf] = wf;
    b[ScalarSums::fn] = fn;
}

template <class T, int D>
GEOMEDIAN_ALWAYS_INLINE void row_moments(const T* __restrict xi, index_t d,
                                         const T* __restrict x0, double wi,
                                         double* __restrict S, double* bad_io,
                                         double* spread_io) {
    constexpr double big = std::numeric_limits<T>::max();
    double bad = *bad_io, spread = *spread_io;
#pragma omp simd reduction(+ : bad) reduction(max : spread)
    for (index_t j = 0; j < (D > 0 ? D : d); ++j) {
        const double v = static_cast<double>(xi[j]);
        bad += !(std::abs(v) <= big) ? 1.0 : 0.0;
        const double h = 0.5 * v - 0.5 * static_cast<double>(x0[j]);
        spread = std::abs(h) > spread ? std::abs(h) : spread;
        S[j] += wi * h;
    }
    *bad_io = bad;
    *spread_io = spread;
}

// The lanes' totals of short_rows, in lane order, with compensation (every slot at once: a
// chain of 2 L dependent additions, not one per slot), into the pass's sums.
template <int nv, int L>
GEOMEDIAN_ALWAYS_INLINE void short_rows_totals(const double (&sum)[nv][L],
                                               const double (&err)[nv][L],
                                               const double (&mt)[L], double* out) {
    double ts[nv] = {}, tc[nv] = {}, total[nv];
    for (int l = 0; l < L; ++l) {
#pragma omp simd
        for (int k = 0; k < nv; ++k) {
            add_compensated(ts[k], tc[k], sum[k][l]);
            add_compensated(ts[k], tc[k], err[k][l]);
        }
    }
    for (int k = 0; k < nv; ++k) total[k] = compensated_total(ts[k], tc[k]);
    ScalarSums acc;
    for (int k = 0; k < ScalarSums::count; ++k) acc.sum[k] = total[k];
    for (int l = 0; l < L; ++l) acc.mt = mt[l] > acc.mt ? mt[l] : acc.mt;
    acc.store(out);
    std::copy(total + ScalarSums::count, total + nv, out + slot::head);
}

// short_rows for d <= 4 with eight lanes on AVX-512, each row's square root and division
// replaced by one reciprocal square root (fused_pass_rsqrt.cpp): the same sums, in the same
// lanes and blocks. False where it was not compiled (then short_rows runs). w: nullptr
// for unit weights.
bool short_rows_rsqrt(const double* x, const double* w, double wscale, index_t lo, index_t hi,
                      index_t d, const Frame& fr, double* out);
bool short_rows_rsqrt(const float* x, const double* w, double wscale, index_t lo, index_t hi,
                      index_t d, const Frame& fr, double* out);
// block_terms likewise, for the blocks of longer rows (wb: nullptr for unit weights).
bool block_terms_rsqrt(const double* d2, const double* wb, index_t m, const Frame& fr, double* t,
                       double* b, double& max_term);

// The d <= 4 loop: row b + l goes to lane l of L. Each lane's sums are plain sequential
// sums over at most block_rows of its rows (a fixed order: without a reduction clause the
// compiler may not reorder them), added per lane with compensation, the lanes at the end.
// Array-section reductions (one loop across rows) measured 4x slower at d = 2, and scalar
// reductions over blocks of block_rows rows 1.5x (a horizontal sum of every accumulator
// per block).
template <class T, int D, bool Weighted, int L>
GEOMEDIAN_ALWAYS_INLINE void short_rows(const T* x, const double* w, double wscale, index_t lo,
                                        index_t hi, const Frame& fr, double* out) {
    const double s = fr.s, eps = fr.eps, near = fr.near;
    const double* __restrict c = fr.c;
    const double* __restrict z = fr.z;
    constexpr int nv = ScalarSums::count + 2 * D;
    alignas(64) double sum[nv][L] = {}, err[nv][L] = {}, mt[L] = {};
    const index_t group = block_rows * L;
    auto fold = [&](const double (&blk)[nv][L]) GEOMEDIAN_ALWAYS_INLINE_LAMBDA {
        for (int k = 0; k < nv; ++k) {
#pragma omp simd
            for (int l = 0; l < L; ++l) add_compensated(sum[k][l], err[k][l], blk[k][l]);
        }
    };
    auto row = [&](index_t i, int l, double (&blk)[nv][L]) GEOMEDIAN_ALWAYS_INLINE_LAMBDA {
        double r[4] = {0, 0, 0, 0};
        double d2 = 0;
        for (int j = 0; j < D; ++j) {
            r[j] = (static_cast<double>(x[i * D + j]) - c[j]) * s - z[j];
            d2 += r[j] * r[j];
        }
        const double wi = Weighted ? w[i] * wscale : 1.0;
        const double dist = std::sqrt(d2);
        const double hit = dist <= eps ? 1.0 : 0.0;
        const double far = dist > near ? 1.0 : 0.0;
        const double t = (1.0 - hit) * wi / std::max(dist, eps);
        blk[ScalarSums::f][l] += wi * dist;
        blk[ScalarSums::inv][l] += t;
        blk[ScalarSums::eta][l] += hit * wi;
        blk[ScalarSums::fc][l] += hit * wi * dist;
        mt[l] = t > mt[l] ? t : mt[l];
        blk[ScalarSums::wf][l] += far * wi;
        blk[ScalarSums::fn][l] += (1.0 - far) * wi * dist;
        for (int j = 0; j < D; ++j) {
            blk[ScalarSums::count + j][l] += t * r[j];
            blk[ScalarSums::count + D + j][l] += wi * r[j];
        }
    };
    const index_t full = lo + (hi - lo) / L * L;
    for (index_t g0 = lo; g0 < full; g0 += group) {
        const index_t g1 = std::min(full, g0 + group);
        alignas(64) double blk[nv][L] = {};
        for (index_t b = g0; b < g1; b += L) {
#pragma omp simd
            for (int l = 0; l < L; ++l) row(b + l, l, blk);
        }
        fold(blk);
    }
    if (full < hi) {  // the last rows, fewer than L, one per lane
        alignas(64) double blk[nv][L] = {};
        for (index_t i = full; i < hi; ++i) row(i, static_cast<int>(i - full), blk);
        fold(blk);
    }
    short_rows_totals<nv, L>(sum, err, mt, out);
}

// The lanes of short_rows: 8 where the clone running is AVX-512's (a lane array per
// register), else 4 (on AVX2 eight lanes of 11-15 sums spill the 16 registers: 15-20%
// slower). Either count gives the bound of certificate.hpp; the bits differ across
// instruction sets, as the compiler's own vectorisation already made them.
inline int short_row_lanes() {
#if defined(GEOMEDIAN_TARGET_CLONES) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    static const int here = __builtin_cpu_supports("x86-64-v4") ? 8 : 4;
    return here;
#elif defined(__AVX512F__)
    return 8;
#else
    return 4;
#endif
}

// Three loop shapes, all computing the sums documented at the top of this file:
//  - 1 <= D <= 4: short_rows, rows in SIMD lanes. These passes are bound by the square
//    root and the division, not by memory.
//  - D > 4 known at compile time (every d up to 16): blocks of rows, see block_rows.
//  - D == 0 (any other d): the same blocks with the row length known only at run time.
// In each, every sum is taken over at most block_rows rows from fresh accumulators (in
// whatever order the compiler vectorises it), and those partial sums are added with
// compensation (add_compensated): the rounding error bound of certificate.hpp.
template <class T, int D, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void fused_pass_rows(const T* x, const double* w, double wscale,
                                             index_t lo, index_t hi, index_t d_runtime,
                                             const Frame& fr, double* out) {
    const double s = fr.s, eps = fr.eps, near = fr.near;
    const double* __restrict c = fr.c;
    const double* __restrict z = fr.z;
    const index_t d = D > 0 ? D : d_runtime;
    ScalarSums acc;
    if constexpr (D >= 1 && D <= 4) {
        if (short_row_lanes() == 8) {
            if (short_rows_rsqrt(x, Weighted ? w : nullptr, wscale, lo, hi, D, fr, out))
                return;
            short_rows<T, D, Weighted, 8>(x, w, wscale, lo, hi, fr, out);
        } else
            short_rows<T, D, Weighted, 4>(x, w, wscale, lo, hi, fr, out);
        return;
    } else {
        // Blocks of rows, in three loops each: the squared distances (each row vectorised
        // along its length; compile-time lengths in lanes, block_center4), the
        // per-row terms (vectorised across the block's rows: the square roots and
        // reciprocals of many rows overlap instead of each stalling its own row), then R
        // and M, from the buffered r (rows up to buffered_row_max) or from the rows again.
        // A group of whole blocks, at most block_rows rows, is summed from fresh
        // accumulators (R, M, sb), then added with compensation.
        const bool buffered = D > 0 || d <= buffered_row_max;
        constexpr index_t rows = D > 0 ? block_rows_for(D) : block_rows;
        const index_t brows =
            D > 0 ? rows : buffered ? block_rows_for(d) : long_block_rows(d, sizeof(T));
        const index_t group_rows = block_rows / brows * brows;
        alignas(64) double d2[block_rows], wb[block_rows], t[block_rows];
        alignas(64) double rbuf[D > 0 ? rows * D : row_buffer];
        // The group's R and M (2 d entries), then their compensated sums, then the errors.
        alignas(64) double rm_fixed[D > 0 ? 6 * D : 1] = {};
        std::vector<double> rm_runtime(D > 0 ? 0 : 6 * d, 0.0);
        double* const rm = D > 0 ? rm_fixed : rm_runtime.data();
        double* __restrict R = rm;
        double* __restrict M = rm + d;
        double* __restrict rm_sum = rm + 2 * d;
        double* __restrict rm_err = rm + 4 * d;
        double sb[ScalarSums::count] = {};
        // The rows' terms: on AVX-512 by a reciprocal square root (fused_pass_rsqrt.cpp).
        const bool rsqrt = short_row_lanes() == 8;
        index_t pending = 0;
        for (index_t b0 = lo; b0 < hi; b0 += brows) {
            const index_t m = std::min(brows, hi - b0);
            const T* __restrict xb = x + b0 * d;
            if constexpr (D > 4) {
                block_center4<T, D>(xb, m, c, s, z, rbuf, d2);
            } else if (buffered) {
                for (index_t k = 0; k < m; ++k)
                    d2[k] = row_center(xb + k * d, d, c, s, z, rbuf + k * d);
            } else {
                for (index_t k = 0; k < m; ++k) d2[k] = row_distance2(xb + k * d, d, c, s, z);
            }
            if constexpr (Weighted) block_weights(w + b0, wscale, m, wb);
            if (!(rsqrt && block_terms_rsqrt(d2, Weighted ? wb : nullptr, m, fr, t, sb, acc.mt)))
                block_terms<Weighted>(d2, wb, m, eps, near, t, sb, acc.mt);
            // Compile-time lengths keep R and M in registers.
            if (D > 0) {
                for (index_t k = 0; k < m; ++k)
                    row_accumulate<D, Weighted>(rbuf + k * d, d, t[k], Weighted ? wb[k] : 1.0, R,
                                                M);
            } else if (buffered) {
                block_accumulate<Weighted>(rbuf, t, wb, m, d, R, M);
            } else {
                block_accumulate_rows<T, Weighted>(xb, d, c, s, z, t, wb, m, R, M);
            }
            pending += m;
            if (pending == group_rows || b0 + m == hi) {
                acc.add_block(sb);
                std::fill(sb, sb + ScalarSums::count, 0.0);
                add_block_vector(rm_sum, rm_err, rm, 2 * d);
                pending = 0;
            }
        }
        for (index_t k = 0; k < 2 * d; ++k)
            out[slot::head + k] = compensated_total(rm_sum[k], rm_err[k]);
    }
    acc.store(out);
}

// Same loop shapes as fused_pass_rows.
template <class T, int D, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void moments_rows(const T* x, const double* w, double wscale,
                                          index_t lo, index_t hi, index_t d_runtime,
                                          const T* x0, double* out) {
    constexpr double big = std::numeric_limits<T>::max();
    double W = 0, bad = 0, spread = 0;
    // NaN fails every comparison, so !(|v| <= big) catches NaN and +-inf alike; halving
    // before subtracting keeps |x - x0| / 2 finite for any finite x and x0.
    if constexpr (D >= 1 && D <= 4) {
        double S0 = 0, S1 = 0, S2 = 0, S3 = 0;
#pragma omp simd reduction(+ : W, bad, S0, S1, S2, S3) reduction(max : spread)
        for (index_t i = lo; i < hi; ++i) {
            const double wi = Weighted ? w[i] * wscale : 1.0;
            double h[4] = {0, 0, 0, 0};
            W += wi;
            for (int j = 0; j < D; ++j) {
                const double v = static_cast<double>(x[i * D + j]);
                bad += !(std::abs(v) <= big) ? 1.0 : 0.0;
                h[j] = 0.5 * v - 0.5 * static_cast<double>(x0[j]);
                spread = std::abs(h[j]) > spread ? std::abs(h[j]) : spread;
            }
            S0 += wi * h[0];
            if constexpr (D > 1) S1 += wi * h[1];
            if constexpr (D > 2) S2 += wi * h[2];
            if constexpr (D > 3) S3 += wi * h[3];
        }
        const double S[4] = {S0, S1, S2, S3};
        std::copy(S, S + D, out + moment::head);
    } else {
        const index_t d = D > 0 ? D : d_runtime;
        double* S = out + moment::head;
        std::fill(S, S + d, 0.0);
        for (index_t i = lo; i < hi; ++i) {
            const double wi = Weighted ? w[i] * wscale : 1.0;
            W += wi;
            row_moments<T, D>(x + i * d, d, x0, wi, S, &bad, &spread);
        }
    }
    out[moment::weight] = W;
    out[moment::nonfinite] = bad;
    out[moment::half_spread] = spread;
}

// Entry points: one symbol per dtype, cloned per ISA in fused_pass.cpp. `out` is
// overwritten with the sums of rows [lo, hi).
void fused_pass(const double* x, const double* w, double wscale, index_t lo, index_t hi,
                index_t d, const Frame& fr, double* out);
void fused_pass(const float* x, const double* w, double wscale, index_t lo, index_t hi,
                index_t d, const Frame& fr, double* out);
void moments(const double* x, const double* w, double wscale, index_t lo, index_t hi,
             index_t d, const double* x0, double* out);
void moments(const float* x, const double* w, double wscale, index_t lo, index_t hi,
             index_t d, const float* x0, double* out);

// Which instruction-set clone the dispatcher picked on this CPU ("x86-64-v4", ...).
const char* active_isa();
const char* compiled_isas();

// Index of the row nearest to the iterate among [lo, hi) and its squared scaled distance.
template <class T>
void nearest_row(const T* x, const double* w, index_t lo, index_t hi, index_t d,
                 const Frame& fr, index_t* best_i, double* best_d2) {
    for (index_t i = lo; i < hi; ++i) {
        if (w != nullptr && w[i] == 0) continue;  // a weightless point is never the optimum
        double d2 = 0;
        for (index_t j = 0; j < d; ++j) {
            const double r = (static_cast<double>(x[i * d + j]) - fr.c[j]) * fr.s - fr.z[j];
            d2 += r * r;
        }
        if (d2 < *best_d2) {
            *best_d2 = d2;
            *best_i = i;
        }
    }
}

}  // namespace geomedian
