// The three passes of the Gram path: few points (n rows) of very many coordinates, read a
// block of columns at a time. The method, and why each pass computes what it does, is
// written where it is driven (the Python module of the Gram path, "Models and tensors" in
// the user guide); these are its loops.
//
// Every pass reads a block of columns of every row into a float64 scratch `b` (n rows of
// `gram_block_columns` columns, rows padded to a multiple of gram_tile with zeros) and
// works on it while it is in cache. The blocks are cut into gram_stripes stripes whatever
// the number of threads; each stripe sums on its own and the stripes are added in order,
// so the answer does not depend on the threads. A pass is called once per component (a
// tensor of every model), so a pytree is read without concatenating it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "fused_pass.hpp"  // GEOMEDIAN_ALWAYS_INLINE
#include "types.hpp"

namespace geomedian {

// n rows of d coordinates, coordinate j of row i at row[i][j * inc] (inc >= 1).
template <class T>
struct Rows {
    const T* const* row;
    index_t n;
    index_t d;
    index_t inc;
};

// The rows of the scratch, padded for the tiles of add_gram.
inline index_t gram_padded_rows(index_t n) { return (n + gram_tile - 1) / gram_tile * gram_tile; }

// Columns per block: a multiple of 64 with n * columns * 8 bytes near gram_block_bytes.
inline index_t gram_block_columns(index_t n) {
    return std::max<index_t>(64, gram_block_bytes / (8 * gram_padded_rows(n)) / 64 * 64);
}

// b (np rows x m, np = gram_padded_rows(n), m = hi - lo) = (x_ij - x_rj) * scale on
// columns [lo, hi); padded rows are zero.
template <class T>
GEOMEDIAN_ALWAYS_INLINE void load_centred(const Rows<T>& x, index_t r, double scale, index_t lo, index_t hi, double* b) {
    const index_t m = hi - lo, inc = x.inc;
    const T* ref = x.row[r] + lo * inc;
    for (index_t i = 0; i < x.n; ++i) {
        const T* xi = x.row[i] + lo * inc;
        double* bi = b + i * m;
        if (inc == 1) {
            for (index_t q = 0; q < m; ++q)
                bi[q] = (static_cast<double>(xi[q]) - static_cast<double>(ref[q])) * scale;
        } else {
            for (index_t q = 0; q < m; ++q)
                bi[q] = (static_cast<double>(xi[q * inc]) - static_cast<double>(ref[q * inc])) *
                        scale;
        }
    }
    std::fill(b + x.n * m, b + gram_padded_rows(x.n) * m, 0.0);
}

// gram_lanes doubles, one register where the CPU has registers that wide (GCC vector
// extension: the tile's accumulators then stay in registers, which arrays of doubles do not).
typedef double gram_vector __attribute__((vector_size(8 * gram_lanes)));

// G (np x np, upper triangle by tiles) += b b^T for b (np x m): gram_tile x gram_tile
// tiles of rows, gram_lanes columns at a time in one accumulator per tile entry (a
// multiply-add per entry and column, from registers and L1).
GEOMEDIAN_ALWAYS_INLINE void add_gram(const double* b, index_t np, index_t m, double* G) {
    constexpr index_t L = gram_lanes, K = gram_tile;
    const index_t mv = m / L * L;
    for (index_t i0 = 0; i0 < np; i0 += K)
        for (index_t k0 = i0; k0 < np; k0 += K) {
            gram_vector acc[K][K] = {};
#pragma GCC unroll 2
            for (index_t q = 0; q < mv; q += L) {
                gram_vector bi[K], bk[K];
#pragma GCC unroll 4
                for (index_t i = 0; i < K; ++i) {
                    std::memcpy(&bi[i], b + (i0 + i) * m + q, sizeof(gram_vector));
                    std::memcpy(&bk[i], b + (k0 + i) * m + q, sizeof(gram_vector));
                }
#pragma GCC unroll 4
                for (index_t i = 0; i < K; ++i)
#pragma GCC unroll 4
                    for (index_t k = 0; k < K; ++k) acc[i][k] += bi[i] * bk[k];
            }
            for (index_t i = 0; i < K; ++i)
                for (index_t k = 0; k < K; ++k) {
                    double g = 0.0;
                    for (index_t l = 0; l < L; ++l) g += acc[i][k][l];
                    for (index_t q = mv; q < m; ++q) g += b[(i0 + i) * m + q] * b[(k0 + k) * m + q];
                    G[(i0 + i) * np + k0 + k] += g;
                }
        }
}

// off = a . b on one block of b = x - x_r (unscaled): y - x_r, unrounded.
GEOMEDIAN_ALWAYS_INLINE void convex_offset(const double* b, index_t n, index_t m, const double* a,
                                           double* off) {
    std::fill(off, off + m, 0.0);
    for (index_t i = 0; i < n; ++i) {
        const double ai = a[i], *bi = b + i * m;
        for (index_t q = 0; q < m; ++q) off[q] += ai * bi[q];
    }
}

// load_centred (scale 1) and convex_offset in one sweep: the same additions in the same
// order, each row's products taken while the row is in registers.
template <class T>
GEOMEDIAN_ALWAYS_INLINE void load_offset(const Rows<T>& x, index_t r, index_t lo, index_t hi,
                                         const double* a, double* b, double* off) {
    const index_t m = hi - lo, inc = x.inc;
    const T* ref = x.row[r] + lo * inc;
    std::fill(off, off + m, 0.0);
    for (index_t i = 0; i < x.n; ++i) {
        const T* xi = x.row[i] + lo * inc;
        double* bi = b + i * m;
        const double ai = a[i];
        for (index_t q = 0; q < m; ++q) {
            const double v = static_cast<double>(xi[q * inc]) - static_cast<double>(ref[q * inc]);
            bi[q] = v;
            off[q] += ai * v;
        }
    }
    std::fill(b + x.n * m, b + gram_padded_rows(x.n) * m, 0.0);
}

// The certified point's offset from the reference row on one block of b: the vertex's
// row; else y - x_r for float32 points (y rounded, as returned); else a . b unrounded
// (float64 points, as the direct solver certifies its iterate).
template <class T>
GEOMEDIAN_ALWAYS_INLINE void certified_offset(const double* b, index_t n, index_t m,
                                              const double* a, index_t vertex, const T* y,
                                              const T* ref, index_t inc, double* off) {
    if (vertex >= 0) {
        std::memcpy(off, b + vertex * m, sizeof(double) * m);
    } else if constexpr (sizeof(T) < sizeof(double)) {
        for (index_t q = 0; q < m; ++q)
            off[q] = static_cast<double>(y[q]) - static_cast<double>(ref[q * inc]);
    } else {
        convex_offset(b, n, m, a, off);
    }
}

// The sums over a block's columns, in gram_lanes partial sums (one register) added in
// lane order, then the columns beyond the last full group: a sum of one running total
// would wait for each addition in turn.
GEOMEDIAN_ALWAYS_INLINE double lanes_total(const gram_vector& acc) {
    double g = 0.0;
    for (index_t l = 0; l < gram_lanes; ++l) g += acc[l];
    return g;
}

// sum_q ((u_q - v_q) s)^2
GEOMEDIAN_ALWAYS_INLINE double distance_squared(const double* u, const double* v, index_t m,
                                                double s) {
    constexpr index_t L = gram_lanes;
    gram_vector acc = {};
    index_t q = 0;
    for (; q + L <= m; q += L) {
        gram_vector a, c;
        std::memcpy(&a, u + q, sizeof a);
        std::memcpy(&c, v + q, sizeof c);
        const gram_vector e = (a - c) * s;
        acc += e * e;
    }
    double g = lanes_total(acc);
    for (; q < m; ++q) {
        const double e = (u[q] - v[q]) * s;
        g += e * e;
    }
    return g;
}

// sum_q u_q v_q
GEOMEDIAN_ALWAYS_INLINE double dot(const double* u, const double* v, index_t m) {
    constexpr index_t L = gram_lanes;
    gram_vector acc = {};
    index_t q = 0;
    for (; q + L <= m; q += L) {
        gram_vector a, c;
        std::memcpy(&a, u + q, sizeof a);
        std::memcpy(&c, v + q, sizeof c);
        acc += a * c;
    }
    double g = lanes_total(acc);
    for (; q < m; ++q) g += u[q] * v[q];
    return g;
}

// One block [lo, hi) of each pass, on its scratch b (np x (hi - lo), then the vectors the
// pass needs): the loops that gram_pass.cpp compiles per instruction-set level.
template <class T>
GEOMEDIAN_ALWAYS_INLINE void gram_block_t(const Rows<T>& x, index_t r, double s, index_t lo,
                                          index_t hi, double* b, double* G) {
    load_centred(x, r, s, lo, hi, b);
    add_gram(b, gram_padded_rows(x.n), hi - lo, G);
}

template <class T>
GEOMEDIAN_ALWAYS_INLINE void median_block_t(const Rows<T>& x, index_t r, double s,
                                            const double* a, index_t vertex, index_t lo,
                                            index_t hi, double* b, T* y, double* d2) {
    const index_t n = x.n, m = hi - lo, inc = x.inc;
    const T* ref = x.row[r] + lo * inc;
    double* off = b + gram_padded_rows(n) * m;
    if (vertex >= 0) {
        load_centred(x, r, 1.0, lo, hi, b);
        const T* xv = x.row[vertex] + lo * inc;
        for (index_t q = 0; q < m; ++q) y[q] = xv[q * inc];
        std::memcpy(off, b + vertex * m, sizeof(double) * m);
    } else {
        load_offset(x, r, lo, hi, a, b, off);
        for (index_t q = 0; q < m; ++q)
            y[q] = static_cast<T>(static_cast<double>(ref[q * inc]) + off[q]);
        if constexpr (sizeof(T) < sizeof(double))
            certified_offset<T>(b, n, m, a, vertex, y, ref, inc, off);
    }
    for (index_t i = 0; i < n; ++i) d2[i] += distance_squared(b + i * m, off, m, s);
}

template <class T>
GEOMEDIAN_ALWAYS_INLINE void certificate_block_t(const Rows<T>& x, index_t r, const double* a,
                                                 index_t vertex, const T* y, const double* t,
                                                 const double* ws, index_t lo, index_t hi,
                                                 double* b, double* rr_rm) {
    const index_t n = x.n, m = hi - lo;
    double *off = b + gram_padded_rows(n) * m, *R = off + m, *M = R + m;
    if (vertex < 0 && sizeof(T) == sizeof(double)) {
        load_offset(x, r, lo, hi, a, b, off);  // certified_offset's a . b, in the same sweep
    } else {
        load_centred(x, r, 1.0, lo, hi, b);
        certified_offset<T>(b, n, m, a, vertex, y, x.row[r] + lo * x.inc, x.inc, off);
    }
    std::fill(R, R + m, 0.0);
    std::fill(M, M + m, 0.0);
    for (index_t i = 0; i < n; ++i) {
        const double ti = t[i], wi = ws[i], *bi = b + i * m;
        for (index_t q = 0; q < m; ++q) {
            const double e = bi[q] - off[q];
            R[q] += ti * e;
            M[q] += wi * e;
        }
    }
    rr_rm[0] += dot(R, R, m);
    rr_rm[1] += dot(R, M, m);
}

void gram_block(const Rows<float>& x, index_t r, double s, index_t lo, index_t hi, double* b,
                double* G);
void gram_block(const Rows<double>& x, index_t r, double s, index_t lo, index_t hi, double* b,
                double* G);
void median_block(const Rows<float>& x, index_t r, double s, const double* a, index_t vertex,
                  index_t lo, index_t hi, double* b, float* y, double* d2);
void median_block(const Rows<double>& x, index_t r, double s, const double* a, index_t vertex,
                  index_t lo, index_t hi, double* b, double* y, double* d2);
void certificate_block(const Rows<float>& x, index_t r, const double* a, index_t vertex,
                       const float* y, const double* t, const double* ws, index_t lo,
                       index_t hi, double* b, double* rr_rm);
void certificate_block(const Rows<double>& x, index_t r, const double* a, index_t vertex,
                       const double* y, const double* t, const double* ws, index_t lo,
                       index_t hi, double* b, double* rr_rm);

// Runs pass(b, acc, lo, hi) over the blocks of every stripe, each stripe on one of up to
// `threads` threads with its own scratch b (`scratch` doubles) and its own `size` sums,
// and returns the stripes' sums added in stripe order.
template <class Pass>
std::vector<double> over_gram_stripes(index_t d, index_t mc, index_t scratch, index_t size,
                                      int threads, Pass&& pass) {
    const index_t nb = (d + mc - 1) / mc;
    std::vector<double> parts(static_cast<std::size_t>(gram_stripes * size), 0.0);
    const int t = std::max(1, std::min<int>(threads, static_cast<int>(gram_stripes)));
#pragma omp parallel num_threads(t)
    {
        std::vector<double> b(static_cast<std::size_t>(scratch));
#pragma omp for schedule(static)
        for (index_t k = 0; k < gram_stripes; ++k)
            for (index_t blk = k * nb / gram_stripes; blk < (k + 1) * nb / gram_stripes; ++blk)
                pass(b.data(), parts.data() + k * size, blk * mc, std::min(d, blk * mc + mc));
    }
    std::vector<double> total(parts.begin(), parts.begin() + size);
    for (index_t k = 1; k < gram_stripes; ++k)
        for (index_t j = 0; j < size; ++j) total[j] += parts[k * size + j];
    return total;
}

// G (n x n, row-major, symmetric) = X_c X_c^T, X_c = (X - x_r) s: one read of x.
template <class T>
void gram_pass(const Rows<T>& x, index_t r, double s, int threads, double* G) {
    const index_t n = x.n, np = gram_padded_rows(n), mc = gram_block_columns(n);
    const auto Gp = over_gram_stripes(x.d, mc, np * mc, np * np, threads,
                                      [&](double* b, double* acc, index_t lo, index_t hi) {
                                          gram_block(x, r, s, lo, hi, b, acc);
                                      });
    for (index_t i = 0; i < n; ++i)
        for (index_t k = i; k < n; ++k) G[i * n + k] = G[k * n + i] = Gp[i * np + k];
}

// y = x_r + sum_i a_i (x_i - x_r) rounded to T (a convex: no cancellation beyond the
// points' spread), or the vertex's row bit for bit; d2_i = ||(x_i - y) s||^2 of the point
// certified (certified_offset), from the same read.
template <class T>
void gram_median_pass(const Rows<T>& x, index_t r, double s, const double* a, index_t vertex,
                      T* y, int threads, double* d2) {
    const index_t n = x.n, mc = gram_block_columns(n);
    const auto d2p = over_gram_stripes(x.d, mc, (gram_padded_rows(n) + 1) * mc, n, threads,
                                       [&](double* b, double* acc, index_t lo, index_t hi) {
                                           median_block(x, r, s, a, vertex, lo, hi, b, y + lo, acc);
                                       });
    std::copy(d2p.begin(), d2p.end(), d2);
}

// At the point of gram_median_pass (y): R = sum_i t_i (x_i - y), M = sum_i ws_i (x_i - y)
// (ws = w s), reduced block by block to out = (||R||^2 s^2, R . M s): neither R nor M, d
// entries each, is ever held whole.
template <class T>
void gram_certificate_pass(const Rows<T>& x, index_t r, double s, const double* a,
                           index_t vertex, const T* y, const double* t, const double* ws,
                           int threads, double* out) {
    const index_t mc = gram_block_columns(x.n);
    const auto sums = over_gram_stripes(
        x.d, mc, (gram_padded_rows(x.n) + 3) * mc, 2, threads,
        [&](double* b, double* acc, index_t lo, index_t hi) {
            certificate_block(x, r, a, vertex, y + lo, t, ws, lo, hi, b, acc);
        });
    out[0] = sums[0] * s * s;
    out[1] = sums[1] * s;
}

}  // namespace geomedian
