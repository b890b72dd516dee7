// The iteration driver shared by every method, and the batch driver around it.
//
// One solve:
//   1. moments pass: W, finiteness, spread; the frame: c = weighted mean, s = 2^-k with
//      spread * s < 1 (exact scaling, so data near 1e+-300 neither overflows nor
//      underflows, and data at 1e12 + noise keeps its digits in z = (y - c) s);
//   2. iteration pass at the start point, then per iteration: stop if the certified
//      relative gap <= tol; otherwise propose a step (Weiszfeld, GD, or a
//      Newton step with GD as its fallback), run a pass at the trial point, keep the best
//      lower bound seen, accept or retry. The gap is (f - LB) / f while no point can lie
//      beyond 2^10 times the median distance from the iterate (no_far_points, an O(d) test
//      at the start, at convergence and on a stall). Where one may, the frame is anchored
//      once at a robust centre with a near radius R (anchor_frame, robust_frame.hpp) and
//      the gap becomes relative to the data within R of the iterate (certificate.hpp):
//      gross outliers of any magnitude can neither drag the answer nor fool the stop;
//   3. near a vertex (one point carries more than half of sum w_i / d_i, or the iterate is
//      within the coincidence radius of a point) test the nearest data point itself, since
//      the certificate cannot close at a point beside a non-smooth optimum; and test it
//      anyway at iterations 8, 16, 32, ...: duplicated points split the dominating term
//      between them, which the first test cannot see.
// Which trial an iteration takes, its back-offs and its acceptance are the rules of
// schedule.hpp, shared with the chunked driver for data read in chunks (memmap, Dask).
// solve_problem runs the frame, the start and the answer's rounding; iterate, the loop.
//
// A batch: small problems (n d <= small_problem_size) are spread over the threads and
// solved each on one thread with the cache-resident SmallPass; larger ones use the chunked
// row passes of parallel.hpp. The pass depends on n and d only, never on the batch size
// or the thread count, so a problem gets the same bits alone or in a batch.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "certificate.hpp"
#include "gradient_descent.hpp"
#include "mad.hpp"
#include "newton.hpp"
#include "packed_newton.hpp"
#include "parallel.hpp"
#include "powers_of_two.hpp"
#include "robust_frame.hpp"
#include "schedule.hpp"
#include "small_pass.hpp"
#include "stack.hpp"
#include "weiszfeld.hpp"

