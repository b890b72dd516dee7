// Instantiates the row loops of fused_pass.hpp once per dtype and, where the compiler
// and platform allow (x86-64, GCC/Clang, glibc ifunc), once per instruction-set level:
// `target_clones` compiles each entry point for x86-64 (baseline), x86-64-v3 (AVX2, FMA)
// and x86-64-v4 (AVX-512) and picks one at load time, so a wheel is portable and still
// uses the wide units where the CPU has them. The templates are always_inline, so each
// clone gets its own vectorisation of them.
#include "geomedian/fused_pass.hpp"

#include "geomedian/target_clones.hpp"

namespace geomedian {
namespace {

template <class T, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void fused_pass_by_dim(const T* x, const double* w, double wscale,
                                               index_t lo, index_t hi, index_t d,
                                               const Frame& fr, double* out) {
    // Compile-time row lengths for every d up to 16: a known length keeps the
    // accumulators in registers and unrolls the row (2-3x at d = 5..16 over the run-time
    // loop, whose scalar remainder dominates short rows).
    switch (d) {
        case 1: return fused_pass_rows<T, 1, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 2: return fused_pass_rows<T, 2, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 3: return fused_pass_rows<T, 3, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 4: return fused_pass_rows<T, 4, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 5: return fused_pass_rows<T, 5, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 6: return fused_pass_rows<T, 6, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 7: return fused_pass_rows<T, 7, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 8: return fused_pass_rows<T, 8, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 9: return fused_pass_rows<T, 9, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 10: return fused_pass_rows<T, 10, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 11: return fused_pass_rows<T, 11, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 12: return fused_pass_rows<T, 12, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 13: return fused_pass_rows<T, 13, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 14: return fused_pass_rows<T, 14, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 15: return fused_pass_rows<T, 15, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        case 16: return fused_pass_rows<T, 16, Weighted>(x, w, wscale, lo, hi, d, fr, out);
        default: return fused_pass_rows<T, 0, Weighted>(x, w, wscale, lo, hi, d, fr, out);
    }
}

template <class T, bool Weighted>
GEOMEDIAN_ALWAYS_INLINE void moments_by_dim(const T* x, const double* w, double wscale,
                                            index_t lo, index_t hi, index_t d, const T* x0,
                                            double* out) {
    switch (d) {
        case 1: return moments_rows<T, 1, Weighted>(x, w, wscale, lo, hi, d, x0, out);
        case 2: return moments_rows<T, 2, Weighted>(x, w, wscale, lo, hi, d, x0, out);
        case 3: return moments_rows<T, 3, Weighted>(x, w, wscale, lo, hi, d, x0, out);
        case 4: return moments_rows<T, 4, Weighted>(x, w, wscale, lo, hi, d, x0, out);
        case 6: return moments_rows<T, 6, Weighted>(x, w, wscale, lo, hi, d, x0, out);
        case 8: return moments_rows<T, 8, Weighted>(x, w, wscale, lo, hi, d, x0, out);
        case 16: return moments_rows<T, 16, Weighted>(x, w, wscale, lo, hi, d, x0, out);
        default: return moments_rows<T, 0, Weighted>(x, w, wscale, lo, hi, d, x0, out);
    }
}

}  // namespace

GEOMEDIAN_CLONES void fused_pass(const double* x, const double* w, double wscale, index_t lo,
                                 index_t hi, index_t d, const Frame& fr, double* out) {
    if (w != nullptr) return fused_pass_by_dim<double, true>(x, w, wscale, lo, hi, d, fr, out);
    return fused_pass_by_dim<double, false>(x, w, wscale, lo, hi, d, fr, out);
}

GEOMEDIAN_CLONES void fused_pass(const float* x, const double* w, double wscale, index_t lo,
                                 index_t hi, index_t d, const Frame& fr, double* out) {
    if (w != nullptr) return fused_pass_by_dim<float, true>(x, w, wscale, lo, hi, d, fr, out);
    return fused_pass_by_dim<float, false>(x, w, wscale, lo, hi, d, fr, out);
}

GEOMEDIAN_CLONES void moments(const double* x, const double* w, double wscale, index_t lo,
                              index_t hi, index_t d, const double* x0, double* out) {
    if (w != nullptr) return moments_by_dim<double, true>(x, w, wscale, lo, hi, d, x0, out);
    return moments_by_dim<double, false>(x, w, wscale, lo, hi, d, x0, out);
}

GEOMEDIAN_CLONES void moments(const float* x, const double* w, double wscale, index_t lo,
                              index_t hi, index_t d, const float* x0, double* out) {
    if (w != nullptr) return moments_by_dim<float, true>(x, w, wscale, lo, hi, d, x0, out);
    return moments_by_dim<float, false>(x, w, wscale, lo, hi, d, x0, out);
}

const char* compiled_isas() {
#if defined(GEOMEDIAN_TARGET_CLONES)
    return "x86-64,x86-64-v3,x86-64-v4";
#elif defined(GEOMEDIAN_NATIVE)
    return "native";
#else
    return "baseline";
#endif
}

const char* active_isa() {
#if defined(GEOMEDIAN_TARGET_CLONES) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    // Same question the ifunc resolver asks, so this names the clone that runs.
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3";
    return "x86-64";
#else
    return compiled_isas();
#endif
}

}  // namespace geomedian
