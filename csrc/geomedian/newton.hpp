// Newton steps for small problems (method "newton", which "auto" picks).
//
// Away from the data points f is smooth with Hessian
//
//   H(z) = sum_i w_i (I - u_i u_i^T) / d_i,   u_i = (z - x_i) / d_i,
//
// positive definite unless the points are collinear. The step solves H p = g (g the
// gradient) and tries z - p; near the optimum it converges quadratically, where the
// Barzilai-Borwein steps of gradient_descent.hpp converge linearly: on 20 points in 6
// bands, about 5 passes instead of 12 to a certified gap of 1e-10. It is only tried
//
//   - where the pass can form H (the small-problem pass, d <= newton_max_d),
//   - when no point sits on the iterate (eta = 0: f is not smooth there),
//   - when the Cholesky factorisation of H finds every pivot above newton_pivot * inv
//     (an ill-conditioned H, as on nearly collinear data, asks for steps along directions
//     where f is nearly flat, and gives nothing to trust),
//   - when the step stays within reach of the data (as gradient descent's cap),
//
// and accepted by the Armijo test on the Newton decrement,
//
//   f(z - p) <= f(z) - c g . p + 8 eps_mach f(z)     (c = armijo_c, g . p = g^T H^-1 g > 0).
//
// Otherwise (or when rejected, then backing off for 1, 2, 4, ... iterations) the driver
// takes the gradient-descent step, so Newton never costs convergence, at most a pass.
#pragma once

#include <cmath>
#include <limits>

#include "gradient_descent.hpp"
#include "small_pass.hpp"  // newton_max_d: the passes that form H

namespace geomedian {

// Solves H p = g by the factorisation H = L D L^T (L unit lower triangular, packed in place
// of H's lower triangle; no square roots, one division per pivot). False when a pivot is not
// above newton_pivot * inv (or not finite). D > 0: the dimension known at compile time.
template <int D>
inline bool newton_direction_d(double* H, index_t d_runtime, double inv, const double* g,
                               double* p) {
    const index_t d = D > 0 ? D : d_runtime;
    auto at = [](index_t j, index_t k) { return j * (j + 1) / 2 + k; };
    double ld[newton_max_d], rdiag[newton_max_d];  // L_jk D_k of the current row; 1 / D_j
    for (index_t j = 0; j < d; ++j) {
        double piv = H[at(j, j)];
        for (index_t k = 0; k < j; ++k) {
            ld[k] = H[at(j, k)] * H[at(k, k)];
            piv -= H[at(j, k)] * ld[k];
        }
        if (!(piv > newton_pivot * inv)) return false;  // also NaN
        H[at(j, j)] = piv;
        rdiag[j] = 1.0 / piv;
        for (index_t i = j + 1; i < d; ++i) {
            double a = H[at(i, j)];
            for (index_t k = 0; k < j; ++k) a -= H[at(i, k)] * ld[k];
            H[at(i, j)] = a * rdiag[j];
        }
    }
    for (index_t i = 0; i < d; ++i) {  // L q = g
        double a = g[i];
        for (index_t k = 0; k < i; ++k) a -= H[at(i, k)] * p[k];
        p[i] = a;
    }
    for (index_t i = d - 1; i >= 0; --i) {  // L^T p = D^-1 q
        double a = p[i] * rdiag[i];
        for (index_t k = i + 1; k < d; ++k) a -= H[at(k, i)] * p[k];
        p[i] = a;
    }
    return true;
}

// With d known, the short loops of the factorisation unroll and their index arithmetic
// folds away: a quarter of a pixel problem's time (20 x 6) went to this scalar code.
inline bool newton_direction(double* H, index_t d, double inv, const double* g, double* p) {
    switch (d) {
        case 1: return newton_direction_d<1>(H, d, inv, g, p);
        case 2: return newton_direction_d<2>(H, d, inv, g, p);
        case 3: return newton_direction_d<3>(H, d, inv, g, p);
        case 4: return newton_direction_d<4>(H, d, inv, g, p);
        case 5: return newton_direction_d<5>(H, d, inv, g, p);
        case 6: return newton_direction_d<6>(H, d, inv, g, p);
        case 7: return newton_direction_d<7>(H, d, inv, g, p);
        case 8: return newton_direction_d<8>(H, d, inv, g, p);
        case 10: return newton_direction_d<10>(H, d, inv, g, p);
        default: return newton_direction_d<0>(H, d, inv, g, p);
    }
}

// Proposes z_next = z - p from the factorisable H; stores the decrement g . p for the test.
inline bool newton_propose(double* H, index_t d, double inv, const double* z, const double* g,
                           double* p, double* decrement, double* z_next) {
    if (!newton_direction(H, d, inv, g, p)) return false;
    double pn2 = 0, zn2 = 0, gp = 0;
    for (index_t j = 0; j < d; ++j) {
        pn2 += p[j] * p[j];
        zn2 += z[j] * z[j];
        gp += g[j] * p[j];
    }
    const double reach = std::sqrt(zn2) + 2.0 * std::sqrt(static_cast<double>(d));
    if (!(gp > 0) || !(pn2 <= reach * reach)) return false;
    bool moved = false;
    for (index_t j = 0; j < d; ++j) {
        z_next[j] = z[j] - p[j];
        moved |= z_next[j] != z[j];
    }
    *decrement = gp;
    return moved;
}

inline bool newton_accept(double f, double f_trial, double decrement) {
    const double noise = f_noise * f;
    return f_trial <= f - armijo_c * decrement + noise;
}

}  // namespace geomedian
