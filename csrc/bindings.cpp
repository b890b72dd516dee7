// The only file that knows about Python: converts arrays, checks the shape facts that
// guard memory, releases the GIL around the kernels and polls for Ctrl-C. Value checks
// (NaN in weights, negative weights, tolerances, ...) live in python/geomedian/_validate.py.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "geomedian/gram_pass.hpp"
#include "geomedian/hessian_pass.hpp"
#include "geomedian/lp_pass.hpp"
#include "geomedian/roofline.hpp"
#include "geomedian/sgd.hpp"
#include "geomedian/solver.hpp"

namespace py = pybind11;
using geomedian::index_t;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style>;

// Python signals can only be checked with the GIL held, so the driving thread takes it
// back at most every 50 ms; a KeyboardInterrupt then stays set until the call returns.
struct SignalPoll {
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    bool raised = false;

    static bool poll(void* self) {
        auto* sp = static_cast<SignalPoll*>(self);
        const auto now = std::chrono::steady_clock::now();
        if (now - sp->last < std::chrono::milliseconds(50)) return false;
        sp->last = now;
        py::gil_scoped_acquire gil;
        sp->raised = PyErr_CheckSignals() != 0;
        return sp->raised;
    }
};

// A view at an odd byte offset passes pybind11's C-contiguity check; loading a misaligned
// T is undefined behaviour. The Python validator copies such input; this guards the rest.
template <class T>
void require_aligned(const carray<T>& a, const char* name) {
    if (reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0)
        throw py::value_error(std::string(name) + " must be aligned to its dtype");
}
template <class T>
void require_aligned(const std::optional<carray<T>>& a, const char* name) {
    if (a) require_aligned(*a, name);
}

// The checks of solve's arguments other than the points; returns the weight rows (0: none).
index_t check_batch_arguments(index_t P, index_t n, index_t d,
                              const std::optional<carray<double>>& weights,
                              const std::optional<carray<double>>& wscale,
                              const std::optional<carray<double>>& init, int method,
                              std::int64_t max_iter, int threads) {
    if (P < 1 || n < 1 || d < 1) throw py::value_error("points must have P, n, d >= 1");
    index_t w_rows = 0;
    if (weights) {
        if (weights->ndim() != 2 || weights->shape(1) != n ||
            (weights->shape(0) != 1 && weights->shape(0) != P))
            throw py::value_error("weights must be a (1, n) or (P, n) array");
        w_rows = weights->shape(0);
        if (!wscale || wscale->ndim() != 1 || wscale->shape(0) != w_rows)
            throw py::value_error("wscale must hold one scale per weight row");
    }
    if (init && (init->ndim() != 2 || init->shape(0) != P || init->shape(1) != d))
        throw py::value_error("init must be a (P, d) array");
    require_aligned(weights, "weights");
    require_aligned(wscale, "wscale");
    require_aligned(init, "init");
    if (method < 0 || method > 2) throw py::value_error("unknown method code");
    if (max_iter < 1 || threads < 1) throw py::value_error("max_iter and threads must be >= 1");
    return w_rows;
}

// solve_batch with the GIL released; the outcome arrays as solve returns them.
template <class T>
py::tuple run_batch(const geomedian::Batch<T>& batch, int method, double tol,
                    std::int64_t max_iter, int threads, bool omit_nan, bool mads) {
    const index_t P = batch.P, d = batch.d;
    const geomedian::Options opt{static_cast<geomedian::Method>(method), tol,
                                 static_cast<index_t>(max_iter), omit_nan};
    carray<double> median({P, d});
    carray<double> objective(P), lower_bound(P), gap(P), scale(P);
    carray<std::int64_t> n_iter(P), n_passes(P);
    carray<std::int32_t> status(P);
    const index_t Pm = mads ? P : 0;
    carray<double> emad(Pm), smad(Pm), bcmad(Pm);
    carray<std::int64_t> count(Pm);
    const geomedian::MadOutcome mad{emad.mutable_data(), smad.mutable_data(),
                                    bcmad.mutable_data(), count.mutable_data()};
    const geomedian::BatchOutcome out{median.mutable_data(),    objective.mutable_data(),
                                      lower_bound.mutable_data(), gap.mutable_data(),
                                      n_iter.mutable_data(),    n_passes.mutable_data(),
                                      status.mutable_data(),    scale.mutable_data(),
                                      mads ? &mad : nullptr};
    SignalPoll signals;
    {
        // Safe: every pointer above was taken with the GIL held, the kernels touch no
        // Python object, and the arrays stay referenced by the caller's frame.
        py::gil_scoped_release nogil;
        geomedian::solve_batch(batch, opt, threads, {&SignalPoll::poll, &signals}, out);
    }
    if (signals.raised) throw py::error_already_set();
    if (mads)
        return py::make_tuple(median, objective, lower_bound, gap, n_iter, n_passes, status,
                              scale, emad, smad, bcmad, count);
    return py::make_tuple(median, objective, lower_bound, gap, n_iter, n_passes, status, scale);
}

