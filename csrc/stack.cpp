// The conversions of stack.hpp, compiled without floating-point contraction: x * scale +
// offset must round twice, as NumPy's two operations do.
#include "geomedian/stack.hpp"

#include <limits>
#include <type_traits>

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

}  // namespace

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

}  // namespace geomedian
