// The three median absolute deviations of a composite (GeoMAD) and the count of valid
// points, for one problem, computed by the batch driver right after the problem's median,
// while its rows are still in cache.
//
// Over the valid rows x_t of the problem (no NaN coordinate, and a positive weight when
// weights are given) and its median m:
//   emad  = median_t ||x_t - m||_2
//   smad  = median_t (1 - <x_t, m> / (||x_t|| ||m||))
//   bcmad = median_t sum_j |x_tj - m_j| / sum_j |x_tj + m_j|
// a ratio whose denominator is 0 counting as 0 (for bcmad the point and the median are
// then both the origin; for smad one of them is, and the cosine is taken as 0). The median
// of an even count is the mean of the two middle values, as in np.median. No valid row, or
// a median that is not finite: NaN, with the count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "packed_newton.hpp"  // all_finite
#include "small_pass.hpp"     // row_has_nan
#include "types.hpp"

namespace geomedian {

// Optional outputs of a batch solve (BatchOutcome::mad), P entries each.
struct MadOutcome {
    double* emad;
    double* smad;
    double* bcmad;
    std::int64_t* count;
};

// One thread's scratch: the sums and terms of every valid row of a problem, and the
// sorting networks (sorting_network) of the counts met so far, up to network_rows.
struct MadScratch {
    static constexpr index_t network_rows = 128;  // beyond: a selection by partition
    std::vector<double> sums;   // 5 x n: ||r||^2, ||x||^2, <x, m>, sum |r_j|, sum |x_j + m_j|
    std::vector<double> terms;  // n x 4: the terms of emad, smad and bcmad of a row, and 0
    std::vector<std::vector<index_t>> networks;
    explicit MadScratch(index_t n)
        : sums(static_cast<std::size_t>(5 * n)), terms(static_cast<std::size_t>(4 * n)),
          networks(static_cast<std::size_t>(n > 0 ? std::min(n, network_rows) + 1 : 0)) {}
};

// Problem p's MADs around its median m (d values) into entry k of mo (mad.cpp: compiled
// per instruction-set level, as the other hot loops).
void problem_mads(const Problem<float>& p, const double* m, MadScratch& ms, const MadOutcome& mo,
                  index_t k);
void problem_mads(const Problem<double>& p, const double* m, MadScratch& ms,
                  const MadOutcome& mo, index_t k);

}  // namespace geomedian
