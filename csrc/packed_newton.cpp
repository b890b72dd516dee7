// The lock-step Newton solve of packed_newton.hpp, cloned per instruction-set level like
// small_pass.cpp. Every loop over l is over the pack's lanes, one problem each: the
// arithmetic is vertical, lane l reads and writes lane l only, and each step does in each
// lane what solver.hpp, newton.hpp and certificate.hpp do for one problem.
#include "geomedian/packed_newton.hpp"

#include "geomedian/certificate.hpp"
#include "geomedian/newton.hpp"  // newton_pivot, newton_accept
#include "geomedian/target_clones.hpp"

#include <cstring>

namespace geomedian {
namespace {

constexpr double eps = 0x1p-40;  // solver.hpp's coincidence_radius

// The iteration sums of fused_pass.hpp per lane, d x L for R and M.
struct LaneSums {
    double f[pack], inv[pack], eta[pack], fc[pack], mt[pack];
    double R[newton_max_d * pack], M[newton_max_d * pack];
};

// certify() per lane: f, the bound, ||g|| and the minimum-norm subgradient g (d x L).
struct LaneCertificate {
    double f[pack], lb[pack], gnorm[pack];
    double g[newton_max_d * pack];
};

// One value per lane: the row loops below keep a row's residuals and the running sums in
// such vectors (registers), which arrays of doubles indexed in `omp simd` loops do not get.
// L = 1 is plain double arithmetic: the same operations, so the same bits per lane.
template <int L>
struct lanes_of {
    typedef double type
        __attribute__((vector_size(L * sizeof(double)), aligned(sizeof(double))));
};
template <int L>
using lanes_v = typename lanes_of<L>::type;

template <int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> load_lanes(const double* p) {
    lanes_v<L> v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <int L>
GEOMEDIAN_ALWAYS_INLINE void store_lanes(double* p, lanes_v<L> v) { std::memcpy(p, &v, sizeof v); }
template <int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> sqrt_lanes(lanes_v<L> a) {
    lanes_v<L> r;
    for (index_t l = 0; l < L; ++l) r[l] = std::sqrt(a[l]);  // one vector square root
    return r;
}

// The sums at z (d x L) for every lane; leaves d2 = ||u - z||^2 and t = w / d (0 on the
// iterate) in the buffers, for the Hessian at the same point.
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_sums(PackBuffers& b, const double* __restrict mu,
                                       const double* __restrict W, const double* __restrict z,
                                       LaneSums& S) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const index_t n = b.n, d = D > 0 ? D : b.d;
    const double* __restrict u = b.u;
    const double* __restrict w = b.w;
    double* __restrict d2s = b.d2;
    double* __restrict t = b.t;
    lanes_v<L> zv[Dmax], R[Dmax];
    for (index_t j = 0; j < d; ++j) {
        zv[j] = load_lanes<L>(z + j * L);
        R[j] = lanes_v<L>{};
    }
    const lanes_v<L> zero = {}, one = zero + 1.0, epsv = zero + eps;
    lanes_v<L> f = {}, inv = {}, eta = {}, fc = {}, mt = {};
    for (index_t q = 0; q < n; ++q) {
        lanes_v<L> r[Dmax], d2 = {};
        for (index_t j = 0; j < d; ++j) {
            r[j] = load_lanes<L>(u + (j * n + q) * L) - zv[j];
            d2 += r[j] * r[j];
        }
        const lanes_v<L> dist = sqrt_lanes<L>(d2), wi = load_lanes<L>(w + q * L);
        const lanes_v<L> on = dist <= epsv ? one : zero;
        // Arithmetic instead of branches, never a division by zero (as row_terms).
        const lanes_v<L> ti = (one - on) * wi / (dist < epsv ? epsv : dist);
        f += wi * dist;
        inv += ti;
        eta += on * wi;
        fc += on * wi * dist;
        mt = ti > mt ? ti : mt;
        store_lanes<L>(d2s + q * L, d2);
        store_lanes<L>(t + q * L, ti);
        for (index_t j = 0; j < d; ++j) R[j] += ti * r[j];
    }
    store_lanes<L>(S.f, f);
    store_lanes<L>(S.inv, inv);
    store_lanes<L>(S.eta, eta);
    store_lanes<L>(S.fc, fc);
    store_lanes<L>(S.mt, mt);
    for (index_t j = 0; j < d; ++j) {
        store_lanes<L>(S.R + j * L, R[j]);
        store_lanes<L>(S.M + j * L, load_lanes<L>(mu + j * L) - load_lanes<L>(W) * zv[j]);
    }
}

template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_certify(const LaneSums& S, index_t d_runtime,
                                          const double* __restrict W, LaneCertificate& C) {
    const index_t d = D > 0 ? D : d_runtime;
    double rn2[L] = {}, gm[L] = {}, keep[L];
    for (index_t j = 0; j < d; ++j) {
#pragma omp simd
        for (index_t l = 0; l < L; ++l) rn2[l] += S.R[j * L + l] * S.R[j * L + l];
    }
#pragma omp simd
    for (index_t l = 0; l < L; ++l) {
        const double rn = std::sqrt(rn2[l]);
        keep[l] = rn > S.eta[l] ? 1.0 - S.eta[l] / rn : 0.0;
        C.gnorm[l] = rn * keep[l];
    }
    for (index_t j = 0; j < d; ++j) {
#pragma omp simd
        for (index_t l = 0; l < L; ++l) {
            const double g = keep[l] > 0 ? -S.R[j * L + l] * keep[l] : 0.0;
            C.g[j * L + l] = g;
            gm[l] += g * S.M[j * L + l];
        }
    }
#pragma omp simd
    for (index_t l = 0; l < L; ++l) {
        const double Sv = S.f[l] - 2.0 * S.fc[l];
        const double slack = sum_rounding * (std::abs(Sv) + std::abs(gm[l]) / W[l]);
        C.f[l] = S.f[l];
        C.lb[l] = (Sv + gm[l] / W[l] - slack) / (1.0 + C.gnorm[l] / W[l]);
    }
}

// H = inv I - sum_q v_q r_q r_q^T at z with v_q = t_q / d_q^2 from the last lane_sums at z;
// packed lower triangle, H[(j (j + 1) / 2 + k) L + l].
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_hessian(PackBuffers& b, const double* __restrict inv,
                                          const double* __restrict z, double* __restrict H) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    constexpr index_t Tmax = Dmax * (Dmax + 1) / 2;
    const index_t n = b.n, d = D > 0 ? D : b.d;
    const double* __restrict u = b.u;
    const double* __restrict d2 = b.d2;
    const double* __restrict t = b.t;
    lanes_v<L> zv[Dmax], acc[Tmax];
    for (index_t j = 0; j < d; ++j) zv[j] = load_lanes<L>(z + j * L);
    for (index_t jk = 0; jk < d * (d + 1) / 2; ++jk) acc[jk] = lanes_v<L>{};
    const lanes_v<L> floor2 = lanes_v<L>{} + eps * eps;
    for (index_t q = 0; q < n; ++q) {
        const lanes_v<L> d2v = load_lanes<L>(d2 + q * L);
        const lanes_v<L> v = load_lanes<L>(t + q * L) / (d2v > floor2 ? d2v : floor2);
        lanes_v<L> r[Dmax];
        for (index_t j = 0; j < d; ++j) r[j] = load_lanes<L>(u + (j * n + q) * L) - zv[j];
        for (index_t j = 0, jk = 0; j < d; ++j) {
            const lanes_v<L> rv = v * r[j];
            for (index_t k = 0; k <= j; ++k, ++jk) acc[jk] += rv * r[k];
        }
    }
    for (index_t j = 0, jk = 0; j < d; ++j) {
        for (index_t k = 0; k <= j; ++k, ++jk) {
            const lanes_v<L> diag = j == k ? load_lanes<L>(inv) : lanes_v<L>{};
            store_lanes<L>(H + jk * L, diag - acc[jk]);
        }
    }
}

// newton_direction per lane: H = L D L^T in place, then p = H^-1 g; ok[l] is cleared where
// a pivot is not above newton_pivot inv (or not finite).
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_newton_direction(double* __restrict H, index_t d_runtime,
                                                   const double* __restrict inv,
                                                   const double* __restrict g,
                                                   double* __restrict p, bool* __restrict ok) {
    const index_t d = D > 0 ? D : d_runtime;
    auto at = [](index_t j, index_t k) { return (j * (j + 1) / 2 + k) * L; };
    double ld[newton_max_d * L], rdiag[newton_max_d * L];
    for (index_t j = 0; j < d; ++j) {
        double piv[L];
#pragma omp simd
        for (index_t l = 0; l < L; ++l) piv[l] = H[at(j, j) + l];
        for (index_t k = 0; k < j; ++k) {
#pragma omp simd
            for (index_t l = 0; l < L; ++l) {
                ld[k * L + l] = H[at(j, k) + l] * H[at(k, k) + l];
                piv[l] -= H[at(j, k) + l] * ld[k * L + l];
            }
        }
#pragma omp simd
        for (index_t l = 0; l < L; ++l) {
            ok[l] = ok[l] && piv[l] > newton_pivot * inv[l];
            H[at(j, j) + l] = piv[l];
            rdiag[j * L + l] = 1.0 / piv[l];
        }
        for (index_t i = j + 1; i < d; ++i) {
            double a[L];
#pragma omp simd
            for (index_t l = 0; l < L; ++l) a[l] = H[at(i, j) + l];
            for (index_t k = 0; k < j; ++k) {
#pragma omp simd
                for (index_t l = 0; l < L; ++l) a[l] -= H[at(i, k) + l] * ld[k * L + l];
            }
#pragma omp simd
            for (index_t l = 0; l < L; ++l) H[at(i, j) + l] = a[l] * rdiag[j * L + l];
        }
    }
    for (index_t i = 0; i < d; ++i) {  // L q = g
        double a[L];
#pragma omp simd
        for (index_t l = 0; l < L; ++l) a[l] = g[i * L + l];
        for (index_t k = 0; k < i; ++k) {
#pragma omp simd
            for (index_t l = 0; l < L; ++l) a[l] -= H[at(i, k) + l] * p[k * L + l];
        }
#pragma omp simd
        for (index_t l = 0; l < L; ++l) p[i * L + l] = a[l];
    }
    for (index_t i = d - 1; i >= 0; --i) {  // L^T p = D^-1 q
        double a[L];
#pragma omp simd
        for (index_t l = 0; l < L; ++l) a[l] = p[i * L + l] * rdiag[i * L + l];
        for (index_t k = i + 1; k < d; ++k) {
#pragma omp simd
            for (index_t l = 0; l < L; ++l) a[l] -= H[at(k, i) + l] * p[k * L + l];
        }
#pragma omp simd
        for (index_t l = 0; l < L; ++l) p[i * L + l] = a[l];
    }
}

// small_start per lane: for each j, min { u_qj : C_j(u_qj) >= W / 2 } with
// C_j(v) = sum_{r: u_rj <= v} w_r. Lanes with more than start_median_rows rows start at
// the weighted mean, z = 0. Unit weights: the value of rank (m - 1) / 2, by a sorting
// network on the column (omitted rows as +inf, after every present one); otherwise by
// counting, O(n^2), omitted rows repeating row 0 with weight 0 as the small pass's padding.
template <int L>
GEOMEDIAN_ALWAYS_INLINE void lane_start(PackBuffers& b, const index_t* m,
                                        const double* __restrict W, bool unit_weights,
                                        double* __restrict z) {
    constexpr index_t Q = 4;  // counts kept in registers at once: independent chains
    const index_t n = b.n, d = b.d;
    const double* __restrict u = b.u;
    const double* __restrict w = b.w;
    bool any = false;
    lanes_v<L> half;
    for (index_t l = 0; l < L; ++l) {
        half[l] = m[l] <= start_median_rows ? 0.5 * W[l] : HUGE_VAL;  // never reached
        any |= m[l] <= start_median_rows;
    }
    for (index_t j = 0; j < d; ++j) {
        const double* uj = u + j * n * L;
        if (!any) {
            for (index_t l = 0; l < L; ++l) z[j * L + l] = 0.0;
        } else if (unit_weights) {
            double* __restrict v = b.sorted;
            const lanes_v<L> zero = {}, inf = zero + HUGE_VAL;
            for (index_t q = 0; q < n; ++q)
                store_lanes<L>(v + q * L, load_lanes<L>(w + q * L) > zero ? load_lanes<L>(uj + q * L) : inf);
            const index_t* net = b.network.data();
            for (std::size_t c = 0; c < b.network.size(); c += 2) {
                const lanes_v<L> x = load_lanes<L>(v + net[c] * L), y = load_lanes<L>(v + net[c + 1] * L);
                store_lanes<L>(v + net[c] * L, x < y ? x : y);
                store_lanes<L>(v + net[c + 1] * L, x < y ? y : x);
            }
            for (index_t l = 0; l < L; ++l)
                z[j * L + l] = m[l] <= start_median_rows ? v[(m[l] - 1) / 2 * L + l] : 0.0;
        } else {
            lanes_v<L> best = lanes_v<L>{} + HUGE_VAL;
            for (index_t q0 = 0; q0 < n; q0 += Q) {
                lanes_v<L> cum[Q] = {}, uq[Q];
                for (index_t i = 0; i < Q; ++i)  // a repeated row changes nothing
                    uq[i] = load_lanes<L>(uj + std::min(q0 + i, n - 1) * L);
                for (index_t rr = 0; rr < n; ++rr) {
                    const lanes_v<L> ur = load_lanes<L>(uj + rr * L), wr = load_lanes<L>(w + rr * L);
                    for (index_t i = 0; i < Q; ++i) cum[i] += ur <= uq[i] ? wr : lanes_v<L>{};
                }
                for (index_t i = 0; i < Q; ++i) best = cum[i] >= half && uq[i] < best ? uq[i] : best;
            }
            for (index_t l = 0; l < L; ++l) z[j * L + l] = best[l] == HUGE_VAL ? 0.0 : best[l];
        }
    }
}

}  // namespace

