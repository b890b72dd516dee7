// The Lp pass (lp_pass.hpp): the sums of one problem at y, by blocks and chunks.
#include "geomedian/lp_pass.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "geomedian/fused_pass.hpp"  // add_compensated, compensated_total
#include "geomedian/parallel.hpp"    // chunk_rows

namespace geomedian {

namespace {

// m^p, a^(p-1), a^(p-2) and v^q of non-negative m, a, v.
inline double power_p(double m, const LpPowers& e) {
    if (e.kind == 1) return m * std::sqrt(m);
    if (e.kind == 2) return m * m * m;
    return std::pow(m, e.p);
}
inline double power_p1(double a, const LpPowers& e) {
    if (e.kind == 1) return std::sqrt(a);
    if (e.kind == 2) return a * a;
    return std::pow(a, e.p - 1.0);
}
inline double power_p2(double a, const LpPowers& e) {
    if (e.kind == 1) return 1.0 / std::sqrt(a);
    if (e.kind == 2) return a;
    return std::pow(a, e.p - 2.0);
}
// v^q for v = |s_j| (as computed from u_j), a = a_j. For p = 3 (q = 1.5) s_j = a_j^2 to
// one rounding, so v a_j is v^1.5 to half an ulp: within the check's own rounding allowance
// ((2 d + 8) u, the Lp certificate), without a square root.
inline double power_q(double v, double a, const LpPowers& e) {
    if (e.kind == 1) return v * v * v;
    if (e.kind == 2) return v * a;
    return std::pow(v, e.q);
}

// N = ||z||_p, and a = |z| / N and s = sign(z) a^(p-1) into a and s; N = 0 at z = 0.
inline double lp_geometry(const double* z, index_t d, const LpPowers& e, double* a, double* s) {
    double big = 0.0;  // NaN if any coordinate is: a NaN row never passes as one at y
    for (index_t j = 0; j < d; ++j) {
        const double m = std::fabs(z[j]);
        if (m > big || std::isnan(m)) big = m;
    }
    if (big == 0.0) {
        for (index_t j = 0; j < d; ++j) a[j] = s[j] = 0.0;
        return 0.0;
    }
    double ap = 0.0;
    for (index_t j = 0; j < d; ++j) {
        a[j] = z[j] / big;  // r_j, in [-1, 1]
        ap += power_p(std::fabs(a[j]), e);
    }
    const double root = std::pow(ap, 1.0 / e.p), inv = 1.0 / root;
    for (index_t j = 0; j < d; ++j) {
        const double r = a[j];
        a[j] = std::fabs(r) * inv;
        const double sign = r > 0.0 ? 1.0 : (r < 0.0 ? -1.0 : 0.0);
        s[j] = sign * power_p1(a[j], e);
    }
    return big * root;
}

// Every slot before `end` (lp_additive_end) but excess, nearest and nearest_row is a sum.
inline bool additive(index_t k, index_t end) {
    return k < end && k != lp_slot::excess && k != lp_slot::nearest &&
           k != lp_slot::nearest_row;
}

// Adds the block's sums into the chunk's (sum, err), the block then starts afresh.
inline void fold_block(double* blk, double* sum, double* err, index_t end) {
    for (index_t k = 0; k < end; ++k) {
        if (!additive(k, end)) continue;
        add_compensated(sum[k], err[k], blk[k]);
        blk[k] = 0.0;
    }
}

// Adds chunk sums `part` into acc (err: the compensation terms), keeps the largest excess,
// the nearest row and the nearest coordinates (the first, on ties).
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
        if (part[end + j] < acc[end + j]) {
            acc[end + j] = part[end + j];
            acc[end + d + j] = part[end + d + j];
        }
    }
}

inline void start_sums(double* out, index_t d) {
    const index_t end = lp_additive_end(d);
    std::fill(out, out + lp_sums_size(d), 0.0);
    out[lp_slot::nearest] = HUGE_VAL;
    out[lp_slot::nearest_row] = -1.0;
    std::fill(out + end, out + end + d, HUGE_VAL);
}

}  // namespace

LpPowers lp_powers(double p) { return {p, p / (p - 1.0), p == 1.5 ? 1 : (p == 3.0 ? 2 : 0)}; }

