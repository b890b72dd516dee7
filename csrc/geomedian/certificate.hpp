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
// Rounding. Every sum s = sum_i t_i of a pass (f, inv, eta, f_coinc, w_far, f_near and each
// entry of R and M) comes out within 131 u T of the sum of its computed terms, T = sum_i |t_i|
// (T = s for the non-negative ones), u = 2^-53, whatever n, d, the thread count and the
// compiler's vectorisation:
//  1. No accumulator sums more than block_rows = 128 rows: a lane of short_rows or a group
//     of blocks (fused_pass.hpp), a lane of small_pass.cpp, a lane of packed_newton.cpp
//     (in the Numba mirror, short_rows and the small pass: a block of consecutive rows).
//     Adding k numbers in any order (any reduction tree, as vectorised reductions build)
//     errs by at most gamma_{k-1} times the sum of their magnitudes, gamma_k = k u / (1 - k u)
//     (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., sec. 4.2): at most
//     gamma_127 T < 127.01 u T over all the partial sums.
//  2. The partial sums are added with compensation (add_compensated: TwoSum, i.e.
//     Neumaier's summation, Ogita, Rump and Oishi's Sum2), within a chunk (short_rows adds
//     each lane's, then the lanes' sums and error terms) and then the chunk totals in chunk
//     order (parallel.hpp, and chunked.py for data read in chunks). Sum2 of m numbers p_j
//     returns their sum to u |sum_j p_j| + gamma_{m-1}^2 sum_j |p_j| (Ogita, Rump, Oishi,
//     SIAM J. Sci. Comput. 26 (2005), Prop. 4.5). Rounding each chunk total once and the
//     final sums twice costs 3 u T; with m <= 2^26 (fewer than 2^41 coordinates) each
//     gamma^2 term is below 2^-52 u. Together: |computed s - s| < 131 u T < 2^-45.9 T.
// The terms carry their own rounding: d_i is the square root of the sum of d rounded
// squares of the computed r_i (for d <= 16 in any order, to gamma_16; beyond, in segments
// of block_rows coordinates added with compensation, to 132 u as above; for d <= 2 on
// AVX-512 the squared sum times a reciprocal square root good to 5 u, and w_i / d_i that
// root times w_i: fused_pass_rsqrt.cpp), and w_i d_i one more product, so each w_i d_i is
// good to 68 u and f to 199 u f < 2^-45.3 f: well inside
// sum_rounding = 512 u, for every d. (The directions in R are covered by grad_rounding: its
// 512 u for the sums leave room for the few u more of a reciprocal square root.) On AVX-512
// the rows of every d > 2 take that reciprocal square root too (the blocks' terms:
// fused_pass_rsqrt.cpp): d_i = d2 y with y within 5 u of 1 / sqrt(d2), so d_i is good to
// 66 + 5 + 1 = 72 u beyond d = 16 (the square sum's 132 u halved, y, the product), each
// w_i d_i to 73 u and f to 204 u f < 2^-45.3 f; the directions w_i y r_i lose the same
// 6 u against w_i r_i / d_i, which the 381 u that the sums leave of grad_rounding's 512 u
// cover. Near the optimum g -> 0 and the bound is S itself, but far from the data
// ||g|| -> W and LB is the small difference of two large numbers, where that error would
// exceed LB itself (a gradient-descent trial 1e17 away once "certified" a bound 10x above
// f*). So the bound gives up sum_rounding of the magnitudes it was computed from, which
// costs a relative gap of about 6e-14 at the optimum and keeps it a bound everywhere.
//
// Far points. When a few points lie far away (a fill value of 1e37, one row at 1e20), f is
// made of their distances, LB too, and (f - LB) / f is tiny wherever the iterate sits in
// the inlier cloud: an ulp of f exceeds the change of f across the whole cloud. The bound
// above also spreads g over every point in proportion to w_i, and a far point pays
// (w_i / W) g . (y - x_i) for its share, which is huge. So g is absorbed by the near points
// only. Let N = { i : d_i <= R } (R the near radius of the frame), W_N and f_N their weight
// and objective share, G_N = sum_N u_i, and, for i in N,
//
//   v_i = (1 - beta) u_i - (w_i / W_N) h,   h = g - beta G_N,    v_i = u_i outside N.
//
// Then sum_i v_i = 0, and ||v_i|| <= w_i as soon as ||h|| <= beta W_N; since
// ||G_N|| <= ||g|| + (W - W_N), beta = ||g|| / (2 W_N - W - ||g||) suffices (when in (0, 1]).
// Each far point keeps its exact u_i and pays nothing: w_i d_i - u_i . (y - x_i) = 0. A near
// one pays beta w_i d_i (coincident ones at most 2 w_i d_i) plus its share of
// h . (y - xbar_N), and ||y - xbar_N|| <= f_N / W_N (triangle inequality), so
//
//   f(y) - f* <= gap_N = 2 beta f_N + 2 f_coinc,
//
// a sum of small terms, computed without cancellation whatever the far points' magnitude.
// The u_i are exact unit vectors times w_i; the computed g differs from their sum by the
// rounding of the n terms and of their directions, bounded by grad_rounding(d) W and added
// to ||g||. The stopping rule divides the smaller of the two gaps by
//
//   F = W f_N / W_N    (F = f when no point is beyond R)
//
// so the gap is relative to the spread of the data around the median, not to the far
// points' distances: f(y) - f* <= gap F, and F / W is the mean distance from the median to
// the points within R of it. With every point near, nothing changes: F = f, gap_N is not
// used and the rule is the classic (f - LB) / f.
#pragma once

