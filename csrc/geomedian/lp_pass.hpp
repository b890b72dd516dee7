// One pass of the Lp median, 1 < p < inf: every sum its Newton step and its certificate
// need, at the iterate y, in one read of the points.
//
// For z_i = y - x_i, N_i = ||z_i||_p, a_i = |z_i| / N_i and s_i = sign(z_i) a_i^(p-1)
// (||s_i||_q = 1, q = p / (p - 1)), with u_i = w_i s_i the gradient's duals:
//
//   f = sum_i w_i N_i                       g = sum_i u_i
//   S = sum_i u_i . z_i   (= f, exactly)    A = sum_i |u_i| . |z_i|
//   M = sum_i w_i z_i     (W (y - xbar))    B = sum_i w_i |z_i|,  G = sum_i |u_i|
//   H = sum_i c_i (diag(max(a_i, floor)^(p-2)) - s_i s_i^T),  c_i = w_i (p - 1) / N_i
//
// plus sum_i w_i / N_i (the Weiszfeld step's scale), the weight at y, the nearest point of
// positive weight (the first row on ties), the nearest coordinate x_ij to each y_j (where
// Newton creeps for p < 2; the smaller x_ij on ties), the largest ||s_i||_q as computed
// (the rounded duals' excess over their weights, but for the one rounding of w_i s_i,
// which the bound allows for) and, for p < 2,
// sum_i w_i N_i^(1-p) over the points with z_ij = 0 in each coordinate (the pull that pins
// y_j there). The bound is assembled from these sums on the Python side (the Lp
// certificate, derived in the docs).
//
// Order of the additions: row b + l of each group of lp_lanes rows goes to lane l (the
// lanes are one vector of the widest unit; their count is fixed, not the CPU's, so the
// bits are the same on every CPU); each lane's accumulator takes at most block_rows of its
// rows, whose total is added to the lane's with compensation; the lanes are added in lane
// order with compensation, then the fixed chunks of parallel.hpp in chunk order. The
// rounding of every sum stays within certificate.hpp's allowance whatever n and the thread
// count.
//
// `shift` (or nullptr): the duals are taken at y + shift instead, the distances and the
// products u_i . z_i still at y: a Newton step below y's resolution still moves the duals.
// `near`: the weight and the objective of the points within that distance of y are summed
// apart as well (w_near, f_near): the far-point bound of the Lp certificate.
//
// Each z_i is scaled by its largest entry before the powers: no overflow or underflow.
// p = 1.5 and p = 3 take their powers as square roots and products, their p-th roots and
// 1 / N by an inverse cube root of multiplications and additions (pow costs most of a pass
// otherwise; divisions and square roots most of the rest); an integer p from 4 to
// lp_integer_max takes its powers by squares and only its roots by pow_fast; any other p
// takes its powers as 2^(b log2 a) of polynomials and bits (pow_fast, lp_rows.inc;
// std::pow outside its range). The loops are plain (no reassociation, no contraction:
// the file is compiled with -ffp-contract=off): the Numba mirror (lp_pass.py) gets the
// same bits.
#pragma once

#include <cmath>

#include "contract.hpp"

namespace geomedian {

// The sums end here; then, per coordinate, the least |y_j - x_ij| over the points of
// positive weight and that x_ij (the first such row), d entries each.
constexpr index_t lp_additive_end(index_t d) { return lp_slot::head + 6 * d + d * (d + 1) / 2; }
constexpr index_t lp_sums_size(index_t d) { return lp_additive_end(d) + 2 * d; }

// The powers of one p: kind 1 is p = 1.5, kind 2 is p = 3, kind 3 an integer p = n from 4
// to lp_integer_max (by squares: n and the cutoffs of n and n - 2, lp_power_cutoff), kind 0
// any other (pow_fast).
struct LpPowers {
    double p;
    double q;
    int kind;
    int n;
    double cut_p;
    double cut_h;
};

// The least v whose v^n is sure to be normal, a power of two: 2^-floor(1022 / n).
inline double lp_power_cutoff(int n) { return std::ldexp(1.0, -(1022 / n)); }

LpPowers lp_powers(double p);

// The sums of one problem (x: n rows of d, C order; w or nullptr: unit
// weights) at y, into out (lp_sums_size(d) doubles): its chunks over `threads` OpenMP
// threads, each summed by lp_rows, added in chunk order.
template <class T>
void lp_pass(const T* x, const double* w, index_t n, index_t d, const double* y,
             const double* shift, double near, const LpPowers& e, int threads, double* out);

}  // namespace geomedian