template <class T>
py::tuple solve(const carray<T>& points, const std::optional<carray<double>>& weights,
                const std::optional<carray<double>>& wscale,
                const std::optional<carray<double>>& init, int method, double tol,
                std::int64_t max_iter, int threads, bool omit_nan, bool mads) {
    if (points.ndim() != 3) throw py::value_error("points must be a (P, n, d) array");
    const index_t P = points.shape(0), n = points.shape(1), d = points.shape(2);
    const index_t w_rows =
        check_batch_arguments(P, n, d, weights, wscale, init, method, max_iter, threads);
    require_aligned(points, "points");
    const geomedian::Batch<T> batch{points.data(),
                                    P,
                                    n,
                                    d,
                                    weights ? weights->data() : nullptr,
                                    w_rows,
                                    weights ? wscale->data() : nullptr,
                                    init ? init->data() : nullptr};
    return run_batch(batch, method, tol, max_iter, threads, omit_nan, mads);
}

// The source dtypes a stack is read in (stack.hpp), as NumPy names them.
template <class S>
bool holds(const py::array& a) {
    return py::isinstance<py::array_t<S>>(a);
}

geomedian::SourceType source_type(const py::array& a) {
    using geomedian::SourceType;
    if (holds<std::int8_t>(a)) return SourceType::i8;
    if (holds<std::uint8_t>(a)) return SourceType::u8;
    if (holds<std::int16_t>(a)) return SourceType::i16;
    if (holds<std::uint16_t>(a)) return SourceType::u16;
    if (holds<std::int32_t>(a)) return SourceType::i32;
    if (holds<std::uint32_t>(a)) return SourceType::u32;
    if (holds<float>(a)) return SourceType::f32;
    if (holds<double>(a)) return SourceType::f64;
    throw py::type_error("stack must be a native int8/16/32, uint8/16/32, float32 or float64 array");
}

// Whether nodata is a value of the integer dtype S (nodata_mask's rule): else nothing matches.
template <class S>
bool in_dtype(double v) {
    return std::trunc(v) == v && v >= static_cast<double>(std::numeric_limits<S>::lowest()) &&
           v <= static_cast<double>(std::numeric_limits<S>::max());
}

bool nodata_occurs(geomedian::SourceType s, double v) {
    using geomedian::SourceType;
    switch (s) {
        case SourceType::i8: return in_dtype<std::int8_t>(v);
        case SourceType::u8: return in_dtype<std::uint8_t>(v);
        case SourceType::i16: return in_dtype<std::int16_t>(v);
        case SourceType::u16: return in_dtype<std::uint16_t>(v);
        case SourceType::i32: return in_dtype<std::int32_t>(v);
        case SourceType::u32: return in_dtype<std::uint32_t>(v);
        default: return !std::isnan(v);  // a float: rounded to the dtype, as the data was
    }
}

template <class T>
py::tuple solve_stack(const py::array& stack, const std::optional<carray<double>>& weights,
                      const std::optional<carray<double>>& wscale,
                      const std::optional<carray<double>>& init, int method, double tol,
                      std::int64_t max_iter, int threads, bool omit_nan, bool mads,
                      std::optional<double> nodata, std::optional<double> scale,
                      std::optional<double> offset) {
    if (stack.ndim() != 3) throw py::value_error("stack must be a (P, n, d) array");
    const index_t P = stack.shape(0), n = stack.shape(1), d = stack.shape(2);
    const index_t w_rows =
        check_batch_arguments(P, n, d, weights, wscale, init, method, max_iter, threads);
    const geomedian::SourceType source = source_type(stack);
    const auto item = static_cast<index_t>(stack.itemsize());
    if (reinterpret_cast<std::uintptr_t>(stack.data()) % item != 0)
        throw py::value_error("stack must be aligned to its dtype");
    index_t strides[3];
    for (int a = 0; a < 3; ++a) {
        if (stack.strides(a) % item != 0)
            throw py::value_error("stack strides must be multiples of its item size");
        strides[a] = stack.strides(a) / item;
    }
    const bool has_nodata = nodata && nodata_occurs(source, *nodata);
    const geomedian::StackReader<T> reader{stack.data(),
                                           item,
                                           n,
                                           d,
                                           strides[0],
                                           strides[1],
                                           strides[2],
                                           has_nodata,
                                           has_nodata ? *nodata : 0.0,
                                           scale.has_value(),
                                           offset.has_value(),
                                           static_cast<T>(scale.value_or(1.0)),
                                           static_cast<T>(offset.value_or(0.0)),
                                           geomedian::stack_reader_for<T>(source),
                                           geomedian::stack_packer_for<T>(source)};
    geomedian::Batch<T> batch{nullptr,
                              P,
                              n,
                              d,
                              weights ? weights->data() : nullptr,
                              w_rows,
                              weights ? wscale->data() : nullptr,
                              init ? init->data() : nullptr};
    batch.stack = &reader;
    return run_batch(batch, method, tol, max_iter, threads, omit_nan, mads);
}

