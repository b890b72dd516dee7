// The per-row terms of the fused pass (fused_pass.hpp) on AVX-512, eight rows at once, with
// each row's square root and division replaced by one reciprocal square root: short_rows
// for d <= 4 (eight lanes), and block_terms for the blocks of longer rows (compile-time,
// four-lane and run-time lengths alike; the rows' r and squared distances stay those of
// fused_pass_rows, only their terms change).
//
// At d <= 4 the pass is bound by the square root and the division of every row; at d = 16
// they are a third of a cached row's cost. Here y = 1 / sqrt(a), a = max(d2, eps^2), starts
// from the 14-bit estimate of vrsqrt14pd and takes two Newton steps y <- y (3/2 - (a / 2)
// y^2): the relative error 2^-14 becomes about 1.5 (2^-14)^2 = 2^-27.4, then
// 1.5 (2^-27.4)^2 < u / 2, plus the rounding of the last step's four operations, so y is
// within 5 u of 1 / sqrt(a). Then dist = d2 y (one more rounding) and t = w y, against the
// 1 u of a correctly rounded square root and quotient: the terms of the sums stay well
// inside the allowance of certificate.hpp (each w_i d_i to 73 u, the directions to
// grad_rounding).
//
// Rows within eps of the iterate (d2 <= eps^2), rows whose d2 lies beyond 2^900 (where
// y^2 would lose digits to underflow) and NaN take the exact square root instead, by a
// branch that data at the iterate's scale never takes. The lanes and blocks are those of
// short_rows (row b + l in lane l, at most block_rows rows of a lane per block, the tail
// rows in their own block), so the sums keep the error bound of certificate.hpp; their
// last bits differ from short_rows', as the compiler's vectorisation already makes them
// differ across instruction sets. The Numba mirror keeps the square root and division.
#include "geomedian/fused_pass.hpp"

#include <type_traits>

#if (defined(GEOMEDIAN_TARGET_CLONES) || defined(__AVX512F__)) && defined(__GNUC__) && \
    !defined(__clang__) && __GNUC__ >= 12
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_pd, which -Wall reports as maybe
// uninitialised once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define GEOMEDIAN_V4 __attribute__((target("arch=x86-64-v4")))

