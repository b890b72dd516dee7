// Averaged stochastic gradient for the geometric median (Cardot, Cenac and Zitt, 2013:
// "Efficient and fast estimation of the geometric median in Hilbert spaces with an
// averaged stochastic gradient algorithm", Bernoulli 19(1)), with minibatches.
//
// In the frame z = (x - c) s of the other kernels, for minibatch k of rows B_k:
//
//   G_k     = norm * sum_{i in B_k} w_i (z_i - m) / ||z_i - m||     (0 for a point on m)
//   m      <- m + gamma_t G_k,           gamma_t = gamma0 / t^alpha,  t = 1, 2, ...
//   mbar   <- mbar + (m - mbar) / t                     (Polyak-Ruppert average of m)
//
// -G_k / norm is the gradient of the minibatch's part of f, so with `norm` chosen by the
// caller to make E[G_k] = -grad f / W (the minibatches are blocks of `batch` consecutive
// rows, visited in the order `blocks` gives; norm = n_blocks / W), m is a Robbins-Monro
// iteration for grad f = 0 and mbar converges at the optimal rate for alpha in (1/2, 1).
// The iteration is sequential: one thread, rows read in blocks (a pass in random block
// order reads the data once, in runs of `batch` rows).
//
// A row whose squared distance overflows the frame (far beyond the frame's sample) still
// adds w_i times its unit vector, computed in the points' units; clean data never takes
// that branch, so its bits are unchanged.
//
// `state` is [t, m (d), mbar (d)] and is updated in place, so calls continue one run.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "prefetch.hpp"
#include "types.hpp"

namespace geomedian {

constexpr index_t prefetch_ahead = 4;

template <class T>
void sgd_run(const Problem<T>& p, const std::int64_t* blocks, index_t n_blocks, index_t batch,
             double norm, const double* c, double s, double gamma0, double alpha, double eps,
             double* state) {
    const index_t d = p.d;
    double* m = state + 1;
    double* mbar = state + 1 + d;
    std::vector<double> G(d), r(d);
    double t = state[0];
    for (index_t k = 0; k < n_blocks; ++k) {
        const index_t lo = blocks[k] * batch, hi = std::min(p.n, lo + batch);
        // Blocks come in a random order, so the hardware cannot guess the next one: ask
        // for it a few steps ahead. Values are unchanged; the Numba mirror has no prefetch.
        if (k + prefetch_ahead < n_blocks) {
            const index_t a = blocks[k + prefetch_ahead] * batch;
            prefetch_span(p.x + a * d,
                          static_cast<std::size_t>((std::min(p.n, a + batch) - a) * d) * sizeof(T));
        }
        std::fill(G.begin(), G.end(), 0.0);
        for (index_t i = lo; i < hi; ++i) {
            const T* xi = p.x + i * d;
            double d2 = 0;
            for (index_t j = 0; j < d; ++j) {
                r[j] = (static_cast<double>(xi[j]) - c[j]) * s - m[j];
                d2 += r[j] * r[j];
            }
            double dist = std::sqrt(d2);
            if (std::isinf(d2)) {
                // A row so far that its squared distance overflows (a far point the frame's
                // sample did not see): its term is still w_i times the unit vector towards
                // it, formed from halved differences in the points' units (no overflow).
                double big = 0;
                for (index_t j = 0; j < d; ++j) {
                    r[j] = (0.5 * static_cast<double>(xi[j]) - 0.5 * c[j]) - 0.5 * (m[j] / s);
                    big = std::max(big, std::fabs(r[j]));
                }
                double q = 0;
                for (index_t j = 0; j < d; ++j) {
                    r[j] /= big;
                    q += r[j] * r[j];
                }
                dist = std::sqrt(q);
            }
            if (dist <= eps) continue;  // a point on m: its subgradient term may be 0
            const double wi = p.w != nullptr ? p.w[i] * p.wscale : 1.0;
            const double a = wi / dist;
            for (index_t j = 0; j < d; ++j) G[j] += a * r[j];
        }
        t += 1.0;
        const double gamma = gamma0 / std::pow(t, alpha);
        for (index_t j = 0; j < d; ++j) {
            m[j] += gamma * norm * G[j];
            mbar[j] += (m[j] - mbar[j]) / t;
        }
    }
    state[0] = t;
}

}  // namespace geomedian