// One problem (n, d), no weights, no start point, on the calling thread: the hot loop of
// geometric_median, which needs only the median and the status, so a call builds one
// array instead of seven (most of a small call's cost is in this file, not in the solve).
template <class T>
py::tuple median_one(const carray<T>& points, int method, double tol, std::int64_t max_iter) {
    if (points.ndim() != 2) throw py::value_error("points must be an (n, d) array");
    const index_t n = points.shape(0), d = points.shape(1);
    if (n < 1 || d < 1) throw py::value_error("points must have n, d >= 1");
    require_aligned(points, "points");
    if (method < 0 || method > 2) throw py::value_error("unknown method code");
    if (max_iter < 1) throw py::value_error("max_iter must be >= 1");
    const geomedian::Batch<T> batch{points.data(), 1, n, d, nullptr, 0, nullptr, nullptr};
    const geomedian::Options opt{static_cast<geomedian::Method>(method), tol,
                                 static_cast<index_t>(max_iter), false};
    carray<double> median(d);
    double objective, lower_bound, gap;
    std::int64_t n_iter, n_passes;
    std::int32_t status;
    const geomedian::BatchOutcome out{median.mutable_data(), &objective, &lower_bound, &gap,
                                      &n_iter, &n_passes, &status};
    SignalPoll signals;
    {
        py::gil_scoped_release nogil;  // same reasoning as in solve()
        geomedian::solve_batch(batch, opt, 1, {&SignalPoll::poll, &signals}, out);
    }
    if (signals.raised) throw py::error_already_set();
    return py::make_tuple(median, status);
}

template <class T>
py::object evaluate(const carray<T>& points, const std::optional<carray<double>>& weights,
                    double wscale, const carray<double>& y, int threads) {
    if (points.ndim() != 2) throw py::value_error("points must be an (n, d) array");
    const index_t n = points.shape(0), d = points.shape(1);
    if (n < 1 || d < 1) throw py::value_error("points must have n, d >= 1");
    if (weights && (weights->ndim() != 1 || weights->shape(0) != n))
        throw py::value_error("weights must be an (n,) array");
    if (y.ndim() != 1 || y.shape(0) != d) throw py::value_error("y must be a (d,) array");
    if (threads < 1) throw py::value_error("threads must be >= 1");
    require_aligned(points, "points");
    require_aligned(weights, "weights");
    require_aligned(y, "y");
    const geomedian::Problem<T> p{points.data(), weights ? weights->data() : nullptr,
                                  weights ? wscale : 1.0, n, d};
    carray<double> grad(d);
    double f = 0, lb = 0;
    bool finite;
    {
        py::gil_scoped_release nogil;  // same reasoning as in solve()
        geomedian::Workspace ws(d);
        geomedian::OpenMPPass<T> pass(p, threads);
        finite = geomedian::evaluate_at(p, y.data(), pass, ws, &f, grad.mutable_data(), &lb);
    }
    if (!finite) return py::none();
    return py::make_tuple(f, grad, lb);
}

// The one problem (n, d) a pass kernel reads at the point y, once its shapes are checked.
template <class T>
geomedian::Problem<T> problem_at(const carray<T>& points,
                                 const std::optional<carray<double>>& weights, double wscale,
                                 const carray<double>& y, int threads) {
    if (points.ndim() != 2 || points.shape(0) < 1 || points.shape(1) < 1)
        throw py::value_error("points must be a non-empty (n, d) array");
    const index_t n = points.shape(0), d = points.shape(1);
    if (weights && (weights->ndim() != 1 || weights->shape(0) != n))
        throw py::value_error("weights must be an (n,) array");
    if (y.ndim() != 1 || y.shape(0) != d) throw py::value_error("y must be a (d,) array");
    if (threads < 1) throw py::value_error("threads must be >= 1");
    require_aligned(points, "points");
    require_aligned(weights, "weights");
    require_aligned(y, "y");
    return {points.data(), weights ? weights->data() : nullptr, weights ? wscale : 1.0, n, d};
}

// The iterate's offset z in a frame centred on y (d entries; none: y itself), checked.
inline std::vector<double> offset_in_frame(const std::optional<carray<double>>& z, index_t d) {
    if (!z) return std::vector<double>(d, 0.0);
    if (z->ndim() != 1 || z->shape(0) != d) throw py::value_error("z must be a (d,) array");
    return std::vector<double>(z->data(), z->data() + d);
}

