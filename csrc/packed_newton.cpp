// The lock-step Newton solve of packed_newton.hpp, cloned per instruction-set level like
// small_pass.cpp. Every value below of type lanes_v<L> holds one number per lane of the
// pack, one problem each: the arithmetic is vertical, lane l reads and writes lane l only,
// and each step does in each lane what solver.hpp, newton.hpp and certificate.hpp do for
// one problem.
#include "geomedian/packed_newton.hpp"

#include "geomedian/certificate.hpp"
#include "geomedian/lanes.hpp"
#include "geomedian/newton.hpp"  // newton_pivot, newton_accept
#include "geomedian/powers_of_two.hpp"
#include "geomedian/target_clones.hpp"

#include <cstdint>
#include <cstring>

namespace geomedian {
namespace {

constexpr double eps = coincidence_radius;  // short, for the lane arithmetic below

template <int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> abs_lanes(lanes_v<L> a) {
    return a < 0.0 ? -a : a;
}
// Each lane rounded to the nearest float32, as two whole-vector conversions: written as a
// loop of casts per lane, GCC 12 returned the answers unrounded.
template <int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> round_to_float(lanes_v<L> a) {
    typedef float floats __attribute__((vector_size(L * sizeof(float))));
    return __builtin_convertvector(__builtin_convertvector(a, floats), lanes_v<L>);
}
template <int L>
GEOMEDIAN_ALWAYS_INLINE mask_v<L> mask_of(const bool* b) {
    mask_v<L> m;
    for (index_t l = 0; l < L; ++l) m[l] = b[l] ? -1 : 0;
    return m;
}

// compensated_total per lane.
template <int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> lanes_total(lanes_v<L> s, lanes_v<L> c) {
    return abs_lanes<L>(s) <= std::numeric_limits<double>::max() ? s + c : s;
}

// The iteration sums of fused_pass.hpp per lane, each over blocks of block_rows rows in
// order, added with compensation.
template <int L>
struct LaneSums {
    lanes_v<L> f, inv, eta, fc, mt;
    lanes_v<L> R[newton_max_d], M[newton_max_d];
};

// certify() per lane: f, the bound, ||g|| and the minimum-norm subgradient g.
template <int L>
struct LaneCertificate {
    lanes_v<L> f, lb, gnorm;
    lanes_v<L> g[newton_max_d];
};

// Row q's residuals r = u_q - z and their squared norm, per lane.
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> row_residuals(const PackBuffers& b, index_t q,
                                                 const lanes_v<L>* z, lanes_v<L>* r) {
    const index_t n = b.n, d = D > 0 ? D : b.d;
    lanes_v<L> d2 = {};
    for (index_t j = 0; j < d; ++j) {
        r[j] = load_lanes<L>(b.u + (j * n + q) * L) - z[j];
        d2 += r[j] * r[j];
    }
    return d2;
}

// The sums at z for every lane; leaves d2 = ||u - z||^2 and t = w / d (0 on the iterate)
// in the buffers, for the Hessian at the same point.
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_sums(PackBuffers& b, const lanes_v<L>* mu, lanes_v<L> W,
                                       const lanes_v<L>* z, LaneSums<L>& S) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const index_t n = b.n, d = D > 0 ? D : b.d;
    const double* __restrict w = b.w;
    double* __restrict d2s = b.d2;
    double* __restrict t = b.t;
    const lanes_v<L> zero = {}, one = zero + 1.0, epsv = zero + eps;
    // Blocks of block_rows rows summed in order, added with compensation (fused_pass.hpp).
    lanes_v<L> Rs[Dmax], Re[Dmax];
    for (index_t j = 0; j < d; ++j) Rs[j] = Re[j] = zero;
    lanes_v<L> fs = {}, fe = {}, invs = {}, inve = {}, etas = {}, etae = {}, fcs = {}, fce = {};
    lanes_v<L> mt = {};
    for (index_t q0 = 0; q0 < n; q0 += block_rows) {
        lanes_v<L> R[Dmax];
        for (index_t j = 0; j < d; ++j) R[j] = zero;
        lanes_v<L> f = {}, inv = {}, eta = {}, fc = {};
        for (index_t q = q0; q < std::min(n, q0 + block_rows); ++q) {
            b.ahead.ask(2);  // the next pack's values, a little at a time
            lanes_v<L> r[Dmax];
            const lanes_v<L> d2 = row_residuals<D, L>(b, q, z, r);
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
        add_compensated(fs, fe, f);
        add_compensated(invs, inve, inv);
        add_compensated(etas, etae, eta);
        add_compensated(fcs, fce, fc);
        for (index_t j = 0; j < d; ++j) add_compensated(Rs[j], Re[j], R[j]);
    }
    S.f = lanes_total<L>(fs, fe);
    S.inv = lanes_total<L>(invs, inve);
    S.eta = lanes_total<L>(etas, etae);
    S.fc = lanes_total<L>(fcs, fce);
    S.mt = mt;
    for (index_t j = 0; j < d; ++j) {
        S.R[j] = lanes_total<L>(Rs[j], Re[j]);
        S.M[j] = mu[j] - W * z[j];
    }
}

// f(std::integral_constant<int, K>{}) with K = D where d is known at compile time; else
// K = d for the 9-12 bands of a multispectral pixel, whose row loops then keep a row's
// residuals and their sums in registers, and K = 0 (d at run time) for the others.
template <int D, class F>
GEOMEDIAN_ALWAYS_INLINE void with_bands(index_t d, F&& f) {
    if constexpr (D > 0) {
        f(std::integral_constant<int, D>{});
    } else {
        switch (d) {
            case 9: return f(std::integral_constant<int, 9>{});
            case 10: return f(std::integral_constant<int, 10>{});
            case 11: return f(std::integral_constant<int, 11>{});
            case 12: return f(std::integral_constant<int, 12>{});
            default: return f(std::integral_constant<int, 0>{});
        }
    }
}

// make_frame's centre per lane, from the moments of small_moments with x0 = row 0:
// c_j = x0_j + 2 S_j / W with S_j = sum_q w_q (u_qj / 2 - x0_j / 2) in row order, and
// half = the largest |u_qj / 2 - x0_j / 2|. A row at a time, each coordinate's sum in its
// own register: summed a coordinate at a time, every term waited on the one before it.
// The same sums in the same order either way (the maximum is exact).
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_moments(const PackBuffers& b, lanes_v<L> W, lanes_v<L>* c,
                                          lanes_v<L>& half) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const index_t n = b.n, d = D > 0 ? D : b.d;
    const double* __restrict u = b.u;
    const double* __restrict w = b.w;
    lanes_v<L> x0[Dmax], S[Dmax], top[Dmax];
    for (index_t j = 0; j < d; ++j) {
        x0[j] = load_lanes<L>(u + j * n * L);
        S[j] = top[j] = lanes_v<L>{};
    }
    for (index_t q = 0; q < n; ++q) {
        const lanes_v<L> wq = load_lanes<L>(w + q * L);
        for (index_t j = 0; j < d; ++j) {
            const lanes_v<L> h = 0.5 * load_lanes<L>(u + (j * n + q) * L) - 0.5 * x0[j];
            const lanes_v<L> ah = abs_lanes<L>(h);
            top[j] = ah > top[j] ? ah : top[j];
            S[j] += wq * h;
        }
    }
    half = lanes_v<L>{};
    for (index_t j = 0; j < d; ++j) {
        half = top[j] > half ? top[j] : half;
        c[j] = x0[j] + 2.0 * (S[j] / W);
    }
}

// small_load per lane: u <- (u - c) s and mu = sum_q w_q u_q, summed in blocks of
// block_rows rows added with compensation as lane_sums; a row at a time, as lane_moments.
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_load(PackBuffers& b, const lanes_v<L>* c, lanes_v<L> s,
                                       lanes_v<L>* mu) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const index_t n = b.n, d = D > 0 ? D : b.d;
    double* __restrict u = b.u;
    const double* __restrict w = b.w;
    lanes_v<L> mu_s[Dmax], mu_e[Dmax];
    for (index_t j = 0; j < d; ++j) mu_s[j] = mu_e[j] = lanes_v<L>{};
    for (index_t q0 = 0; q0 < n; q0 += block_rows) {
        lanes_v<L> acc[Dmax];
        for (index_t j = 0; j < d; ++j) acc[j] = lanes_v<L>{};
        for (index_t q = q0; q < std::min(n, q0 + block_rows); ++q) {
            const lanes_v<L> wq = load_lanes<L>(w + q * L);
            for (index_t j = 0; j < d; ++j) {
                double* uq = u + (j * n + q) * L;
                const lanes_v<L> v = (load_lanes<L>(uq) - c[j]) * s;
                store_lanes<L>(uq, v);
                acc[j] += wq * v;
            }
        }
        for (index_t j = 0; j < d; ++j) add_compensated(mu_s[j], mu_e[j], acc[j]);
    }
    for (index_t j = 0; j < d; ++j) mu[j] = lanes_total<L>(mu_s[j], mu_e[j]);
}

