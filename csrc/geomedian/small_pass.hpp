// The pass for small problems (n * d <= small_problem_size): a satellite pixel's 20-100
// observations in 4-10 bands, a k-median cluster of a few hundred points.
//
// Such a problem is solved in ~10 passes of a few hundred coordinates each, so what costs
// is not memory traffic but per-pass overhead and a row loop that cannot vectorise along
// a short row (d = 6). This pass therefore copies the problem once, after the moments
// pass has fixed the frame, into a per-thread buffer in scaled frame coordinates,
// column by column:
//
//   u[j][q] = (x_{i_q j} - c_j) s,   w[q] = w_{i_q} wscale,   q = 0 .. m-1, padded to a
//   multiple of `lanes` with u = 0, w = 0 (a padded row adds exactly 0 to every sum),
//
// and every iteration pass reads u with the rows in the SIMD lanes, computing the sums
// documented in fused_pass.hpp. u holds the very values the row passes form, (x - c) s.
// The two shapes differ in the order of their additions, and in M: since
// M = sum_i w_i (u_i - z) = mu - W z with mu = sum_i w_i u_i fixed per problem, M costs
// O(d) per pass here instead of a second sweep over the rows.
//
// Missing data (Options::omit_nan): the rows i_q are the rows without a NaN coordinate;
// a row with one is absent from every sum (the moments, the iteration sums, eta and
// f_coinc, the nearest-point search), not multiplied by a zero weight, since
// 0 * NaN = NaN. inf is never omitted: it counts as non-finite, so the caller raises.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "fused_pass.hpp"

namespace geomedian {

// small_problem_size (contract.hpp) bounds the problems that take this path, `lanes` the
// rows per SIMD block.
inline index_t padded_rows(index_t m) { return (m + lanes - 1) / lanes * lanes; }

// Per-thread storage for the copy, sized for the batch's n and d, reused across problems.
// Column j of u starts at j * stride; a problem uses its first padded_rows(m) entries.
struct SmallBuffers {
    index_t stride;
    std::vector<double> u, w, t, mu;  // d x stride; stride; stride; d
    std::vector<index_t> idx;         // the present rows' indices in the problem
    SmallBuffers(index_t n, index_t d)
        : stride(padded_rows(n)), u(d * stride), w(stride), t(stride), mu(d), idx(n) {}
};

// The lane loops, cloned per ISA in small_pass.cpp; npad = padded_rows(m) columns are read.
// small_moments: the moments of fused_pass.hpp over raw coordinates u (column 0 is the
// reference row x0), padding included (a padded row repeats x0 with weight 0).
void small_moments(const double* u, const double* w, index_t stride, index_t npad, double big,
                   index_t d, double* out);
// small_load: u <- (u - c) s in place, and mu = sum_q w_q u_q (for M, see small_sums).
void small_load(double* u, const double* w, index_t stride, index_t npad, index_t d,
                const double* c, double s, double* mu);
// small_sums: the iteration sums of fused_pass.hpp at z; `t` is npad doubles of scratch.
void small_sums(const double* u, const double* w, const double* mu, double W, index_t stride,
                index_t npad, index_t d, const double* z, double eps, double near, double* t,
                double* out);
// small_start: the coordinate-wise weighted lower median of the m present rows, in the
// frame: for each j, min { u_qj : C_j(u_qj) >= W / 2 } with C_j(v) = sum_{r: u_rj <= v} w_r
// (unit weights: the element of rank (m - 1) / 2). A robust start: from the weighted mean,
// a fifth of far-off points (clouds) cost gradient descent half again as many passes.
// Computed by counting, O(m^2 d) without branches, so only for m <= start_median_rows;
// larger problems start at the weighted mean (z = 0). `cum` is npad doubles of scratch.
void small_start(const double* u, const double* w, double W, index_t stride, index_t m,
                 index_t npad, index_t d, double* cum, double* z);
// small_hessian: the Hessian of f at z, packed lower triangle (H[j (j + 1) / 2 + k], k <= j),
//
//   H = inv I - sum_{d_q > eps} v_q r_q r_q^T,   r_q = u_q - z,  v_q = w_q / d_q^3,
//
// (the second derivative of w ||r|| is w (I - r r^T / ||r||^2) / ||r||). inv is the Weiszfeld
// denominator of small_sums at the same z; d <= newton_max_d. `v` is npad doubles of scratch.
void small_hessian(const double* u, const double* w, double inv, index_t stride, index_t npad,
                   index_t d, const double* z, double eps, double* v, double* H);
// small_nearest: the present row q < m nearest to z (same squared distances as nearest_row).
index_t small_nearest(const double* u, const double* w, index_t stride, index_t m, index_t d,
                      const double* z);

template <class T>
bool row_has_nan(const T* xi, index_t d) {
    bool nan = false;
    for (index_t j = 0; j < d; ++j) nan |= std::isnan(xi[j]);
    return nan;
}

template <class T>
struct SmallPass {
    const Problem<T>& p;
    bool omit;
    SmallBuffers& b;
    index_t m = 0;     // rows present
    index_t npad = 0;  // m rounded up to whole lanes
    double W = 0;      // their total weight (scaled)

