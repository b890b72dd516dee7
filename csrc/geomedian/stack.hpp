// A caller's array of problems read as it lies: problem k of a (P, n, d) array of any of
// the dtypes below, with any strides (e.g. a (y, x, band, time) stack, whose coordinates
// are the band axis), copied into a thread's scratch as the kernels' dtype T while it is
// solved. The conversion is NumPy's `x.astype(T) * T(scale) + T(offset)` (each step only
// where given, each rounded, never fused), and a value equal to `nodata` (compared in the
// source dtype) becomes NaN: the same bits as the caller's array converted in one copy.
// A stack of satellite images is read once, in the threads, instead of being copied
// (and for integers converted) whole before the solve. The packed solver's problems are
// read straight into its lanes (pack), without the scratch copy.
#pragma once

#include <cstdint>

#include "prefetch.hpp"
#include "types.hpp"

namespace geomedian {

struct PackBuffers;  // packed_newton.hpp

enum class SourceType : int { i8, u8, i16, u16, i32, u32, f32, f64 };

template <class T>
struct StackReader {
    const void* x;
    index_t item;  // bytes per value
    index_t n, d;
    index_t sp, sn, sd;  // strides in elements: problem, point, coordinate
    bool has_nodata;     // nodata holds a value of the source dtype
    double nodata;
    bool has_scale, has_offset;
    T scale, offset;
    // Writes problem k as n x d row-major values into out.
    void (*read)(const StackReader&, index_t k, T* out);
    // pack_lanes on problems k0 .. k0 + count - 1 as `read` would give them (weights
    // from probs[l], whose x is not read): the same layout, values and counts m.
    void (*pack)(const StackReader&, index_t k0, const Problem<T>* probs, index_t count,
                 bool omit, PackBuffers& b, index_t* m);
};

// Problems k0 .. k1 - 1 as one span of memory to ask for ahead of their use (prefetch.hpp),
// or an empty span where their values are spread over more than four times their bytes.
template <class T>
inline Ahead stack_span(const StackReader<T>& r, index_t k0, index_t k1) {
    if (k1 <= k0) return {};
    index_t lo = 0, hi = 0;  // the extent in values, from problem k0's first
    for (const index_t step : {(k1 - 1 - k0) * r.sp, (r.n - 1) * r.sn, (r.d - 1) * r.sd})
        (step < 0 ? lo : hi) += step;
    if (hi - lo + 1 > 4 * (k1 - k0) * r.n * r.d) return {};
    return {static_cast<const char*>(r.x) + (k0 * r.sp + lo) * r.item,
            static_cast<std::size_t>((hi - lo + 1) * r.item)};
}

// The reader for a source dtype, or nullptr for none this build converts.
template <class T>
auto stack_reader_for(SourceType s) -> void (*)(const StackReader<T>&, index_t, T*);
template <class T>
auto stack_packer_for(SourceType s)
    -> void (*)(const StackReader<T>&, index_t, const Problem<T>*, index_t, bool, PackBuffers&,
                index_t*);

}  // namespace geomedian
