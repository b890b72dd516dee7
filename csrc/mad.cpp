// problem_mads (mad.hpp), compiled once per x86-64 level like the other hot loops.
#include "geomedian/mad.hpp"

#include <algorithm>
#include <cmath>

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

template <class T>
GEOMEDIAN_ALWAYS_INLINE void mads_of(const Problem<T>& p, const double* m, MadScratch& ms,
                                     const MadOutcome& mo, index_t k) {
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
        if ((!all_finite(xi, d) && row_has_nan(xi, d)) || (p.w != nullptr && !(p.w[i] > 0.0)))
            continue;
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