namespace geomedian {

// Points closer than this to the iterate (in the frame where the data spans < 1) count
// as coinciding with it: far below any meaningful spread, far above rounding of d_i.
// (coincidence_radius itself is defined in contract.hpp, with the other shared values.)

// Per-problem scratch, allocated once per thread and reused across a batch.
struct Workspace {
    index_t d;
    std::vector<double> buf;
    std::vector<double> sample;  // the robust anchor's sample, sized on first use
    explicit Workspace(index_t dim)
        : d(dim), buf(10 * dim + 2 * sums_size(dim) + moments_size(dim) + pass_scratch_size(dim)) {}
    double* at(index_t k) { return buf.data() + k * d; }  // k-th d-vector, k < 10
    double* reference_row() { return at(8); }  // the moments' x0, as double
    double* anchor() { return at(9); }         // the robust centre m
    double* sums_a() { return at(10); }
    double* sums_b() { return sums_a() + sums_size(d); }
    double* moments() { return sums_b() + sums_size(d); }
    double* scratch() { return moments() + moments_size(d); }
};

// What make_frame asks of a pass beyond moments(): the row passes read every row, so
// the reference row is the first one and nothing happens once the frame is known; the
// small pass may skip rows (missing data) and copies the problem into the frame.
template <class T, class Pass>
const T* first_row(const Pass&, const Problem<T>& p) {
    return p.x;
}
template <class T>
const T* first_row(const SmallPass<T>& pass, const Problem<T>&) {
    return pass.first_row();
}
// The rows the robust anchor samples: every row for the row passes, the present ones
// (no NaN under omit) for the small pass.
template <class T, class Pass>
index_t present_rows(const Pass&, const Problem<T>& p) {
    return p.n;
}
template <class T>
index_t present_rows(const SmallPass<T>& pass, const Problem<T>&) {
    return pass.m;
}
template <class T, class Pass>
index_t present_row(const Pass&, index_t q) {
    return q;
}
template <class T>
index_t present_row(const SmallPass<T>& pass, index_t q) {
    return pass.b.idx[q];
}
template <class Pass>
void frame_ready(Pass&, const double*, double) {}
template <class T>
void frame_ready(SmallPass<T>& pass, const double* c, double s) {
    pass.load(c, s);
}

// After the solver moves the centre onto its iterate: the small pass copies the problem
// into the new frame; the row passes read the caller's rows and need nothing.
template <class Pass>
void frame_moved(Pass&, const double*, double) {}
template <class T>
void frame_moved(SmallPass<T>& pass, const double* c, double s) {
    pass.reload(c, s);
}

// The Hessian at the iterate, for Newton steps: only the small pass forms it (a d x d
// accumulation per row would cost the row passes more than the passes it saves).
template <class Pass>
bool pass_hessian(Pass&, const Frame&, double, double*) {
    return false;
}
template <class T>
bool pass_hessian(SmallPass<T>& pass, const Frame& fr, double inv, double* H) {
    pass.hessian(fr, inv, H);
    return true;
}

// The default start point in the frame: the weighted mean (z = 0) for the row passes,
// the coordinate-wise median for the small pass (see small_start).
template <class Pass>
void default_start(Pass&, index_t d, double* z) {
    std::fill(z, z + d, 0.0);
}
template <class T>
void default_start(SmallPass<T>& pass, index_t, double* z) {
    pass.start(z);
}
// Whether default_start is the weighted mean, which outliers drag (dragged_start).
template <class Pass>
bool starts_at_mean(const Pass&) {
    return true;
}
template <class T>
bool starts_at_mean(const SmallPass<T>&) {
    return false;
}

enum class FrameStatus { ok, nonfinite, empty };

// A problem's frame: centre c (d entries), scale s, total weight W, and in frame units the
// coincidence radius eps and the near radius (certificate.hpp).
struct FrameFit {
    double s = 1, W = 1, eps = coincidence_radius, near = HUGE_VAL;
    double half = 0;  // half the spread of the moments pass
};

// m and rho of robust_frame.hpp over a sample of the problem's present rows; m into `m`.
template <class T, class Pass>
double sample_anchor(const Problem<T>& p, const Pass& pass, Workspace& ws, double* m) {
    const index_t d = p.d, rows = present_rows(pass, p), S = robust_sample_size(rows);
    if (ws.sample.size() < static_cast<std::size_t>(S * (d + 3))) ws.sample.resize(S * (d + 3));
    double *xs = ws.sample.data(), *wv = xs + S * d, *v = wv + S, *vw = v + S;
    for (index_t k = 0; k < S; ++k) {
        const index_t i = present_row<T>(pass, robust_sample_row(k, rows));
        for (index_t j = 0; j < d; ++j) xs[k * d + j] = static_cast<double>(p.x[i * d + j]);
        wv[k] = p.w != nullptr ? p.w[i] : 1.0;
    }
    double rho = 0;
    robust_anchor(xs, wv, S, d, v, vw, m, &rho);
    return rho;
}

template <class T, class Pass>
FrameStatus make_frame(const Problem<T>& p, Pass& pass, Workspace& ws, double* c, FrameFit* fit) {
    const T* x0 = first_row(pass, p);
    if (x0 == nullptr) return FrameStatus::empty;
    double* mom = ws.moments();
    pass.moments(x0, mom);
    if (mom[moment::nonfinite] > 0) return FrameStatus::nonfinite;
    fit->W = mom[moment::weight];
    // Only omitted rows can leave no weight: the caller rejects all-zero weight rows.
    if (!(fit->W > 0)) return FrameStatus::empty;
    fit->half = mom[moment::half_spread];
    const int e = binary_exponent(fit->half);  // spread = 2 half < 2^(e+1)
    fit->s = fit->half > 0 ? scaled_by(1.0, std::clamp(-(e + 1), -1022, 1022)) : 1.0;
    // A spread below 2^-1022 (subnormal coordinates) keeps its digits in the frame (x - c
    // and the scaling are exact), but spans less than 1 there: the coincidence radius
    // shrinks with it, to stay as far below the spread as for any other data.
    if (fit->half > 0 && -(e + 1) > 1022) fit->eps = std::ldexp(coincidence_radius, 1022 + e + 1);
    double* x0d = ws.reference_row();
    bool finite = true;
    for (index_t j = 0; j < p.d; ++j) {
        x0d[j] = static_cast<double>(x0[j]);
        c[j] = x0d[j] + 2.0 * (mom[moment::head + j] / fit->W);
        finite &= std::isfinite(c[j]);
    }
    // Only a spread near the overflow threshold makes the mean overflow; any finite
    // centre near the data will do, so fall back to the reference point.
    if (!finite)
        for (index_t j = 0; j < p.d; ++j) c[j] = x0d[j];
    frame_ready(pass, c, fit->s);
    return FrameStatus::ok;
}

// Whether the classic certificate speaks at the scale of the data around the iterate y:
// no point lies farther than near_factor times the median distance rho_y from y. At least
// half the weight lies within rho_y, and the part of it off the iterate adds at least
// w_i / rho_y to inv, so rho_y >= (W / 2 - eta) / inv; every point lies in the moments'
// box, within reach = ||y - x0|| + 2 sqrt(d) half of y. O(d), no pass: clean data pays
// nothing for the far-point machinery.
inline bool no_far_points(const double* S, double W, double reach) {
    const double half_weight = 0.5 * W - S[slot::eta];
    return half_weight > 0 && S[slot::inv] > 0 && reach * S[slot::inv] <= near_factor * half_weight;
}

// reach (above) in frame units, for the iterate z of the frame (c, s).
inline double frame_reach(const double* c, double s, const double* z, const double* x0d,
                          index_t d, double half) {
    double q = 0;
    for (index_t j = 0; j < d; ++j) {
        const double r = (c[j] - x0d[j]) * s + z[j];
        q += r * r;
    }
    return std::sqrt(q) + 2.0 * std::sqrt(static_cast<double>(d)) * half * s;
}

enum class Anchor { moved, unchanged, range };

// Far points may lurk (no_far_points failed): anchor the frame at the robust centre m with
// the near radius R = near_factor rho (robust_frame.hpp), the scale raised until R s ~ 1 as
// far as the far points' headroom allows, the coincidence radius 2^-40 of R s at most.
// rho = 0 (more than half the sample's weight sits at m): the frame moves to m with its
// scale and the classic certificate. `unchanged`: rho not finite. `range`: R s <
// 2^-frame_depth, beyond float64.
template <class T, class Pass>
Anchor anchor_frame(const Problem<T>& p, Pass& pass, Workspace& ws, double* c, FrameFit* fit) {
    double* m = ws.anchor();
    const double rho = sample_anchor(p, pass, ws, m);
    if (rho == 0) {
        // More than half the sample's weight sits exactly at m, which (Kuhn) is then the
        // median: go on from m in a frame centred on it, where it is represented exactly
        // (the mean-centred frame may round it away), with the classic certificate.
        for (index_t j = 0; j < p.d; ++j) c[j] = m[j];
        frame_moved(pass, c, fit->s);
        return Anchor::moved;
    }
    const double R = near_factor * rho;
    if (!(R > 0 && std::isfinite(R))) return Anchor::unchanged;
    int e = 0, eR = 0;
    std::frexp(fit->half, &e);
    std::frexp(R, &eR);  // R < 2^eR
    const int up = std::clamp(e + 1 - eR, 0, frame_headroom);
    const double s = std::ldexp(fit->s, up);  // fit->s: make_frame's scale (anchored once)
    const double Rs = R * s;
    if (!(Rs >= std::ldexp(1.0, -frame_depth))) return Anchor::range;
    for (index_t j = 0; j < p.d; ++j) c[j] = m[j];
    fit->s = s;
    fit->near = Rs;
    fit->eps = coincidence_radius * std::min(1.0, Rs);
    frame_moved(pass, c, s);
    return Anchor::moved;
}

// One solve's state: the problem, its pass and scratch, the frame and the iterate z in it,
// the certificate at z with the best lower bound seen, and the schedule (schedule.hpp).
// The functions below are the steps of solve_problem; each advances out.n_iter and
// out.n_passes as it goes.
template <class T, class Pass>
struct Solve {
    const Problem<T>& p;
    const Options& opt;
    Pass& pass;
    Workspace& ws;
    Outcome& out;
    index_t d;
    double *c, *z, *zt, *g, *gt;
    double *S, *St;  // the sums at z and at the trial
    GdState gd;
    double* newton_step;
    FrameFit fit;
    Frame fr;  // c, s, eps and near of fit, at the iterate z
    Certificate cert{};
    double lb = 0;
    Schedule sc;
    double H[newton_max_d * (newton_max_d + 1) / 2];