template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void packed_newton_d(PackBuffers& b, const index_t* m,
                                             const PackOptions& opt, PackOutcome& out) {
    const double tol = opt.tol;
    const index_t n = b.n, d = b.d;
    double* __restrict u = b.u;
    const double* __restrict w = b.w;
    double c[newton_max_d * L], z[newton_max_d * L], zt[newton_max_d * L];
    double mu[newton_max_d * L], p[newton_max_d * L];
    double H[newton_max_d * (newton_max_d + 1) / 2 * L];
    double W[L] = {}, half[L] = {}, s[L];
    bool alive[L], done[L], recentre[L];
    for (index_t l = 0; l < L; ++l) {
        alive[l] = m[l] > 0;
        done[l] = false;
        recentre[l] = false;
        out.certified[l] = false;
    }

    // The frame, as make_frame with the moments of small_moments: x0 is row 0.
    for (index_t q = 0; q < n; ++q) {
#pragma omp simd
        for (index_t l = 0; l < L; ++l) W[l] += w[q * L + l];
    }
    for (index_t j = 0; j < d; ++j) {
        const double* uj = u + j * n * L;
        double S[L] = {};
        for (index_t q = 0; q < n; ++q) {
#pragma omp simd
            for (index_t l = 0; l < L; ++l) {
                const double h = 0.5 * uj[q * L + l] - 0.5 * uj[l];
                half[l] = std::abs(h) > half[l] ? std::abs(h) : half[l];
                S[l] += w[q * L + l] * h;
            }
        }
        for (index_t l = 0; l < L; ++l) c[j * L + l] = uj[l] + 2.0 * (S[l] / W[l]);
    }
    for (index_t l = 0; l < L; ++l) {
        alive[l] = alive[l] && W[l] > 0;
        int e = 0;
        std::frexp(half[l], &e);
        s[l] = half[l] > 0 ? std::ldexp(1.0, std::clamp(-(e + 1), -1022, 1022)) : 1.0;
        bool finite = true;
        for (index_t j = 0; j < d; ++j) finite &= std::isfinite(c[j * L + l]);
        if (!finite)
            for (index_t j = 0; j < d; ++j) c[j * L + l] = u[j * n * L + l];
    }
    // small_load: u <- (u - c) s, mu = sum_q w_q u_q.
    for (index_t j = 0; j < d; ++j) {
        double* uj = u + j * n * L;
        double acc[L] = {};
        for (index_t q = 0; q < n; ++q) {
#pragma omp simd
            for (index_t l = 0; l < L; ++l) {
                const double v = (uj[q * L + l] - c[j * L + l]) * s[l];
                uj[q * L + l] = v;
                acc[l] += w[q * L + l] * v;
            }
        }
        for (index_t l = 0; l < L; ++l) mu[j * L + l] = acc[l];
    }

    lane_start<L>(b, m, W, opt.unit_weights, z);
    LaneSums S, St;
    LaneCertificate C, Ct;
    lane_sums<D, L>(b, mu, W, z, S);
    lane_certify<D, L>(S, d, W, C);
    double lb[L];
    for (index_t l = 0; l < L; ++l) {
        lb[l] = C.lb[l];
        out.n_iter[l] = 0;
        out.n_passes[l] = 2;  // moments, start
    }
    const index_t iter_cap = std::min(opt.max_iter, packed_max_iter);
    for (;;) {
        bool active[L], any = false;
        for (index_t l = 0; l < L; ++l) {
            if (alive[l] && !done[l]) {
                if (relative_gap(C.f[l], lb[l]) <= tol)
                    done[l] = true;
                else if (out.n_iter[l] >= iter_cap || recentre[l] || S.eta[l] > 0 ||
                         S.mt[l] > 0.5 * S.inv[l])
                    alive[l] = false;  // max_iter, the frame must move, or near a vertex
            }
            active[l] = alive[l] && !done[l];
            any |= active[l];
        }
        if (!any) break;

        lane_hessian<D, L>(b, S.inv, z, H);
        bool ok[L];
        for (index_t l = 0; l < L; ++l) ok[l] = active[l];
        lane_newton_direction<D, L>(H, d, S.inv, C.g, p, ok);
        // newton_propose: the step must descend and stay within reach of the data.
        double pn2[L] = {}, zn2[L] = {}, gp[L] = {};
        for (index_t j = 0; j < d; ++j) {
#pragma omp simd
            for (index_t l = 0; l < L; ++l) {
                pn2[l] += p[j * L + l] * p[j * L + l];
                zn2[l] += z[j * L + l] * z[j * L + l];
                gp[l] += C.g[j * L + l] * p[j * L + l];
            }
        }
        bool moved[L] = {};
        for (index_t j = 0; j < d; ++j) {
#pragma omp simd
            for (index_t l = 0; l < L; ++l) {
                zt[j * L + l] = active[l] ? z[j * L + l] - p[j * L + l] : z[j * L + l];
                moved[l] = moved[l] || zt[j * L + l] != z[j * L + l];
            }
        }
        any = false;
        for (index_t l = 0; l < L; ++l) {
            const double reach = std::sqrt(zn2[l]) + 2.0 * std::sqrt(static_cast<double>(d));
            if (active[l] && !(ok[l] && gp[l] > 0 && pn2[l] <= reach * reach && moved[l])) {
                alive[l] = false;
                active[l] = false;
            }
            any |= active[l];
        }
        if (!any) break;

        lane_sums<D, L>(b, mu, W, zt, St);
        lane_certify<D, L>(St, d, W, Ct);
        for (index_t l = 0; l < L; ++l) {
            if (!active[l]) continue;
            lb[l] = std::max(lb[l], Ct.lb[l]);
            if (!newton_accept(C.f[l], Ct.f[l], gp[l])) {
                alive[l] = false;  // the general driver's gradient step takes over
                continue;
            }
            double step2 = 0, ztn2 = 0;
            for (index_t j = 0; j < d; ++j) {
                step2 += (zt[j * L + l] - z[j * L + l]) * (zt[j * L + l] - z[j * L + l]);
                ztn2 += zt[j * L + l] * zt[j * L + l];
            }
            recentre[l] = step2 < 0x1p-80 * ztn2;  // unless certified now, given back
            ++out.n_iter[l];
            ++out.n_passes[l];
        }
        // Lanes that stepped take the trial point's sums; the others are finished with.
        for (index_t j = 0; j < d; ++j) {
#pragma omp simd
            for (index_t l = 0; l < L; ++l) {
                const bool take = active[l] && alive[l];
                z[j * L + l] = take ? zt[j * L + l] : z[j * L + l];
                S.R[j * L + l] = take ? St.R[j * L + l] : S.R[j * L + l];
                S.M[j * L + l] = take ? St.M[j * L + l] : S.M[j * L + l];
                C.g[j * L + l] = take ? Ct.g[j * L + l] : C.g[j * L + l];
            }
        }
        for (index_t l = 0; l < L; ++l) {
            if (!(active[l] && alive[l])) continue;
            S.f[l] = St.f[l];
            S.inv[l] = St.inv[l];
            S.eta[l] = St.eta[l];
            S.fc[l] = St.fc[l];
            S.mt[l] = St.mt[l];
            C.f[l] = Ct.f[l];
            C.lb[l] = Ct.lb[l];
            C.gnorm[l] = Ct.gnorm[l];
        }
    }

    // The answer in the caller's coordinates and dtype; where rounding moved it, the
    // rounded point itself is certified (solve_problem's last step).
    bool recheck = false, moved[L];
    for (index_t l = 0; l < L; ++l) {
        double moved2 = 0;
        for (index_t j = 0; j < d; ++j) {
            const double y = c[j * L + l] + z[j * L + l] / s[l];
            const double yr = opt.to_float ? static_cast<double>(static_cast<float>(y)) : y;
            out.median[j * L + l] = yr;
            zt[j * L + l] = (yr - c[j * L + l]) * s[l];
            moved2 += (zt[j * L + l] - z[j * L + l]) * (zt[j * L + l] - z[j * L + l]);
        }
        moved[l] = done[l] && std::sqrt(moved2) > eps;
        recheck |= moved[l];
    }
    if (recheck) {
        lane_sums<D, L>(b, mu, W, zt, St);
        lane_certify<D, L>(St, d, W, Ct);
        for (index_t l = 0; l < L; ++l) {
            if (!moved[l]) continue;
            lb[l] = std::max(lb[l], Ct.lb[l]);
            C.f[l] = Ct.f[l];
            ++out.n_passes[l];
            done[l] = relative_gap(C.f[l], lb[l]) <= tol;
        }
    }
    for (index_t l = 0; l < L; ++l) {
        out.certified[l] = alive[l] && done[l];
        out.f[l] = C.f[l];
        out.lb[l] = lb[l];
        out.s[l] = s[l];
    }
}

