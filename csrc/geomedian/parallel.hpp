// How a pass is spread over threads, and why the answer does not depend on it.
//
// Rows are cut into fixed chunks (chunk_rows depends on d only). Each chunk's sums are
// computed on their own and the chunk sums are added in chunk order, with compensation
// (add_compensated: the bound of certificate.hpp holds whatever the number of chunks), so a serial pass,
// an OpenMP pass with any number of threads and the Numba mirror (same chunks, same
// order) all perform the same floating-point additions: results are bit-identical across
// thread counts on a given CPU.
#pragma once

#include <algorithm>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "fused_pass.hpp"

namespace geomedian {

// The chunk sizes are shared with the Numba mirror (contract.hpp explains them).
inline index_t chunk_rows(index_t d) {
    return std::max<index_t>(chunk_min_rows, chunk_coordinates / d);
}

inline int openmp_max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Adds chunk sums `part` into acc, with compensation: err (sums_size(d) entries, zero before
// the second chunk) collects the rounding errors, finish_sums adds them in at the end.
inline void accumulate_sums(double* acc, double* err, const double* part, index_t d) {
    for (index_t k = 0; k < sums_size(d); ++k) {
        if (k == slot::max_term)
            acc[k] = std::max(acc[k], part[k]);
        else
            add_compensated(acc[k], err[k], part[k]);
    }
}

inline void finish_sums(double* acc, const double* err, index_t d) {
    for (index_t k = 0; k < sums_size(d); ++k)
        if (k != slot::max_term) acc[k] = compensated_total(acc[k], err[k]);
}

inline void accumulate_moments(double* acc, const double* part, index_t d) {
    for (index_t k = 0; k < moments_size(d); ++k) {
        if (k == moment::half_spread)
            acc[k] = std::max(acc[k], part[k]);
        else
            acc[k] += part[k];
    }
}

// One chunk's sums, then the error terms of accumulate_sums.
inline index_t pass_scratch_size(index_t d) {
    return std::max(sums_size(d), moments_size(d)) + sums_size(d);
}

// One problem, passes run chunk by chunk on the calling thread (batched solves run one
// of these per OpenMP thread). `scratch` (pass_scratch_size(d) doubles) holds one chunk's sums.
template <class T>
struct SerialPass {
    const Problem<T>& p;
    double* scratch;

    void moments(const T* x0, double* out) {
        const index_t step = chunk_rows(p.d);
        for (index_t lo = 0; lo < p.n; lo += step) {
            double* dst = lo == 0 ? out : scratch;
            geomedian::moments(p.x, p.w, p.wscale, lo, std::min(p.n, lo + step), p.d, x0, dst);
            if (lo != 0) accumulate_moments(out, dst, p.d);
        }
    }

    void sums(const Frame& fr, double* out) {
        const index_t step = chunk_rows(p.d);
        double* err = scratch + std::max(sums_size(p.d), moments_size(p.d));
        std::fill(err, err + sums_size(p.d), 0.0);
        for (index_t lo = 0; lo < p.n; lo += step) {
            double* dst = lo == 0 ? out : scratch;
            fused_pass(p.x, p.w, p.wscale, lo, std::min(p.n, lo + step), p.d, fr, dst);
            if (lo != 0) accumulate_sums(out, err, dst, p.d);
        }
        if (p.n > step) finish_sums(out, err, p.d);
    }

    index_t nearest(const Frame& fr) {
        index_t best = 0;
        double best_d2 = HUGE_VAL;
        nearest_row(p.x, p.w, 0, p.n, p.d, fr, &best, &best_d2);
        return best;
    }
};

// One large problem, each pass split over `threads` OpenMP threads by chunk.
template <class T>
struct OpenMPPass {
    const Problem<T>& p;
    int threads;
    index_t n_chunks;
    std::vector<double> partial;  // n_chunks rows of max(sums_size, moments_size)
    std::vector<index_t> best_i;
    std::vector<double> best_d2;

    OpenMPPass(const Problem<T>& prob, int n_threads)
        : p(prob),
          threads(n_threads),
          n_chunks((prob.n + chunk_rows(prob.d) - 1) / chunk_rows(prob.d)),
          partial(n_chunks * pass_scratch_size(prob.d)),
          best_i(n_chunks),
          best_d2(n_chunks) {}

    void moments(const T* x0, double* out) {
        const index_t step = chunk_rows(p.d), nc = n_chunks, sz = pass_scratch_size(p.d);
        double* part = partial.data();
        const Problem<T>& q = p;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && nc > 1)
        for (index_t k = 0; k < nc; ++k)
            geomedian::moments(q.x, q.w, q.wscale, k * step, std::min(q.n, (k + 1) * step), q.d,
                               x0, part + k * sz);
        std::copy(part, part + moments_size(p.d), out);
        for (index_t k = 1; k < nc; ++k) accumulate_moments(out, part + k * sz, p.d);
    }

    void sums(const Frame& fr, double* out) {
        const index_t step = chunk_rows(p.d), nc = n_chunks, sz = pass_scratch_size(p.d);
        double* part = partial.data();
        const Problem<T>& q = p;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && nc > 1)
        for (index_t k = 0; k < nc; ++k)
            fused_pass(q.x, q.w, q.wscale, k * step, std::min(q.n, (k + 1) * step), q.d, fr,
                       part + k * sz);
        std::copy(part, part + sums_size(p.d), out);
        double* err = part + (sz - sums_size(p.d));  // chunk 0's error terms: free now
        std::fill(err, err + sums_size(p.d), 0.0);
        for (index_t k = 1; k < nc; ++k) accumulate_sums(out, err, part + k * sz, p.d);
        if (nc > 1) finish_sums(out, err, p.d);
    }

    index_t nearest(const Frame& fr) {
        const index_t step = chunk_rows(p.d), nc = n_chunks;
        const Problem<T>& q = p;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && nc > 1)
        for (index_t k = 0; k < nc; ++k) {
            best_i[k] = k * step;
            best_d2[k] = HUGE_VAL;
            nearest_row(q.x, q.w, k * step, std::min(q.n, (k + 1) * step), q.d, fr,
                        &best_i[k], &best_d2[k]);
        }
        index_t best = 0;
        for (index_t k = 1; k < nc; ++k)
            if (best_d2[k] < best_d2[best]) best = k;
        return best_i[best];
    }
};

}  // namespace geomedian
