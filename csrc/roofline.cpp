// Benchmark-only loops of geomedian/roofline.hpp, built with the kernels' flags and
// instruction-set clones so that a bound and a pass are measured on the same footing.
#include "geomedian/roofline.hpp"

#include <algorithm>
#include <cmath>

#include "geomedian/target_clones.hpp"

// The helpers must be inlined into each clone to be compiled for its instruction set.
#if defined(__GNUC__) || defined(__clang__)
#define GEOMEDIAN_CLONE_INLINE inline __attribute__((always_inline))
#else
#define GEOMEDIAN_CLONE_INLINE inline
#endif

namespace geomedian {
namespace {

// Sixteen running sums: one would chain every add on the last and measure the adder's
// latency instead of the memory.
template <class T>
GEOMEDIAN_CLONE_INLINE double read_block(const T* x, index_t len) {
    double acc[16] = {};
    index_t k = 0;
    for (; k + 16 <= len; k += 16)
        for (int l = 0; l < 16; ++l) acc[l] += static_cast<double>(x[k + l]);
    for (; k < len; ++k) acc[0] += static_cast<double>(x[k]);
    for (int h = 8; h > 0; h /= 2)
        for (int l = 0; l < h; ++l) acc[l] += acc[l + h];
    return acc[0];
}

template <class T>
GEOMEDIAN_CLONE_INLINE double read_all(const T* x, index_t len, int threads) {
    if (threads == 1) return read_block(x, len);
    constexpr index_t step = 1 << 16;
    const index_t blocks = (len + step - 1) / step;
    double total = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : total)
    for (index_t b = 0; b < blocks; ++b)
        total += read_block(x + b * step, std::min(step, len - b * step));
    return total;
}

// Rows across the vector lanes for short rows, as the d <= 4 pass does; along the row
// otherwise. Only d <= 4 is arithmetic-bound; longer rows are there for completeness.
template <int D>
GEOMEDIAN_CLONE_INLINE double arith_sweep(const double* xb, index_t m, index_t d,
                                          const double* y) {
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

// Every sweep reads the same block, so the compiler would compute one and multiply:
// hide that the pointer is the same each time.
GEOMEDIAN_CLONE_INLINE const double* opaque(const double* p) {
#if defined(__GNUC__) || defined(__clang__)
    asm volatile("" : "+r"(p));
#endif
    return p;
}

template <int D>
GEOMEDIAN_CLONE_INLINE double arith_repeat(const double* xb, index_t m, index_t d,
                                           const double* y, index_t repeats, int threads) {
    double total = 0;
    if (threads == 1) {
        for (index_t k = 0; k < repeats; ++k) total += arith_sweep<D>(opaque(xb), m, d, y);
        return total;
    }
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : total)
    for (index_t k = 0; k < repeats; ++k) total += arith_sweep<D>(opaque(xb), m, d, y);
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
