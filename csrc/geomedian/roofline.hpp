// Benchmark-only: what the running machine allows for one pass, measured on the same data
// with the plainest compiled loops (benchmarks/test_roofline.py). No solver uses these.
#pragma once

#include "types.hpp"

namespace geomedian {

// The sum of every coordinate of rows [0, n) of an (n, d) array on `threads` threads:
// the time of one read of the data (the read-bandwidth bound of a pass).
double roofline_read(const double* x, index_t n, index_t d, int threads);
double roofline_read(const float* x, index_t n, index_t d, int threads);

// The per-point arithmetic of a pass with no memory traffic: `repeats` sweeps over an
// (m, d) block small enough to stay in cache, each row giving its distance to y, a
// correctly rounded square root and a division (sum ||x - y|| + sum 1 / ||x - y||).
// Time / (repeats * m) is the arithmetic cost of one row.
double roofline_arith(const double* xb, index_t m, index_t d, const double* y, index_t repeats,
                      int threads);

}  // namespace geomedian
