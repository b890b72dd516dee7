// Plain data shared by every kernel: no Python, no allocation, no OpenMP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "contract.hpp"  // index_t, Method, Status and the other shared values

namespace geomedian {

struct Options {
    Method method = Method::weiszfeld;
    double tol = 1e-10;
    index_t max_iter = 1000;
    // Rows with a NaN coordinate are absent (small problems only, see small_pass.hpp);
    // otherwise NaN, like inf, makes the problem non-finite.
    bool omit_nan = false;
};

// One problem: n rows of d coordinates, C order; w == nullptr means unit weights.
// `wscale` is a power of two with max(w) * wscale in [0.5, 1): weights are used
// as w * wscale so that sums of w / distance cannot overflow whatever the user's units.
template <class T>
struct Problem {
    const T* x;
    const double* w;
    double wscale;
    index_t n;
    index_t d;
};

// Per-problem outputs; `median` has d entries, written in the caller's coordinates.
struct Outcome {
    double* median;
    double objective;
    double lower_bound;
    double gap;
    index_t n_iter;
    index_t n_passes;
    Status status;
    double scale = std::numeric_limits<double>::quiet_NaN();  // F / W: the gap's unit, a distance (certificate.hpp), caller's units
};

// Polled once per iteration by the driving thread: returns true to abandon the solve.
struct Interrupt {
    bool (*poll)(void*) = nullptr;
    void* context = nullptr;
    bool operator()() const { return poll != nullptr && poll(context); }
};

}  // namespace geomedian
