// The row loop of hessian_pass.hpp, in lanes, instantiated per dtype, per row length (d =
// 1-4, 6, 8 and 16 at compile time, any other d <= 16 at run time) and, through
// target_clones, per instruction-set level. A known length and a fixed lane count let the compiler keep each
// lane group of the sums in one vector and unroll the triangle; the arithmetic is plain
// scalar code per lane, so no generic vector type is lowered before the clones are made.
#include "geomedian/hessian_pass.hpp"

#include "geomedian/target_clones.hpp"

namespace geomedian {
namespace {

constexpr index_t L = hessian_lanes;

// D > 0: the row length at compile time; D = 0: d at run time (up to newton_max_d).
template <class T, int D, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void hessian_lanes_rows(const T* x, const double* w, double wscale,
                                                index_t lo, index_t hi, index_t d_run,
                                                const Frame& fr, double* out) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const index_t d = D > 0 ? D : d_run;
    double C[Dmax * (Dmax + 1) / 2][L] = {};
    double inv[L] = {};
    double inv_sq[L] = {};
    double r[Dmax][L];
    double v[L];
    for (index_t b = lo; b < hi; b += L) {
        const index_t m = std::min(L, hi - b);
        double d2[L] = {};
        for (index_t j = 0; j < d; ++j) {
            for (index_t l = 0; l < L; ++l) {
                // Lanes past the last row read that row again; their weight is 0.
                const index_t i = b + std::min(l, m - 1);
                r[j][l] = (static_cast<double>(x[i * d + j]) - fr.c[j]) * fr.s - fr.z[j];
                d2[l] += r[j][l] * r[j][l];
            }
        }
        for (index_t l = 0; l < L; ++l) {
            const index_t i = b + std::min(l, m - 1);
            const double wi = l < m ? (Weighted ? w[i] * wscale : 1.0) : 0.0;
            const double dist = std::sqrt(d2[l]);
            const double hit = dist <= fr.eps ? 1.0 : 0.0;
            const double t = (1.0 - hit) * wi / std::max(dist, fr.eps);
            v[l] = t / std::max(d2[l], fr.eps * fr.eps);  // w_i / d_i^3, 0 on the iterate
            inv[l] += t;
            inv_sq[l] += v[l] * dist;  // w_i / d_i^2
        }
        for (index_t j = 0; j < d; ++j) {
            double vr[L];
            for (index_t l = 0; l < L; ++l) vr[l] = v[l] * r[j][l];
            for (index_t k = 0; k <= j; ++k)
                for (index_t l = 0; l < L; ++l) C[j * (j + 1) / 2 + k][l] += vr[l] * r[k][l];
        }
    }
    double inv_all = inv[0], inv_sq_all = inv_sq[0];
    for (index_t l = 1; l < L; ++l) {
        inv_all += inv[l];
        inv_sq_all += inv_sq[l];
    }
    for (index_t j = 0; j < d; ++j)
        for (index_t k = 0; k <= j; ++k) {
            const index_t q = j * (j + 1) / 2 + k;
            double c = C[q][0];
            for (index_t l = 1; l < L; ++l) c += C[q][l];
            out[q] = (j == k ? inv_all : 0.0) - c;
        }
    out[hessian_size(d)] = inv_sq_all;
}

template <class T, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void hessian_by_dim(const T* x, const double* w, double wscale,
                                            index_t lo, index_t hi, index_t d, const Frame& fr,
                                            double* out) {
    switch (d) {
        case 1: return hessian_lanes_rows<T, 1, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 2: return hessian_lanes_rows<T, 2, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 3: return hessian_lanes_rows<T, 3, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 4: return hessian_lanes_rows<T, 4, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 6: return hessian_lanes_rows<T, 6, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 8: return hessian_lanes_rows<T, 8, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 16: return hessian_lanes_rows<T, 16, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        default: return hessian_lanes_rows<T, 0, Weighted>(x, w, wscale, lo, hi, d, fr, out);
    }
}

}  // namespace

GEOMEDIAN_CLONES void hessian_rows(const double* x, const double* w, double wscale, index_t lo,
                                   index_t hi, index_t d, const Frame& fr, double* out) {
    if (w != nullptr) return hessian_by_dim<double, true>(x, w, wscale, lo, hi, d, fr, out);
    return hessian_by_dim<double, false>(x, w, wscale, lo, hi, d, fr, out);
}

GEOMEDIAN_CLONES void hessian_rows(const float* x, const double* w, double wscale, index_t lo,
                                   index_t hi, index_t d, const Frame& fr, double* out) {
    if (w != nullptr) return hessian_by_dim<float, true>(x, w, wscale, lo, hi, d, fr, out);
    return hessian_by_dim<float, false>(x, w, wscale, lo, hi, d, fr, out);
}

}  // namespace geomedian
