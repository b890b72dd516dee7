// Gradient descent with a Barzilai-Borwein trial step and Armijo backtracking.
//
// A fixed learning rate does not converge on f (its gradient has norm ~W far from the
// data and is discontinuous at data points), so the step length comes from the data:
//
//   trial    t = max(t_BB, t_safe),  t_BB = (s . s) / (s . q),  s = z_k - z_{k-1},
//                                                               q = g_k - g_{k-1}
//            (t_BB only where s . q exceeds what the rounding of g's terms can make of
//            it, 2 (d + 8) u W ||s||, u = 2^-53, (d + 8) u w_i for each term at each end
//            (certificate.hpp): far from every point all directions agree to the last
//            bits, q is that rounding alone, and its quotient asked for the longest step
//            allowed, which the Armijo test then cut back by fours to t_safe, a pass each)
//   accept   f(z - t g) <= f(z) - c t ||g||^2 + 8 eps_mach f(z)     (c = 1e-4)
//   else     t <- max(t / 4, t_safe) and retry.
//
// t_safe = 1 / inv is the Weiszfeld (majorize-minimize) step, which decreases f by at
// least ||g||^2 / (2 inv) and, with g the minimum-norm subgradient, equals the
// Vardi-Zhang step at a data point; a trial at t_safe is therefore always accepted.
// The 8 eps_mach f allowance: near the optimum the decrease c t ||g||^2 is far below the
// rounding of f itself, and comparing rounding noise would stall the descent.
// A trial never goes further than ||z|| + 2 sqrt(d) (in the frame every point lies within
// sqrt(d) of the origin, so such a step overshoots the data's hull): a Barzilai-Borwein
// quotient over a tiny q can ask for 1e17, which wastes a pass on a point where even the
// certificate has no digits left.
#pragma once

#include <cmath>
#include <limits>

#include "fused_pass.hpp"

namespace geomedian {

struct GdState {
    double* z_prev;  // previous accepted iterate and its gradient (d entries each)
    double* g_prev;
    bool has_prev = false;
    double t = 0;      // length of the pending trial
    double t_safe = 0;
};

// Proposes z_next = z - t g. `retry` is true after the previous trial was rejected; W, the
// total weight, scales the rounding of g.
inline bool gd_propose(GdState& st, const double* sums, index_t d, double W, const double* z,
                       const double* g, bool retry, double* z_next) {
    const double inv = sums[slot::inv];
    if (!(inv > 0)) return false;
    st.t_safe = 1.0 / inv;
    if (retry) {
        st.t = st.t / 4 > st.t_safe ? st.t / 4 : st.t_safe;
    } else {
        st.t = st.t_safe;
        if (st.has_prev) {
            double ss = 0, sq = 0;
            for (index_t j = 0; j < d; ++j) {
                const double s = z[j] - st.z_prev[j];
                ss += s * s;
                sq += s * (g[j] - st.g_prev[j]);
            }
            const double noise = 2.0 * static_cast<double>(d + 8) * 0x1p-53 * W * std::sqrt(ss);
            if (sq > noise && ss / sq > st.t) st.t = ss / sq;
        }
    }
    double zn2 = 0, gn2 = 0;
    for (index_t j = 0; j < d; ++j) {
        zn2 += z[j] * z[j];
        gn2 += g[j] * g[j];
    }
    const double reach = std::sqrt(zn2) + 2.0 * std::sqrt(static_cast<double>(d));
    if (gn2 > 0) {
        const double t_max = reach / std::sqrt(gn2);
        if (st.t > t_max) st.t = t_max > st.t_safe ? t_max : st.t_safe;
    }
    bool moved = false;
    for (index_t j = 0; j < d; ++j) {
        z_next[j] = z[j] - st.t * g[j];
        moved |= z_next[j] != z[j];
    }
    return moved;
}

// Armijo test for the pending trial, with an allowance for the rounding of f.
inline bool gd_accept(const GdState& st, double f, double f_trial, double gnorm) {
    if (st.t <= st.t_safe) return true;  // majorize-minimize: f cannot rise but by rounding
    const double noise = f_noise * f;
    return f_trial <= f - armijo_c * st.t * gnorm * gnorm + noise;
}

// Remembers the accepted iterate (before it is replaced) for the next Barzilai-Borwein step.
inline void gd_remember(GdState& st, index_t d, const double* z, const double* g) {
    for (index_t j = 0; j < d; ++j) {
        st.z_prev[j] = z[j];
        st.g_prev[j] = g[j];
    }
    st.has_prev = true;
}

}  // namespace geomedian
