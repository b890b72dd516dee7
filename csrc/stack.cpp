// The conversions of stack.hpp, compiled without floating-point contraction: x * scale +
// offset must round twice, as NumPy's two operations do.
#include "geomedian/stack.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "geomedian/lanes.hpp"
#include "geomedian/packed_newton.hpp"
#include "geomedian/target_clones.hpp"

namespace geomedian {
namespace {

// One value: converted, scaled, offset, NaN where it is nodata (each step where asked).
template <class T, class S, bool Scale, bool Offset, bool Nodata>
inline T value_of(S v, T scale, T offset, S nodata) {
    T t = static_cast<T>(v);
    if constexpr (Scale) t = t * scale;
    if constexpr (Offset) t = t + offset;
    if constexpr (Nodata) t = v == nodata ? std::numeric_limits<T>::quiet_NaN() : t;
    return t;
}

// The loops read along whichever axis is contiguous in the source; the steps taken are
// chosen outside them, so each loop is a plain conversion the compiler vectorises.
template <class T, class S, bool Scale, bool Offset, bool Nodata>
void read_values(const S* __restrict x, index_t n, index_t d, index_t sn, index_t sd,
                 T scale, T offset, S nodata, T* __restrict out) {
    if (sn == 1 && sd != 1) {  // coordinates outermost: a (band, time) stack
        for (index_t j = 0; j < d; ++j) {
            const S* xj = x + j * sd;
            for (index_t i = 0; i < n; ++i)
                out[i * d + j] = value_of<T, S, Scale, Offset, Nodata>(xj[i], scale, offset, nodata);
        }
        return;
    }
    for (index_t i = 0; i < n; ++i) {
        const S* xi = x + i * sn;
        T* oi = out + i * d;
        for (index_t j = 0; j < d; ++j)
            oi[j] = value_of<T, S, Scale, Offset, Nodata>(xi[j * sd], scale, offset, nodata);
    }
}

template <class T, class S>
void read_problem(const StackReader<T>& r, index_t k, T* out) {
    const S* x = static_cast<const S*>(r.x) + k * r.sp;
    const S nodata = r.has_nodata ? static_cast<S>(r.nodata) : S{};  // in range when set
    const int steps = (r.has_scale ? 4 : 0) | (r.has_offset ? 2 : 0) | (r.has_nodata ? 1 : 0);
    const auto run = [&](auto scale, auto offset, auto nd) {
        read_values<T, S, decltype(scale)::value, decltype(offset)::value, decltype(nd)::value>(
            x, r.n, r.d, r.sn, r.sd, r.scale, r.offset, nodata, out);
    };
    using yes = std::true_type;
    using no = std::false_type;
    switch (steps) {
        case 0: return run(no{}, no{}, no{});
        case 1: return run(no{}, no{}, yes{});
        case 2: return run(no{}, yes{}, no{});
        case 3: return run(no{}, yes{}, yes{});
        case 4: return run(yes{}, no{}, no{});
        case 5: return run(yes{}, no{}, yes{});
        case 6: return run(yes{}, yes{}, no{});
        default: return run(yes{}, yes{}, yes{});
    }
}

// A value's class from its bits, as integer operations the compiler vectorises (a
// floating-point compare under trapping math stays a branch per value).
template <class T>
struct ValueBits {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    static constexpr Bits exponent =
        static_cast<Bits>(sizeof(T) == 4 ? 0x7f800000u : 0x7ff0000000000000u);
    static constexpr Bits magnitude = std::numeric_limits<Bits>::max() >> 1;
    static GEOMEDIAN_ALWAYS_INLINE Bits of(T t) {
        Bits bits;
        std::memcpy(&bits, &t, sizeof bits);
        return bits & magnitude;
    }
    static GEOMEDIAN_ALWAYS_INLINE bool nan(Bits a) { return a > exponent; }
    static GEOMEDIAN_ALWAYS_INLINE bool inf(Bits a) { return a == exponent; }
};

// present_rows on problem x as read: its present rows into rows[], their count returned
// (0: the general driver takes the problem). `nan_row` is scratch for n flags, each as
// wide as a value, so that the test of a band's values is a plain vector loop.
template <class T, class S, bool Scale, bool Offset, bool Nodata>
GEOMEDIAN_ALWAYS_INLINE index_t stack_present_rows(const S* __restrict x, index_t n, index_t d,
                                                   index_t sn, index_t sd, T scale, T offset,
                                                   S nodata, bool omit,
                                                   typename ValueBits<T>::Bits* __restrict nan_row,
                                                   index_t* __restrict rows) {
    using VB = ValueBits<T>;
    using Bits = typename VB::Bits;
    Bits inf = 0;
    for (index_t i = 0; i < n; ++i) nan_row[i] = 0;
    if constexpr (std::is_integral_v<S> && !Scale && !Offset) {
        // An integer converts to a finite value (every source integer is below the float
        // types' largest): NaN exactly where it equals nodata, never inf. Compared in the
        // source dtype, a test the compiler vectorises, where the conversion and the
        // select on floats stayed a scalar loop.
        if constexpr (Nodata) {
            if (sn == 1) {
                for (index_t j = 0; j < d; ++j) {
                    const S* __restrict xj = x + j * sd;
                    for (index_t i = 0; i < n; ++i) nan_row[i] |= static_cast<Bits>(xj[i] == nodata);
                }
            } else {
                for (index_t i = 0; i < n; ++i)
                    for (index_t j = 0; j < d; ++j)
                        nan_row[i] |= static_cast<Bits>(x[i * sn + j * sd] == nodata);
            }
        }
    } else if (sn == 1) {  // a (band, time) stack: along time, every band in turn
        for (index_t j = 0; j < d; ++j) {
            const S* __restrict xj = x + j * sd;
            for (index_t i = 0; i < n; ++i) {
                const Bits a = VB::of(value_of<T, S, Scale, Offset, Nodata>(xj[i], scale, offset, nodata));
                nan_row[i] |= static_cast<Bits>(VB::nan(a));
                inf |= static_cast<Bits>(VB::inf(a));
            }
        }
    } else {
        for (index_t i = 0; i < n; ++i) {
            Bits nan = 0;
            for (index_t j = 0; j < d; ++j) {
                const Bits a = VB::of(
                    value_of<T, S, Scale, Offset, Nodata>(x[i * sn + j * sd], scale, offset, nodata));
                nan |= static_cast<Bits>(VB::nan(a));
                inf |= static_cast<Bits>(VB::inf(a));
            }
            nan_row[i] = nan;
        }
    }
    index_t m = 0;
    for (index_t i = 0; i < n; ++i) {
        rows[m] = i;
        m += nan_row[i] == 0;
    }
    if (inf != 0) return 0;
    if (!omit) return m < n ? 0 : n;
    return m;
}

// lay_out_lanes (packed_newton.cpp) on problems read from the stack: present_rows on the
// values as read_problem converts them, then each line of the layout written whole.
template <class T, class S, bool Scale, bool Offset, bool Nodata>
GEOMEDIAN_ALWAYS_INLINE void pack_values(const StackReader<T>& r, index_t k0,
                                         const Problem<T>* probs, index_t count, bool omit,
                                         PackBuffers& b, index_t* m) {
    const index_t L = b.lanes, n = r.n, d = r.d, sn = r.sn, sd = r.sd, cap = b.capacity;
    const S nodata = r.has_nodata ? static_cast<S>(r.nodata) : S{};
    const T scale = r.scale, offset = r.offset;
    typename ValueBits<T>::Bits nan_row[packed_problem_size];
    index_t* __restrict present = b.present.data();
    const S* x[pack];
    index_t rows = 1;
    for (index_t l = 0; l < L; ++l) {
        m[l] = 0;
        if (l >= count) continue;
        x[l] = static_cast<const S*>(r.x) + (k0 + l) * r.sp;
        m[l] = stack_present_rows<T, S, Scale, Offset, Nodata>(
            x[l], n, d, sn, sd, scale, offset, nodata, omit, nan_row, present + l * cap);
        rows = std::max(rows, m[l]);
    }
    b.use_rows(rows);
    double* __restrict u = b.u;
    double* __restrict w = b.w;
    // A lane with nothing to solve: zeros of unit weight.
    index_t live[pack], lanes = 0;
    for (index_t l = 0; l < L; ++l) {
        if (m[l] > 0) {
            live[lanes++] = l;
            continue;
        }
        for (index_t q = 0; q < rows; ++q) {
            w[q * L + l] = 1.0;
            for (index_t j = 0; j < d; ++j) u[(j * rows + q) * L + l] = 0.0;
        }
    }
    // A present row holds no nodata: its values convert without the test.
    for (index_t q = 0; q < rows; ++q) {
        const S* xq[pack];
        for (index_t a = 0; a < lanes; ++a) {
            const index_t l = live[a];
            const Problem<T>& p = probs[l];
            const index_t i = present[l * cap + (q < m[l] ? q : 0)];
            xq[a] = x[l] + i * sn;
            w[q * L + l] = q >= m[l] ? 0.0 : p.w != nullptr ? p.w[i] * p.wscale : 1.0;
        }
        if (lanes == pack) {  // every lane live (the common case): each line as one vector
            for (index_t j = 0; j < d; ++j) {
                lanes_v<pack> v;
                for (index_t l = 0; l < pack; ++l)
                    v[l] = static_cast<double>(
                        value_of<T, S, Scale, Offset, false>(xq[l][j * sd], scale, offset, nodata));
                store_lanes<pack>(u + (j * rows + q) * pack, v);
            }
            continue;
        }
        for (index_t j = 0; j < d; ++j) {
            double* __restrict uq = u + (j * rows + q) * L;
            for (index_t a = 0; a < lanes; ++a)
                uq[live[a]] = static_cast<double>(
                    value_of<T, S, Scale, Offset, false>(xq[a][j * sd], scale, offset, nodata));
        }
    }
}

template <class T, class S>
GEOMEDIAN_CLONES void pack_problems(const StackReader<T>& r, index_t k0, const Problem<T>* probs,
                                    index_t count, bool omit, PackBuffers& b, index_t* m) {
    const int steps = (r.has_scale ? 4 : 0) | (r.has_offset ? 2 : 0) | (r.has_nodata ? 1 : 0);
    switch (steps) {
        case 0: return pack_values<T, S, false, false, false>(r, k0, probs, count, omit, b, m);
        case 1: return pack_values<T, S, false, false, true>(r, k0, probs, count, omit, b, m);
        case 2: return pack_values<T, S, false, true, false>(r, k0, probs, count, omit, b, m);
        case 3: return pack_values<T, S, false, true, true>(r, k0, probs, count, omit, b, m);
        case 4: return pack_values<T, S, true, false, false>(r, k0, probs, count, omit, b, m);
        case 5: return pack_values<T, S, true, false, true>(r, k0, probs, count, omit, b, m);
        case 6: return pack_values<T, S, true, true, false>(r, k0, probs, count, omit, b, m);
        default: return pack_values<T, S, true, true, true>(r, k0, probs, count, omit, b, m);
    }
}

}  // namespace

template <class T>
auto stack_packer_for(SourceType s)
    -> void (*)(const StackReader<T>&, index_t, const Problem<T>*, index_t, bool, PackBuffers&,
                index_t*) {
    switch (s) {
        case SourceType::i8: return &pack_problems<T, std::int8_t>;
        case SourceType::u8: return &pack_problems<T, std::uint8_t>;
        case SourceType::i16: return &pack_problems<T, std::int16_t>;
        case SourceType::u16: return &pack_problems<T, std::uint16_t>;
        case SourceType::i32: return &pack_problems<T, std::int32_t>;
        case SourceType::u32: return &pack_problems<T, std::uint32_t>;
        case SourceType::f32: return &pack_problems<T, float>;
        case SourceType::f64: return &pack_problems<T, double>;
    }
    return nullptr;
}

template <class T>
auto stack_reader_for(SourceType s) -> void (*)(const StackReader<T>&, index_t, T*) {
    switch (s) {
        case SourceType::i8: return &read_problem<T, std::int8_t>;
        case SourceType::u8: return &read_problem<T, std::uint8_t>;
        case SourceType::i16: return &read_problem<T, std::int16_t>;
        case SourceType::u16: return &read_problem<T, std::uint16_t>;
        case SourceType::i32: return &read_problem<T, std::int32_t>;
        case SourceType::u32: return &read_problem<T, std::uint32_t>;
        case SourceType::f32: return &read_problem<T, float>;
        case SourceType::f64: return &read_problem<T, double>;
    }
    return nullptr;
}

template auto stack_reader_for<float>(SourceType) -> void (*)(const StackReader<float>&, index_t, float*);
template auto stack_reader_for<double>(SourceType) -> void (*)(const StackReader<double>&, index_t, double*);
template auto stack_packer_for<float>(SourceType)
    -> void (*)(const StackReader<float>&, index_t, const Problem<float>*, index_t, bool,
                PackBuffers&, index_t*);
template auto stack_packer_for<double>(SourceType)
    -> void (*)(const StackReader<double>&, index_t, const Problem<double>*, index_t, bool,
                PackBuffers&, index_t*);

}  // namespace geomedian
