// The iteration's schedule: which step a solve tries next, when it backs off, which trial
// it keeps and when it moves its frame. Written once here (and once in the Numba mirror,
// python/geomedian/_numba/schedule.py) and used by every exact driver: the one-problem
// solver of solver.hpp (alone or in a batch) and the chunked driver for data read in
// chunks (python/geomedian/_paths/chunked.py, which runs the mirror as plain Python), so
// every path stops by the same rule and tries the same steps.
//
// Per iteration, in this order:
//   - a vertex trial, where one is due (vertex_due): one point dominates sum w_i / d_i or
//     sits on the iterate (the certificate cannot close beside a non-smooth optimum), and
//     unconditionally at iterations 8, 16, 32, ... (duplicated points split the dominating
//     term between them, which the first test cannot see). The nearest data point itself
//     is the trial; the same point twice, or a rejected one, backs the test off for 1, 2,
//     4, ... iterations;
//   - else a Newton step, where one is due (newton_due; on a data point too, for the
//     others) and the Hessian gives one; a failed or rejected Newton step backs off
//     likewise and the gradient step comes instead;
//   - else gradient descent, or a Weiszfeld step (method weiszfeld).
//   Beside far points whose distances make f's rounding hide the Armijo test
//   (majorize_only) the near points' gap judges the trials instead.
// The trial's pass decides (trial_accepted). An accepted step that shrank below 2^-40 of
// the iterate's length asks to move the frame's centre onto the iterate (recentre_due);
// a proposal that cannot move stalls the solve only once the frame sits on the iterate
// (stalled).
#pragma once

#include "certificate.hpp"
#include "gradient_descent.hpp"
#include "newton.hpp"

