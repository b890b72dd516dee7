// Benchmark-only loops of geomedian/roofline.hpp, built with the kernels' flags and
// instruction-set clones so that a bound and a pass are measured on the same footing.
#include "geomedian/roofline.hpp"

#include <cmath>

#if defined(GEOMEDIAN_TARGET_CLONES)
#define GEOMEDIAN_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define GEOMEDIAN_CLONES
#endif

namespace geomedian {
namespace {

template <class T>
inline double read_all(const T* x, index_t len, int threads) {
    double total = 0;
#pragma omp parallel for simd schedule(static) num_threads(threads) reduction(+ : total) if (threads > 1)
    for (index_t k = 0; k < len; ++k) total += static_cast<double>(x[k]);
    return total;
}

// Rows across the vector lanes for short rows, as the d <= 4 pass does; along the row
// otherwise. Only d <= 4 is arithmetic-bound; longer rows are there for completeness.
template <int D>
inline double arith_sweep(const double* xb, index_t m, index_t d, const double* y) {
    double f = 0, inv = 0;
    if constexpr (D > 0) {
#pragma omp simd reduction(+ : f, inv)
        for (index_t i = 0; i < m; ++i) {
            double d2 = 0;
            for (int j = 0; j < D; ++j) {
                const double r = xb[i * D + j] - y[j];
                d2 += r * r;
            }
            const double dist = std::sqrt(d2);
            f += dist;
            inv += 1.0 / dist;
        }
    } else {
        for (index_t i = 0; i < m; ++i) {
            double d2 = 0;
#pragma omp simd reduction(+ : d2)
            for (index_t j = 0; j < d; ++j) {
                const double r = xb[i * d + j] - y[j];
                d2 += r * r;
            }
            const double dist = std::sqrt(d2);
            f += dist;
            inv += 1.0 / dist;
        }
    }
    return f + inv;
}

template <int D>
inline double arith_repeat(const double* xb, index_t m, index_t d, const double* y,
                           index_t repeats, int threads) {
    double total = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : total) if (threads > 1)
    for (index_t k = 0; k < repeats; ++k) total += arith_sweep<D>(xb, m, d, y);
    return total;
}

}  // namespace

GEOMEDIAN_CLONES double roofline_read(const double* x, index_t n, index_t d, int threads) {
    return read_all(x, n * d, threads);
}

GEOMEDIAN_CLONES double roofline_read(const float* x, index_t n, index_t d, int threads) {
    return read_all(x, n * d, threads);
}

GEOMEDIAN_CLONES double roofline_arith(const double* xb, index_t m, index_t d, const double* y,
                                       index_t repeats, int threads) {
    switch (d) {
        case 1: return arith_repeat<1>(xb, m, d, y, repeats, threads);
        case 2: return arith_repeat<2>(xb, m, d, y, repeats, threads);
        case 3: return arith_repeat<3>(xb, m, d, y, repeats, threads);
        case 4: return arith_repeat<4>(xb, m, d, y, repeats, threads);
        default: return arith_repeat<0>(xb, m, d, y, repeats, threads);
    }
}

}  // namespace geomedian
