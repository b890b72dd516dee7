// The stopping rule's certificate: a lower bound on the optimum from the dual problem.
//
//   minimize f(y) = sum_i w_i ||y - x_i||
//            = max { sum_i u_i . (y - x_i) : ||u_i|| <= w_i }           (for every y)
//   f*       >= max { -sum_i u_i . x_i : ||u_i|| <= w_i, sum_i u_i = 0 }  (weak duality)
//
// At the iterate y take u_i = w_i (y - x_i) / ||y - x_i||; a point coinciding with y may take
// any u_i of norm <= w_i, and together they cancel as much of the smooth part's gradient as
// their weight eta allows, which makes g = sum_i u_i the minimum-norm subgradient. Shifting
// v_i = u_i - (w_i / W) g restores sum v_i = 0 with ||v_i|| <= w_i (1 + ||g|| / W), so
// v / (1 + ||g|| / W) is dual feasible and
//
//   f* >= LB(y) = (S - g . (y - xbar)) / (1 + ||g|| / W),   S = sum_i u_i . (y - x_i)
//
// with W = sum w_i and xbar the weighted mean. For the non-coincident points
// u_i . (y - x_i) = w_i ||y - x_i||; for the coincident ones it is >= -w_i ||y - x_i||, so
// S >= f - 2 f_coinc, which keeps LB valid when "coincident" means "within eps".
// g . (y - xbar) = -g . M / W with M = sum_i w_i (x_i - y) from the same pass.
//
// Rounding: S and g . M / W are float64 sums of n terms, each term good to a few ulps, summed
// in blocks (parallel.hpp); their relative error stays far below sum_rounding. Near the
// optimum g -> 0 and the bound is S itself, but far from the data ||g|| -> W and LB is the
// small difference of two large numbers, where that error would exceed LB itself (a
// gradient-descent trial 1e17 away once "certified" a bound 10x above f*). So the bound
// gives up sum_rounding of the magnitudes it was computed from, which costs a relative gap
// of about 6e-14 at the optimum and keeps it a bound everywhere.
#pragma once

#include <cmath>

#include "fused_pass.hpp"

namespace geomedian {

constexpr double sum_rounding = 0x1p-44;

struct Certificate {
    double f;      // objective at the iterate (scaled units)
    double lb;     // lower bound on the optimum (scaled units)
    double gnorm;  // norm of the minimum-norm subgradient
};

// Fills g (d entries) with the minimum-norm subgradient and returns f, LB and ||g||.
inline Certificate certify(const double* sums, index_t d, double W, double* g) {
    const double* R = sums + slot::head;
    const double* M = R + d;
    double rn2 = 0;
    for (index_t j = 0; j < d; ++j) rn2 += R[j] * R[j];
    const double rn = std::sqrt(rn2);
    const double eta = sums[slot::eta];
    // The coincident weight cancels up to eta of the smooth gradient's norm.
    const double keep = rn > eta ? 1.0 - eta / rn : 0.0;
    double gm = 0;
    for (index_t j = 0; j < d; ++j) {
        g[j] = keep > 0 ? -R[j] * keep : 0.0;  // +0, not -0, when absorbed
        gm += g[j] * M[j];
    }
    const double gnorm = rn * keep;
    const double f = sums[slot::f];
    const double S = f - 2.0 * sums[slot::f_coinc];
    const double slack = sum_rounding * (std::fabs(S) + std::fabs(gm) / W);
    const double lb = (S + gm / W - slack) / (1.0 + gnorm / W);
    return {f, lb, gnorm};
}

// Relative duality gap (f - LB) / f, 0 when f == 0 (every point sits on the iterate).
inline double relative_gap(double f, double lb) {
    if (!(f > 0)) return 0.0;
    const double gap = (f - lb) / f;
    return gap > 0 ? gap : 0.0;
}

}  // namespace geomedian
