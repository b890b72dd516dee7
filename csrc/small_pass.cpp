// The row-in-lanes loops of small_pass.hpp, cloned per instruction-set level like
// fused_pass.cpp (x86-64, x86-64-v3, x86-64-v4 chosen at load time where glibc ifunc
// exists). Rows come in blocks of `lanes`; each lane keeps its own partial sums, added
// in a fixed order at the end, so the order of additions does not depend on the vector
// width. The sums the certificate reads (small_sums, and mu of small_load for M) are
// taken as in fused_pass.hpp's short_rows: each lane sums at most block_rows of its rows
// in order, adds that with compensation (LaneSums), and the lanes' totals are added by
// lane_sum (the bound of certificate.hpp).
#include "geomedian/small_pass.hpp"

#include "geomedian/target_clones.hpp"

namespace geomedian {
namespace {

GEOMEDIAN_ALWAYS_INLINE double lane_sum(const double* a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// Rows of a group: block_rows in each lane.
constexpr index_t group_rows = block_rows * lanes;

// Per lane, the compensated sum of group sums.
struct LaneSums {
    double s[lanes] = {}, c[lanes] = {};

    // Adds the group sums g (one per lane) and clears them for the next group.
    GEOMEDIAN_ALWAYS_INLINE void add(double* g) {
#pragma omp simd
        for (index_t l = 0; l < lanes; ++l) {
            add_compensated(s[l], c[l], g[l]);
            g[l] = 0.0;
        }
    }

    GEOMEDIAN_ALWAYS_INLINE double total() const {
        double t[lanes];
        for (index_t l = 0; l < lanes; ++l) t[l] = compensated_total(s[l], c[l]);
        return lane_sum(t);
    }
};

GEOMEDIAN_ALWAYS_INLINE double lane_max(const double* a) {
    double m = a[0];
    for (index_t l = 1; l < lanes; ++l) m = a[l] > m ? a[l] : m;
    return m;
}

// ||u_q - z||^2 of every row into d2 (npad entries), block by block, summed over j in
// registers in nearest_row's order.
GEOMEDIAN_ALWAYS_INLINE void squared_distances(const double* __restrict u, index_t stride,
                                               index_t npad, index_t d,
                                               const double* __restrict z,
                                               double* __restrict d2) {
    for (index_t i = 0; i < npad; i += lanes) {
        double acc[lanes] = {};
        for (index_t j = 0; j < d; ++j) {
            const double* uj = u + j * stride + i;
            const double zj = z[j];
#pragma omp simd
            for (index_t l = 0; l < lanes; ++l) {
                const double r = uj[l] - zj;
                acc[l] += r * r;
            }
        }
#pragma omp simd
        for (index_t l = 0; l < lanes; ++l) d2[i + l] = acc[l];
    }
}

}  // namespace

GEOMEDIAN_CLONES void small_moments(const double* __restrict u, const double* __restrict w,
                                    index_t stride, index_t npad, double big, index_t d,
                                    double* __restrict out) {
    double W[lanes] = {}, bad[lanes] = {}, spread[lanes] = {};
    for (index_t i = 0; i < npad; i += lanes) {
#pragma omp simd
        for (index_t l = 0; l < lanes; ++l) W[l] += w[i + l];
    }
    for (index_t j = 0; j < d; ++j) {
        const double* uj = u + j * stride;
        const double x0 = uj[0];
        double S[lanes] = {};
        for (index_t i = 0; i < npad; i += lanes) {
#pragma omp simd
            for (index_t l = 0; l < lanes; ++l) {
                // NaN fails every comparison: !(|v| <= big) catches NaN and +-inf alike;
                // halving before subtracting keeps |x - x0| / 2 finite.
                const double v = uj[i + l];
                bad[l] += !(std::abs(v) <= big) ? 1.0 : 0.0;
                const double h = 0.5 * v - 0.5 * x0;
                spread[l] = std::abs(h) > spread[l] ? std::abs(h) : spread[l];
                S[l] += w[i + l] * h;
            }
        }
        out[moment::head + j] = lane_sum(S);
    }
    out[moment::weight] = lane_sum(W);
    out[moment::nonfinite] = lane_sum(bad);
    out[moment::half_spread] = lane_max(spread);
}

GEOMEDIAN_CLONES void small_load(double* __restrict u, const double* __restrict w,
                                 index_t stride, index_t npad, index_t d,
                                 const double* __restrict c, double s, double* __restrict mu) {
    for (index_t j = 0; j < d; ++j) {
        double* uj = u + j * stride;
        const double cj = c[j];
        double acc[lanes] = {};
        LaneSums mu_j;
        for (index_t g0 = 0; g0 < npad; g0 += group_rows) {
            for (index_t i = g0; i < std::min(npad, g0 + group_rows); i += lanes) {
#pragma omp simd
                for (index_t l = 0; l < lanes; ++l) {
                    const double v = (uj[i + l] - cj) * s;
                    uj[i + l] = v;
                    acc[l] += w[i + l] * v;
                }
            }
            mu_j.add(acc);
        }
        mu[j] = mu_j.total();
    }
}

GEOMEDIAN_CLONES void small_sums(const double* __restrict u, const double* __restrict w,
                                 const double* __restrict mu, double W, index_t stride,
                                 index_t npad, index_t d, const double* __restrict z, double eps,
                                 double near, double* __restrict t, double* __restrict out) {
    static_assert(lanes == 8, "lane_sum adds 8 lanes");
    // Squared distances first; then the scalar sums, t_i = w_i / d_i (0 on the iterate)
    // replacing d_i^2 in the scratch for R.
    squared_distances(u, stride, npad, d, z, t);
    double f[lanes] = {}, inv[lanes] = {}, eta[lanes] = {}, fc[lanes] = {}, mt[lanes] = {};
    double wf[lanes] = {}, fn[lanes] = {};
    LaneSums F, INV, ETA, FC, WF, FN;
    for (index_t g0 = 0; g0 < npad; g0 += group_rows) {
        for (index_t i = g0; i < std::min(npad, g0 + group_rows); i += lanes) {
#pragma omp simd
            for (index_t l = 0; l < lanes; ++l) {
                const double dist = std::sqrt(t[i + l]);
                const double wi = w[i + l];
                const double on = dist <= eps ? 1.0 : 0.0;
                const double far = dist > near ? 1.0 : 0.0;
                // Arithmetic instead of branches, never a division by zero (as row_terms).
                const double ti = (1.0 - on) * wi / std::max(dist, eps);
                f[l] += wi * dist;
                inv[l] += ti;
                eta[l] += on * wi;
                fc[l] += on * wi * dist;
                mt[l] = ti > mt[l] ? ti : mt[l];
                wf[l] += far * wi;
                fn[l] += (1.0 - far) * wi * dist;
                t[i + l] = ti;
            }
        }
        F.add(f);
        INV.add(inv);
        ETA.add(eta);
        FC.add(fc);
        WF.add(wf);
        FN.add(fn);
    }
    out[slot::f] = F.total();
    out[slot::inv] = INV.total();
    out[slot::eta] = ETA.total();
    out[slot::f_coinc] = FC.total();
    out[slot::max_term] = lane_max(mt);
    out[slot::w_far] = WF.total();
    out[slot::f_near] = FN.total();
    // R_j = sum_i t_i r_ij, r recomputed from u (in L1); M_j = mu_j - W z_j.
    for (index_t j = 0; j < d; ++j) {
        const double* uj = u + j * stride;
        const double zj = z[j];
        double R[lanes] = {};
        LaneSums R_j;
        for (index_t g0 = 0; g0 < npad; g0 += group_rows) {
            for (index_t i = g0; i < std::min(npad, g0 + group_rows); i += lanes) {
#pragma omp simd
                for (index_t l = 0; l < lanes; ++l) R[l] += t[i + l] * (uj[i + l] - zj);
            }
            R_j.add(R);
        }
        out[slot::head + j] = R_j.total();
        out[slot::head + d + j] = mu[j] - W * zj;
    }
}

GEOMEDIAN_CLONES void small_start(const double* __restrict u, const double* __restrict w,
                                  double W, index_t stride, index_t m, index_t npad, index_t d,
                                  double* __restrict cum, double* __restrict z) {
    if (m > start_median_rows) {
        for (index_t j = 0; j < d; ++j) z[j] = 0.0;
        return;
    }
    const double half = 0.5 * W;
    for (index_t j = 0; j < d; ++j) {
        const double* uj = u + j * stride;
        // C(u_q) for every q in the lanes; a padded lane repeats row 0 (value and C).
        for (index_t i = 0; i < npad; i += lanes) {
            double a[lanes] = {}, b[lanes] = {};  // two chains: even and odd r
            index_t r = 0;
            for (; r + 1 < m; r += 2) {
                const double u0 = uj[r], w0 = w[r], u1 = uj[r + 1], w1 = w[r + 1];
#pragma omp simd
                for (index_t l = 0; l < lanes; ++l) {
                    a[l] += u0 <= uj[i + l] ? w0 : 0.0;
                    b[l] += u1 <= uj[i + l] ? w1 : 0.0;
                }
            }
            if (r < m) {
                const double u0 = uj[r], w0 = w[r];
#pragma omp simd
                for (index_t l = 0; l < lanes; ++l) a[l] += u0 <= uj[i + l] ? w0 : 0.0;
            }
#pragma omp simd
            for (index_t l = 0; l < lanes; ++l) cum[i + l] = a[l] + b[l];
        }
        double best[lanes];
        for (index_t l = 0; l < lanes; ++l) best[l] = HUGE_VAL;
        for (index_t i = 0; i < npad; i += lanes) {
#pragma omp simd
            for (index_t l = 0; l < lanes; ++l) {
                const double v = uj[i + l];
                best[l] = cum[i + l] >= half && v < best[l] ? v : best[l];
            }
        }
        double lo = best[0];
        for (index_t l = 1; l < lanes; ++l) lo = best[l] < lo ? best[l] : lo;
        z[j] = lo;
    }
}

GEOMEDIAN_CLONES void small_hessian(const double* __restrict u, const double* __restrict w,
                                    double inv, index_t stride, index_t npad, index_t d,
                                    const double* __restrict z, double eps,
                                    double* __restrict v, double* __restrict H) {
    // v_q = w_q / d_q^3 in the scratch, as t_q / d_q^2 with t_q formed as in small_sums (0 on
    // the iterate and in the padding, whose d_q^2 may be 0: the max keeps 0 / 0 out).
    squared_distances(u, stride, npad, d, z, v);
    // A separate sweep, as in small_sums: GCC keeps the square roots scalar otherwise.
    for (index_t i = 0; i < npad; i += lanes) {
#pragma omp simd
        for (index_t l = 0; l < lanes; ++l) {
            const double d2 = v[i + l];
            const double dist = std::sqrt(d2);
            const double on = dist <= eps ? 1.0 : 0.0;
            const double ti = (1.0 - on) * w[i + l] / std::max(dist, eps);
            v[i + l] = ti / std::max(d2, eps * eps);
        }
    }
    // H_jk for k <= j, rows in the lanes.
    for (index_t j = 0; j < d; ++j) {
        const double* uj = u + j * stride;
        const double zj = z[j];
        for (index_t k = 0; k <= j; ++k) {
            const double* uk = u + k * stride;
            const double zk = z[k];
            double acc[lanes] = {};
            for (index_t i = 0; i < npad; i += lanes) {
#pragma omp simd
                for (index_t l = 0; l < lanes; ++l)
                    acc[l] += v[i + l] * (uj[i + l] - zj) * (uk[i + l] - zk);
            }
            H[j * (j + 1) / 2 + k] = (j == k ? inv : 0.0) - lane_sum(acc);
        }
    }
}

GEOMEDIAN_CLONES index_t small_nearest(const double* __restrict u, const double* __restrict w,
                                       index_t stride, index_t m, index_t d,
                                       const double* __restrict z) {
    index_t best = 0;
    double best_d2 = HUGE_VAL;
    for (index_t q = 0; q < m; ++q) {
        if (w[q] == 0) continue;  // a weightless point is never the optimum
        double d2 = 0;
        for (index_t j = 0; j < d; ++j) {
            const double r = u[j * stride + q] - z[j];
            d2 += r * r;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best = q;
        }
    }
    return best;
}

}  // namespace geomedian
