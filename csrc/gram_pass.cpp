// The block loops of gram_pass.hpp, once per dtype and (see fused_pass.cpp) once per
// instruction-set level: add_gram's tiles are multiply-adds on wide registers.
#include "geomedian/gram_pass.hpp"

#include "geomedian/target_clones.hpp"

namespace geomedian {

GEOMEDIAN_CLONES void gram_block(const Rows<float>& x, index_t r, double s, index_t lo,
                                 index_t hi, double* b, double* G) {
    gram_block_t(x, r, s, lo, hi, b, G);
}
GEOMEDIAN_CLONES void gram_block(const Rows<double>& x, index_t r, double s, index_t lo,
                                 index_t hi, double* b, double* G) {
    gram_block_t(x, r, s, lo, hi, b, G);
}
GEOMEDIAN_CLONES void median_block(const Rows<float>& x, index_t r, double s, const double* a,
                                   index_t vertex, index_t lo, index_t hi, double* b, float* y,
                                   double* d2) {
    median_block_t(x, r, s, a, vertex, lo, hi, b, y, d2);
}
GEOMEDIAN_CLONES void median_block(const Rows<double>& x, index_t r, double s, const double* a,
                                   index_t vertex, index_t lo, index_t hi, double* b, double* y,
                                   double* d2) {
    median_block_t(x, r, s, a, vertex, lo, hi, b, y, d2);
}
GEOMEDIAN_CLONES void certificate_block(const Rows<float>& x, index_t r, const double* a,
                                        index_t vertex, const float* y, const double* t,
                                        const double* ws, index_t lo, index_t hi, double* b,
                                        double* rr_rm) {
    certificate_block_t(x, r, a, vertex, y, t, ws, lo, hi, b, rr_rm);
}
GEOMEDIAN_CLONES void certificate_block(const Rows<double>& x, index_t r, const double* a,
                                        index_t vertex, const double* y, const double* t,
                                        const double* ws, index_t lo, index_t hi, double* b,
                                        double* rr_rm) {
    certificate_block_t(x, r, a, vertex, y, t, ws, lo, hi, b, rr_rm);
}

}  // namespace geomedian
