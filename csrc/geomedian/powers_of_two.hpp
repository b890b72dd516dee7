// Powers of two from a double's exponent bits: the frame's scale and the certificate's
// change of units take them once per problem, where a batch of a million pixels made the
// library calls (frexp, ldexp) a visible part of its time. Each function returns what the
// library call returns, bit for bit; the Numba mirror calls math.frexp and math.ldexp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace geomedian {

// std::frexp's exponent: v = f 2^e with 0.5 <= |f| < 1, for v finite and nonzero.
inline int binary_exponent(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    const int biased = static_cast<int>((bits >> 52) & 0x7ff);
    if (biased != 0 && biased != 0x7ff) return biased - 1022;  // normal
    int e = 0;
    std::frexp(v, &e);  // zero, subnormal, inf, NaN
    return e;
}

// std::ldexp(v, k): one multiplication by 2^k where 2^k is a normal double (a product is
// rounded once, as ldexp rounds, including to a subnormal or to inf).
inline double scaled_by(double v, int k) {
    if (k < -1022 || k > 1023) return std::ldexp(v, k);
    const std::uint64_t bits = static_cast<std::uint64_t>(k + 1023) << 52;
    double p;
    std::memcpy(&p, &bits, sizeof p);
    return v * p;
}

}  // namespace geomedian