// One iteration pass at y + z / s in a frame centred on y with scale s (no moments pass):
// the raw sums of fused_pass.hpp. The chunked driver's passes (z: its iterate in the frame,
// finer than y's own resolution), benchmarks, and checks of the kernels against NumPy.
template <class T>
carray<double> fused_pass_sums(const carray<T>& points, const std::optional<carray<double>>& weights,
                               double wscale, const carray<double>& y, double s, int threads,
                               double eps, double near, const std::optional<carray<double>>& z0) {
    const geomedian::Problem<T> p = problem_at(points, weights, wscale, y, threads);
    const index_t d = p.d;
    carray<double> sums(geomedian::sums_size(d));
    const std::vector<double> z = offset_in_frame(z0, d);
    {
        py::gil_scoped_release nogil;  // same reasoning as in solve()
        geomedian::OpenMPPass<T> pass(p, threads);
        pass.sums(geomedian::Frame{y.data(), s, z.data(), eps, near}, sums.mutable_data());
    }
    return sums;
}

// The Hessian at y + z / s of the rows scaled by s in a frame centred on y
// (hessian_pass.hpp): the chunked driver calls it on each chunk beside fused_pass, for its
// Newton steps.
template <class T>
carray<double> hessian_pass_sums(const carray<T>& points,
                                 const std::optional<carray<double>>& weights, double wscale,
                                 const carray<double>& y, double s, int threads, double eps,
                                 const std::optional<carray<double>>& z0) {
    const geomedian::Problem<T> p = problem_at(points, weights, wscale, y, threads);
    const index_t d = p.d;
    if (d > geomedian::newton_max_d) throw py::value_error("hessian_pass takes d <= 16");
    carray<double> H(geomedian::hessian_pass_size(d));
    const std::vector<double> z = offset_in_frame(z0, d);
    {
        py::gil_scoped_release nogil;  // same reasoning as in solve()
        geomedian::hessian_pass(p, geomedian::Frame{y.data(), s, z.data(), eps, HUGE_VAL},
                                threads, H.mutable_data());
    }
    return H;
}

// The Lp pass sums (lp_pass.hpp) of problems rows[k] of a (P, n, d) batch, each at y[k]
// (duals at y[k] + shift[k] if given): OpenMP over the problems, or over one problem's
// chunks when there is one.
template <class T>
carray<double> lp_pass_sums(const carray<T>& points, const std::optional<carray<double>>& weights,
                            const carray<std::int64_t>& rows, const carray<double>& y,
                            const std::optional<carray<double>>& shift,
                            const std::optional<carray<double>>& near, double p, int threads) {
    if (points.ndim() != 3 || points.shape(0) < 1 || points.shape(1) < 1 || points.shape(2) < 1)
        throw py::value_error("points must be a non-empty (P, n, d) array");
    const index_t P = points.shape(0), n = points.shape(1), d = points.shape(2);
    if (weights && (weights->ndim() != 2 || weights->shape(1) != n ||
                    (weights->shape(0) != 1 && weights->shape(0) != P)))
        throw py::value_error("weights must be a (1, n) or (P, n) array");
    const index_t m = rows.ndim() == 1 ? rows.shape(0) : -1;
    if (m < 0) throw py::value_error("rows must be a 1-D array");
    if (y.ndim() != 2 || y.shape(0) != m || y.shape(1) != d)
        throw py::value_error("y must be an (m, d) array, m = len(rows)");
    if (shift && (shift->ndim() != 2 || shift->shape(0) != m || shift->shape(1) != d))
        throw py::value_error("shift must be an (m, d) array");
    if (near && (near->ndim() != 1 || near->shape(0) != m))
        throw py::value_error("near must be an (m,) array");
    if (!(p > 1.0) || !std::isfinite(p)) throw py::value_error("lp_pass takes 1 < p < inf");
    if (threads < 1) throw py::value_error("threads must be >= 1");
    require_aligned(points, "points");
    require_aligned(weights, "weights");
    const std::int64_t* r = rows.data();
    for (index_t k = 0; k < m; ++k)
        if (r[k] < 0 || r[k] >= P) throw py::value_error("rows must index the problems");
    const index_t size = geomedian::lp_sums_size(d);
    carray<double> out({m, size});
    const T* x = points.data();
    const double* w = weights ? weights->data() : nullptr;
    const bool w_each = weights && weights->shape(0) == P;
    const double* yy = y.data();
    const double* sh = shift ? shift->data() : nullptr;
    const double* nr = near ? near->data() : nullptr;
    double* o = out.mutable_data();
    const geomedian::LpPowers e = geomedian::lp_powers(p);
    {
        py::gil_scoped_release nogil;  // same reasoning as in solve()
        if (m == 1) {
            geomedian::lp_pass(x + r[0] * n * d,
                               w == nullptr ? nullptr : w + (w_each ? r[0] * n : 0), n, d, yy,
                               sh, nr == nullptr ? HUGE_VAL : nr[0], e, threads, o);
        } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
            for (index_t k = 0; k < m; ++k)
                geomedian::lp_pass(x + r[k] * n * d,
                                   w == nullptr ? nullptr : w + (w_each ? r[k] * n : 0), n, d,
                                   yy + k * d, sh == nullptr ? nullptr : sh + k * d,
                                   nr == nullptr ? HUGE_VAL : nr[k], e, 1, o + k * size);
        }
    }
    return out;
}

