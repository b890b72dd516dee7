// problem_mads (mad.hpp), compiled once per x86-64 level like the other hot loops.
#include "geomedian/mad.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "geomedian/fused_pass.hpp"  // GEOMEDIAN_ALWAYS_INLINE
#include "geomedian/target_clones.hpp"

namespace geomedian {
namespace {

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

// Four values that compare, lane by lane, as one: a row's three terms sorted together.
typedef double terms4 __attribute__((vector_size(4 * sizeof(double)), aligned(sizeof(double))));

// The medians of the three terms over c rows, t: c x 4. A few dozen rows (a pixel's dates)
// go through a sorting network, every comparator sorting the three columns at once without
// a branch; a partition's branches, mispredicted half the time, were most of the MADs' cost.
inline void term_medians(double* t, index_t c, MadScratch& ms, double* med) {
    if (c > MadScratch::network_rows) {
        std::vector<double> v(static_cast<std::size_t>(c));
        for (int a = 0; a < 3; ++a) {
            for (index_t i = 0; i < c; ++i) v[i] = t[4 * i + a];
            med[a] = median_of(v.data(), c);
        }
        return;
    }
    std::vector<index_t>& net = ms.networks[c];
    if (net.empty() && c > 1) net = sorting_network(c);
    for (std::size_t p = 0; p < net.size(); p += 2) {
        double* pa = t + 4 * net[p];
        double* pb = t + 4 * net[p + 1];
        terms4 x, y;
        std::memcpy(&x, pa, sizeof x);
        std::memcpy(&y, pb, sizeof y);
        const terms4 lo = x < y ? x : y, hi = x < y ? y : x;
        std::memcpy(pa, &lo, sizeof lo);
        std::memcpy(pb, &hi, sizeof hi);
    }
    const index_t h = c / 2;
    for (int a = 0; a < 3; ++a)
        med[a] = c % 2 == 1 ? t[4 * h + a] : 0.5 * (t[4 * (h - 1) + a] + t[4 * h + a]);
}

template <class T>
GEOMEDIAN_ALWAYS_INLINE void mads_of(const Problem<T>& p, const double* m, MadScratch& ms,
                                     const MadOutcome& mo, index_t k) {
    const index_t n = p.n, d = p.d;
    double* __restrict dd = ms.sums.data();
    double* __restrict xx = dd + n;
    double* __restrict xm = xx + n;
    double* __restrict dif = xm + n;
    double* __restrict sum = dif + n;
    double* __restrict t = ms.terms.data();
    double mm = 0.0;
    bool finite = true;
    for (index_t j = 0; j < d; ++j) {
        mm += m[j] * m[j];
        finite &= std::isfinite(m[j]);
    }
    const double norm_m = std::sqrt(mm);
    // The sums of the valid rows, then their terms in one loop over the rows (vector square
    // roots and divisions).
    index_t c = 0;
    for (index_t i = 0; i < n; ++i) {
        const T* xi = p.x + i * d;
        if ((!all_finite(xi, d) && row_has_nan(xi, d)) || (p.w != nullptr && !(p.w[i] > 0.0)))
            continue;
        double a = 0.0, b = 0.0, e = 0.0, f = 0.0, g = 0.0;
        for (index_t j = 0; j < d; ++j) {
            const double x = static_cast<double>(xi[j]);
            const double r = x - m[j];
            a += r * r;
            b += x * x;
            e += x * m[j];
            f += std::fabs(r);
            g += std::fabs(x + m[j]);
        }
        dd[c] = a;
        xx[c] = b;
        xm[c] = e;
        dif[c] = f;
        sum[c] = g;
        ++c;
    }
    mo.count[k] = c;
    if (c == 0 || !finite) {
        mo.emad[k] = mo.smad[k] = mo.bcmad[k] = NAN;
        return;
    }
    for (index_t i = 0; i < c; ++i) {
        t[4 * i] = std::sqrt(dd[i]);
        t[4 * i + 1] = 1.0 - ratio_or_zero(xm[i], std::sqrt(xx[i]) * norm_m);
        t[4 * i + 2] = ratio_or_zero(dif[i], sum[i]);
        t[4 * i + 3] = 0.0;
    }
    double med[3];
    term_medians(t, c, ms, med);
    mo.emad[k] = med[0];
    mo.smad[k] = med[1];
    mo.bcmad[k] = med[2];
}

}  // namespace

GEOMEDIAN_CLONES void problem_mads(const Problem<float>& p, const double* m, MadScratch& ms,
                                   const MadOutcome& mo, index_t k) {
    mads_of(p, m, ms, mo, k);
}

GEOMEDIAN_CLONES void problem_mads(const Problem<double>& p, const double* m, MadScratch& ms,
                                   const MadOutcome& mo, index_t k) {
    mads_of(p, m, ms, mo, k);
}

}  // namespace geomedian