    // The reference row x0 of the moments pass: the first present row, nullptr if none.
    const T* first_row() const {
        for (index_t i = 0; i < p.n; ++i)
            if (!omit || !row_has_nan(p.x + i * p.d, p.d)) return p.x + i * p.d;
        return nullptr;
    }

    // Copies the present rows, transposed, then takes their moments in the lanes. x0 is
    // the first present row, so it lands in column 0.
    void moments(const T* x0, double* out) {
        const index_t d = p.d, stride = b.stride;
        double inf_in_omitted = 0;
        m = 0;
        for (index_t i = 0; i < p.n; ++i) {
            const T* xi = p.x + i * d;
            if (omit && row_has_nan(xi, d)) {
                for (index_t j = 0; j < d; ++j) inf_in_omitted += std::isinf(xi[j]) ? 1.0 : 0.0;
                continue;
            }
            b.idx[m] = i;
            b.w[m] = p.w != nullptr ? p.w[i] * p.wscale : 1.0;
            for (index_t j = 0; j < d; ++j) b.u[j * stride + m] = static_cast<double>(xi[j]);
            ++m;
        }
        npad = padded_rows(m);
        for (index_t q = m; q < npad; ++q) {
            b.w[q] = 0.0;
            for (index_t j = 0; j < d; ++j) b.u[j * stride + q] = static_cast<double>(x0[j]);
        }
        small_moments(b.u.data(), b.w.data(), stride, npad, std::numeric_limits<T>::max(), d,
                      out);
        out[moment::nonfinite] += inf_in_omitted;  // inf is an error even in an omitted row
        W = out[moment::weight];
    }

    // A new centre (the solver recentres on its iterate): the copy is taken again from the
    // caller's rows, so that u is (x - c) s for this c, rounded once.
    void reload(const double* c, double s) {
        const index_t d = p.d, stride = b.stride;
        for (index_t q = 0; q < npad; ++q) {
            const T* xi = p.x + b.idx[q < m ? q : 0] * d;
            for (index_t j = 0; j < d; ++j) b.u[j * stride + q] = static_cast<double>(xi[j]);
        }
        load(c, s);
    }

    // Moves the copy into frame coordinates; every later Frame must use this c and s.
    void load(const double* c, double s) {
        small_load(b.u.data(), b.w.data(), b.stride, npad, p.d, c, s, b.mu.data());
    }

    // The start point in the frame (used when the caller gives none).
    void start(double* z) {
        small_start(b.u.data(), b.w.data(), W, b.stride, m, npad, p.d, b.t.data(), z);
    }

    void sums(const Frame& fr, double* out) {
        small_sums(b.u.data(), b.w.data(), b.mu.data(), W, b.stride, npad, p.d, fr.z, fr.eps,
                   fr.near, b.t.data(), out);
    }

    void hessian(const Frame& fr, double inv, double* H) {
        small_hessian(b.u.data(), b.w.data(), inv, b.stride, npad, p.d, fr.z, fr.eps, b.t.data(),
                      H);
    }

    index_t nearest(const Frame& fr) {
        return b.idx[small_nearest(b.u.data(), b.w.data(), b.stride, m, p.d, fr.z)];
    }
};

}  // namespace geomedian