// f = sum_q w_q ||u_q - z|| alone, as lane_sums computes it; far2 = the largest
// ||u_q - z||^2 of a row of positive weight.
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> lane_objective(const PackBuffers& b, const lanes_v<L>* z,
                                                  lanes_v<L>& far2) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const double* __restrict w = b.w;
    const lanes_v<L> zero = {};
    lanes_v<L> fs = {}, fe = {}, top = {};
    for (index_t q0 = 0; q0 < b.n; q0 += block_rows) {
        lanes_v<L> f = {};
        for (index_t q = q0; q < std::min(b.n, q0 + block_rows); ++q) {
            lanes_v<L> r[Dmax];
            const lanes_v<L> d2 = row_residuals<D, L>(b, q, z, r), wq = load_lanes<L>(w + q * L);
            f += wq * sqrt_lanes<L>(d2);
            const lanes_v<L> d2w = wq > zero ? d2 : zero;  // one select per step: see lane_far2
            top = d2w > top ? d2w : top;
        }
        add_compensated(fs, fe, f);
    }
    far2 = top;
    return lanes_total<L>(fs, fe);
}

// The largest ||u_q - z||^2 of a row of positive weight, from the last lane_sums at z.
// Selects on single comparisons: GCC 12 (trapping math) turns `(a > b) & (c > d) ? x : y`
// into a compare and a branch per lane.
template <int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> lane_far2(const PackBuffers& b) {
    const lanes_v<L> zero = {};
    lanes_v<L> top = {};
    for (index_t q = 0; q < b.n; ++q) {
        const lanes_v<L> d2 = load_lanes<L>(b.d2 + q * L), wq = load_lanes<L>(b.w + q * L);
        const lanes_v<L> d2w = wq > zero ? d2 : zero;
        top = d2w > top ? d2w : top;
    }
    return top;
}