    Solve(const Problem<T>& prob, const Options& o, Pass& pa, Workspace& w, Outcome& oc)
        : p(prob), opt(o), pass(pa), ws(w), out(oc), d(prob.d), c(w.at(0)), z(w.at(1)),
          zt(w.at(2)), g(w.at(3)), gt(w.at(4)), S(w.sums_a()), St(w.sums_b()),
          gd{w.at(5), w.at(6)}, newton_step(w.at(7)), fr{c, 1, z, 0, 0} {}
};

// No answer (why: empty, nonfinite or range): NaN everywhere, the counts as they stand.
template <class T, class Pass>
void unsolved(Solve<T, Pass>& it, Status why) {
    Outcome& out = it.out;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::fill(out.median, out.median + it.d, nan);
    out.objective = out.lower_bound = out.gap = out.scale = nan;
    out.status = why;
}

// The pass and certificate at z, replacing the lower bound (a new frame) or not.
template <class T, class Pass>
void pass_at_iterate(Solve<T, Pass>& it, bool new_frame) {
    it.pass.sums(it.fr, it.S);
    ++it.out.n_passes;
    it.cert = certify(it.S, it.d, it.fit.W, it.g);
    it.lb = new_frame ? it.cert.lb : std::max(it.lb, it.cert.lb);
}

// Whether a certified gap here vouches for the location: after anchoring always (the
// certificate then measures the gap at the near points' scale), before it where no point
// can be far (no_far_points).
template <class T, class Pass>
bool vouches(const Solve<T, Pass>& it) {
    if (it.sc.anchored) return true;
    const double* x0d = it.ws.reference_row();
    return no_far_points(it.S, it.fit.W, frame_reach(it.c, it.fr.s, it.z, x0d, it.d, it.fit.half));
}

// Anchors the frame once (anchor_frame), and goes on from the iterate where it lies within
// the near radius of the robust centre (else, or `from_centre`, from that centre) with a
// fresh pass.
template <class T, class Pass>
Anchor anchor_iterate(Solve<T, Pass>& it, bool from_centre = false) {
    const index_t d = it.d;
    anchoring(it.sc);
    for (index_t j = 0; j < d; ++j) it.zt[j] = it.c[j] + it.z[j] / it.fr.s;  // data units
    const Anchor a = anchor_frame(it.p, it.pass, it.ws, it.c, &it.fit);
    if (a != Anchor::moved) return a;
    const double s = it.fit.s, near = it.fit.near;
    const bool keep =
        !from_centre && near < HUGE_VAL && scaled_distance(it.zt, it.c, d) * s <= near;
    for (index_t j = 0; j < d; ++j) it.z[j] = keep ? (it.zt[j] - it.c[j]) * s : 0.0;
    it.fr = Frame{it.c, s, it.z, it.fit.eps, near};
    it.gd.has_prev = false;
    anchor_reset(it.sc);
    // The bounds of the old frame are dropped: where it could not resolve the inliers
    // (rounded together, or their squares underflowed), its sums described another problem.
    pass_at_iterate(it, true);
    return a;
}

// Steps have shrunk towards the resolution of z = (y - c) s. Where the optimum lies far
// from the weighted mean (outliers pull the mean away), z carries too few digits near it:
// move the centre onto the iterate, where all are available. Stalled only when a step
// still cannot move after that.
template <class T, class Pass>
void recentre_frame(Solve<T, Pass>& it) {
    recentred(it.sc, it.out.n_iter);
    for (index_t j = 0; j < it.d; ++j) {
        it.c[j] += it.z[j] / it.fr.s;
        it.z[j] = 0.0;
    }
    it.gd.has_prev = false;
    frame_moved(it.pass, it.c, it.fr.s);
    pass_at_iterate(it, false);
}

// Data point k as the trial zt; false when the iterate already sits there (it steps as
// usual then).
template <class T, class Pass>
bool vertex_trial(Solve<T, Pass>& it, index_t k) {
    const index_t d = it.d;
    for (index_t j = 0; j < d; ++j)
        it.zt[j] = (static_cast<double>(it.p.x[k * d + j]) - it.c[j]) * it.fr.s;
    return !std::equal(it.z, it.z + d, it.zt);
}

// The iterate cannot improve (no step moves it, or the gap is stuck at the rounding
// floor). True, with the status, where that ends the solve: stalled where the certificate
// vouches for the location, or range; false where the frame was anchored and the loop goes
// on.
template <class T, class Pass>
bool stall_ends(Solve<T, Pass>& it, Status* status) {
    *status = Status::stalled;
    if (vouches(it)) return true;
    const Anchor a = anchor_iterate(it);
    if (a == Anchor::range) *status = Status::range;
    return a != Anchor::moved;
}

// The loop: returns when the certified gap reaches tol (the caller's, or a tighter target
// that leaves room for rounding the answer) where it vouches for the location,
// the iteration budget runs out, an interrupt arrives or the iterate stalls (range: no
// answer). Per iteration, the schedule (schedule.hpp) picks the trial: a vertex, a Newton
// step, else GD or Weiszfeld; the pass at the trial decides whether the step is taken.
template <class T, class Pass>
Status iterate(Solve<T, Pass>& it, const Interrupt& interrupt, double tol) {
    const index_t d = it.d;
    Schedule& sc = it.sc;
    GapProgress progress;
    for (;;) {
        const double gap = relative_gap(it.cert, it.lb);
        if (gap <= tol) {
            if (vouches(it)) return Status::converged;
            const Anchor a = anchor_iterate(it);
            if (a == Anchor::range) return Status::range;
            if (a == Anchor::unchanged) return Status::converged;
            progress = GapProgress{};
            continue;
        }
        const index_t n_iter = it.out.n_iter;
        if (gap_stalled(progress, gap, n_iter)) {
            Status st;
            if (stall_ends(it, &st)) return st;
            progress = GapProgress{};
            continue;
        }
        if (n_iter >= it.opt.max_iter) return Status::max_iter;
        if (interrupt()) return Status::interrupted;
        if (sc.recentre) {
            recentre_frame(it);
            continue;
        }
        const double* S = it.S;
        bool vertex = false;
        if (vertex_due(sc, S, n_iter)) {
            const index_t k = it.pass.nearest(it.fr);
            ++it.out.n_passes;
            if (vertex_new(sc, k, n_iter)) vertex = vertex_trial(it, k);
        }
        bool newton = false;
        double decrement = 0;
        if (!vertex && newton_due(sc, it.opt.method == Method::newton, d, n_iter) &&
            pass_hessian(it.pass, it.fr, S[slot::inv], it.H)) {
            newton = newton_propose(it.H, d, S[slot::inv], it.z, it.g, it.newton_step,
                                    &decrement, it.zt);
            if (!newton) newton_backs_off(sc, n_iter);
        }
        const bool descent = it.opt.method != Method::weiszfeld;
        const bool majorize = majorize_only(S);
        const Trial kind = trial_kind(vertex, newton, descent);
        bool moved = true;
        if (kind == Trial::gd)
            moved = gd_propose(it.gd, S, d, it.fit.W, it.z, it.g, sc.retry, it.zt);
        else if (kind == Trial::weiszfeld)
            moved = weiszfeld_step(S, d, it.z, it.zt);
        if (!moved) {
            if (!stalled(sc, it.z, d, n_iter)) {
                recentring(sc);
                continue;
            }
            Status st;
            if (stall_ends(it, &st)) return st;
            progress = GapProgress{};
            continue;
        }
        it.pass.sums(Frame{it.c, it.fr.s, it.zt, it.fr.eps, it.fr.near}, it.St);
        ++it.out.n_passes;
        const Certificate ct = certify(it.St, d, it.fit.W, it.gt);
        it.lb = std::max(it.lb, ct.lb);
        const bool accept = trial_accepted(kind, majorize, it.gd, it.cert, ct, decrement,
                                           S[slot::w_far], it.St[slot::w_far]);
        bool recentre = false;
        if (accept) {
            if (trial_remembered(kind)) gd_remember(it.gd, d, it.z, it.g);
            recentre = recentre_due(it.z, it.zt, d);
            std::swap(it.z, it.zt);
            std::swap(it.S, it.St);
            std::swap(it.g, it.gt);
            it.fr.z = it.z;
            it.cert = ct;
            ++it.out.n_iter;
        }
        trial_done(sc, kind, accept, recentre, it.out.n_iter);
    }
}

// One problem: the frame, the start point and the pass there (anchored at once where far
// points may drag the mean, the usual start), the loop, then the answer in the caller's
// coordinates and dtype.
template <class T, class Pass>
void solve_problem(const Problem<T>& p, const Options& opt, const double* init, Pass& pass,
                   Workspace& ws, const Interrupt& interrupt, Outcome& out) {
    Solve<T, Pass> it(p, opt, pass, ws, out);
    const index_t d = p.d;
    double *c = it.c, *z = it.z;
    out.n_iter = 0;
    out.n_passes = 1;
    const FrameStatus fs = make_frame(p, pass, ws, c, &it.fit);
    if (fs != FrameStatus::ok) {
        unsolved(it, fs == FrameStatus::empty ? Status::empty : Status::nonfinite);
        return;
    }
    if (init != nullptr)
        for (index_t j = 0; j < d; ++j) z[j] = (init[j] - c[j]) * it.fit.s;
    else
        default_start(pass, d, z);
    it.fr = Frame{c, it.fit.s, z, it.fit.eps, it.fit.near};
    pass.sums(it.fr, it.S);
    ++out.n_passes;
    // A start so far from the data that its distances overflow tells nothing about them:
    // the usual start instead (the caller's start is a hint, never the answer).
    if (init != nullptr && !std::isfinite(it.S[slot::f])) {
        default_start(pass, d, z);
        pass.sums(it.fr, it.S);
        ++out.n_passes;
    }
    // The points are finite (moments), so an infinite objective means distances beyond the
    // largest double: points spanning more than float64 can hold.
    if (!std::isfinite(it.S[slot::f])) {
        unsolved(it, Status::range);
        return;
    }
    it.cert = certify(it.S, d, it.fit.W, it.g);
    it.lb = it.cert.lb;
    // Far points that may drag the mean (the usual start) show at once: the anchor comes
    // first. A mean that sees a share of the weight pull one way lies off the bulk of the
    // data: the walk then starts at the robust centre (else from the start, within reach).
    const bool dragged =
        init == nullptr && starts_at_mean(pass) && it.cert.gnorm >= dragged_start * it.fit.W;
    if ((dragged || !vouches(it)) && anchor_iterate(it, dragged) == Anchor::range) {
        unsolved(it, Status::range);
        return;
    }
    // Where rounding c + z / s moves the answer measurably (float32 points; data far from
    // the origin relative to its spread, e.g. 1e12 + noise), certify the rounded point
    // itself, not the iterate it came from. Where that costs the certified gap more than
    // tol allows, the loop goes on towards a tighter target (the iterate, its sums and its
    // certificate are untouched: the rounded point's pass went to the trial's buffers).
    double target = opt.tol;
    Status status;
    Certificate rounded{};
    bool moved;
    for (index_t retry = 0; retry <= rounding_retries; ++retry) {
        status = iterate(it, interrupt, target);
        if (status == Status::range) {
            unsolved(it, Status::range);
            return;
        }
        c = it.c;
        z = it.z;
        const double s = it.fr.s;
        double moved2 = 0;
        for (index_t j = 0; j < d; ++j) {
            out.median[j] = static_cast<T>(c[j] + z[j] / s);
            it.zt[j] = (out.median[j] - c[j]) * s;
            moved2 += (it.zt[j] - z[j]) * (it.zt[j] - z[j]);
        }
        moved = std::sqrt(moved2) > it.fr.eps;
        if (!moved) break;
        pass.sums(Frame{c, s, it.zt, it.fr.eps, it.fr.near}, it.St);
        ++out.n_passes;
        // The iterate's gap carried over the move (second order), where the near bound at
        // the rounded point is first order (its gradient's).
        rounded = carried(certify(it.St, d, it.fit.W, it.gt), it.cert, it.lb, it.St, it.gt,
                          it.zt, z, d, it.fit.W);
        it.lb = std::max(it.lb, rounded.lb);
        // Done where certified, and hopeless where the rounding alone costs tol (the points'
        // resolution: no iterate rounds better).
        const double after = relative_gap(rounded, it.lb);
        if (status != Status::converged || after <= opt.tol ||
            after - relative_gap(it.cert, it.lb) >= opt.tol)
            break;
        target *= rounding_retry_tol;
    }
    const double s = it.fr.s, W = it.fit.W;
    if (moved) {
        it.cert = rounded;
        if (status == Status::converged && relative_gap(it.cert, it.lb) > opt.tol)
            status = Status::stalled;
    }
    const Certificate& cert = it.cert;
    out.objective = in_units_up(cert.f, s, p.wscale);
    // The near-point gap is the tighter one where far points dominate f; f - gap_N may then
    // round to f itself (the bound is the gap, not this difference).
    out.lower_bound = in_units_down(
        cert.gap_near < cert.f - it.lb ? cert.f - cert.gap_near : it.lb, s, p.wscale);
    out.gap = relative_gap(cert, it.lb);
    out.scale = cert.scale / (W * s);
    // An objective or bound beyond float64 in the caller's units certifies nothing there.
    if (status == Status::converged &&
        !(std::isfinite(out.objective) && std::isfinite(out.lower_bound)))
        status = Status::stalled;
    out.status = status;
}

// Objective, minimum-norm subgradient and dual bound at a given point y (caller's units).
// Returns false when the points are not all finite.
template <class T, class Pass>
bool evaluate_at(const Problem<T>& p, const double* y, Pass& pass, Workspace& ws, double* f,
                 double* grad, double* lb) {
    double *c = ws.at(0), *z = ws.at(1), *S = ws.sums_a();
    FrameFit fit;
    if (make_frame(p, pass, ws, c, &fit) != FrameStatus::ok) return false;
    const double s = fit.s, W = fit.W;
    // Centre the frame on y itself so that x_i - y is formed without a detour.
    for (index_t j = 0; j < p.d; ++j) {
        c[j] = y[j];
        z[j] = 0.0;
    }
    pass.sums(Frame{c, s, z, fit.eps, fit.near}, S);
    const Certificate cert = certify(S, p.d, W, grad);
    for (index_t j = 0; j < p.d; ++j) grad[j] /= p.wscale;
    *f = in_units_up(cert.f, s, p.wscale);
    *lb = in_units_down(cert.gap_near < cert.f - cert.lb ? cert.f - cert.gap_near : cert.lb, s,
                        p.wscale);
    return true;
}

// P problems of n points in d dimensions, stored back to back. Weights: nullptr, or
// w_rows rows of n (w_rows == 1 shares one row across the batch) with one scale per row.
template <class T>
struct Batch {
    const T* x;
    index_t P, n, d;
    const double* w;
    index_t w_rows;
    const double* wscale;
    const double* init;  // P x d start points, or nullptr for the weighted means
    // Where set, x is not used: each problem is read from the caller's array into a
    // thread's scratch as it is solved (stack.hpp).
    const StackReader<T>* stack = nullptr;
};

struct BatchOutcome {
    double* median;  // P x d
    double* objective;
    double* lower_bound;
    double* gap;
    std::int64_t* n_iter;
    std::int64_t* n_passes;
    std::int32_t* status;
    double* scale = nullptr;  // optional: the hot loop asks only for the median and status
    const MadOutcome* mad = nullptr;  // optional: geomad's deviations, after each median
};

template <class T>
double wscale_of(const Batch<T>& b, index_t k) {
    return b.w == nullptr ? 1.0 : b.wscale[b.w_rows == 1 ? 0 : k];
}

// Problem k without its values (x is null): its weights, their scale and its size.
template <class T>
Problem<T> weights_of(const Batch<T>& b, index_t k) {
    const double* w = b.w == nullptr ? nullptr : b.w + (b.w_rows == 1 ? 0 : k) * b.n;
    return {nullptr, w, wscale_of(b, k), b.n, b.d};
}

// Problem k; read into `rows` (n x d, the thread's) where the batch reads a stack, so it
// holds until the next problem_of on that scratch.
template <class T>
Problem<T> problem_of(const Batch<T>& b, index_t k, T* rows) {
    Problem<T> p = weights_of(b, k);
    p.x = rows;
    if (b.stack != nullptr)
        b.stack->read(*b.stack, k, rows);
    else
        p.x = b.x + k * b.n * b.d;
    return p;
}

// The scratch problem_of reads a stack's problem into, one per thread (the packed path
// reads a stack straight into its lanes: StackReader::pack).
template <class T>
std::vector<T> stack_rows(const Batch<T>& b) {
    return std::vector<T>(b.stack != nullptr ? static_cast<std::size_t>(b.n * b.d) : 0);
}

inline void store(const BatchOutcome& bo, index_t k, const Outcome& o) {
    bo.objective[k] = o.objective;
    bo.lower_bound[k] = o.lower_bound;
    bo.gap[k] = o.gap;
    bo.n_iter[k] = o.n_iter;
    bo.n_passes[k] = o.n_passes;
    bo.status[k] = static_cast<std::int32_t>(o.status);
    if (bo.scale != nullptr) bo.scale[k] = o.scale;
}

// Problem k's deviations around its stored median, where asked for (mad.hpp).
template <class T>
void store_mads(const Problem<T>& p, const BatchOutcome& bo, index_t k, MadScratch& ms) {
    if (bo.mad != nullptr) problem_mads(p, bo.median + k * p.d, ms, *bo.mad, k);
}

// Ctrl-C in a batch spread over threads: only the calling thread may look at Python's
// signal flags (interrupt()), so it raises a shared flag that every thread polls once per
// iteration and before each problem. The caller's check reads a clock, and an iteration of
// a small problem takes well under a microsecond: it is consulted every 16th poll only (it
// was 4% of a pixel batch's time).
struct BatchStop {
    const Interrupt* caller;
    std::atomic<bool> flag{false};
    unsigned polls = 0;  // touched by the calling thread only