// Averaged SGD over the minibatches `blocks` (see sgd.hpp); `state` [t, m, mbar] is updated
// in place so that successive calls continue one run.
// The rows of a Gram-path component: a list of n 1-D arrays of one dtype and length, each
// read with the same element stride. The list holds the arrays for the whole call.
template <class T>
struct GramRows {
    std::vector<const T*> ptrs;
    geomedian::Rows<T> rows{};

    explicit GramRows(const py::list& seq) {
        const index_t n = static_cast<index_t>(py::len(seq));
        if (n < 1) throw py::value_error("rows must hold at least one row");
        index_t d = -1, inc = 0;
        for (index_t i = 0; i < n; ++i) {
            const py::handle item = seq[static_cast<std::size_t>(i)];
            if (!py::isinstance<py::array_t<T>>(item))
                throw py::type_error(std::string("every row must be a ") +
                                     (sizeof(T) == 4 ? "float32" : "float64") + " array");
            const auto a = py::reinterpret_borrow<py::array>(item);
            if (a.ndim() != 1) throw py::value_error("every row must be 1-D");
            const index_t step = a.shape(0) > 1 ? a.strides(0) : static_cast<index_t>(sizeof(T));
            if (step <= 0 || step % static_cast<index_t>(sizeof(T)) != 0 ||
                reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0)
                throw py::value_error("every row must step forward by whole, aligned elements");
            if (d < 0) {
                d = a.shape(0);
                inc = step / static_cast<index_t>(sizeof(T));
            } else if (a.shape(0) != d || (d > 1 && step / static_cast<index_t>(sizeof(T)) != inc)) {
                throw py::value_error("every row must have the same length and element stride");
            }
            ptrs.push_back(static_cast<const T*>(a.data()));
        }
        if (d < 1) throw py::value_error("rows must have at least one coordinate");
        rows = {ptrs.data(), n, d, inc};
    }

    void check_row(std::int64_t r, const char* name, bool none_ok = false) const {
        if (r < (none_ok ? -1 : 0) || r >= rows.n)
            throw py::value_error(std::string(name) + " is not a row index");
    }
    void check_vector(const carray<double>& v, const char* name) const {
        if (v.ndim() != 1 || v.shape(0) != rows.n)
            throw py::value_error(std::string(name) + " must be an (n,) array");
        require_aligned(v, name);
    }
};

template <class T>
carray<double> gram_pass(const py::list& rows, std::int64_t r, double s, int threads) {
    const GramRows<T> x(rows);
    x.check_row(r, "r");
    if (threads < 1) throw py::value_error("threads must be >= 1");
    carray<double> G({x.rows.n, x.rows.n});
    {
        py::gil_scoped_release nogil;  // the rows' pointers were taken with the GIL held
        geomedian::gram_pass(x.rows, r, s, threads, G.mutable_data());
    }
    return G;
}

template <class T>
py::tuple gram_median_pass(const py::list& rows, std::int64_t r, double s,
                           const carray<double>& a, std::int64_t vertex, int threads) {
    const GramRows<T> x(rows);
    x.check_row(r, "r");
    x.check_row(vertex, "vertex", true);
    x.check_vector(a, "a");
    if (threads < 1) throw py::value_error("threads must be >= 1");
    carray<T> y(x.rows.d);
    carray<double> d2(x.rows.n);
    {
        py::gil_scoped_release nogil;  // same reasoning as in gram_pass()
        geomedian::gram_median_pass(x.rows, r, s, a.data(), vertex, y.mutable_data(), threads,
                                    d2.mutable_data());
    }
    return py::make_tuple(y, d2);
}

template <class T>
py::tuple gram_certificate_pass(const py::list& rows, std::int64_t r, double s,
                                const carray<double>& a, std::int64_t vertex, const carray<T>& y,
                                const carray<double>& t, const carray<double>& ws, int threads) {
    const GramRows<T> x(rows);
    x.check_row(r, "r");
    x.check_row(vertex, "vertex", true);
    x.check_vector(a, "a");
    x.check_vector(t, "t");
    x.check_vector(ws, "ws");
    if (y.ndim() != 1 || y.shape(0) != x.rows.d) throw py::value_error("y must be a (d,) array");
    require_aligned(y, "y");
    if (threads < 1) throw py::value_error("threads must be >= 1");
    double out[2];
    {
        py::gil_scoped_release nogil;  // same reasoning as in gram_pass()
        geomedian::gram_certificate_pass(x.rows, r, s, a.data(), vertex, y.data(), t.data(),
                                         ws.data(), threads, out);
    }
    return py::make_tuple(out[0], out[1]);
}