#include <cmath>

#include "fused_pass.hpp"
#include "powers_of_two.hpp"

namespace geomedian {

// A bound on ||computed g - sum_i u_i|| / W: the sums' rounding plus that of each term's
// direction (a distance of d squares is good to about d / 2 ulps).
inline double grad_rounding(index_t d) {
    return sum_rounding + static_cast<double>(d + 8) * 0x1p-53;
}

struct Certificate {
    double f;      // objective at the iterate (scaled units)
    double lb;     // lower bound on the optimum (scaled units)
    double gnorm;  // norm of the minimum-norm subgradient
    double gap_near;  // gap_N, a bound on f - f* (scaled units); +inf when not applicable
    double scale;     // F, the gap's normaliser (scaled units)
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
    const double w_far = sums[slot::w_far];
    if (!(w_far > 0)) return {f, lb, gnorm, HUGE_VAL, f};
    // W_N and the denominator lose the sums' rounding, to stay on the safe side.
    const double wn = (W - w_far) * (1.0 - sum_rounding);
    const double fn = sums[slot::f_near];
    const double gn = gnorm + grad_rounding(d) * W;
    const double den = 2.0 * wn - W * (1.0 + sum_rounding) - gn;
    double gap_near = HUGE_VAL;
    if (den > 0 && gn <= den)
        gap_near = (2.0 * (gn / den) * fn + 2.0 * sums[slot::f_coinc]) * (1.0 + sum_rounding);
    const double scale = wn > 0 ? fn * (W / (W - w_far)) : f;
    return {f, lb, gnorm, gap_near, scale};
}

// A value v of the frame's units in the caller's, v / (s wscale), rounded up (an
// objective) or down (a bound). s and wscale are powers of two: the quotient is one
// scaling by 2^-e (no intermediate can leave float64's range whatever the two factors), so
// it is exact unless it lands among the subnormals (subnormal weights or coordinates);
// there the directed rounding keeps the bound below the optimum and the objective above it.
inline int units_exponent(double s, double wscale) {
    return binary_exponent(s) + binary_exponent(wscale) - 2;  // s wscale = 2^e
}
inline double in_units_up(double v, double s, double wscale) {
    const int e = units_exponent(s, wscale);
    const double q = scaled_by(v, -e);
    return scaled_by(q, e) < v ? std::nextafter(q, HUGE_VAL) : q;
}
inline double in_units_down(double v, double s, double wscale) {
    const int e = units_exponent(s, wscale);
    const double q = scaled_by(v, -e);
    return scaled_by(q, e) > v ? std::nextafter(q, -HUGE_VAL) : q;
}

// The certified absolute gap at an iterate whose certificate is c, given the best classic
// bound lb seen so far (any iterate's LB bounds f*).
inline double absolute_gap(const Certificate& c, double lb) {
    return std::min(c.f - lb, c.gap_near);
}

// What moving an iterate z to zt (its answer rounded to the points' dtype) can cost:
// f(zt) - f(z) <= g . (zt - z) + 2 f_coinc by convexity (f(z) >= f(zt) + g . (z - zt) for a
// subgradient g at zt; the coincident points' directions, which g lets cancel, give up
// 2 f_coinc as in S), plus g's rounding (grad_rounding(d) W) times |zt - z| and that of
// the product. sums and g are the pass at zt and its certify's. With g about H (zt - z)
// this is second order in the move, where the near bound at zt is first order (its
// gradient's): so f(zt) - f* <= absolute_gap(at z) + carried_gap.
inline double carried_gap(const double* sums, const double* g, const double* zt,
                          const double* z, index_t d, double W) {
    double dot = 0, mag = 0, move2 = 0;
    for (index_t j = 0; j < d; ++j) {
        const double dz = zt[j] - z[j];
        const double t = g[j] * dz;
        dot += t;
        mag += std::fabs(t);
        move2 += dz * dz;
    }
    const double slack = grad_rounding(d) * W * std::sqrt(move2) +
                         static_cast<double>(d + 2) * 0x1p-53 * mag;
    return (dot + 2.0 * sums[slot::f_coinc] + slack) * (1.0 + sum_rounding);
}

// rounded (the certificate at zt, from sums and g) with the gap of at_z carried to zt.
inline Certificate carried(Certificate rounded, const Certificate& at_z, double lb,
                           const double* sums, const double* g, const double* zt,
                           const double* z, index_t d, double W) {
    const double moved = absolute_gap(at_z, lb) + carried_gap(sums, g, zt, z, d, W);
    rounded.gap_near = std::min(rounded.gap_near, moved);
    return rounded;
}

// The relative gap the stopping rule compares with tol: absolute_gap / F, 0 when F == 0
// (every point sits on the iterate, or more than half the weight does with the rest far).
inline double relative_gap(const Certificate& c, double lb) {
    const double gap = absolute_gap(c, lb);
    if (c.f == 0) return 0.0;  // every point sits on the iterate
    if (!(c.scale > 0)) return gap > 0 || std::isnan(gap) ? HUGE_VAL : 0.0;
    const double r = gap / c.scale;
    return r > 0 ? r : (r <= 0 ? 0.0 : HUGE_VAL);  // NaN (an overflowed sum) never converges
}

// The classic relative gap (f - LB) / f, for solvers that have checked that no point is
// beyond the near radius (F = f there).
inline double relative_gap(double f, double lb) {
    if (f == 0) return 0.0;
    const double gap = (f - lb) / f;
    return gap > 0 ? gap : (gap <= 0 ? 0.0 : HUGE_VAL);
}

}  // namespace geomedian
