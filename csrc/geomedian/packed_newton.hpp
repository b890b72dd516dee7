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
//   one Weiszfeld step from there (a pass, kept where it descends); then until the
//   certified relative gap is <= tol: Hessian, Newton step, a pass at the trial point,
//   accepted by newton_accept; finally the rounded answer is certified.
//
// A lane leaves that path (a Weiszfeld step that does not descend, in rounding; a Newton
// step that cannot be formed or is rejected; the iterate near a data point; the step
// below the frame's resolution; no certificate after packed_max_iter iterations or
// max_iter; a non-finite or empty problem; a point beyond the near radius, below) by
// giving its problem back: the caller solves it from scratch with
// the general driver. Every operation of a lane reads that lane only, so a problem's bits
// do not depend on its neighbours, nor on the batch size or thread count.
//
// Far points. The packed solve certifies with the classic relative gap (f - LB) / f, which
// is the general driver's rule only where no point of positive weight lies beyond the near
// radius R = near_factor rho of the answer (certificate.hpp: then F = f); with far points
// f is made of their distances and the classic gap says nothing about the inliers. So a
// lane is certified only where every such point lies within R of the answer, R as the
// general driver computes it (robust_frame.hpp: the sample is every present row of a
// packed problem, m their coordinate-wise weighted lower median, rho the weighted lower
// median of ||x_i - m||; R <= 0 or not finite: given back). Nothing is sorted for it:
// rho >= t holds exactly when the rows closer than t to m weigh less than half, so a
// count against the answer's farthest distance decides. Where the start is the median
// (m <= start_median_rows rows) it is m in the frame and the first pass leaves
// ||u_i - m||^2: the count is the exact condition, short of a row within 2^-36 of the
// threshold (in the frame, where the data spans < 1) or weighted sums that robust_anchor
// might round to another median (both given back). Where the start is the mean, a
// sufficient test at the answer bounds ||m - z|| by counts along each coordinate instead,
// and gives back the lanes it cannot settle (packed_newton.cpp).
//
// Layout (L = PackBuffers::lanes, pack or 1): u[(j n + q) L + l] is coordinate j of row q
// of lane l's problem; the present rows of a problem come first, in order, then its
// omitted (NaN) rows, which repeat the first present row with weight 0 (they add exactly
// 0 to every sum, and the median start sees only a duplicate of row 0).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "prefetch.hpp"
#include "robust_frame.hpp"
#include "small_pass.hpp"

namespace geomedian {

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

// The comparators of `net` (pairs as sorting_network's) that the value at position k
// depends on: the others only move values that never reach k, so the value left at k is
// the same, bit for bit. For the median of 20 rows, 81 of 97.
inline std::vector<index_t> selection_network(const std::vector<index_t>& net, index_t n,
                                              index_t k) {
    std::vector<char> needed(static_cast<std::size_t>(n), 0);
    std::vector<index_t> kept;
    needed[static_cast<std::size_t>(k)] = 1;
    for (std::size_t c = net.size(); c >= 2; c -= 2) {
        const index_t a = net[c - 2], b = net[c - 1];
        if (needed[a] || needed[b]) {
            needed[a] = needed[b] = 1;
            kept.push_back(b);
            kept.push_back(a);
        }
    }
    std::reverse(kept.begin(), kept.end());
    return kept;
}

// The pack's arrays, allocated once per thread for the batch's n and d.
// One allocation: a hot loop of single small problems pays it per call.
struct PackBuffers {
    index_t n, d;          // n: the rows of the layout, rows_in_use of them while solving
    index_t capacity;      // the batch's n, the rows of every packed problem
    index_t lanes = pack;  // lanes in use, pack or 1 (the stride L of the layout)
    std::vector<double> buf;
    std::vector<index_t> present;  // pack x capacity: each lane's present rows (pack_lanes)
    std::vector<double> raw;       // d x n x L: the coordinates as packed, for packed_mads
    std::vector<double> terms;     // 3 x n x L: packed_mads' terms
    std::vector<std::vector<index_t>> mad_networks;  // sorting_network by row count
    bool unit_weights;
    std::vector<index_t> network;  // sorting_network(n), for unit weights only
    std::vector<index_t> median_network;  // its part that places rank (n - 1) / 2
    // Both networks per row count, built the first time a pack has that many rows.
    std::vector<std::vector<index_t>> networks, median_networks;
    double* u;       // d x n x L: coordinates, raw, then in each lane's frame
    double* w;       // n x L: weights
    double* d2;      // n x L: ||u - z||^2 of the last pass
    double* t;       // n x L: w / d of the last pass
    double* sorted;  // d x n x L: the coordinates again, sorted for the median start; from
                     // the first pass on, its first n x L: ||u - z||^2 at the start z
    double* rows_at_z;  // (d + 1) x n x L: the Hessian's weights v and residuals u - z
    Ahead ahead;        // the next pack's values, asked for a few lines per row of a pass
    PackBuffers(index_t n_, index_t d_, bool unit_weights)
        : n(n_), d(d_), capacity(n_), buf((3 * d_ + 4) * n_ * pack + pack),
          present(static_cast<std::size_t>(pack * n_)), unit_weights(unit_weights),
          network(unit_weights ? sorting_network(n_) : std::vector<index_t>{}),
          median_network(unit_weights ? selection_network(network, n_, (n_ - 1) / 2)
                                      : std::vector<index_t>{}),
          u(vector_aligned(buf.data())), w(u + d_ * n_ * pack), d2(w + n_ * pack),
          t(d2 + n_ * pack), sorted(t + n_ * pack), rows_at_z(sorted + d_ * n_ * pack) {}
    // The first of `pack` doubles at an address that is a multiple of a pack's bytes: each
    // line of the layout then lies in one cache line, where the allocator's 16-byte
    // alignment split most of them in two (a split load or store costs two).
    static double* vector_aligned(double* p) {
        const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p), line = pack * sizeof(double);
        return p + (line - a % line) % line / sizeof(double);
    }

