// The Hessian of f over rows read in chunks: Newton steps for the chunked driver
// (python/geomedian/_paths/chunked.py: memory-mapped files, Dask arrays).
//
// The in-memory solver forms the Hessian only in the small pass (small_hessian), where a
// d x d accumulation per row costs less than the passes Newton saves. A pass over data read
// from a file or from workers costs its read, and the accumulation can ride on it: the
// chunked sources call this kernel on each chunk right after the fused pass, while the
// chunk is at hand, so a Newton iteration still reads the data once. With r_i, d_i and
// t_i = w_i / d_i as in fused_pass.hpp (t_i = 0 for a point within eps of the iterate),
//
//   H = sum_i t_i (I - r_i r_i^T / d_i^2) = inv I - sum_{d_i > eps} (t_i / d_i^2) r_i r_i^T,
//
// packed lower triangle (H[j (j + 1) / 2 + k], k <= j), the layout newton.hpp factorises:
// the terms of small_hessian, formed the same way. After it, inv_sq = sum_{d_i > eps}
// w_i / d_i^2, for the bound that certifies a Newton iterate with the pass that reached it
// (python/geomedian/_paths/newton_bound.py). H is a sum over rows, so the chunks' Hessians
// add up to the whole one; the rows are cut and added as in parallel.hpp (fixed
// chunks, added in chunk order), so the result does not depend on the thread count. Within
// a chunk the rows are summed in fixed lanes, added in lane order, and no product is fused
// into an addition: the Numba mirror (hessian_pass.py) gets the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.hpp"

namespace geomedian {

inline index_t hessian_size(index_t d) { return d * (d + 1) / 2; }
// The pass's output: the triangle, then inv_sq.
inline index_t hessian_pass_size(index_t d) { return hessian_size(d) + 1; }

// The Hessian at fr.z of rows [lo, hi) and their inv_sq, into out (hessian_pass_size(d)
// doubles); d <= newton_max_d.
// Row b + l of each group of hessian_lanes rows (contract.hpp) goes to lane l: each lane
// keeps its own inv, inv_sq and C, so the d (d + 1) / 2 products of a row are one vector operation
// over the group, and the lanes are added in lane order at the end. Instantiated per dtype,
// row length and instruction set in hessian_pass.cpp.
void hessian_rows(const double* x, const double* w, double wscale, index_t lo, index_t hi,
                  index_t d, const Frame& fr, double* out);
void hessian_rows(const float* x, const double* w, double wscale, index_t lo, index_t hi,
                  index_t d, const Frame& fr, double* out);

// The Hessian and inv_sq of the whole problem at fr.z, its chunks over `threads` OpenMP threads.
template <class T>
void hessian_pass(const Problem<T>& p, const Frame& fr, int threads, double* out) {
    const index_t step = chunk_rows(p.d), nc = (p.n + step - 1) / step,
                  m = hessian_pass_size(p.d);
    std::vector<double> part(nc * m);
    double* parts = part.data();
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && nc > 1)
    for (index_t k = 0; k < nc; ++k)
        hessian_rows(p.x, p.w, p.wscale, k * step, std::min(p.n, (k + 1) * step), p.d, fr,
                     parts + k * m);
    std::copy(parts, parts + m, out);
    for (index_t k = 1; k < nc; ++k)
        for (index_t q = 0; q < m; ++q) out[q] += parts[k * m + q];
}

}  // namespace geomedian