template <class T>
void sgd(const carray<T>& points, const std::optional<carray<double>>& weights, double wscale,
         const carray<std::int64_t>& blocks, std::int64_t batch, double norm,
         const carray<double>& c, double s, double gamma0, double alpha, carray<double>& state) {
    if (points.ndim() != 2 || points.shape(0) < 1 || points.shape(1) < 1)
        throw py::value_error("points must be a non-empty (n, d) array");
    const index_t n = points.shape(0), d = points.shape(1);
    if (weights && (weights->ndim() != 1 || weights->shape(0) != n))
        throw py::value_error("weights must be an (n,) array");
    if (c.ndim() != 1 || c.shape(0) != d) throw py::value_error("c must be a (d,) array");
    if (state.ndim() != 1 || state.shape(0) != 1 + 2 * d)
        throw py::value_error("state must be a (1 + 2 d,) array");
    if (batch < 1 || blocks.ndim() != 1) throw py::value_error("batch must be >= 1, blocks 1-D");
    const std::int64_t* bl = blocks.data();
    const index_t nb = blocks.shape(0);
    for (index_t k = 0; k < nb; ++k)  // guards memory: every block must start inside
        if (bl[k] < 0 || bl[k] * batch >= n) throw py::value_error("block index out of range");
    const geomedian::Problem<T> p{points.data(), weights ? weights->data() : nullptr,
                                  weights ? wscale : 1.0, n, d};
    double* st = state.mutable_data();
    py::gil_scoped_release nogil;  // same reasoning as in solve()
    geomedian::sgd_run(p, bl, nb, static_cast<index_t>(batch), norm, c.data(), s, gamma0, alpha,
                       geomedian::coincidence_radius, st);
}

// The robust anchor (m, rho) of sample rows, for the frames of the paths that read their
// data in chunks (the chunked driver, SGD, the online estimator).
py::tuple robust_anchor(const carray<double>& sample, const carray<double>& weights) {
    if (sample.ndim() != 2 || sample.shape(0) < 1 || sample.shape(1) < 1)
        throw py::value_error("sample must be a non-empty (S, d) array");
    if (weights.ndim() != 1 || weights.shape(0) != sample.shape(0))
        throw py::value_error("weights must be (S,)");
    const index_t S = sample.shape(0), d = sample.shape(1);
    const double* xs = sample.data();
    const double* ws = weights.data();
    py::array_t<double> m(d);
    double* mp = m.mutable_data();
    double rho;
    {
        py::gil_scoped_release nogil;  // same reasoning as in solve()
        std::vector<double> scratch(2 * S);
        geomedian::robust_anchor(xs, ws, S, d, scratch.data(), scratch.data() + S, mp, &rho);
    }
    return py::make_tuple(m, rho);
}

// Benchmark-only (benchmarks/test_roofline.py): the bounds a pass is compared against.
template <class T>
double roofline_read(const carray<T>& points, int threads) {
    if (points.ndim() != 2) throw py::value_error("points must be an (n, d) array");
    if (threads < 1) throw py::value_error("threads must be >= 1");
    const T* x = points.data();
    const index_t n = points.shape(0), d = points.shape(1);
    py::gil_scoped_release nogil;  // same reasoning as in solve()
    return geomedian::roofline_read(x, n, d, threads);
}

double roofline_arith(const carray<double>& block, const carray<double>& y, std::int64_t repeats,
                      int threads) {
    if (block.ndim() != 2 || block.shape(0) < 1 || block.shape(1) < 1)
        throw py::value_error("block must be a non-empty (m, d) array");
    if (y.ndim() != 1 || y.shape(0) != block.shape(1)) throw py::value_error("y must be (d,)");
    if (repeats < 1 || threads < 1) throw py::value_error("repeats and threads must be >= 1");
    const double* xb = block.data();
    const double* yp = y.data();
    const index_t m = block.shape(0), d = block.shape(1);
    py::gil_scoped_release nogil;  // same reasoning as in solve()
    return geomedian::roofline_arith(xb, m, d, yp, static_cast<index_t>(repeats), threads);
}

py::dict build_info() {
    py::dict info;
#ifdef _OPENMP
    info["openmp"] = true;
    info["openmp_version"] = _OPENMP;
#else
    info["openmp"] = false;
    info["openmp_version"] = py::none();
#endif
    info["openmp_max_threads"] = geomedian::openmp_max_threads();
    info["isa_compiled"] = geomedian::compiled_isas();
    info["isa_active"] = geomedian::active_isa();
#if defined(__clang__)
    info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    info["compiler"] = std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
    info["compiler"] = "msvc " + std::to_string(_MSC_VER);
#endif
    info["chunk_rows_d2"] = geomedian::chunk_rows(2);
    return info;
}