// With d known the row loops keep a row's residuals, R and the Hessian's sums in
// registers (a pixel's 6 bands: 6 + 6 + 21 vectors).
template <int L>
GEOMEDIAN_ALWAYS_INLINE void packed_newton_l(PackBuffers& b, const index_t* m,
                                             const PackOptions& opt, PackOutcome& out) {
    switch (b.d) {
        case 1: return packed_newton_d<1, L>(b, m, opt, out);
        case 2: return packed_newton_d<2, L>(b, m, opt, out);
        case 3: return packed_newton_d<3, L>(b, m, opt, out);
        case 4: return packed_newton_d<4, L>(b, m, opt, out);
        case 5: return packed_newton_d<5, L>(b, m, opt, out);
        case 6: return packed_newton_d<6, L>(b, m, opt, out);
        case 7: return packed_newton_d<7, L>(b, m, opt, out);
        case 8: return packed_newton_d<8, L>(b, m, opt, out);
        default: return packed_newton_d<0, L>(b, m, opt, out);
    }
}

GEOMEDIAN_CLONES void packed_newton(PackBuffers& b, const index_t* m, const PackOptions& opt,
                                    PackOutcome& out) {
    if (b.lanes == 1)
        packed_newton_l<1>(b, m, opt, out);
    else
        packed_newton_l<pack>(b, m, opt, out);
}

}  // namespace geomedian