namespace geomedian {
namespace {

constexpr int L = 8;

// Eight consecutive rows of D <= 4 coordinates, widened to float64, one vector per
// coordinate: coordinate j of row l is element l D + j of the D vectors loaded, gathered by
// two-source permutes (elements 0-15 from the first two vectors, 16-31 from the others).
template <class T, int D>
GEOMEDIAN_V4 inline void load_rows(const T* p, __m512d* v) {
    static_assert(D >= 1 && D <= 4, "at most four vectors of eight rows");
    __m512d in[D];
    for (int q = 0; q < D; ++q) {
        if constexpr (std::is_same_v<T, float>) in[q] = _mm512_cvtps_pd(_mm256_loadu_ps(p + q * L));
        else in[q] = _mm512_loadu_pd(p + q * L);
    }
    if constexpr (D == 1) {
        v[0] = in[0];
    } else {
        for (int j = 0; j < D; ++j) {
            const __m512i at = _mm512_set_epi64(7 * D + j, 6 * D + j, 5 * D + j, 4 * D + j,
                                                3 * D + j, 2 * D + j, D + j, j);
            v[j] = _mm512_permutex2var_pd(in[0], at, in[1]);
            if constexpr (D > 2) {
                // The rows whose element lies beyond the first 16 (a constant mask).
                __mmask8 beyond = 0;
                for (int l = 0; l < L; ++l) beyond |= (l * D + j >= 16 ? 1 : 0) << l;
                const __m512d upper = _mm512_permutex2var_pd(in[2], at, in[D > 3 ? 3 : 2]);
                v[j] = _mm512_mask_blend_pd(beyond, v[j], upper);
            }
        }
    }
}

// r = (x - c) s - z of eight rows, one vector per coordinate, and their squared lengths.
template <int D>
GEOMEDIAN_V4 inline __m512d center_rows(const __m512d* xv, const Frame& fr, __m512d* r) {
    __m512d d2 = _mm512_setzero_pd();
    for (int j = 0; j < D; ++j) {
        r[j] = _mm512_sub_pd(
            _mm512_mul_pd(_mm512_sub_pd(xv[j], _mm512_set1_pd(fr.c[j])), _mm512_set1_pd(fr.s)),
            _mm512_set1_pd(fr.z[j]));
        d2 = _mm512_fmadd_pd(r[j], r[j], d2);
    }
    return d2;
}

// Eight rows' distances and reciprocal distances y from their squared distances; hit marks
// the rows within eps of the iterate (their y is 1 / eps, their t is 0).
struct Terms {
    __m512d dist, y;
    __mmask8 hit;
};

GEOMEDIAN_V4 inline Terms row_terms(__m512d d2, const Frame& fr) {
    const __m512d eps2 = _mm512_set1_pd(fr.eps * fr.eps), one = _mm512_set1_pd(1.0);
    // max(eps^2, d2) is d2 itself where d2 is NaN: NaN reaches every sum, as in short_rows.
    const __m512d a = _mm512_max_pd(eps2, d2);
    const __m512d h = _mm512_mul_pd(_mm512_set1_pd(0.5), a), c32 = _mm512_set1_pd(1.5);
    __m512d y = _mm512_rsqrt14_pd(a);
    y = _mm512_mul_pd(y, _mm512_fnmadd_pd(h, _mm512_mul_pd(y, y), c32));
    y = _mm512_mul_pd(y, _mm512_fnmadd_pd(h, _mm512_mul_pd(y, y), c32));
    __m512d dist = _mm512_mul_pd(d2, y);
    const __mmask8 hit = _mm512_cmp_pd_mask(d2, eps2, _CMP_LE_OQ);
    const __mmask8 exact = hit | _mm512_cmp_pd_mask(d2, _mm512_set1_pd(0x1p900), _CMP_NLE_UQ);
    if (__builtin_expect(exact != 0, 0)) {
        const __m512d root = _mm512_sqrt_pd(d2);
        dist = _mm512_mask_mov_pd(dist, exact, root);
        y = _mm512_mask_div_pd(y, exact, one, _mm512_max_pd(_mm512_set1_pd(fr.eps), root));
    }
    return {dist, y, hit};
}

// Eight rows' terms added to the scalar sums blk (ScalarSums order) and mt; returns their
// t = w / d (0 within eps). wv: 0 in the lanes that hold no row.
GEOMEDIAN_V4 inline __m512d add_terms(const Terms& terms, __m512d wv, const Frame& fr,
                                      __m512d* blk, __m512d& mt) {
    const __m512d dist = terms.dist, y = terms.y;
    const __mmask8 hit = terms.hit;
    const __m512d t = _mm512_maskz_mov_pd(static_cast<__mmask8>(~hit), _mm512_mul_pd(wv, y));
    const __m512d wd = _mm512_mul_pd(wv, dist);
    const __mmask8 far = _mm512_cmp_pd_mask(dist, _mm512_set1_pd(fr.near), _CMP_GT_OQ);
    blk[ScalarSums::f] = _mm512_add_pd(blk[ScalarSums::f], wd);
    blk[ScalarSums::inv] = _mm512_add_pd(blk[ScalarSums::inv], t);
    blk[ScalarSums::eta] = _mm512_mask_add_pd(blk[ScalarSums::eta], hit, blk[ScalarSums::eta], wv);
    blk[ScalarSums::fc] = _mm512_mask_add_pd(blk[ScalarSums::fc], hit, blk[ScalarSums::fc], wd);
    mt = _mm512_max_pd(t, mt);  // mt itself where t is NaN, as short_rows' select
    blk[ScalarSums::wf] = _mm512_mask_add_pd(blk[ScalarSums::wf], far, blk[ScalarSums::wf], wv);
    blk[ScalarSums::fn] = _mm512_mask_add_pd(blk[ScalarSums::fn], static_cast<__mmask8>(~far),
                                             blk[ScalarSums::fn], wd);
    return t;
}

// The block sums of short_rows' row(), in vectors: blk[ScalarSums order..., R (D), M (D)].
template <int D, bool Weighted>
GEOMEDIAN_V4 inline void add_rows(const __m512d* xv, __m512d wv, const Frame& fr, __m512d* blk,
                                  __m512d& mt) {
    constexpr int n0 = ScalarSums::count;
    __m512d r[D];
    const __m512d t = add_terms(row_terms(center_rows<D>(xv, fr, r), fr), wv, fr, blk, mt);
    for (int j = 0; j < D; ++j) {
        blk[n0 + j] = _mm512_fmadd_pd(t, r[j], blk[n0 + j]);
        blk[n0 + D + j] =
            Weighted ? _mm512_fmadd_pd(wv, r[j], blk[n0 + D + j]) : _mm512_add_pd(blk[n0 + D + j], r[j]);
    }
}

// A block's sums into each lane's compensated sums.
template <int nv>
GEOMEDIAN_V4 inline void fold(const __m512d* blk, double (&sum)[nv][L], double (&err)[nv][L]) {
    for (int k = 0; k < nv; ++k) {
        __m512d s = _mm512_load_pd(sum[k]), e = _mm512_load_pd(err[k]);
        add_compensated(s, e, blk[k]);
        _mm512_store_pd(sum[k], s);
        _mm512_store_pd(err[k], e);
    }
}

template <class T, int D, bool Weighted>
GEOMEDIAN_V4 void rows_rsqrt(const T* x, const double* w, double wscale, index_t lo, index_t hi,
                             const Frame& fr, double* out) {
    constexpr int nv = ScalarSums::count + 2 * D;
    alignas(64) double sum[nv][L] = {}, err[nv][L] = {}, mt[L] = {};
    __m512d mtv = _mm512_setzero_pd();
    const __m512d ws = _mm512_set1_pd(wscale);
    const index_t group = block_rows * L, full = lo + (hi - lo) / L * L;
    for (index_t g0 = lo; g0 < full; g0 += group) {
        const index_t g1 = std::min(full, g0 + group);
        __m512d blk[nv];
        for (int k = 0; k < nv; ++k) blk[k] = _mm512_setzero_pd();
        for (index_t b = g0; b < g1; b += L) {
            __m512d xv[D];
            load_rows<T, D>(x + b * D, xv);
            const __m512d wv = Weighted ? _mm512_mul_pd(_mm512_loadu_pd(w + b), ws)
                                        : _mm512_set1_pd(1.0);
            add_rows<D, Weighted>(xv, wv, fr, blk, mtv);
        }
        fold<nv>(blk, sum, err);
    }
    if (full < hi) {  // the last rows, fewer than L, one per lane; the other lanes weigh 0
        alignas(64) T rows[L * D];
        alignas(64) double wt[L];
        const index_t m = hi - full;
        for (index_t l = 0; l < L; ++l) {
            const index_t i = full + std::min(l, m - 1);  // a real row: finite where it is
            for (int j = 0; j < D; ++j) rows[l * D + j] = x[i * D + j];
            wt[l] = l < m ? (Weighted ? w[i] * wscale : 1.0) : 0.0;
        }
        __m512d blk[nv], xv[D];
        for (int k = 0; k < nv; ++k) blk[k] = _mm512_setzero_pd();
        load_rows<T, D>(rows, xv);
        add_rows<D, true>(xv, _mm512_load_pd(wt), fr, blk, mtv);  // M too weighs the lanes
        fold<nv>(blk, sum, err);
    }
    _mm512_store_pd(mt, mtv);
    short_rows_totals<nv, L>(sum, err, mt, out);
}

template <class T, int D>
void rows_rsqrt_weighting(const T* x, const double* w, double wscale, index_t lo, index_t hi,
                          const Frame& fr, double* out) {
    if (w) rows_rsqrt<T, D, true>(x, w, wscale, lo, hi, fr, out);
    else rows_rsqrt<T, D, false>(x, w, wscale, lo, hi, fr, out);
}

template <class T>
bool rows_rsqrt_by_dim(const T* x, const double* w, double wscale, index_t lo, index_t hi,
                       index_t d, const Frame& fr, double* out) {
    if (!__builtin_cpu_supports("x86-64-v4")) return false;
    switch (d) {
        case 1: rows_rsqrt_weighting<T, 1>(x, w, wscale, lo, hi, fr, out); return true;
        case 2: rows_rsqrt_weighting<T, 2>(x, w, wscale, lo, hi, fr, out); return true;
        case 3: rows_rsqrt_weighting<T, 3>(x, w, wscale, lo, hi, fr, out); return true;
        case 4: rows_rsqrt_weighting<T, 4>(x, w, wscale, lo, hi, fr, out); return true;
        default: return false;
    }
}

// block_terms (fused_pass.hpp) for m <= block_rows rows, eight at a time; the sums of the
// lanes are added to b's at the end (one more order of the same at most block_rows terms).
template <bool Weighted>
GEOMEDIAN_V4 void terms_rsqrt(const double* d2, const double* wb, index_t m, const Frame& fr,
                              double* t, double* b, double& max_term) {
    __m512d blk[ScalarSums::count], mtv = _mm512_setzero_pd();
    for (int k = 0; k < ScalarSums::count; ++k) blk[k] = _mm512_setzero_pd();
    const __m512d one = _mm512_set1_pd(1.0);
    for (index_t k = 0; k < m; k += L) {
        // Past the last row the lanes read d2 = 1 (no exact root) and weigh 0.
        const __mmask8 live = m - k >= L ? 0xFF : static_cast<__mmask8>((1u << (m - k)) - 1);
        const __m512d d2v = _mm512_mask_loadu_pd(one, live, d2 + k);
        const __m512d wv = Weighted ? _mm512_maskz_loadu_pd(live, wb + k)
                                    : _mm512_maskz_mov_pd(live, one);
        _mm512_mask_storeu_pd(t + k, live, add_terms(row_terms(d2v, fr), wv, fr, blk, mtv));
    }
    alignas(64) double lanes[ScalarSums::count + 1][L];
    for (int k = 0; k < ScalarSums::count; ++k) _mm512_store_pd(lanes[k], blk[k]);
    _mm512_store_pd(lanes[ScalarSums::count], mtv);
    for (int k = 0; k < ScalarSums::count; ++k) {
        double sum = 0;
        for (int l = 0; l < L; ++l) sum += lanes[k][l];
        b[k] += sum;
    }
    for (int l = 0; l < L; ++l) {
        const double top = lanes[ScalarSums::count][l];
        max_term = top > max_term ? top : max_term;
    }
}

}  // namespace

bool short_rows_rsqrt(const double* x, const double* w, double wscale, index_t lo, index_t hi,
                      index_t d, const Frame& fr, double* out) {
    return rows_rsqrt_by_dim(x, w, wscale, lo, hi, d, fr, out);
}
bool short_rows_rsqrt(const float* x, const double* w, double wscale, index_t lo, index_t hi,
                      index_t d, const Frame& fr, double* out) {
    return rows_rsqrt_by_dim(x, w, wscale, lo, hi, d, fr, out);
}

bool block_terms_rsqrt(const double* d2, const double* wb, index_t m, const Frame& fr, double* t,
                       double* b, double& max_term) {
    if (!__builtin_cpu_supports("x86-64-v4")) return false;
    if (wb) terms_rsqrt<true>(d2, wb, m, fr, t, b, max_term);
    else terms_rsqrt<false>(d2, wb, m, fr, t, b, max_term);
    return true;
}

}  // namespace geomedian

#else

namespace geomedian {

bool short_rows_rsqrt(const double*, const double*, double, index_t, index_t, index_t,
                      const Frame&, double*) {
    return false;
}
bool short_rows_rsqrt(const float*, const double*, double, index_t, index_t, index_t,
                      const Frame&, double*) {
    return false;
}
bool block_terms_rsqrt(const double*, const double*, index_t, const Frame&, double*, double*,
                       double&) {
    return false;
}

}  // namespace geomedian

#endif