    // Lays the buffers out for problems of `rows` rows (rows <= capacity) and takes the
    // networks for that many rows; the values are written after (pack_lanes).
    void use_rows(index_t rows) {
        if (rows == n) return;
        n = rows;
        if (!unit_weights) return;
        if (networks.empty()) {
            networks.resize(static_cast<std::size_t>(capacity + 1));
            median_networks.resize(static_cast<std::size_t>(capacity + 1));
            networks[capacity].swap(network);
            median_networks[capacity].swap(median_network);
        } else {
            networks[prev_rows].swap(network);
            median_networks[prev_rows].swap(median_network);
        }
        if (networks[rows].empty() && rows > 1) {
            networks[rows] = sorting_network(rows);
            median_networks[rows] = selection_network(networks[rows], rows, (rows - 1) / 2);
        }
        network.swap(networks[rows]);
        median_network.swap(median_networks[rows]);
        prev_rows = rows;
    }

  private:
    index_t prev_rows = 0;
};

// This thread's PackBuffers for a batch of problems of n rows and d coordinates, kept from
// its last batch of that shape, as they are kept from one pack to the next within a batch:
// a hot loop of single small problems allocated them, zeroed them and built their sorting
// networks per call. A packed problem has at most packed_problem_size values, so a thread
// keeps a few hundred kilobytes at most.
inline PackBuffers& thread_pack_buffers(index_t n, index_t d, bool unit_weights) {
    thread_local std::unique_ptr<PackBuffers> kept;
    if (!kept || kept->capacity != n || kept->d != d || kept->unit_weights != unit_weights)
        kept = std::make_unique<PackBuffers>(n, d, unit_weights);
    return *kept;
}

struct PackOptions {
    double tol;
    index_t max_iter;
    bool to_float;      // round the answers to float32
    bool unit_weights;  // every present row weighs 1 (no weights given)
};

// Per lane: the answer in the caller's coordinates (d x L), its objective and bound in
// the frame's units, the frame's scale and total weight (scaled), the counts, and whether
// it was certified (then no point lies beyond the near radius: F = f, and the outcome's
// scale F / (W s) is f / (W s) in the caller's units).
struct alignas(pack * sizeof(double)) PackOutcome {
    double median[newton_max_d * pack];
    double f[pack], lb[pack], s[pack], W[pack];
    index_t n_iter[pack], n_passes[pack];
    bool certified[pack];
};

// Per lane: the three MADs and the count of packed_mads (mad.hpp's definitions).
struct PackMads {
    double emad[pack], smad[pack], bcmad[pack];
    index_t count[pack];
};