// D > 0: d = D known at compile time (the loops over coordinates unrolled, the block's
// sums in registers); D = 0: any d.
template <class T, int D>
void lp_rows_d(const T* x, const double* w, index_t lo, index_t hi, index_t d_any,
               const double* y, const double* shift, double near, const LpPowers& e,
               double* out) {
    const index_t d = D > 0 ? D : d_any, size = lp_sums_size(d), end = lp_additive_end(d);
    const index_t g0 = lp_slot::head, m0 = g0 + d, b0 = m0 + d, G0 = b0 + d, h0 = G0 + d,
                  p0 = h0 + d, c0 = p0 + d;
    constexpr index_t fixed = D > 0 ? 2 * lp_sums_size(D) + 4 * D : 1;
    double local[fixed] = {};
    std::vector<double> heap(D > 0 ? 0 : 2 * size + 4 * d, 0.0);  // one per chunk of rows
    double* blk = D > 0 ? local : heap.data();
    double *err = blk + size, *z = err + size, *zs = z + d, *a = zs + d, *s = a + d;
    start_sums(out, d);
    // The largest excess and the nearest row and coordinates are kept in blk too (fold_block
    // leaves them), and written to out once: no store to out in the loop.
    start_sums(blk, d);
    for (index_t i = lo; i < hi; ++i) {
        const double wi = w != nullptr ? w[i] : 1.0;
        if (wi > 0.0) {
            for (index_t j = 0; j < d; ++j) z[j] = y[j] - static_cast<double>(x[i * d + j]);
            const double N = lp_geometry(z, d, e, a, s);
            blk[lp_slot::weight] += wi;
            for (index_t j = 0; j < d; ++j) {
                if (std::fabs(z[j]) < blk[end + j]) {
                    blk[end + j] = std::fabs(z[j]);
                    blk[end + d + j] = static_cast<double>(x[i * d + j]);
                }
            }
            if (N < blk[lp_slot::nearest]) {
                blk[lp_slot::nearest] = N;
                blk[lp_slot::nearest_row] = static_cast<double>(i);
            }
            if (N <= near) {
                blk[lp_slot::w_near] += wi;
                blk[lp_slot::f_near] += wi * N;
            }
            if (N == 0.0) {
                blk[lp_slot::eta] += wi;
            } else {
                if (shift != nullptr) {
                    for (index_t j = 0; j < d; ++j) zs[j] = z[j] + shift[j];
                    lp_geometry(zs, d, e, a, s);
                }
                blk[lp_slot::f] += wi * N;
                blk[lp_slot::curvature] += wi / N;
                const double c = wi * (e.p - 1.0) / N;
                double q = 0.0;
                for (index_t j = 0; j < d; ++j) {
                    const double u = wi * s[j], wz = wi * z[j];
                    blk[lp_slot::s] += u * z[j];
                    blk[lp_slot::a] += std::fabs(u * z[j]);
                    blk[g0 + j] += u;
                    blk[m0 + j] += wz;
                    blk[b0 + j] += std::fabs(wz);
                    blk[G0 + j] += std::fabs(u);
                    blk[h0 + j] += c * power_p2(std::max(a[j], lp_floor), e);
                    q += power_q(std::fabs(u) / wi, a[j], e);
                    const double cs = c * s[j];
                    for (index_t k = 0; k <= j; ++k) blk[c0 + j * (j + 1) / 2 + k] += cs * s[k];
                }
                // ||u_i||_q^q / w_i^q: the q-th root of the largest is taken once, at the end.
                blk[lp_slot::excess] = std::max(blk[lp_slot::excess], q);
                if (e.p < 2.0) {
                    for (index_t j = 0; j < d; ++j)
                        if (z[j] == 0.0) blk[p0 + j] += wi * std::pow(N, 1.0 - e.p);
                }
            }
        }
        if ((i - lo + 1) % block_rows == 0 || i + 1 == hi) fold_block(blk, out, err, end);
    }
    for (index_t k = 0; k < end; ++k)
        if (additive(k, end)) out[k] = compensated_total(out[k], err[k]);
    for (const index_t k : {lp_slot::excess, lp_slot::nearest, lp_slot::nearest_row})
        out[k] = blk[k];
    std::copy(blk + end, blk + size, out + end);
}

template <class T>
void lp_rows(const T* x, const double* w, index_t lo, index_t hi, index_t d, const double* y,
             const double* shift, double near, const LpPowers& e, double* out) {
    switch (d) {
#define GEOMEDIAN_LP_ROWS(D) \
    case D:                  \
        return lp_rows_d<T, D>(x, w, lo, hi, d, y, shift, near, e, out);
        GEOMEDIAN_LP_ROWS(1)
        GEOMEDIAN_LP_ROWS(2)
        GEOMEDIAN_LP_ROWS(3)
        GEOMEDIAN_LP_ROWS(4)
        GEOMEDIAN_LP_ROWS(5)
        GEOMEDIAN_LP_ROWS(6)
        GEOMEDIAN_LP_ROWS(7)
        GEOMEDIAN_LP_ROWS(8)
#undef GEOMEDIAN_LP_ROWS
        default:
            return lp_rows_d<T, 0>(x, w, lo, hi, d, y, shift, near, e, out);
    }
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
    out[lp_slot::excess] = std::pow(out[lp_slot::excess], 1.0 / e.q);
}

template void lp_pass<float>(const float*, const double*, index_t, index_t, const double*,
                             const double*, double, const LpPowers&, int, double*);
template void lp_pass<double>(const double*, const double*, index_t, index_t, const double*,
                              const double*, double, const LpPowers&, int, double*);

}  // namespace geomedian