// Docstrings of the kernels registered per dtype (the first line of each is the signature
// that tests/test_kernels.py compares with the Numba mirror's).
constexpr const char* solve_doc =
    "solve(points (P, n, d), weights (1|P, n) | None, wscale (1|P,) | None, "
    "init (P, d) | None, method, tol, max_iter, threads, omit_nan=False, mads=False) -> "
    "(median, objective, lower_bound, gap, n_iter, n_passes, status, scale). omit_nan: rows "
    "with a NaN coordinate are left out of problems of at most small_problem_size "
    "coordinates (n * d); in larger ones NaN, like inf, gives status 4 (nonfinite). mads: "
    "also (emad, smad, bcmad, count) of each problem after its median, over its rows "
    "without NaN and of positive weight (geomad)";
constexpr const char* solve_stack_doc =
    "solve_stack(stack (P, n, d) of int8/16/32, uint8/16/32, float32 or float64, any "
    "strides, weights, wscale, init, method, tol, max_iter, threads, omit_nan, mads, "
    "nodata, scale, offset) -> as solve: each problem read from the stack as the threads "
    "solve it, as stack.astype(dtype) * scale + offset with nodata as NaN (each where not "
    "None) would give it";
constexpr const char* median_doc =
    "median(points (n, d), method, tol, max_iter) -> (median (d,), status): one problem, "
    "no weights, no start point, one thread; the same bits as solve on (1, n, d)";
constexpr const char* eval_doc =
    "evaluate(points (n, d), weights (n,) | None, wscale, y (d,), threads) -> "
    "(objective, min-norm subgradient, lower bound) or None if points are not finite";
constexpr const char* pass_doc =
    "fused_pass(points (n, d), weights (n,) | None, wscale, y (d,), s, threads, eps, near, "
    "z (d,) | None) -> the sums [f, inv, eta, f_coinc, max_term, w_far, f_near, R (d), M (d)] "
    "of one pass at y + z / s, the rows scaled by s in a frame centred on y (z None: at y), "
    "with coincidence radius eps and near radius near (frame units)";
constexpr const char* hessian_doc =
    "hessian_pass(points (n, d), weights (n,) | None, wscale, y (d,), s, threads, eps, "
    "z (d,) | None) -> the Hessian of f at y + z / s, packed lower triangle "
    "H[j (j + 1) / 2 + k] (k <= j), then inv_sq = sum w_i / d_i^2, of the rows scaled by s "
    "in a frame centred on y (z None: at y; coincidence radius eps, frame units); d <= 16";
constexpr const char* lp_pass_doc =
    "lp_pass(points (P, n, d), weights (1 | P, n) | None, rows (m,) int64, y (m, d), "
    "shift (m, d) | None, near (m,) | None, p, threads) -> (m, size) the Lp pass sums of "
    "problem rows[k] at y[k] (near radius near[k]), 1 < p < inf; slots LP_* of the contract";
constexpr const char* sgd_doc =
    "sgd(points (n, d), weights (n,) | None, wscale, blocks (k,) int64, batch, norm, "
    "c (d,), s, gamma0, alpha, state (1 + 2 d,)) -> None: averaged SGD over the row blocks "
    "[b batch, (b + 1) batch) in the order given, in the frame (x - c) s; state [t, m, mbar] "
    "is updated in place";
constexpr const char* robust_anchor_doc =
    "robust_anchor(sample (S, d), weights (S,)) -> (m (d,), rho): m the coordinate-wise "
    "weighted lower median of the sample rows, rho the weighted lower median of their "
    "distances to m";
constexpr const char* gram_doc =
    "gram_pass(rows (n of (d,)), r, s, threads) -> G (n, n): G = X_c X_c^T for "
    "X_c = (X - x_r) s, float64";
constexpr const char* gram_median_doc =
    "gram_median_pass(rows, r, s, a (n,), vertex, threads) -> (y (d,), d2 (n,)): y = x_r + "
    "a (X - x_r) rounded to the rows' dtype (row `vertex` itself if vertex >= 0), d2_i = "
    "||(x_i - y) s||^2 of the point certified";
constexpr const char* gram_certificate_doc =
    "gram_certificate_pass(rows, r, s, a, vertex, y (d,), t (n,), ws (n,), threads) -> "
    "(||R||^2 s^2, R.M s) for R = sum t_i (x_i - y), M = sum ws_i (x_i - y)";