template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_certify(const LaneSums<L>& S, index_t d_runtime,
                                          lanes_v<L> W, LaneCertificate<L>& C) {
    const index_t d = D > 0 ? D : d_runtime;
    const lanes_v<L> zero = {};
    lanes_v<L> rn2 = {}, gm = {};
    for (index_t j = 0; j < d; ++j) rn2 += S.R[j] * S.R[j];
    const lanes_v<L> rn = sqrt_lanes<L>(rn2);
    const lanes_v<L> keep = rn > S.eta ? 1.0 - S.eta / rn : zero;
    C.gnorm = rn * keep;
    for (index_t j = 0; j < d; ++j) {
        const lanes_v<L> g = keep > 0.0 ? -S.R[j] * keep : zero;
        C.g[j] = g;
        gm += g * S.M[j];
    }
    const lanes_v<L> Sv = S.f - 2.0 * S.fc;
    const lanes_v<L> slack = sum_rounding * (abs_lanes<L>(Sv) + abs_lanes<L>(gm) / W);
    C.f = S.f;
    C.lb = (Sv + gm / W - slack) / (1.0 + C.gnorm / W);
}

// H = inv I - sum_q v_q r_q r_q^T at z with v_q = t_q / d_q^2 from the last lane_sums at z;
// packed lower triangle, H[j (j + 1) / 2 + k]. Each row's v and residuals are formed once,
// then H is summed two rows of the triangle at a time over the rows q: their sums stay in
// registers, where all d (d + 1) / 2 at once (55 at 10 bands) went through memory, a load
// and a store per term. Each sum adds v_q r_qj r_qk over q in order.
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_hessian(PackBuffers& b, lanes_v<L> inv, const lanes_v<L>* z,
                                          lanes_v<L>* H) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const index_t n = b.n, d = D > 0 ? D : b.d;
    // The packed path takes d <= newton_max_d only (solver.hpp): told so, GCC no longer
    // unrolls the triangle's rows past Dmax into writes beyond H.
    if (d > Dmax) __builtin_unreachable();
    const double* __restrict u = b.u;
    const double* __restrict d2 = b.d2;
    const double* __restrict t = b.t;
    double* __restrict v = b.rows_at_z;
    double* __restrict r = v + n * L;
    const lanes_v<L> floor2 = lanes_v<L>{} + eps * eps;
    for (index_t q = 0; q < n; ++q) {
        const lanes_v<L> d2v = load_lanes<L>(d2 + q * L);
        store_lanes<L>(v + q * L, load_lanes<L>(t + q * L) / (d2v > floor2 ? d2v : floor2));
    }
    for (index_t j = 0; j < d; ++j)
        for (index_t q = 0; q < n; ++q)
            store_lanes<L>(r + (j * n + q) * L, load_lanes<L>(u + (j * n + q) * L) - z[j]);
    // Rows j and i = d - 1 - j of the triangle at once: d + 1 sums per row q, each its own
    // chain, and row i's loads serve row j. A short row alone waited on its few sums'
    // latency. (i == j: the middle row of an odd d.)
#pragma GCC unroll 16
    for (index_t j = 0; j < (d + 1) / 2; ++j) {
        const index_t i = d - 1 - j;
        lanes_v<L> acc_j[Dmax], acc_i[Dmax];
#pragma GCC unroll 16
        for (index_t k = 0; k <= i; ++k) acc_j[k] = acc_i[k] = lanes_v<L>{};
        for (index_t q = 0; q < n; ++q) {
            const lanes_v<L> vq = load_lanes<L>(v + q * L);
            const lanes_v<L> rv_j = vq * load_lanes<L>(r + (j * n + q) * L);
            const lanes_v<L> rv_i = vq * load_lanes<L>(r + (i * n + q) * L);
#pragma GCC unroll 16
            for (index_t k = 0; k <= i; ++k) {
                const lanes_v<L> rk = load_lanes<L>(r + (k * n + q) * L);
                acc_i[k] += rv_i * rk;
                if (k <= j && j < i) acc_j[k] += rv_j * rk;
            }
        }
#pragma GCC unroll 16
        for (index_t k = 0; k <= i; ++k) {
            H[i * (i + 1) / 2 + k] = (i == k ? inv : lanes_v<L>{}) - acc_i[k];
            if (k <= j && j < i) H[j * (j + 1) / 2 + k] = (j == k ? inv : lanes_v<L>{}) - acc_j[k];
        }
    }
}

// newton_direction per lane: H = L D L^T in place, then p = H^-1 g; ok is cleared in the
// lanes where a pivot is not above newton_pivot inv (or not finite).
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_newton_direction(lanes_v<L>* H, index_t d_runtime,
                                                   lanes_v<L> inv, const lanes_v<L>* g,
                                                   lanes_v<L>* p, mask_v<L>& ok) {
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const index_t d = D > 0 ? D : d_runtime;
    auto at = [](index_t j, index_t k) { return j * (j + 1) / 2 + k; };
    lanes_v<L> ld[Dmax], rdiag[Dmax];  // L_jk D_k of the current row; 1 / D_j
    for (index_t j = 0; j < d; ++j) {
        lanes_v<L> piv = H[at(j, j)];
        for (index_t k = 0; k < j; ++k) {
            ld[k] = H[at(j, k)] * H[at(k, k)];
            piv -= H[at(j, k)] * ld[k];
        }
        ok &= piv > newton_pivot * inv;
        H[at(j, j)] = piv;
        rdiag[j] = 1.0 / piv;
        for (index_t i = j + 1; i < d; ++i) {
            lanes_v<L> a = H[at(i, j)];
            for (index_t k = 0; k < j; ++k) a -= H[at(i, k)] * ld[k];
            H[at(i, j)] = a * rdiag[j];
        }
    }
    for (index_t i = 0; i < d; ++i) {  // L q = g
        lanes_v<L> a = g[i];
        for (index_t k = 0; k < i; ++k) a -= H[at(i, k)] * p[k];
        p[i] = a;
    }
    for (index_t i = d - 1; i >= 0; --i) {  // L^T p = D^-1 q
        lanes_v<L> a = p[i] * rdiag[i];
        for (index_t k = i + 1; k < d; ++k) a -= H[at(k, i)] * p[k];
        p[i] = a;
    }
}