    bool requested() const { return flag.load(std::memory_order_relaxed); }
    static bool poll_caller(void* self) {
        auto* bs = static_cast<BatchStop*>(self);
        if (++bs->polls % 16 == 0 && !bs->requested() && (*bs->caller)())
            bs->flag.store(true, std::memory_order_relaxed);
        return bs->requested();
    }
    static bool poll_flag(void* self) { return static_cast<BatchStop*>(self)->requested(); }
    Interrupt for_thread(bool calling_thread) {
        return {calling_thread ? &poll_caller : &poll_flag, this};
    }
};

// Few large problems: one after another, each pass split over the threads.
template <class T>
void solve_within(const Batch<T>& b, const Options& opt, int threads, const Interrupt& interrupt,
                  const BatchOutcome& bo) {
    Workspace ws(b.d);
    MadScratch ms(bo.mad != nullptr ? b.n : 0);
    std::vector<T> rows = stack_rows(b);
    for (index_t k = 0; k < b.P; ++k) {
        const Problem<T> p = problem_of(b, k, rows.data());
        OpenMPPass<T> pass(p, threads);
        Outcome o{bo.median + k * b.d, NAN, NAN, NAN, 0, 0, Status::interrupted};
        solve_problem(p, opt, b.init ? b.init + k * b.d : nullptr, pass, ws, interrupt, o);
        store(bo, k, o);
        store_mads(p, bo, k, ms);
        if (o.status == Status::interrupted) {
            for (index_t r = k + 1; r < b.P; ++r) {
                Outcome skipped{bo.median + r * b.d, NAN, NAN, NAN, 0, 0, Status::interrupted};
                std::fill(skipped.median, skipped.median + b.d, NAN);
                store(bo, r, skipped);
            }
            return;
        }
    }
}

// Large problems are solved one after another, each pass split over the threads
// (solve_within); many problems (and every small one) are spread over the threads, one
// problem per thread at a time, each solved serially in cache. Both give the same bits
// (see parallel.hpp).
template <class T>
void solve_batch(const Batch<T>& b, const Options& opt, int threads, const Interrupt& interrupt,
                 const BatchOutcome& bo) {
    const bool small = b.n * b.d <= small_problem_size;
    const bool within = !small && (b.P == 1 || threads == 1 || b.n * b.d >= (index_t{1} << 16));
    if (within) {
        solve_within(b, opt, threads, interrupt, bo);
        return;
    }
    // Newton on small problems without start points runs eight problems at a time in the
    // SIMD lanes (packed_newton.hpp), giving back to solve_problem the few it cannot
    // certify on Newton's common path. Which path a problem takes depends on n, d and the
    // options only, so it gets the same bits alone or in a batch.
    const bool packed = small && opt.method == Method::newton && b.d <= newton_max_d &&
                        b.init == nullptr && b.n * b.d <= packed_problem_size;
    const index_t units = packed ? (b.P + pack - 1) / pack : b.P;
    const int nt = static_cast<int>(std::min<index_t>(threads, units));
    BatchStop stop{&interrupt};
    // Run by every thread of the team, or alone by the calling thread: outside a parallel
    // region the `omp for` below is a plain loop. Even `parallel if (false)` starts a team
    // in GNU OpenMP (futex calls), about a microsecond, which a hot loop of tiny problems
    // would pay per call.
    const auto spread = [&]() {
        // Scratch per thread, reused by every problem the thread solves: no allocation
        // per problem.
        Workspace ws(b.d);
        SmallBuffers sb(small ? b.n : 0, small ? b.d : 0);
        MadScratch ms(bo.mad != nullptr ? b.n : 0);
        std::vector<T> rows = stack_rows(b);
#ifdef _OPENMP
        const bool caller = omp_get_thread_num() == 0;
#else
        const bool caller = true;
#endif
        const Interrupt stopped = stop.for_thread(caller);
        const auto solve_one = [&](index_t k) {
            Outcome o{bo.median + k * b.d, NAN, NAN, NAN, 0, 0, Status::interrupted};
            const Problem<T> p = problem_of(b, k, rows.data());
            if (!stop.requested()) {
                const double* init = b.init ? b.init + k * b.d : nullptr;
                if (small) {
                    SmallPass<T> pass{p, opt.omit_nan, sb};
                    solve_problem(p, opt, init, pass, ws, stopped, o);
                } else {
                    SerialPass<T> pass{p, ws.scratch()};
                    solve_problem(p, opt, init, pass, ws, stopped, o);
                }
            } else {
                std::fill(o.median, o.median + b.d, NAN);
            }
            store(bo, k, o);
            store_mads(p, bo, k, ms);
        };
        if (!packed) {
#pragma omp for schedule(dynamic, 64)
            for (index_t k = 0; k < b.P; ++k) solve_one(k);
            return;
        }
        const PackOptions popt{opt.tol, opt.max_iter, std::is_same_v<T, float>, b.w == nullptr};
        PackBuffers& pb = thread_pack_buffers(b.n, b.d, popt.unit_weights);
        PackOutcome po;
        PackMads pm;
        // Problems k0 .. k0 + count - 1 in the first lanes (count <= pb.lanes); the ones the
        // packed solve does not certify are solved again by solve_problem.
        const auto solve_packed = [&](index_t k0, index_t count) {
            index_t m[pack];
            Problem<T> probs[pack];
            const index_t next = std::min(k0 + 2 * count, b.P);  // the next pack's end
            if (b.stack != nullptr) {  // read straight into the lanes, no scratch copy
                for (index_t l = 0; l < count; ++l) probs[l] = weights_of(b, k0 + l);
                b.stack->pack(*b.stack, k0, probs, count, opt.omit_nan, pb, m);
                pb.ahead = stack_span(*b.stack, k0 + count, next);
            } else {
                for (index_t l = 0; l < count; ++l) probs[l] = problem_of(b, k0 + l, rows.data());
                pack_lanes(probs, count, opt.omit_nan, pb, m);
                pb.ahead = next > k0 + count ? problems_span(problem_of(b, k0 + count, rows.data()),
                                                             problem_of(b, next - 1, rows.data()),
                                                             next - k0 - count)
                                             : Ahead{};
            }
            if (bo.mad != nullptr)  // the coordinates as packed, before the frames move them
                pb.raw.assign(pb.u, pb.u + pb.d * pb.n * pb.lanes);
            packed_newton(pb, m, popt, po);
            if (bo.mad != nullptr) packed_mads(pb, po, pm);
            for (index_t l = 0; l < count; ++l) {
                const index_t k = k0 + l;
                if (!po.certified[l]) {
                    solve_one(k);
                    continue;
                }
                for (index_t j = 0; j < b.d; ++j)
                    bo.median[k * b.d + j] = po.median[j * pb.lanes + l];
                const double ws = wscale_of(b, k);
                Outcome o{bo.median + k * b.d, in_units_up(po.f[l], po.s[l], ws),
                          in_units_down(po.lb[l], po.s[l], ws),
                          relative_gap(po.f[l], po.lb[l]), po.n_iter[l], po.n_passes[l],
                          Status::converged};
                o.scale = po.f[l] / (po.W[l] * po.s[l]);  // F = f: no point beyond R
                store(bo, k, o);
                if (bo.mad != nullptr) {
                    bo.mad->emad[k] = pm.emad[l];
                    bo.mad->smad[k] = pm.smad[l];
                    bo.mad->bcmad[k] = pm.bcmad[l];
                    bo.mad->count[k] = pm.count[l];
                }
            }
        };
#pragma omp for schedule(dynamic, 8)
        for (index_t g = 0; g < units; ++g) {
            const index_t k0 = g * pack, count = std::min(pack, b.P - k0);
            if (stopped()) {
                for (index_t k = k0; k < k0 + count; ++k) solve_one(k);  // marks them
                continue;
            }
            // A full pack fills the lanes; the problems of a partial one (a batch of one
            // problem, the last few of a batch) go one lane wide, each at the cost of one
            // problem instead of eight. Lanes do not interact: the bits are the same.
            if (count == pack) {
                pb.lanes = pack;
                solve_packed(k0, count);
            } else {
                pb.lanes = 1;
                for (index_t k = k0; k < k0 + count; ++k) solve_packed(k, 1);
            }
        }
    };
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        spread();
    } else {
        spread();
    }
}

}  // namespace geomedian
