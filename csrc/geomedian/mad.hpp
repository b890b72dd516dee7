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
// then both the origin; for smad one of them is, and the cosine is taken as 0). The median of an even count is the mean of the two middle values,
// as in np.median. No valid row, or a median that is not finite: NaN, with the count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "small_pass.hpp"  // row_has_nan
#include "types.hpp"

namespace geomedian {

// Optional outputs of a batch solve (BatchOutcome::mad), P entries each.
struct MadOutcome {
    double* emad;
    double* smad;
    double* bcmad;
    std::int64_t* count;
};

// One thread's scratch: the three terms of every row of a problem.
struct MadScratch {
    std::vector<double> terms;  // 3 x n
    explicit MadScratch(index_t n) : terms(static_cast<std::size_t>(3 * n)) {}
};

// The median of v[0 .. k) (k >= 1), reordering v: np.median's value.
inline double median_of(double* v, index_t k) {
    const index_t h = k / 2;
    std::nth_element(v, v + h, v + k);
    const double upper = v[h];
    if (k % 2 == 1) return upper;
    const double lower = *std::max_element(v, v + h);
    return 0.5 * (lower + upper);
}

inline double ratio_or_zero(double a, double b) { return b == 0.0 ? 0.0 : a / b; }

// Problem p's MADs around its median m (d values) into entry k of mo.
template <class T>
void problem_mads(const Problem<T>& p, const double* m, MadScratch& ms, const MadOutcome& mo,
                  index_t k) {
    const index_t n = p.n, d = p.d;
    double* e = ms.terms.data();
    double* sp = e + n;
    double* bc = sp + n;
    double mm = 0.0;
    bool finite = true;
    for (index_t j = 0; j < d; ++j) {
        mm += m[j] * m[j];
        finite &= std::isfinite(m[j]);
    }
    const double norm_m = std::sqrt(mm);
    index_t c = 0;
    for (index_t i = 0; i < n; ++i) {
        const T* xi = p.x + i * d;
        if (row_has_nan(xi, d) || (p.w != nullptr && !(p.w[i] > 0.0))) continue;
        double dd = 0.0, xx = 0.0, xm = 0.0, dif = 0.0, sum = 0.0;
        for (index_t j = 0; j < d; ++j) {
            const double x = static_cast<double>(xi[j]);
            const double r = x - m[j];
            dd += r * r;
            xx += x * x;
            xm += x * m[j];
            dif += std::fabs(r);
            sum += std::fabs(x + m[j]);
        }
        e[c] = std::sqrt(dd);
        sp[c] = 1.0 - ratio_or_zero(xm, std::sqrt(xx) * norm_m);
        bc[c] = ratio_or_zero(dif, sum);
        ++c;
    }
    mo.count[k] = c;
    if (c == 0 || !finite) {
        mo.emad[k] = mo.smad[k] = mo.bcmad[k] = NAN;
        return;
    }
    mo.emad[k] = median_of(e, c);
    mo.smad[k] = median_of(sp, c);
    mo.bcmad[k] = median_of(bc, c);
}

}  // namespace geomedian