// The coordinate-wise medians of the raw coordinates, for lane_start with unit weights:
// the value of rank (m - 1) / 2 of each column, by a sorting network on the columns
// (omitted rows as +inf, after every present one). Run before the frame: the frame's map
// (u - c) s is monotone and rounds each value alone, so the rank's value mapped is the
// mapped values' rank, bit for bit. In E = float where the points are float32 (their raw
// values are floats): the same comparisons on half the bytes, so two columns share a
// vector as wide as the lanes' (C = 2 columns per group, side by side), and a comparator
// costs half the vector operations. Every group goes through the network at once: a
// comparator's compare-exchanges are independent, where one column alone waits on its
// own stores; a row's groups lie side by side, so a comparator's are at fixed offsets
// from its two rows.
template <class E, int D, int L>
GEOMEDIAN_ALWAYS_INLINE void network_medians(PackBuffers& b, const index_t* m,
                                             lanes_v<L>* zraw) {
    constexpr index_t C = sizeof(double) / sizeof(E);
    typedef E column __attribute__((vector_size(L * sizeof(E)), aligned(sizeof(E)), may_alias));
    typedef E group
        __attribute__((vector_size(C * L * sizeof(E)), aligned(sizeof(E)), may_alias));
    const index_t n = b.n, d = D > 0 ? D : b.d, groups = (d + C - 1) / C;
    const double* __restrict u = b.u;
    const double* __restrict w = b.w;
    const lanes_v<L> zero = {}, inf = zero + HUGE_VAL;
    // b.sorted's storage (room for d x n x L doubles), as n x groups x C x L values E.
    E* v = reinterpret_cast<E*>(b.sorted);
    const auto at = [&](index_t j, index_t q) { return v + ((q * groups + j / C) * C + j % C) * L; };
    for (index_t j = 0; j < groups * C; ++j) {  // a last group's missing column: +inf
        for (index_t q = 0; q < n; ++q) {
            const lanes_v<L> x = j < d && load_lanes<L>(w + q * L) > zero
                                     ? load_lanes<L>(u + (j * n + q) * L) : inf;
            *reinterpret_cast<column*>(at(j, q)) = __builtin_convertvector(x, column);
        }
    }
    // Every lane with a full column asks for the same rank: its comparators suffice.
    bool full = true;
    for (index_t l = 0; l < L; ++l) full &= m[l] == 0 || m[l] == n || m[l] > start_median_rows;
    const std::vector<index_t>& network = full ? b.median_network : b.network;
    const index_t* net = network.data();
    const std::size_t pairs = network.size();
    for (std::size_t c = 0; c < pairs; c += 2) {
        group* pa = reinterpret_cast<group*>(at(0, net[c]));
        group* pb = reinterpret_cast<group*>(at(0, net[c + 1]));
        for (index_t g = 0; g < groups; ++g) {
            const group x = pa[g], y = pb[g];
            pa[g] = x < y ? x : y;
            pb[g] = x < y ? y : x;
        }
    }
    for (index_t j = 0; j < d; ++j) {
        for (index_t l = 0; l < L; ++l) {
            E e = 0;
            if (m[l] <= start_median_rows) std::memcpy(&e, at(j, (m[l] - 1) / 2) + l, sizeof e);
            zraw[j][l] = static_cast<double>(e);
        }
    }
}

// small_start per lane: for each j, min { u_qj : C_j(u_qj) >= W / 2 } with
// C_j(v) = sum_{r: u_rj <= v} w_r. Lanes with more than start_median_rows rows start at
// the weighted mean, z = 0. Unit weights: the value of rank (m - 1) / 2, network_medians'
// zraw in the frame (c, s); otherwise by counting, O(n^2), omitted rows repeating row 0
// with weight 0 as the small pass's padding.
// Counting, `split` is set in the lanes where the minimum for W / 2 - wtol differs from
// the one for W / 2 + wtol in some column: there robust_anchor's median (its sums rounded
// otherwise) may not be this start.
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void lane_start(PackBuffers& b, const index_t* m, lanes_v<L> W,
                                        lanes_v<L> wtol, bool unit_weights,
                                        const lanes_v<L>* zraw, const lanes_v<L>* c,
                                        lanes_v<L> s, lanes_v<L>* z, bool* split) {
    constexpr index_t Q = 4;  // counts kept in registers at once: independent chains
    const index_t n = b.n, d = D > 0 ? D : b.d;
    const double* __restrict u = b.u;
    const double* __restrict w = b.w;
    const lanes_v<L> zero = {}, inf = zero + HUGE_VAL;
    bool any = false;
    lanes_v<L> half;
    for (index_t l = 0; l < L; ++l) {
        half[l] = m[l] <= start_median_rows ? 0.5 * W[l] : HUGE_VAL;  // never reached
        any |= m[l] <= start_median_rows;
    }
    if (!any) {
        for (index_t j = 0; j < d; ++j) z[j] = zero;
    } else if (unit_weights) {
        const mask_v<L> median = half < inf;
        for (index_t j = 0; j < d; ++j) z[j] = median ? (zraw[j] - c[j]) * s : zero;
    } else {
        for (index_t j = 0; j < d; ++j) {
            const double* uj = u + j * n * L;
            lanes_v<L> best = inf, first = inf, last = inf;
            for (index_t q0 = 0; q0 < n; q0 += Q) {
                lanes_v<L> cum[Q] = {}, uq[Q];
                for (index_t i = 0; i < Q; ++i)  // a repeated row changes nothing
                    uq[i] = load_lanes<L>(uj + std::min(q0 + i, n - 1) * L);
                for (index_t rr = 0; rr < n; ++rr) {
                    const lanes_v<L> ur = load_lanes<L>(uj + rr * L), wr = load_lanes<L>(w + rr * L);
                    for (index_t i = 0; i < Q; ++i) cum[i] += ur <= uq[i] ? wr : zero;
                }
                // Selects on single comparisons: GCC 12 (trapping math) turns `a && b ? x : y`
                // on these vectors into a compare and a branch per lane.
                for (index_t i = 0; i < Q; ++i) {
                    const lanes_v<L> at = cum[i] >= half ? uq[i] : inf;
                    const lanes_v<L> at_lo = cum[i] >= half - wtol ? uq[i] : inf;
                    const lanes_v<L> at_hi = cum[i] >= half + wtol ? uq[i] : inf;
                    best = at < best ? at : best;
                    first = at_lo < first ? at_lo : first;
                    last = at_hi < last ? at_hi : last;
                }
            }
            z[j] = best == inf ? zero : best;
            for (index_t l = 0; l < L; ++l) split[l] |= first[l] != last[l];
        }
    }
}

}  // namespace