// The solve of packed_newton.cpp: u and w as laid out above (raw coordinates, scaled
// weights), m[l] present rows of lane l (0: nothing to solve). u is moved into each lane's
// frame.
void packed_newton(PackBuffers& b, const index_t* m, const PackOptions& opt, PackOutcome& out);

// `count` problems from a to b (a batch's, in order) as one span of memory to ask for ahead
// of their use, as stack_span.
template <class T>
inline Ahead problems_span(const Problem<T>& a, const Problem<T>& b, index_t count) {
    const char* first = reinterpret_cast<const char*>(a.x);
    const char* last = reinterpret_cast<const char*>(b.x + b.n * b.d);
    const auto bytes = static_cast<std::size_t>(count * a.n * a.d) * sizeof(T);
    if (count <= 0 || last < first || static_cast<std::size_t>(last - first) > 4 * bytes) return {};
    return {first, static_cast<std::size_t>(last - first)};
}

// Whether all k values are finite (exponent bits not all set): one sweep over a problem's
// contiguous block, so that the transposing copy below tests nothing per value. Integer
// operations, which the compiler vectorises in the baseline build where a floating-point
// compare (trapping math) stays a branch per value.
template <class T>
inline bool all_finite(const T* __restrict x, index_t k) {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr Bits exponent = static_cast<Bits>(sizeof(T) == 4 ? 0x7f800000u : 0x7ff0000000000000u);
    Bits bad = 0;
    for (index_t i = 0; i < k; ++i) {
        Bits bits;
        std::memcpy(&bits, x + i, sizeof bits);
        bad |= (bits & exponent) == exponent;
    }
    return bad == 0;
}

// The rows of problem p that go into its lane, in order, into rows[]: every row when all
// are finite (the common case), else its rows without NaN under omit. Returns their
// count, or 0 when the general driver must take the problem (no present row; NaN or inf
// it must report).
template <class T>
index_t present_rows(const Problem<T>& p, bool omit, index_t* rows) {
    const index_t n = p.n, d = p.d;
    if (!omit) {
        if (!all_finite(p.x, n * d)) return 0;
        for (index_t i = 0; i < n; ++i) rows[i] = i;
        return n;
    }
    bool bad = false;
    index_t m = 0;
    for (index_t i = 0; i < n; ++i) {
        const T* xi = p.x + i * d;
        if (!all_finite(xi, d)) {  // the bit test first: most rows are all finite or all NaN
            for (index_t j = 0; j < d; ++j) bad |= std::isinf(xi[j]);
            if (row_has_nan(xi, d)) continue;
        }
        rows[m++] = i;
    }
    return bad ? 0 : m;
}

// Lays out a pack: lane l < count holds problem probs[l]'s present rows, in order, with
// their scaled weights; m[l] is their count (present_rows). Problems with omitted rows
// are solved on the rows some lane uses: every lane's present rows come first, so rows
// beyond the pack's largest count would be padding in every lane and are not laid out
// (use_rows). A lane with fewer rows is padded with its first present row at weight 0,
// which adds exactly 0 to every sum, so a problem gets the same bits whatever its
// neighbours' counts. A lane with nothing to solve holds zeros of unit weight: finite
// values, so the lock-step arithmetic on it stays cheap and raises nothing.
// Row by row of the pack, all lanes at once: each line of the layout (a coordinate of a
// row, in every lane) is written whole, where a lane at a time touched every line of the
// layout once per lane. (packed_newton.cpp: compiled per instruction-set level.)
void pack_lanes(const Problem<float>* probs, index_t count, bool omit, PackBuffers& b, index_t* m);
void pack_lanes(const Problem<double>* probs, index_t count, bool omit, PackBuffers& b,
                index_t* m);

// Each lane's MADs (mad.hpp) around its answer out.median, over its rows of positive
// weight, from b.raw (the coordinates as pack_lanes laid them out, kept before the solve
// moved b.u into the frames): the same sums, in the same order, as problem_mads, for
// every lane at once, and the medians by a sorting network over the rows. A lane without
// a valid row or a finite answer gets NaN.
void packed_mads(PackBuffers& b, const PackOutcome& out, PackMads& mads);

}  // namespace geomedian
