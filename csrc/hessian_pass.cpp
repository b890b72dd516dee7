// The row loop of hessian_pass.hpp, in lanes, instantiated per dtype, per row length (d =
// 1-4, 6, 8 and 16 at compile time, any other d <= 16 at run time) and, through
// target_clones, per instruction-set level.
//
// Every accumulator of a lane adds its rows' terms one group after another, in row order,
// whatever the loop around it: that is what the Numba mirror does, so the bits agree. Two
// loop shapes give those additions:
// - short rows (d <= 4): the whole triangle (at most 10 lane vectors) stays in registers,
//   and each group is added as it is read;
// - longer rows: the triangle no longer fits in registers, and added a group at a time it
//   was loaded and stored for every product. Here a block of block_groups groups is read
//   first; then each tile of the triangle is loaded once, takes that block's products and
//   is stored. Full groups of rows of eight or more coordinates are read as vectors and
//   transposed into the lanes (gathering them coordinate by coordinate cost more than the
//   products), eight coordinates at a time, then, for run-time lengths, four.
#include "geomedian/hessian_pass.hpp"

#include "geomedian/lanes.hpp"
#include "geomedian/prefetch.hpp"
#include "geomedian/target_clones.hpp"

namespace geomedian {
namespace {

constexpr index_t L = hessian_lanes;
using lanes = lanes_v<L>;

// The groups of L rows read before the triangle's tiles take their products: more groups
// amortise a tile's load and store, fewer keep the block's coordinates and the triangle in
// L1. Rows of up to 8 (a triangle of at most 36 entries) take 8 groups; at d = 16 (136
// entries) 2 or 8 groups were slower than 4.
constexpr index_t block_groups(int D) { return D > 0 && D <= 8 ? 8 : 4; }

// The side of a square tile of the triangle: 16 accumulators of 4 x 4 plus their operands
// fit the 32 vector registers of AVX-512. Rows of 6 take 3 x 3 tiles, which cover their
// triangle without padding.
constexpr index_t tile_side(int D) { return D == 0 ? 4 : D <= 4 ? D : D % 4 == 0 ? 4 : 3; }
constexpr index_t round_up(index_t a, index_t b) { return (a + b - 1) / b * b; }

#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector) && __has_builtin(__builtin_convertvector)
#define GEOMEDIAN_TRANSPOSE_ROWS 1
#endif
#endif

#ifdef GEOMEDIAN_TRANSPOSE_ROWS
// Coordinates jb..jb+7 of rows b..b+7 (all present, row length d), as doubles, into
// col[k][l] = x[(b + l) d + jb + k]: three rounds of two-vector shuffles.
template <class T>
GEOMEDIAN_ALWAYS_INLINE void transpose_rows(const T* x, index_t d, index_t b, index_t jb,
                                            lanes* col) {
    static_assert(L == 8, "an 8 x 8 transposition");
    lanes a[L];
    for (index_t l = 0; l < L; ++l) {
        const T* row = x + (b + l) * d + jb;
        if constexpr (sizeof(T) == sizeof(double)) {
            a[l] = load_lanes<L>(reinterpret_cast<const double*>(row));
        } else {
            typedef float floats
                __attribute__((vector_size(L * sizeof(float)), aligned(sizeof(float)), may_alias));
            a[l] = __builtin_convertvector(*reinterpret_cast<const floats*>(row), lanes);
        }
    }
    lanes s[L], u[L];
    for (index_t l = 0; l < L; l += 2) {  // rows l, l + 1: even columns, odd columns
        s[l] = __builtin_shufflevector(a[l], a[l + 1], 0, 8, 2, 10, 4, 12, 6, 14);
        s[l + 1] = __builtin_shufflevector(a[l], a[l + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    }
    for (index_t h = 0; h < L; h += 4)  // rows h..h+3: columns (k, k + 4) for k = 0..3
        for (index_t o = 0; o < 2; ++o) {
            u[h + o] = __builtin_shufflevector(s[h + o], s[h + 2 + o], 0, 1, 8, 9, 4, 5, 12, 13);
            u[h + 2 + o] =
                __builtin_shufflevector(s[h + o], s[h + 2 + o], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (index_t k = 0; k < 4; ++k) {
        col[k] = __builtin_shufflevector(u[k], u[4 + k], 0, 1, 2, 3, 8, 9, 10, 11);
        col[k + 4] = __builtin_shufflevector(u[k], u[4 + k], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

// Coordinates jb..jb+3 of rows b..b+7 (all present) into col[k][l] = x[(b + l) d + jb + k],
// k < 4: rows l and l + 4 side by side in one vector, then a 4 x 4 transposition of each
// half. The rows' last coordinates past a multiple of 8 (d = 12: 8..11) were otherwise
// read one at a time, the lanes filled element by element.
template <class T>
GEOMEDIAN_ALWAYS_INLINE void transpose_quads(const T* x, index_t d, index_t b, index_t jb,
                                             lanes* col) {
    typedef double quad __attribute__((vector_size(4 * sizeof(double)), aligned(sizeof(double))));
    typedef T quad_t __attribute__((vector_size(4 * sizeof(T)), aligned(sizeof(T)), may_alias));
    quad a[L];
    for (index_t l = 0; l < L; ++l)
        a[l] = __builtin_convertvector(*reinterpret_cast<const quad_t*>(x + (b + l) * d + jb), quad);
    lanes p[4], s[4];
    for (index_t l = 0; l < 4; ++l)  // rows l (lanes 0-3) and l + 4 (lanes 4-7)
        p[l] = __builtin_shufflevector(a[l], a[l + 4], 0, 1, 2, 3, 4, 5, 6, 7);
    for (index_t l = 0; l < 4; l += 2) {  // per half: rows l, l + 1 interleaved
        s[l] = __builtin_shufflevector(p[l], p[l + 1], 0, 8, 2, 10, 4, 12, 6, 14);
        s[l + 1] = __builtin_shufflevector(p[l], p[l + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    }
    col[0] = __builtin_shufflevector(s[0], s[2], 0, 1, 8, 9, 4, 5, 12, 13);
    col[1] = __builtin_shufflevector(s[1], s[3], 0, 1, 8, 9, 4, 5, 12, 13);
    col[2] = __builtin_shufflevector(s[0], s[2], 2, 3, 10, 11, 6, 7, 14, 15);
    col[3] = __builtin_shufflevector(s[1], s[3], 2, 3, 10, 11, 6, 7, 14, 15);
}
#endif

// One group of rows b..b+L-1 (m of them real) at fr.z: r (row j at r + j L), v = w / d^3
// into v, and inv, inv_sq updated, every lane alone. Lanes past the last row read that row
// again; their weight is 0.
template <class T, int D, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void group_terms(const T* x, const double* w, double wscale, index_t b,
                                         index_t m, index_t d, const Frame& fr, double* r,
                                         double* v, double* inv, double* inv_sq) {
    double d2[L] = {};
    index_t j = 0;
#ifdef GEOMEDIAN_TRANSPOSE_ROWS
    if (D == 0 || D >= L) {
        if (m == L) {
            lanes acc = load_lanes<L>(d2);
            for (; j + L <= d; j += L) {
                lanes col[L];
                transpose_rows(x, d, b, j, col);
                for (index_t k = 0; k < L; ++k) {
                    const lanes rj = (col[k] - fr.c[j + k]) * fr.s - fr.z[j + k];
                    store_lanes<L>(r + (j + k) * L, rj);
                    acc += rj * rj;
                }
            }
            if (D == 0 && j + 4 <= d) {  // run-time lengths: 5, 7 and 9-15
                lanes col[4];
                transpose_quads(x, d, b, j, col);
                for (index_t k = 0; k < 4; ++k) {
                    const lanes rj = (col[k] - fr.c[j + k]) * fr.s - fr.z[j + k];
                    store_lanes<L>(r + (j + k) * L, rj);
                    acc += rj * rj;
                }
                j += 4;
            }
            store_lanes<L>(d2, acc);
        }
    }
#endif
    for (; j < d; ++j) {
        for (index_t l = 0; l < L; ++l) {
            const index_t i = b + std::min(l, m - 1);
            const double rj = (static_cast<double>(x[i * d + j]) - fr.c[j]) * fr.s - fr.z[j];
            r[j * L + l] = rj;
            d2[l] += rj * rj;
        }
    }
    for (index_t l = 0; l < L; ++l) {
        const index_t i = b + std::min(l, m - 1);
        const double wi = l < m ? (Weighted ? w[i] * wscale : 1.0) : 0.0;
        const double dist = std::sqrt(d2[l]);
        const double hit = dist <= fr.eps ? 1.0 : 0.0;
        const double t = (1.0 - hit) * wi / std::max(dist, fr.eps);
        v[l] = t / std::max(d2[l], fr.eps * fr.eps);  // w_i / d_i^3, 0 on the iterate
        inv[l] += t;
        inv_sq[l] += v[l] * dist;  // w_i / d_i^2
    }
}

// The tile of rows J..J+S-1 and columns K..K+S-1 of the triangle C (Diag: K = J, the
// entries k <= j only) takes the products of `groups` groups, vr and r of group g at
// g * stride.
template <index_t S, bool Diag>
GEOMEDIAN_ALWAYS_INLINE void tile_products(double (*C)[L], const double* vr, const double* r,
                                           index_t groups, index_t stride, index_t J,
                                           index_t K) {
    lanes acc[S][S];
#pragma GCC unroll 16
    for (index_t a = 0; a < S; ++a)
#pragma GCC unroll 16
        for (index_t c = 0; c < S; ++c)
            if (!Diag || c <= a) acc[a][c] = load_lanes<L>(C[(J + a) * (J + a + 1) / 2 + K + c]);
    for (index_t g = 0; g < groups; ++g) {
        lanes rk[S];
#pragma GCC unroll 16
        for (index_t c = 0; c < S; ++c) rk[c] = load_lanes<L>(r + g * stride + (K + c) * L);
#pragma GCC unroll 16
        for (index_t a = 0; a < S; ++a) {
            const lanes vj = load_lanes<L>(vr + g * stride + (J + a) * L);
#pragma GCC unroll 16
            for (index_t c = 0; c < S; ++c)
                if (!Diag || c <= a) acc[a][c] += vj * rk[c];
        }
    }
#pragma GCC unroll 16
    for (index_t a = 0; a < S; ++a)
#pragma GCC unroll 16
        for (index_t c = 0; c < S; ++c)
            if (!Diag || c <= a) store_lanes<L>(C[(J + a) * (J + a + 1) / 2 + K + c], acc[a][c]);
}

// D > 0: the row length at compile time; D = 0: d at run time (up to newton_max_d).
template <class T, int D, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void hessian_lanes_rows(const T* x, const double* w, double wscale,
                                                index_t lo, index_t hi, index_t d_run,
                                                const Frame& fr, double* out) {
    constexpr index_t S = tile_side(D);
    constexpr bool tiled = D == 0 || D > 4;
    constexpr index_t G = tiled ? block_groups(D) : 1;
    // Rows padded to whole tiles: the padding's coordinates are 0 and its entries unused.
    constexpr index_t Dmax = round_up(D > 0 ? D : newton_max_d, S);
    const index_t d = D > 0 ? D : d_run;
    const index_t dp = D > 0 ? Dmax : round_up(d, S);
    double C[Dmax * (Dmax + 1) / 2][L] = {};
    double inv[L] = {};
    double inv_sq[L] = {};
    alignas(64) double r[G][Dmax][L];
    alignas(64) double vr[G][Dmax][L];
    double v[L];
    for (index_t g = 0; g < G; ++g)
        for (index_t j = d; j < dp; ++j)
            for (index_t l = 0; l < L; ++l) r[g][j][l] = vr[g][j][l] = 0.0;
    const index_t ahead = std::max<index_t>(1, hessian_prefetch_bytes / (d * sizeof(T) * L)) * L;
    for (index_t b0 = lo; b0 < hi; b0 += G * L) {
        const index_t groups = std::min(G, (hi - b0 + L - 1) / L);
        for (index_t g = 0; g < groups; ++g) {
            const index_t b = b0 + g * L;
            const index_t a = b + ahead;
            // Rows of up to 4 are bound by their square root and divisions: the hardware's
            // prefetcher keeps up, and the requests would only cost.
            if (tiled && a < hi) prefetch_span(x + a * d, std::min(L, hi - a) * d * sizeof(T));
            group_terms<T, D, Weighted>(x, w, wscale, b, std::min(L, hi - b), d, fr, &r[g][0][0],
                                        v, inv, inv_sq);
            for (index_t j = 0; j < d; ++j)
                for (index_t l = 0; l < L; ++l) vr[g][j][l] = v[l] * r[g][j][l];
        }
        for (index_t J = 0; J < dp; J += S) {
            for (index_t K = 0; K < J; K += S)
                tile_products<S, false>(C, &vr[0][0][0], &r[0][0][0], groups, Dmax * L, J, K);
            tile_products<S, true>(C, &vr[0][0][0], &r[0][0][0], groups, Dmax * L, J, J);
        }
    }
    double inv_all = inv[0], inv_sq_all = inv_sq[0];
    for (index_t l = 1; l < L; ++l) {
        inv_all += inv[l];
        inv_sq_all += inv_sq[l];
    }
    for (index_t j = 0; j < d; ++j)
        for (index_t k = 0; k <= j; ++k) {
            const index_t q = j * (j + 1) / 2 + k;
            double c = C[q][0];
            for (index_t l = 1; l < L; ++l) c += C[q][l];
            out[q] = (j == k ? inv_all : 0.0) - c;
        }
    out[hessian_size(d)] = inv_sq_all;
}
template <class T, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void hessian_by_dim(const T* x, const double* w, double wscale,
                                            index_t lo, index_t hi, index_t d, const Frame& fr,
                                            double* out) {
    switch (d) {
        case 1: return hessian_lanes_rows<T, 1, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 2: return hessian_lanes_rows<T, 2, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 3: return hessian_lanes_rows<T, 3, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 4: return hessian_lanes_rows<T, 4, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 6: return hessian_lanes_rows<T, 6, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 8: return hessian_lanes_rows<T, 8, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 16: return hessian_lanes_rows<T, 16, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        default: return hessian_lanes_rows<T, 0, Weighted>(x, w, wscale, lo, hi, d, fr, out);
    }
}

}  // namespace

GEOMEDIAN_CLONES void hessian_rows(const double* x, const double* w, double wscale, index_t lo,
                                   index_t hi, index_t d, const Frame& fr, double* out) {
    if (w != nullptr) return hessian_by_dim<double, true>(x, w, wscale, lo, hi, d, fr, out);
    return hessian_by_dim<double, false>(x, w, wscale, lo, hi, d, fr, out);
}

GEOMEDIAN_CLONES void hessian_rows(const float* x, const double* w, double wscale, index_t lo,
                                   index_t hi, index_t d, const Frame& fr, double* out) {
    if (w != nullptr) return hessian_by_dim<float, true>(x, w, wscale, lo, hi, d, fr, out);
    return hessian_by_dim<float, false>(x, w, wscale, lo, hi, d, fr, out);
}

}  // namespace geomedian