template <class T>
GEOMEDIAN_ALWAYS_INLINE void lay_out_lanes(const Problem<T>* probs, index_t count, bool omit,
                                      PackBuffers& b, index_t* m) {
    const index_t L = b.lanes, d = b.d;
    static const T zeros[newton_max_d] = {};
    index_t rows = 1;
    for (index_t l = 0; l < L; ++l) {
        m[l] = l < count ? present_rows(probs[l], omit, b.present.data() + l * b.capacity) : 0;
        rows = std::max(rows, m[l]);
    }
    b.use_rows(rows);
    for (index_t q = 0; q < rows; ++q) {
        const T* x[pack];
        double wq[pack];
        for (index_t l = 0; l < L; ++l) {
            if (m[l] == 0) {
                x[l] = zeros;
                wq[l] = 1.0;
                continue;
            }
            const Problem<T>& p = probs[l];
            const index_t i = b.present[l * b.capacity + (q < m[l] ? q : 0)];
            x[l] = p.x + i * d;
            wq[l] = q >= m[l] ? 0.0 : p.w != nullptr ? p.w[i] * p.wscale : 1.0;
        }
        for (index_t l = 0; l < L; ++l) b.w[q * L + l] = wq[l];
        for (index_t j = 0; j < d; ++j) {
            double* uq = b.u + (j * rows + q) * L;
            for (index_t l = 0; l < L; ++l) uq[l] = static_cast<double>(x[l][j]);
        }
    }
}

// Moves the lanes of `take` to the trial point zt, with its sums and certificate.
template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void take_trial(mask_v<L> take, index_t d_runtime, const lanes_v<L>* zt,
                                        const LaneSums<L>& St, const LaneCertificate<L>& Ct,
                                        lanes_v<L>* z, LaneSums<L>& S, LaneCertificate<L>& C) {
    const index_t d = D > 0 ? D : d_runtime;
    for (index_t j = 0; j < d; ++j) {
        z[j] = take ? zt[j] : z[j];
        S.R[j] = take ? St.R[j] : S.R[j];
        S.M[j] = take ? St.M[j] : S.M[j];
        C.g[j] = take ? Ct.g[j] : C.g[j];
    }
    S.f = take ? St.f : S.f;
    S.inv = take ? St.inv : S.inv;
    S.eta = take ? St.eta : S.eta;
    S.fc = take ? St.fc : S.fc;
    S.mt = take ? St.mt : S.mt;
    C.f = take ? Ct.f : C.f;
    C.lb = take ? Ct.lb : C.lb;
    C.gnorm = take ? Ct.gnorm : C.gnorm;
}