// The kernels that exist for both dtypes, registered once per dtype as <kernel><suffix>
// (suffix "_f64" or "_f32"): one list, so the two entry points cannot drift apart.
// pybind11 copies the name, so the temporary string may go.
template <class T>
void register_kernels(py::module_& m, const char* suffix) {
    const auto name = [suffix](const char* kernel) { return std::string(kernel) + suffix; };
    m.def(name("solve").c_str(), &solve<T>, py::arg("points").noconvert(),
          py::arg("weights").noconvert(), py::arg("wscale").noconvert(),
          py::arg("init").noconvert(), py::arg("method"), py::arg("tol"), py::arg("max_iter"),
          py::arg("threads"), py::arg("omit_nan") = false, py::arg("mads") = false, solve_doc);
    m.def(name("solve_stack").c_str(), &solve_stack<T>, py::arg("stack"),
          py::arg("weights").noconvert(), py::arg("wscale").noconvert(),
          py::arg("init").noconvert(), py::arg("method"), py::arg("tol"), py::arg("max_iter"),
          py::arg("threads"), py::arg("omit_nan"), py::arg("mads"), py::arg("nodata"),
          py::arg("scale"), py::arg("offset"), solve_stack_doc);
    m.def(name("median").c_str(), &median_one<T>, py::arg("points").noconvert(),
          py::arg("method"), py::arg("tol"), py::arg("max_iter"), median_doc);
    m.def(name("evaluate").c_str(), &evaluate<T>, py::arg("points").noconvert(),
          py::arg("weights").noconvert(), py::arg("wscale"), py::arg("y").noconvert(),
          py::arg("threads"), eval_doc);
    m.def(name("fused_pass").c_str(), &fused_pass_sums<T>, py::arg("points").noconvert(),
          py::arg("weights").noconvert(), py::arg("wscale"), py::arg("y").noconvert(),
          py::arg("s"), py::arg("threads"), py::arg("eps") = geomedian::coincidence_radius,
          py::arg("near") = HUGE_VAL, py::arg("z").noconvert() = py::none(), pass_doc);
    m.def(name("hessian_pass").c_str(), &hessian_pass_sums<T>, py::arg("points").noconvert(),
          py::arg("weights").noconvert(), py::arg("wscale"), py::arg("y").noconvert(),
          py::arg("s"), py::arg("threads"), py::arg("eps") = geomedian::coincidence_radius,
          py::arg("z").noconvert() = py::none(), hessian_doc);
    m.def(name("lp_pass").c_str(), &lp_pass_sums<T>, py::arg("points").noconvert(),
          py::arg("weights").noconvert(), py::arg("rows").noconvert(), py::arg("y").noconvert(),
          py::arg("shift").noconvert(), py::arg("near").noconvert(), py::arg("p"),
          py::arg("threads"), lp_pass_doc);
    m.def(name("sgd").c_str(), &sgd<T>, py::arg("points").noconvert(),
          py::arg("weights").noconvert(), py::arg("wscale"), py::arg("blocks").noconvert(),
          py::arg("batch"), py::arg("norm"), py::arg("c").noconvert(), py::arg("s"),
          py::arg("gamma0"), py::arg("alpha"), py::arg("state").noconvert(), sgd_doc);
    m.def(name("gram_pass").c_str(), &gram_pass<T>, py::arg("rows"), py::arg("r"), py::arg("s"),
          py::arg("threads"), gram_doc);
    m.def(name("gram_median_pass").c_str(), &gram_median_pass<T>, py::arg("rows"), py::arg("r"),
          py::arg("s"), py::arg("a").noconvert(), py::arg("vertex"), py::arg("threads"),
          gram_median_doc);
    m.def(name("gram_certificate_pass").c_str(), &gram_certificate_pass<T>, py::arg("rows"),
          py::arg("r"), py::arg("s"), py::arg("a").noconvert(), py::arg("vertex"),
          py::arg("y").noconvert(), py::arg("t").noconvert(), py::arg("ws").noconvert(),
          py::arg("threads"), gram_certificate_doc);
    m.def(name("roofline_read").c_str(), &roofline_read<T>, py::arg("points").noconvert(),
          py::arg("threads"), "Benchmark-only: sum of every coordinate (one plain read).");
}

}  // namespace

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "geomedian's compiled kernels; use the functions in the geomedian package.";
    register_kernels<double>(m, "_f64");
    register_kernels<float>(m, "_f32");
    m.def("roofline_arith", &roofline_arith, py::arg("block").noconvert(), py::arg("y").noconvert(),
          py::arg("repeats"), py::arg("threads"),
          "Benchmark-only: repeats sweeps of distance, sqrt and division over a cached block.");
    m.def("robust_anchor", &robust_anchor, py::arg("sample").noconvert(),
          py::arg("weights").noconvert(), robust_anchor_doc);
    m.def("build_info", &build_info, "Compiler, OpenMP and SIMD facts of this build.");
    m.def("openmp_max_threads", &geomedian::openmp_max_threads,
          "omp_get_max_threads() of the calling thread (OMP_NUM_THREADS, threadpoolctl's "
          "limits), 1 in a build without OpenMP.");
    py::dict contract;
    geomedian::for_each_shared_value([&](const char* name, auto value) { contract[name] = value; });
    // The values shared with python/geomedian/_contract.py (tests/test_contract.py).
    m.attr("contract") = contract;
    // Problems with at most this many coordinates (n * d) take the small-problem pass,
    // the only one that can omit NaN rows in the kernel.
    m.attr("small_problem_size") = geomedian::small_problem_size;
}
