// Weiszfeld's iteration with the Vardi-Zhang modification.
//
// Weiszfeld: T(y) = sum_i w_i x_i / d_i  /  sum_i w_i / d_i,  d_i = ||y - x_i||, a
// majorize-minimize step that never increases f. Written around the iterate to avoid
// cancellation: T(y) - y = R / inv with R = sum w_i (x_i - y) / d_i, inv = sum w_i / d_i.
//
// Vardi-Zhang: when y coincides with data points of total weight eta, those points are
// left out of R and inv, and with r = ||R||
//
//   y+ = y + max(0, 1 - eta / r) (T~(y) - y)
//
// so y stays put exactly when r <= eta, which is Kuhn's optimality test for a vertex.
#pragma once

#include <cmath>

#include "fused_pass.hpp"

namespace geomedian {

// Writes the step from z into z_next; returns false when z is a fixed point.
inline bool weiszfeld_step(const double* sums, index_t d, const double* z, double* z_next) {
    const double* R = sums + slot::head;
    const double inv = sums[slot::inv];
    const double eta = sums[slot::eta];
    double rn2 = 0;
    for (index_t j = 0; j < d; ++j) rn2 += R[j] * R[j];
    const double rn = std::sqrt(rn2);
    if (!(inv > 0) || rn <= eta) return false;
    const double step = (1.0 - eta / rn) / inv;
    bool moved = false;
    for (index_t j = 0; j < d; ++j) {
        z_next[j] = z[j] + step * R[j];
        moved |= z_next[j] != z[j];
    }
    return moved;
}

}  // namespace geomedian