template <int D, int L>
GEOMEDIAN_ALWAYS_INLINE void packed_newton_d(PackBuffers& b, const index_t* m,
                                             const PackOptions& opt, PackOutcome& out) {
    using V = lanes_v<L>;
    using Mask = mask_v<L>;
    constexpr index_t Dmax = D > 0 ? D : newton_max_d;
    const double tol = opt.tol;
    const index_t n = b.n, d = D > 0 ? D : b.d;
    double* __restrict u = b.u;
    const double* __restrict w = b.w;
    const V zero = {};
    V c[Dmax], z[Dmax], zt[Dmax], mu[Dmax], p[Dmax], H[Dmax * (Dmax + 1) / 2];
    bool alive[L], done[L], recentre[L];
    for (index_t l = 0; l < L; ++l) {
        alive[l] = m[l] > 0;
        done[l] = false;
        recentre[l] = false;
        out.certified[l] = false;
    }

    // The frame, as make_frame with the moments of small_moments: x0 is row 0.
    V W = {}, half, s;
    for (index_t q = 0; q < n; ++q) W += load_lanes<L>(w + q * L);
    with_bands<D>(d, [&](auto k) GEOMEDIAN_ALWAYS_INLINE_LAMBDA {
        lane_moments<decltype(k)::value, L>(b, W, c, half);
    });
    Mask finite = zero == zero;
    for (index_t j = 0; j < d; ++j) finite &= abs_lanes<L>(c[j]) <= std::numeric_limits<double>::max();
    for (index_t j = 0; j < d; ++j) c[j] = finite ? c[j] : load_lanes<L>(u + j * n * L);
    for (index_t l = 0; l < L; ++l) {
        alive[l] = alive[l] && W[l] > 0;
        const int e = binary_exponent(half[l]);
        s[l] = half[l] > 0 ? scaled_by(1.0, std::clamp(-(e + 1), -1022, 1022)) : 1.0;
    }
    V zraw[Dmax];
    bool any_median = false;
    for (index_t l = 0; l < L; ++l) any_median |= m[l] <= start_median_rows;
    if (opt.unit_weights && any_median) {
        // d known for the 9-12 bands of a multispectral pixel, as with_bands: each
        // comparator's groups at fixed offsets.
        if constexpr (D > 0) {
            if (opt.to_float)
                network_medians<float, D, L>(b, m, zraw);
            else
                network_medians<double, D, L>(b, m, zraw);
        } else {
            switch (d * 2 + (opt.to_float ? 1 : 0)) {
                case 19: network_medians<float, 9, L>(b, m, zraw); break;
                case 21: network_medians<float, 10, L>(b, m, zraw); break;
                case 23: network_medians<float, 11, L>(b, m, zraw); break;
                case 25: network_medians<float, 12, L>(b, m, zraw); break;
                default:
                    if (opt.to_float)
                        network_medians<float, 0, L>(b, m, zraw);
                    else
                        network_medians<double, 0, L>(b, m, zraw);
            }
        }
    }
    with_bands<D>(d, [&](auto k) GEOMEDIAN_ALWAYS_INLINE_LAMBDA {
        lane_load<decltype(k)::value, L>(b, c, s, mu);
    });
    const auto sums_at = [&](const V* at, LaneSums<L>& sums) GEOMEDIAN_ALWAYS_INLINE_LAMBDA {
        with_bands<D>(d, [&](auto k) GEOMEDIAN_ALWAYS_INLINE_LAMBDA {
            lane_sums<decltype(k)::value, L>(b, mu, W, at, sums);
        });
    };

    // The rounding of weighted sums of n terms that robust_anchor's choices may differ by
    // (its quickselect's partial sums and their differences, at most n rounds): none with
    // unit weights, whose sums are exact.
    const double wtol_per_w = static_cast<double>((n + 2) * (n + 2)) * 0x1p-50;
    const V wtol = opt.unit_weights ? zero : W * wtol_per_w;
    bool split[L] = {};
    lane_start<D, L>(b, m, W, wtol, opt.unit_weights, zraw, c, s, z, split);
    LaneSums<L> S, St;
    LaneCertificate<L> C, Ct;
    sums_at(z, S);
    std::memcpy(b.sorted, b.d2, sizeof(double) * n * L);  // ||u - m||^2 where the start is m
    lane_certify<D, L>(S, d, W, C);
    V lb = C.lb;
    for (index_t l = 0; l < L; ++l) {
        out.n_iter[l] = 0;
        out.n_passes[l] = 2;  // moments, start
    }
    // One Weiszfeld step z + R / inv before Newton's (the sums at the start hold R and
    // inv): from the coordinate-wise median some lanes of a pack take three Newton steps
    // where most take two, and the pack runs as long as its slowest lane; the step brings
    // the slowest in, for one pass and no Hessian. It descends (a lane where it does not,
    // in rounding, is given back, since the buffers then hold the pass at zt), and its
    // bound counts as the trial points' do. Only lanes that would step: not certified,
    // not near a data point.
    {
        bool weiszfeld[L], any = false;
        for (index_t l = 0; l < L; ++l) {
            weiszfeld[l] = alive[l] && relative_gap(C.f[l], lb[l]) > tol && S.eta[l] == 0 &&
                           S.mt[l] <= 0.5 * S.inv[l];
            any |= weiszfeld[l];
        }
        if (any) {
            const Mask wm = mask_of<L>(weiszfeld);
            for (index_t j = 0; j < d; ++j) zt[j] = wm ? z[j] + S.R[j] / S.inv : z[j];
            sums_at(zt, St);
            lane_certify<D, L>(St, d, W, Ct);
            bool took[L];
            for (index_t l = 0; l < L; ++l) {
                took[l] = weiszfeld[l] && Ct.f[l] <= C.f[l];
                if (!weiszfeld[l]) continue;
                lb[l] = std::max(lb[l], Ct.lb[l]);
                ++out.n_passes[l];
                alive[l] = took[l];
            }
            take_trial<D, L>(mask_of<L>(took), d, zt, St, Ct, z, S, C);
        }
    }
    const index_t iter_cap = std::min(opt.max_iter, packed_max_iter);
    const double reach_d = 2.0 * std::sqrt(static_cast<double>(d));
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

        with_bands<D>(d, [&](auto k) GEOMEDIAN_ALWAYS_INLINE_LAMBDA {
            lane_hessian<decltype(k)::value, L>(b, S.inv, z, H);
        });
        const Mask act = mask_of<L>(active);
        Mask ok = act;
        lane_newton_direction<D, L>(H, d, S.inv, C.g, p, ok);
        // newton_propose: the step must descend and stay within reach of the data.
        V pn2 = {}, zn2 = {}, gp = {};
        Mask moved = {};
        for (index_t j = 0; j < d; ++j) {
            pn2 += p[j] * p[j];
            zn2 += z[j] * z[j];
            gp += C.g[j] * p[j];
            zt[j] = act ? z[j] - p[j] : z[j];
            moved |= zt[j] != z[j];
        }
        const V reach = sqrt_lanes<L>(zn2) + reach_d;
        const Mask step_ok = ok & (gp > zero) & (pn2 <= reach * reach) & moved;
        any = false;
        for (index_t l = 0; l < L; ++l) {
            if (active[l] && !step_ok[l]) {
                alive[l] = false;
                active[l] = false;
            }
            any |= active[l];
        }
        if (!any) break;

        sums_at(zt, St);
        lane_certify<D, L>(St, d, W, Ct);
        V step2 = {}, ztn2 = {};
        for (index_t j = 0; j < d; ++j) {
            step2 += (zt[j] - z[j]) * (zt[j] - z[j]);
            ztn2 += zt[j] * zt[j];
        }
        for (index_t l = 0; l < L; ++l) {
            if (!active[l]) continue;
            lb[l] = std::max(lb[l], Ct.lb[l]);
            if (!newton_accept(C.f[l], Ct.f[l], gp[l])) {
                alive[l] = false;  // the general driver's gradient step takes over
                continue;
            }
            recentre[l] = step2[l] < 0x1p-80 * ztn2[l];  // unless certified now, given back
            ++out.n_iter[l];
            ++out.n_passes[l];
        }
        // Lanes that stepped take the trial point's sums; the others are finished with.
        bool stepped[L];
        for (index_t l = 0; l < L; ++l) stepped[l] = active[l] && alive[l];
        take_trial<D, L>(mask_of<L>(stepped), d, zt, St, Ct, z, S, C);
    }

    // The answer in the caller's coordinates and dtype; where rounding moved it, the
    // rounded point itself is certified (solve_problem's last step).
    V moved2 = {};
    for (index_t j = 0; j < d; ++j) {
        V y = c[j] + z[j] / s;
        if (opt.to_float) y = round_to_float<L>(y);
        store_lanes<L>(out.median + j * L, y);
        zt[j] = (y - c[j]) * s;
        moved2 += (zt[j] - z[j]) * (zt[j] - z[j]);
    }
    const V moved_by = sqrt_lanes<L>(moved2);
    bool recheck = false, moved[L];
    for (index_t l = 0; l < L; ++l) {
        moved[l] = done[l] && moved_by[l] > eps;
        recheck |= moved[l];
    }
    // The largest squared distance of a weighted row from the point certified: the iterate,
    // or the rounded answer where rounding moved it.
    V far2 = lane_far2<L>(b);
    if (recheck) {
        // The bound holds wherever it was found: only f at the rounded point is new.
        V far2_rounded;
        const V f_rounded = lane_objective<D, L>(b, zt, far2_rounded);
        for (index_t l = 0; l < L; ++l) {
            if (!moved[l]) continue;
            C.f[l] = f_rounded[l];
            far2[l] = far2_rounded[l];
            ++out.n_passes[l];
            done[l] = relative_gap(C.f[l], lb[l]) <= tol;
        }
    }
    // The near radius R = near_factor rho (packed_newton.hpp): a lane is certified only
    // where far2 <= (R s)^2, i.e. rho >= tau / s with tau = sqrt(far2) / near_factor; and
    // rho >= tau / s exactly when the rows closer than tau / s to m weigh less than W / 2 (rho
    // is the weighted lower median of those distances), robust_anchor's rounding aside:
    // weight below need_lo = W / 2 - wtol settles it. Such a rho is at most 2^7 / s, so
    // s >= 2^-990 keeps R finite.
    const V tau = sqrt_lanes<L>(far2) * (1.0 / near_factor);
    const V need_lo = 0.5 * W - wtol, need_hi = 0.5 * W + wtol;
    // Where the start is m (and not split): the weight `upto` of the rows up to
    // tau + near_margin from it, on ||u - m||^2 of the first pass. Below need_lo it proves
    // rho >= tau / s; only a row within near_margin of tau can make that differ from the
    // exact count, and then the lane is given back.
    V upto = {};
    {
        const V hi = tau + near_margin, hi2 = hi * hi;
        for (index_t q = 0; q < n; ++q) {
            const V e2 = load_lanes<L>(b.sorted + q * L), wq = load_lanes<L>(w + q * L);
            upto += e2 <= hi2 ? wq : zero;
        }
    }
    // Where the start is the mean (m > start_median_rows rows), m is not at hand: a
    // sufficient test at the iterate z instead. With r = (W / 2) / inv / sqrt(d) (inv <=
    // W / (2 rho_z) bounds the median distance rho_z from z below), fewer than W / 2 below
    // z_j - r and at least W / 2 up to z_j + r put m_j within r of z_j, so ||m - z|| <= delta
    // = r sqrt(d); then a row within tau of m lies within tau + delta of z, and fewer than
    // W / 2 of those prove rho >= tau / s. Failing it, the lane is given back.
    V lowmax = {}, highmin = zero + HUGE_VAL, within = zero + HUGE_VAL;
    bool any_mean = false;
    for (index_t l = 0; l < L; ++l) any_mean |= m[l] > start_median_rows;
    if (any_mean) {
        const V r = 0.5 * W / S.inv * (1.0 / std::sqrt(static_cast<double>(d)));
        for (index_t j = 0; j < d; ++j) {
            const V below_z = z[j] - r + near_margin, above_z = z[j] + r - near_margin;
            V lowc = {}, highc = {};
            for (index_t q = 0; q < n; ++q) {
                const V uq = load_lanes<L>(u + (j * n + q) * L), wq = load_lanes<L>(w + q * L);
                lowc += uq < below_z ? wq : zero;
                highc += uq <= above_z ? wq : zero;
            }
            lowmax = lowc > lowmax ? lowc : lowmax;
            highmin = highc < highmin ? highc : highmin;
        }
        const double grow = std::sqrt(static_cast<double>(d)) * (1.0 + 0x1p-40);
        const V reach = tau + r * grow + near_margin;
        const V reach2 = reach * reach;
        within = zero;
        for (index_t q = 0; q < n; ++q) {
            const V d2v = load_lanes<L>(b.d2 + q * L), wq = load_lanes<L>(w + q * L);
            within += d2v < reach2 ? wq : zero;
        }
    }
    for (index_t l = 0; l < L; ++l) {
        bool near = far2[l] > 0 && s[l] >= 0x1p-990;
        if (m[l] <= start_median_rows)
            near = near && !split[l] && upto[l] < need_lo[l];
        else
            near = near && lowmax[l] < need_lo[l] && highmin[l] >= need_hi[l] &&
                   within[l] < need_lo[l];
        out.certified[l] = alive[l] && done[l] && near;
        out.f[l] = C.f[l];
        out.lb[l] = lb[l];
        out.s[l] = s[l];
        out.W[l] = W[l];
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

GEOMEDIAN_CLONES void pack_lanes(const Problem<float>* probs, index_t count, bool omit,
                                  PackBuffers& b, index_t* m) {
    lay_out_lanes(probs, count, omit, b, m);
}

GEOMEDIAN_CLONES void pack_lanes(const Problem<double>* probs, index_t count, bool omit,
                                  PackBuffers& b, index_t* m) {
    lay_out_lanes(probs, count, omit, b, m);
}

template <int L>
GEOMEDIAN_ALWAYS_INLINE void packed_mads_l(PackBuffers& b, const PackOutcome& out,
                                           PackMads& mads) {
    using V = lanes_v<L>;
    const index_t n = b.n, d = b.d;
    const double* __restrict x = b.raw.data();
    const double* __restrict w = b.w;
    b.terms.resize(static_cast<std::size_t>(3 * n * L));
    double* __restrict t = b.terms.data();  // 3 x n x L: the terms, then sorted
    const V zero = {}, inf = zero + HUGE_VAL;
    V mm = {};
    mask_v<L> finite = zero == zero;
    for (index_t j = 0; j < d; ++j) {
        const V mj = load_lanes<L>(out.median + j * L);
        mm += mj * mj;
        finite &= abs_lanes<L>(mj) <= std::numeric_limits<double>::max();
    }
    const V norm_m = sqrt_lanes<L>(mm);
    V count = {};
    for (index_t q = 0; q < n; ++q) {
        V dd = {}, xx = {}, xm = {}, dif = {}, sum = {};
        for (index_t j = 0; j < d; ++j) {
            const V xj = load_lanes<L>(x + (j * n + q) * L), mj = load_lanes<L>(out.median + j * L);
            const V r = xj - mj;
            dd += r * r;
            xx += xj * xj;
            xm += xj * mj;
            dif += abs_lanes<L>(r);
            sum += abs_lanes<L>(xj + mj);
        }
        const V den = sqrt_lanes<L>(xx) * norm_m;
        const V one = zero + 1.0;
        // ratio_or_zero: a zero denominator counts as 0 (no division by it).
        const V sp = one - (den == zero ? zero : xm / (den == zero ? one : den));
        const V bc = sum == zero ? zero : dif / (sum == zero ? one : sum);
        const mask_v<L> valid = load_lanes<L>(w + q * L) > zero;
        count += valid ? one : zero;  // weights of padding rows are 0
        store_lanes<L>(t + q * L, valid ? sqrt_lanes<L>(dd) : inf);
        store_lanes<L>(t + (n + q) * L, valid ? sp : inf);
        store_lanes<L>(t + (2 * n + q) * L, valid ? bc : inf);
    }
    if (b.mad_networks.size() < static_cast<std::size_t>(n + 1)) b.mad_networks.resize(n + 1);
    std::vector<index_t>& net = b.mad_networks[n];
    if (net.empty() && n > 1) net = sorting_network(n);
    for (std::size_t c = 0; c < net.size(); c += 2) {
        for (index_t a = 0; a < 3; ++a) {
            double* pa = t + (a * n + net[c]) * L;
            double* pb = t + (a * n + net[c + 1]) * L;
            const V u = load_lanes<L>(pa), v = load_lanes<L>(pb);
            store_lanes<L>(pa, u < v ? u : v);
            store_lanes<L>(pb, u < v ? v : u);
        }
    }
    for (index_t l = 0; l < L; ++l) {
        const index_t c = static_cast<index_t>(count[l]), h = c / 2;
        mads.count[l] = c;
        double* m3[3] = {&mads.emad[l], &mads.smad[l], &mads.bcmad[l]};
        for (index_t a = 0; a < 3; ++a) {
            const double* ta = t + a * n * L + l;
            *m3[a] = c == 0 || !finite[l] ? NAN
                     : c % 2 == 1        ? ta[h * L]
                                         : 0.5 * (ta[(h - 1) * L] + ta[h * L]);
        }
    }
}

GEOMEDIAN_CLONES void packed_mads(PackBuffers& b, const PackOutcome& out, PackMads& mads) {
    if (b.lanes == 1)
        packed_mads_l<1>(b, out, mads);
    else
        packed_mads_l<pack>(b, out, mads);
}

GEOMEDIAN_CLONES void packed_newton(PackBuffers& b, const index_t* m, const PackOptions& opt,
                                    PackOutcome& out) {
    if (b.lanes == 1)
        packed_newton_l<1>(b, m, opt, out);
    else
        packed_newton_l<pack>(b, m, opt, out);
}

}  // namespace geomedian