namespace geomedian {

// What the loop carries from one iteration to the next besides the iterate.
struct Schedule {
    bool retry = false;             // the last GD trial was rejected: GD backtracks
    index_t last_vertex = -1;       // data point most recently tried as the answer
    index_t next_vertex_check = 0;  // back off after a vertex try that did not pay
    index_t vertex_backoff = 1;
    index_t next_probe = 8;         // unconditional vertex tries, at doubling intervals
    index_t recentred_at = -1;      // iteration at which the frame last moved to the iterate
    index_t next_newton = 0;        // back off after a Newton step that failed
    index_t newton_backoff = 1;
    bool recentre = false;          // move the frame's centre to the iterate first
    bool anchored = false;          // the frame has been anchored robustly (anchor_frame)
};

// The kinds of trial step, in the order they are considered.
enum class Trial { vertex, newton, gd, weiszfeld };

// Whether to look for the nearest data point now (S: the sums at the iterate). Not while
// GD backtracks. A probe iteration is used up here, whatever the search finds.
inline bool vertex_due(Schedule& sc, const double* S, index_t n_iter) {
    const bool near_vertex = S[slot::max_term] > 0.5 * S[slot::inv] || S[slot::eta] > 0;
    const bool probe = n_iter >= sc.next_probe;
    if (sc.retry || !(probe || (near_vertex && n_iter >= sc.next_vertex_check))) return false;
    if (probe) sc.next_probe *= 2;
    return true;
}

// A vertex that did not pay (found again, or its trial rejected): wait 1, 2, 4, ...
// iterations before the next look.
inline void vertex_backs_off(Schedule& sc, index_t n_iter) {
    sc.next_vertex_check = n_iter + sc.vertex_backoff;
    sc.vertex_backoff *= 2;
}

// The nearest point k was found: true for a point not tried last time (now the one tried),
// false (and the back-off) for the same point again.
inline bool vertex_new(Schedule& sc, index_t k, index_t n_iter) {
    if (k != sc.last_vertex) {
        sc.last_vertex = k;
        return true;
    }
    vertex_backs_off(sc, n_iter);
    return false;
}

// Whether f cannot judge a step: beside far points (w_far > 0) whose distances make f so
// large that its rounding allowance (f_noise f) is not far below the near points' share
// f_N. The Armijo tests of gradient and Newton trials then compare rounding noise and
// accept nearly any step (trial_accepted asks the near points' gap instead). Far points
// that leave f_N its digits (rows a few thousand times the near ones' spread away: the
// robust frame calls far whatever lies beyond near_factor times the median distance) do
// not hide it, and a cluster of near points with a pair close beside the optimum needs
// second-order steps to reach it.
inline bool majorize_only(const double* S) {
    return S[slot::w_far] > 0 && !(f_noise * S[slot::f] <= far_noise_share * S[slot::f_near]);
}

// Whether to try a Newton step (the caller then forms the Hessian, where its pass can).
// Also where f's rounding hides the near points (majorize_only): the near points' gap then
// judges the step (trial_accepted). On a data point (eta > 0) too: the gradient g (the
// minimum-norm subgradient) and the Hessian leave the coincident points out, their weight
// having cancelled what it could of the others' pull, so the step is Newton's for the
// others. Beside a point (a pair of points) much
// closer to the iterate than the rest, Weiszfeld and the safe gradient step only move by
// a share of the distance to it per iteration, where Newton leaves it in one step.
inline bool newton_due(const Schedule& sc, bool newton_method, index_t d, index_t n_iter) {
    return !sc.retry && newton_method && d <= newton_max_d && n_iter >= sc.next_newton;
}

// A Newton step that failed (no step) or was rejected: the gradient step comes next, and
// Newton waits 1, 2, 4, ... iterations.
inline void newton_backs_off(Schedule& sc, index_t n_iter) {
    sc.next_newton = n_iter + sc.newton_backoff;
    sc.newton_backoff *= 2;
}

// The trial proposed: the vertex or the Newton step where there is one, else gradient
// descent (gd and newton) or Weiszfeld.
inline Trial trial_kind(bool vertex, bool newton, bool descent) {
    if (vertex) return Trial::vertex;
    if (newton) return Trial::newton;
    return descent ? Trial::gd : Trial::weiszfeld;
}

// Whether to keep the trial, from the certificate and the weight beyond the near radius at
// the iterate (cert, w_far) and at the trial (ct, w_far_trial); decrement: the Newton
// decrement g . p; majorize: majorize_only at the iterate.
inline bool trial_accepted(Trial kind, bool majorize, const GdState& gd,
                           const Certificate& cert, const Certificate& ct, double decrement,
                           double w_far, double w_far_trial) {
    bool accept;
    // Where f's rounding hides the near points (majorize), f cannot judge a step: equal
    // values accepted every vertex probe (the iterate jumped to the nearest row and started
    // over), and nearly any Newton or gradient step. There a trial is kept only where the
    // near points certify it a smaller gap (gap_N bounds f - f* at either point; at an
    // optimal data point it is the smaller one), but for a gradient step at t_safe, which
    // majorizes (Weiszfeld's, the rejected steps' fallback).
    if (kind == Trial::vertex)
        accept = majorize ? ct.gap_near < cert.gap_near : ct.f <= cert.f;
    else if (kind == Trial::newton)
        accept = majorize ? ct.gap_near < cert.gap_near : newton_accept(cert.f, ct.f, decrement);
    else if (kind == Trial::gd)
        accept = majorize ? gd.t <= gd.t_safe || ct.gap_near < cert.gap_near
                          : gd_accept(gd, cert.f, ct.f, cert.gnorm);
    else
        accept = true;  // Vardi-Zhang steps never increase f
    // Where far points make f, its rounding exceeds the inliers' whole share, and the tests
    // above accept nearly any step: one that leaves the near points behind (more weight
    // beyond the near radius) is refused. Majorize-minimize steps (Weiszfeld, a GD trial at
    // t_safe) truly decrease f and stay accepted.
    if (accept && (kind == Trial::newton || (kind == Trial::gd && gd.t > gd.t_safe)) &&
        w_far_trial > w_far)
        accept = false;
    return accept;
}

// Whether an accepted step updates GD's memory (z_prev, g_prev) for the next
// Barzilai-Borwein quotient: gradient and Newton steps, not a jump to a vertex.
inline bool trial_remembered(Trial kind) { return kind == Trial::gd || kind == Trial::newton; }

// Whether the accepted step from z to zt shrank below 2^-40 |zt|: 40 bits of the step lost
// to z's resolution, so the frame moves its centre onto the iterate before the next step.
inline bool recentre_due(const double* z, const double* zt, index_t d) {
    double step2 = 0, zn2 = 0;
    for (index_t j = 0; j < d; ++j) {
        step2 += (zt[j] - z[j]) * (zt[j] - z[j]);
        zn2 += zt[j] * zt[j];
    }
    return step2 < 0x1p-80 * zn2;
}

// After the trial's pass: an accepted step clears the backtracking and records whether to
// recentre; a rejected vertex or Newton step backs off; a rejected GD trial backtracks (it
// ends at t_safe, which is always accepted).
inline void trial_done(Schedule& sc, Trial kind, bool accepted, bool recentre, index_t n_iter) {
    if (accepted) {
        sc.recentre = recentre;
        sc.retry = false;
    } else if (kind == Trial::vertex) {
        vertex_backs_off(sc, n_iter);
    } else if (kind == Trial::newton) {
        newton_backs_off(sc, n_iter);
    } else {
        sc.retry = true;
    }
}

// The next turn moves the frame's centre onto the iterate first.
inline void recentring(Schedule& sc) { sc.recentre = true; }

// The frame's centre moved onto the iterate (z = 0) at iteration n_iter.
inline void recentred(Schedule& sc, index_t n_iter) {
    sc.recentre = false;
    sc.recentred_at = n_iter;
    sc.retry = false;
}

// A proposal that cannot move z: the solve has stalled where z is the frame's centre or the
// frame was moved onto the iterate in this iteration; otherwise it recentres first.
inline bool stalled(const Schedule& sc, const double* z, index_t d, index_t n_iter) {
    bool at_centre = true;
    for (index_t j = 0; j < d; ++j) at_centre &= z[j] == 0.0;
    return at_centre || sc.recentred_at == n_iter;
}

// The gap's lowest value so far and the iteration that reached it. At the certificate's
// rounding floor the gap stops falling while steps are still accepted: with a tol below
// the floor (0, say) only this notices, and stops the solve (stalled) instead of running
// out max_iter.
struct GapProgress {
    double best = HUGE_VAL;
    index_t at = 0;
};

// Whether the solve has stalled at the floor: a gap within stall_gap that has not halved in
// stall_iterations iterations.
inline bool gap_stalled(GapProgress& gp, double gap, index_t n_iter) {
    if (gap <= 0.5 * gp.best) {
        gp.best = gap;
        gp.at = n_iter;
        return false;
    }
    return gap <= stall_gap && n_iter - gp.at >= stall_iterations;
}

// The frame is anchored robustly (anchor_frame), for good: a certified gap vouches for the
// location from now on.
inline void anchoring(Schedule& sc) { sc.anchored = true; }

// The frame was anchored and the iteration restarts in it: every back-off and memory of
// the old frame goes (the probes keep their doubling schedule).
inline void anchor_reset(Schedule& sc) {
    sc.retry = sc.recentre = false;
    sc.last_vertex = -1;
    sc.next_vertex_check = sc.next_newton = 0;
    sc.vertex_backoff = sc.newton_backoff = 1;
}

}  // namespace geomedian
