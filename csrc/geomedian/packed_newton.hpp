// Newton's method on eight small problems at once, one problem per SIMD lane.
//
// A satellite composite solves a million problems of 20 points in 6 bands. Solved one at
// a time (small_pass.hpp, rows in the lanes) each pass ends in horizontal sums, and the
// Hessian's factorisation, the certificate and the step logic are scalar code of a few
// dozen operations each: together three quarters of a pixel's time. With the problems in
// the lanes instead, every one of those operations is a vertical SIMD operation on eight
// problems, and no sum crosses lanes.
//
// The packed solver runs the common path of solver.hpp's driver, in lock step:
//
//   frame (c, s) and copy u = (x - c) s as the small pass; start at the coordinate-wise
//   weighted lower median (small_start's rule; the weighted mean for m > start_median_rows);
//   then until the certified relative gap is <= tol: Hessian, Newton step, a pass at the
//   trial point, accepted by newton_accept; finally the rounded answer is certified.
//
// A lane leaves that path (a Newton step that cannot be formed or is rejected; the iterate
// near a data point; the step below the frame's resolution; no certificate after
// packed_max_iter iterations or max_iter; a non-finite or empty problem) by giving its
// problem back: the caller solves it from scratch with the general driver. Every operation
// of a lane reads that lane only, so a problem's bits do not depend on its neighbours, nor
// on the batch size or thread count.
//
// Layout (L = PackBuffers::lanes, pack or 1): u[(j n + q) L + l] is coordinate j of row q
// of lane l's problem; the present rows of a problem come first, in order, then its
// omitted (NaN) rows, which repeat the first present row with weight 0 (they add exactly
// 0 to every sum, and the median start sees only a duplicate of row 0).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "small_pass.hpp"

namespace geomedian {

constexpr index_t pack = 8;
// Problems up to this many coordinates (n d) are packed: a pack's copy (n d L doubles,
// 64 KiB here) stays in L2. Larger small problems vectorise well over
// their own rows.
constexpr index_t packed_problem_size = 1024;
// As the general driver's first unconditional vertex probe: a problem that needs more
// Newton iterations is unusual, and given back.
constexpr index_t packed_max_iter = 8;

// Batcher's merge exchange (Knuth, TAOCP 5.2.2, Algorithm M): the comparator pairs
// (a, b), a < b, of a sorting network for n values, O(n log^2 n) of them.
inline std::vector<index_t> sorting_network(index_t n) {
    std::vector<index_t> pairs;
    if (n < 2) return pairs;
    index_t top = 1;
    while (2 * top < n) top *= 2;  // 2^(t-1), t = ceil(log2 n)
    for (index_t p = top; p > 0; p /= 2) {
        index_t q = top, r = 0, dd = p;
        for (;;) {
            for (index_t i = 0; i + dd < n; ++i) {
                if ((i & p) == r) {
                    pairs.push_back(i);
                    pairs.push_back(i + dd);
                }
            }
            if (q == p) break;
            dd = q - p;
            q /= 2;
            r = p;
        }
    }
    return pairs;
}

// The pack's arrays, allocated once per thread for the batch's n and d.
// One allocation: a hot loop of single small problems pays it per call.
struct PackBuffers {
    index_t n, d;
    index_t lanes = pack;  // lanes in use, pack or 1 (the stride L of the layout)
    std::vector<double> buf;
    std::vector<index_t> network;  // sorting_network(n), for unit weights only
    double* u;       // d x n x L: coordinates, raw, then in each lane's frame
    double* w;       // n x L: weights
    double* d2;      // n x L: ||u - z||^2 of the last pass
    double* t;       // n x L: w / d of the last pass
    double* sorted;  // n x L: one coordinate of the rows, for the median start
    PackBuffers(index_t n_, index_t d_, bool unit_weights)
        : n(n_), d(d_), buf((d_ + 4) * n_ * pack),
          network(unit_weights ? sorting_network(n_) : std::vector<index_t>{}),
          u(buf.data()), w(u + d_ * n_ * pack), d2(w + n_ * pack), t(d2 + n_ * pack),
          sorted(t + n_ * pack) {}
};

struct PackOptions {
    double tol;
    index_t max_iter;
    bool to_float;      // round the answers to float32
    bool unit_weights;  // every present row weighs 1 (no weights given)
};

// Per lane: the answer in the caller's coordinates (d x L), its objective and bound in
// the frame's units, the frame's scale, the counts, and whether it was certified.
struct PackOutcome {
    double median[newton_max_d * pack];
    double f[pack], lb[pack], s[pack];
    index_t n_iter[pack], n_passes[pack];
    bool certified[pack];
};

// The solve of packed_newton.cpp: u and w as laid out above (raw coordinates, scaled
// weights), m[l] present rows of lane l (0: nothing to solve). u is moved into each lane's
// frame.
void packed_newton(PackBuffers& b, const index_t* m, const PackOptions& opt, PackOutcome& out);

// A lane with nothing to solve holds zeros of unit weight: finite values, so the
// lock-step arithmetic on it stays cheap and raises nothing.
inline void clear_lane(index_t l, PackBuffers& b) {
    for (index_t q = 0; q < b.n; ++q) {
        b.w[q * b.lanes + l] = 1.0;
        for (index_t j = 0; j < b.d; ++j) b.u[(j * b.n + q) * b.lanes + l] = 0.0;
    }
}

// Copies problem p into lane l and returns its number of present rows, or 0 when the
// general driver must take it (no present row; NaN or inf it must report).
template <class T>
index_t pack_problem(const Problem<T>& p, bool omit, index_t l, PackBuffers& b) {
    const index_t n = p.n, d = p.d;
    const double big = std::numeric_limits<T>::max();
    bool bad = false;
    index_t m = 0;
    for (index_t i = 0; i < n; ++i) {
        const T* xi = p.x + i * d;
        if (omit && row_has_nan(xi, d)) {
            for (index_t j = 0; j < d; ++j) bad |= std::isinf(xi[j]);
            continue;
        }
        for (index_t j = 0; j < d; ++j) {
            const double v = static_cast<double>(xi[j]);
            bad |= !(std::abs(v) <= big);
            b.u[(j * n + m) * b.lanes + l] = v;
        }
        b.w[m * b.lanes + l] = p.w != nullptr ? p.w[i] * p.wscale : 1.0;
        ++m;
    }
    if (bad || m == 0) {
        clear_lane(l, b);
        return 0;
    }
    for (index_t q = m; q < n; ++q) {
        b.w[q * b.lanes + l] = 0.0;
        for (index_t j = 0; j < d; ++j) b.u[(j * n + q) * b.lanes + l] = b.u[j * n * b.lanes + l];
    }
    return m;
}

}  // namespace geomedian
