// One value per lane: GCC vector types for kernels whose lane l reads and writes lane l
// only (the packed solver's problems, the Lp pass's rows). Kept in registers where arrays
// of doubles indexed in `omp simd` loops are not, and where per-lane branches on bool
// arrays would leave the compiler scalar code. The arithmetic is vertical and IEEE per
// lane: L = 1 is plain double arithmetic, the same operations, so the same bits per lane.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "fused_pass.hpp"  // GEOMEDIAN_ALWAYS_INLINE
#include "types.hpp"

namespace geomedian {

// A value per lane, and a per-lane condition (all bits set or clear) as the comparisons
// of such vectors return.
template <int L>
struct lanes_of {
    typedef double type
        __attribute__((vector_size(L * sizeof(double)), aligned(sizeof(double))));
    typedef std::int64_t mask
        __attribute__((vector_size(L * sizeof(double)), aligned(sizeof(double))));
};
template <int L>
using lanes_v = typename lanes_of<L>::type;
template <int L>
using mask_v = typename lanes_of<L>::mask;

// Loads and stores through a vector type that may alias doubles: one vector move each.
// Through memcpy GCC 12 moved the bytes in 32-byte halves (its block-move tuning) and read
// them back whole, a store-forwarding stall on every load of a 64-byte vector.
template <int L>
struct lanes_in_memory {
    typedef double type
        __attribute__((vector_size(L * sizeof(double)), aligned(sizeof(double)), may_alias));
};
template <int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> load_lanes(const double* p) {
    return *reinterpret_cast<const typename lanes_in_memory<L>::type*>(p);
}
template <int L>
GEOMEDIAN_ALWAYS_INLINE void store_lanes(double* p, lanes_v<L> v) {
    *reinterpret_cast<typename lanes_in_memory<L>::type*>(p) = v;
}
template <int L>
GEOMEDIAN_ALWAYS_INLINE lanes_v<L> sqrt_lanes(lanes_v<L> a) {
    lanes_v<L> r;
    for (index_t l = 0; l < L; ++l) r[l] = std::sqrt(a[l]);  // one vector square root
    return r;
}

}  // namespace geomedian
