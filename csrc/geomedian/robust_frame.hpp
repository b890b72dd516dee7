// Where a problem's frame is anchored, and how far "near" reaches, when far points may be
// present (solver.hpp, no_far_points): robust statistics of a sample of the rows, taken at
// most once per solve.
//
// The mean, which the frame used to be centred on, follows gross outliers: 5% of rows at a
// fill value of 1e37 put it at 5e35, where (x - c) s rounds every inlier to the same
// number. The anchor is instead
//
//   m   = the coordinate-wise weighted lower median of the sample,
//   rho = the weighted lower median of the sample's distances ||x_i - m||,
//
// both unmoved by any fraction of far rows below one half. The weighted lower median of
// values v_i with weights w_i is min { v_k : sum_{v_i <= v_k} w_i >= sum_i w_i / 2 } (unit
// weights: the element of rank (m - 1) / 2). The sample is every row of a problem of at
// most robust_sample_rows rows, else rows floor(k n / robust_sample_rows): at a 45% share
// of far rows, a sample of 1024 has a far majority with probability below 1e-3, and even
// then the solve stays correct (recentring, and the certificate's near radius only decides
// how tight the bound is, never whether it holds).
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>

#include "types.hpp"

namespace geomedian {

// The weighted lower median of v[0, m) (w: weights, all >= 0 with a positive sum). v and w
// are reordered together: a three-way quickselect on the median of three, with the
// weights of each part summed in index order (the Numba mirror performs the same steps).
inline double weighted_lower_median(double* v, double* w, index_t m) {
    double total = 0;
    for (index_t i = 0; i < m; ++i) total += w[i];
    double need = 0.5 * total;
    index_t lo = 0, hi = m;
    while (hi - lo > 1) {
        const double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
        const double pivot = std::max(std::min(a, b), std::min(std::max(a, b), c));
        index_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (v[i] < pivot) {
                std::swap(v[i], v[lt]);
                std::swap(w[i], w[lt]);
                ++lt;
                ++i;
            } else if (v[i] > pivot) {
                --gt;
                std::swap(v[i], v[gt]);
                std::swap(w[i], w[gt]);
            } else {
                ++i;
            }
        }
        double below = 0, equal = 0;
        for (index_t k = lo; k < lt; ++k) below += w[k];
        for (index_t k = lt; k < gt; ++k) equal += w[k];
        if (below >= need && lt > lo) {
            hi = lt;
        } else if (below + equal >= need || gt == hi) {
            return pivot;
        } else {
            need -= below + equal;
            lo = gt;
        }
    }
    return v[lo];
}

// ||a - b|| without overflow or underflow of the squares (halved first, so that the
// difference of two finite numbers is finite).
inline double scaled_distance(const double* a, const double* b, index_t d) {
    double big = 0;
    for (index_t j = 0; j < d; ++j) big = std::max(big, std::abs(0.5 * a[j] - 0.5 * b[j]));
    if (!(big > 0)) return 0.0;
    double q = 0;
    for (index_t j = 0; j < d; ++j) {
        const double r = (0.5 * a[j] - 0.5 * b[j]) / big;
        q += r * r;
    }
    return 2.0 * big * std::sqrt(q);
}

inline index_t robust_sample_size(index_t n) { return std::min(n, robust_sample_rows); }
// The k-th sampled row among n.
inline index_t robust_sample_row(index_t k, index_t n) {
    return n <= robust_sample_rows ? k : (k * n) / robust_sample_rows;
}

// m (d entries) and rho of the sample xs (S rows of d, C order) with weights ws (S);
// `v` and `vw` are S doubles of scratch.
inline void robust_anchor(const double* xs, const double* ws, index_t S, index_t d, double* v,
                          double* vw, double* m, double* rho) {
    for (index_t j = 0; j < d; ++j) {
        for (index_t k = 0; k < S; ++k) {
            v[k] = xs[k * d + j];
            vw[k] = ws[k];
        }
        m[j] = weighted_lower_median(v, vw, S);
    }
    for (index_t k = 0; k < S; ++k) {
        v[k] = scaled_distance(xs + k * d, m, d);
        vw[k] = ws[k];
    }
    *rho = weighted_lower_median(v, vw, S);
}

}  // namespace geomedian
