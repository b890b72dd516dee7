// short_rows (fused_pass.hpp) for d <= 2 on AVX-512, eight lanes, with each row's square
// root and division replaced by one reciprocal square root.
//
// At d <= 2 the pass is bound by the square root and the division of every row, not by
// memory. Here y = 1 / sqrt(a), a = max(d2, eps^2), starts from the 14-bit estimate of
// vrsqrt14pd and takes two Newton steps y <- y (3/2 - (a / 2) y^2): the relative error
// 2^-14 becomes about 1.5 (2^-14)^2 = 2^-27.4, then 1.5 (2^-27.4)^2 < u / 2, plus the
// rounding of the last step's four operations, so y is within 5 u of 1 / sqrt(a). Then
// dist = d2 y (one more rounding) and t = w y, against the 1 u of a correctly rounded
// square root and quotient: the terms of the sums stay well inside the allowance of
// certificate.hpp (each w_i d_i to 68 u, the directions to grad_rounding).
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

// Eight consecutive rows of D <= 2 coordinates, widened to float64, one vector per coordinate.
template <class T, int D>
GEOMEDIAN_V4 inline void load_rows(const T* p, __m512d* v) {
    __m512d a, b;
    if constexpr (std::is_same_v<T, float>) {
        a = _mm512_cvtps_pd(_mm256_loadu_ps(p));
        if constexpr (D == 2) b = _mm512_cvtps_pd(_mm256_loadu_ps(p + L));
    } else {
        a = _mm512_loadu_pd(p);
        if constexpr (D == 2) b = _mm512_loadu_pd(p + L);
    }
    if constexpr (D == 1) {
        v[0] = a;
    } else {
        const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
        v[0] = _mm512_permutex2var_pd(a, even, b);
        v[1] = _mm512_permutex2var_pd(a, odd, b);
    }
}

// The block sums of short_rows' row(), in vectors: blk[ScalarSums order..., R (D), M (D)].
template <int D, bool Weighted>
GEOMEDIAN_V4 inline void add_rows(const __m512d* xv, __m512d wv, const Frame& fr, __m512d* blk,
                                  __m512d& mt) {
    constexpr int n0 = ScalarSums::count;
    const __m512d eps2 = _mm512_set1_pd(fr.eps * fr.eps), one = _mm512_set1_pd(1.0);
    __m512d r[D];
    __m512d d2 = _mm512_setzero_pd();
    for (int j = 0; j < D; ++j) {
        r[j] = _mm512_sub_pd(
            _mm512_mul_pd(_mm512_sub_pd(xv[j], _mm512_set1_pd(fr.c[j])), _mm512_set1_pd(fr.s)),
            _mm512_set1_pd(fr.z[j]));
        d2 = _mm512_fmadd_pd(r[j], r[j], d2);
    }
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

template <class T>
bool rows_rsqrt_by_dim(const T* x, const double* w, double wscale, index_t lo, index_t hi,
                       index_t d, const Frame& fr, double* out) {
    if (!__builtin_cpu_supports("x86-64-v4")) return false;
    if (d == 1 && w) rows_rsqrt<T, 1, true>(x, w, wscale, lo, hi, fr, out);
    else if (d == 1) rows_rsqrt<T, 1, false>(x, w, wscale, lo, hi, fr, out);
    else if (d == 2 && w) rows_rsqrt<T, 2, true>(x, w, wscale, lo, hi, fr, out);
    else if (d == 2) rows_rsqrt<T, 2, false>(x, w, wscale, lo, hi, fr, out);
    else return false;
    return true;
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

}  // namespace geomedian

#endif
