r"""The exact solver over data read in chunks: memory-mapped files and Dask arrays.

The compiled solver (``csrc/geomedian/solver.hpp``) runs a whole solve in one kernel call
on data in memory. Data that is not (a file larger than memory, a Dask array spread over
workers) is read in chunks instead, and every pass of the iteration is a sum over rows:

.. math::

    [f, \mathrm{inv}, \eta, f_\mathrm{coinc}, \mathrm{max\_term}, w_\mathrm{far},
     f_\mathrm{near}, R, M] = \sum_{\text{chunks}} \mathrm{fused\_pass}(\text{chunk}, y)

(``max_term`` combines by ``max``). A :class:`ChunkedPoints` maps an iterate to these
combined sums; :func:`solve_chunked` runs the same iteration as the compiled driver on
them: its schedule (``schedule.py``: vertex trials, Newton's turn, back-offs, acceptance,
recentring, the stall), its steps (Newton, gradient descent, Weiszfeld), its certificate
and stopping rule, with the Numba mirror's code run as plain Python (:func:`plain`: one
implementation of that math, and nothing is compiled for it, which would also load LLVM,
some 60 MB, into a process that streams a file to keep its memory low). Python's cost per
iteration is irrelevant here: each pass reads the whole data.

Newton (d <= 16) needs the Hessian at the iterate, which the in-memory solver forms only
in its small-problem pass. Here each chunk gives it beside its sums while it is at hand
(``hessian_pass``, :func:`chunk_sums`), asked of every pass after which a Newton step could
be due, so a Newton iteration still costs one read of the data. With the Hessian and the
Newton step at hand, a second-order bound (``newton_bound.py``) certifies the iterate with
the pass that reached it, where the classic one needs the pass at the next iterate.

Each pass is one read of the data, so the solve starts from the answer on a subsample:
the warm start of the in-memory path (``warm_start.py``, the same sample size, tolerance
and seed), its rows drawn as contiguous runs at random places; ``n_passes`` counts the
full passes only.

The frame follows ``make_frame`` of ``solver.hpp`` with the samples in place of the
moments pass (which would cost a pass): the robust anchor (``robust_frame.hpp``: m, rho,
near radius R = 2^10 rho) of the rows the in-memory solver samples, the centre at the
start point where it lies within R of m (else m), the scale s from the samples' spread,
raised towards R s = 1 while the sampled far points stay below 2^480. A far row outside
the samples can still overflow a pass (its squared distance beyond float64): such a pass
is not taken for NaN or inf in the data. The chunks whose sums were not finite are
checked; if their rows are finite the frame gets the headroom they need (a smaller s,
a power of two) and the iteration goes on from its last iterate in that frame
(:func:`widen`); only rows that really hold NaN or inf give status 4, and far points
beyond float64's reach (R s below 2^-400, or differences that overflow) status 6.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

import numpy as np

from .._contract import (
    COINCIDENCE_RADIUS,
    FRAME_DEPTH,
    FRAME_HEADROOM,
    METHOD_NEWTON,
    METHOD_WEISZFELD,
    NEAR_FACTOR,
    NEWTON_MAX_D,
    ROUNDING_RETRIES,
    ROUNDING_RETRY_TOL,
    SLOT_INV,
    SLOT_MAX_TERM,
    SLOT_W_FAR,
)
from .._kernels import Kernels
from .._numba import certificate, gradient_descent, newton, robust_frame, schedule, weiszfeld
from .._numba.fused_pass import sums_size
from .._numba.gradient_descent import GD_HAS_PREV, GD_STATE_SIZE
from .._numba.newton import NEWTON_SCRATCH_SIZE
from .._numba.schedule import TRIAL_GD, TRIAL_WEISZFELD
from .._result import CONVERGED, MAX_ITER, NONFINITE, RANGE, STALLED
from .newton_bound import newton_bound
from .warm_start import WARM_START_SEED, sample_size, solve_sample

__all__ = [
    "ArrayPoints",
    "ChunkedOutcome",
    "ChunkedPoints",
    "Frame",
    "anchor_rows",
    "chunk_sums",
    "combine_parts",
    "combine_sums",
    "failed",
    "fit_frame",
    "plain",
    "row_distances",
    "sample_runs",
    "solve_chunked",
    "start",
    "widen",
]


def plain(fn, _done=None):
    """Return the Python function of the Numba function ``fn``, calling plain Python too.

    ``fn.py_func`` still calls the compiled (njit) functions it names, which compiles them;
    here every such name in its globals is bound to the plain version in turn.
    """
    done = {} if _done is None else _done
    if fn in done:
        return done[fn]
    py = fn.py_func
    names = dict(py.__globals__)
    out = types.FunctionType(py.__code__, names, py.__name__, py.__defaults__, py.__closure__)
    done[fn] = out
    for name, value in py.__globals__.items():
        if callable(getattr(value, "py_func", None)):
            names[name] = plain(value, done)
    return out


carried = plain(certificate.carried)
certify = plain(certificate.certify)
certified_gap = plain(certificate.certified_gap)
in_units_down = plain(certificate.in_units_down)
in_units_up = plain(certificate.in_units_up)
gd_propose = plain(gradient_descent.gd_propose)
gd_remember = plain(gradient_descent.gd_remember)
newton_propose = plain(newton.newton_propose)
robust_sample_row = plain(robust_frame.robust_sample_row)
robust_sample_size = plain(robust_frame.robust_sample_size)
scaled_distance = plain(robust_frame.scaled_distance)
weighted_lower_median = plain(robust_frame.weighted_lower_median)
weiszfeld_step = plain(weiszfeld.weiszfeld_step)
# The iteration's schedule, the one of the compiled driver (schedule.hpp).
anchor_reset = plain(schedule.anchor_reset)
anchoring = plain(schedule.anchoring)
gap_progress_start = plain(schedule.gap_progress_start)
gap_stalled = plain(schedule.gap_stalled)
majorize_only = plain(schedule.majorize_only)
newton_backs_off = plain(schedule.newton_backs_off)
newton_due = plain(schedule.newton_due)
recentre_due = plain(schedule.recentre_due)
recentred = plain(schedule.recentred)
recentring = plain(schedule.recentring)
schedule_start = plain(schedule.schedule_start)
stalled = plain(schedule.stalled)
trial_accepted = plain(schedule.trial_accepted)
trial_done = plain(schedule.trial_done)
trial_kind = plain(schedule.trial_kind)
trial_remembered = plain(schedule.trial_remembered)
vertex_backs_off = plain(schedule.vertex_backs_off)
vertex_due = plain(schedule.vertex_due)
vertex_new = plain(schedule.vertex_new)

# Samples of a file or a Dask array are drawn as this many runs of consecutive rows; the
# frame's spread is measured on SPREAD_ROWS of them where the warm start draws none.
SAMPLE_RUNS = 64
SPREAD_ROWS = 64 * SAMPLE_RUNS


class ChunkedPoints(Protocol):
    """Points ``(n, d)`` read chunk by chunk (a memory-mapped file, a Dask array).

    ``W`` is the total weight in the kernels' units (weights times ``wscale``).
    """

    n: int
    d: int
    dtype: np.dtype
    wscale: float
    W: float

    def pass_sums(
        self,
        y: np.ndarray,
        s: float,
        eps: float,
        near: float,
        hessian: bool = False,
        z: np.ndarray | None = None,
    ):
        """Return ``(sums, probe)``: the combined pass sums at ``y + z / s``, and their diagnosis.

        The frame is centred at ``y``, with scale ``s``, coincidence radius ``eps`` and near
        radius ``near`` (frame units); ``z`` is the pass's point in it (None: ``y``). With
        ``hessian`` (d <= NEWTON_MAX_D) the sums are followed by the Hessian there, packed
        lower triangle, from the same read of each chunk (``chunk_sums``). ``probe`` is None
        when the sums are finite, else (every row of the chunks whose sums were not finite
        is finite, their largest ``|x_ij - y_j| / 2``).
        """

    def nearest(self, y: np.ndarray) -> tuple[int, np.ndarray | None]:
        """Return ``(index, row as float64)`` of the row of positive weight nearest to ``y``.

        ``(-1, None)`` where no distance is finite.
        """

    def sample(self, rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Return about ``rows`` rows (and their weights) as in-memory arrays."""

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the rows ``idx`` (sorted) and their weights as in-memory arrays."""


def combine_sums(parts) -> np.ndarray:
    """Add the pass sums of several chunks (``max_term`` by maximum).

    In chunk order with compensation, as the compiled passes add their chunks: the error
    bound of the certificate holds whatever the number of chunks.
    """
    stacked = np.asarray(list(parts), dtype=np.float64)
    acc = stacked[0].copy()
    err = np.zeros_like(acc)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: the error term is moot
        for part in stacked[1:]:
            t = acc + part
            bb = t - acc
            err += (acc - (t - bb)) + (part - bb)
            acc = t
        total = np.where(np.isfinite(acc), acc + err, acc)
    total[SLOT_MAX_TERM] = stacked[:, SLOT_MAX_TERM].max()
    return total


def chunk_probe(chunk: np.ndarray, y: np.ndarray) -> tuple[bool, float]:
    """Return (every coordinate of ``chunk`` is finite, its largest ``|x_ij - y_j| / 2``).

    Halved: finite for any finite data.
    """
    x = np.asarray(chunk)
    if not np.isfinite(x).all():
        return False, math.inf
    if x.size == 0:
        return True, 0.0
    return True, float(np.max(np.abs(0.5 * x - 0.5 * y)))


def combine_parts(parts) -> tuple[np.ndarray, tuple[bool, float] | None]:
    """Combine ``[(sums, probe), ...]`` of the chunks into ``(sums, probe)`` of the pass."""
    parts = list(parts)
    acc = combine_sums(p[0] for p in parts)
    if np.isfinite(acc).all():
        return acc, None
    probes = [p[1] for p in parts if p[1] is not None]
    if not probes:  # unreachable: with every chunk's sums finite their total is (< 1e170)
        return acc, (True, math.inf)
    return acc, (all(f for f, _ in probes), max(h for _, h in probes))


def sample_runs(n: int, rows: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Return ``[(lo, hi), ...]``: ``SAMPLE_RUNS`` runs of consecutive rows, sorted.

    Runs of consecutive rows read a file or a chunk sequentially (a scattered sample of
    n / 64 rows would touch nearly every page); their starts are uniform, so data stored in
    some order is still sampled throughout.
    """
    if rows >= n:
        return [(0, n)]
    runs = min(SAMPLE_RUNS, rows)
    length = rows // runs
    starts = np.sort(rng.integers(0, n - length + 1, size=runs))
    return [(int(a), int(a) + length) for a in starts]


def anchor_rows(n: int) -> np.ndarray:
    """Return the rows the robust anchor samples: those of the in-memory solver."""
    return np.array([robust_sample_row(k, n) for k in range(robust_sample_size(n))], dtype=np.int64)


def row_distances(xs: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Return ``||x_i - c||`` for the rows of ``xs`` without overflow (``scaled_distance``)."""
    h = 0.5 * np.asarray(xs, dtype=np.float64) - 0.5 * c
    big = np.max(np.abs(h), axis=1, initial=0.0)
    safe = np.where(big > 0, big, 1.0)
    return 2.0 * big * np.sqrt(np.sum((h / safe[:, None]) ** 2, axis=1))


def half_spread(samples, c: np.ndarray) -> float:
    """Return the largest ``|x_ij - c_j| / 2`` over the rows of ``samples`` (no overflow)."""
    h = 0.0
    for xs in samples:
        if xs.size:
            h = max(h, float(np.max(np.abs(0.5 * np.asarray(xs, dtype=np.float64) - 0.5 * c))))
    return h


@dataclass(frozen=True)
class Frame:
    """A solve's frame (``solver.hpp``, struct FrameFit).

    Centre ``c``, scale ``s`` (a power of two), near radius ``R`` in the points' units (inf:
    none), and in frame units the coincidence radius ``eps`` and near radius ``near``.
    ``status``: CONVERGED (0) for a frame, NONFINITE or RANGE when none could be built.
    """

    c: np.ndarray
    s: float
    R: float = math.inf
    eps: float = COINCIDENCE_RADIUS
    near: float = math.inf
    status: int = CONVERGED


def fit_frame(c: np.ndarray, half: float, R: float, headroom: int = FRAME_HEADROOM) -> Frame:
    """Return the frame of ``make_frame`` (``solver.hpp``) centred at ``c``.

    ``half``: the largest ``|x_ij - c_j| / 2`` known (from samples); ``R``: the near radius
    ``NEAR_FACTOR * rho``. ``s`` keeps ``2 spread s < 1`` (twice the samples' spread: room
    for the rest), then rises towards ``R s ~ 1`` while ``2 spread s < 2^headroom``.
    """
    e = math.frexp(half)[1] + 2  # 2 spread = 4 half < 2^e
    s = math.ldexp(1.0, min(max(-e, -1022), 1022)) if half > 0 else 1.0
    if not (R > 0 and math.isfinite(R)):
        return Frame(np.asarray(c, dtype=np.float64), s)
    up = min(max(e - math.frexp(R)[1], 0), headroom)  # R < 2^eR
    return _with_scale(Frame(np.asarray(c, dtype=np.float64), s, R), math.ldexp(s, up))


def _with_scale(frame: Frame, s: float) -> Frame:
    """``frame`` at scale ``s``: eps and near follow (``make_frame``), RANGE below the depth."""
    if not (frame.R > 0 and math.isfinite(frame.R)):
        return replace(frame, s=s)
    Rs = frame.R * s
    if not Rs >= math.ldexp(1.0, -FRAME_DEPTH):
        return replace(frame, s=s, status=RANGE)
    return replace(frame, s=s, near=Rs, eps=COINCIDENCE_RADIUS * min(1.0, Rs))


def widen(frame: Frame, half: float) -> Frame:
    """Return ``frame`` with headroom for rows up to ``2 half`` from a pass's centre.

    After a pass that overflowed on finite rows: the largest power of two ``s' < s`` with
    ``2 half s' < 2^FRAME_HEADROOM``, or status RANGE when there is none (the differences
    themselves overflow) or it takes the near radius below ``2^-FRAME_DEPTH``.
    """
    if not math.isfinite(2.0 * half):
        return replace(frame, status=RANGE)
    s = min(0.5 * frame.s, math.ldexp(1.0, FRAME_HEADROOM - (math.frexp(half)[1] + 1)))
    if not s > 0:
        return replace(frame, status=RANGE)
    return _with_scale(frame, s)


@dataclass
class ChunkedOutcome:
    """What :func:`solve_chunked` found (objective, bound and scale in the caller's units)."""

    median: np.ndarray
    objective: float
    lower_bound: float
    gap: float
    n_iter: int
    n_passes: int
    status: int
    scale: float = math.nan

    def as_arrays(self) -> tuple:
        """Return the fields as the kernels' per-problem arrays for one problem."""
        return (
            self.median.reshape(1, -1),
            np.array([self.objective]),
            np.array([self.lower_bound]),
            np.array([self.gap]),
            np.array([self.n_iter], dtype=np.int64),
            np.array([self.n_passes], dtype=np.int64),
            np.array([self.status], dtype=np.int32),
            np.array([self.scale]),
        )


def failed(d: int, status: int, n_iter: int = 0, n_passes: int = 0) -> ChunkedOutcome:
    """Return the outcome of a solve ended by NaN or inf in the points, or by their range."""
    nan = math.nan
    return ChunkedOutcome(np.full(d, nan), nan, nan, nan, n_iter, n_passes, status, nan)


def certified(cert, lb: float, s: float, wscale: float, W: float):
    """Return ``(objective, lower_bound, gap, scale)`` in the caller's units.

    As ``solve_problem`` (``solver.hpp``) reports them from the last certificate and the
    best lower bound ``lb`` (frame units).
    """
    gap = gap_of(cert, lb)
    # The near-point gap is the tighter one where far points dominate f; f - gap_near may
    # then round to f itself (the bound is the gap, not this difference).
    bound = cert.f - cert.gap_near if cert.gap_near < cert.f - lb else lb
    objective = in_units_up(float(cert.f), s, wscale)
    lower = in_units_down(float(bound), s, wscale)
    return objective, lower, gap, float(cert.scale) / (W * s)


def gap_of(cert, lb: float) -> float:
    """Return the stopping rule's relative gap (``certified_gap``; C++ ``relative_gap``)."""
    return certified_gap(cert, lb)


Progress = Callable[[int, float, float], None]


def start(src: ChunkedPoints, k: Kernels, init, method_code: int, threads: int):
    """Return ``(start point, frame)``: ``init`` or the answer on a subsample, and the frame.

    The warm start (``warm_start.py``: its sample size, tolerance and seed) on rows drawn
    in runs (``src.sample``); without it (``init`` given, or too few rows) the robust
    anchor m. The anchor (m, rho) comes from the rows the in-memory solver would sample
    (``anchor_rows``); a start beyond the near radius ``R = NEAR_FACTOR rho`` of m gives
    way to m. The frame is centred at the start, its scale from the samples' spread. NaN
    or inf in either sample: the frame's status is NONFINITE.
    """
    rng = np.random.default_rng(WARM_START_SEED)
    xa, wa = src.take(anchor_rows(src.n))
    d = src.d
    if not np.isfinite(xa).all():
        return np.full(d, math.nan), Frame(np.zeros(d), 1.0, status=NONFINITE)
    m, rho = k.robust_anchor(xa, wa)
    rows = sample_size(src.n) if init is None else 0
    xs, ws = src.sample(rows if rows else min(src.n, SPREAD_ROWS), rng)
    if not np.isfinite(xs).all():
        return np.full(d, math.nan), Frame(np.zeros(d), 1.0, status=NONFINITE)
    found = solve_sample(k, xs, ws, method_code, threads) if rows else None
    if init is not None:
        y0 = np.array(init, dtype=np.float64)
    else:
        y0 = m if found is None else np.asarray(found[0], dtype=np.float64)
    R = NEAR_FACTOR * rho
    # As solver.hpp's anchor_frame: the start (and the frame's centre) is the given one
    # where it lies within R of the anchor m, else m. From farther away every point would
    # be far, and the certificate, relative to the far points' distances, would vouch for
    # nothing (nor would z = (y - c) s keep digits at the data's scale).
    if not np.isfinite(y0).all() or (R > 0 and math.isfinite(R) and scaled_distance(y0, m, d) > R):
        y0 = m
    return y0, fit_frame(y0, half_spread((xs, xa), y0), R)


class _Overflow(Exception):
    """A pass's sums were not finite: its probe (see ``ChunkedPoints.pass_sums``)."""

    def __init__(self, probe):
        super().__init__(probe)
        self.finite, self.half = probe


def solve_chunked(
    src: ChunkedPoints,
    y0: np.ndarray,
    frame: Frame | float,
    method_code: int,
    tol: float,
    max_iter: int,
    progress: Progress | None = None,
) -> ChunkedOutcome:
    """Run the exact iteration of ``solver.hpp`` on ``src`` from ``y0`` in ``frame``.

    Iterates are ``z = (y - c) s`` in the frame (c, s), and every pass runs at z there, as
    the compiled driver's passes do: finer than y's own float64 resolution, where data far
    from the origin (1e12 + noise) puts the optimum between two representable points. The
    answer is ``c + z / s`` in the points' dtype, certified itself where that rounding
    moved it beyond the coincidence radius. The schedule (which
    trial, back-offs, acceptance, recentring, stall: ``schedule.py``), the steps (Newton,
    gradient descent, Weiszfeld), the certificate and its stopping rule are those of the
    compiled driver. The frame is anchored from the start (``start``), so a certified gap
    always vouches for the location. A pass that overflows on finite rows widens the frame
    (``widen``) and the iteration resumes from its last iterate; ``n_passes`` counts every
    pass. ``frame`` may be a bare scale (a frame at ``y0`` with every point near).
    """
    d = src.d
    if not isinstance(frame, Frame):
        frame = Frame(np.array(y0, dtype=np.float64), float(frame))
    if frame.status != CONVERGED:
        return failed(d, frame.status)
    run = _Run(np.array(y0, dtype=np.float64))
    while True:
        try:
            return _iterate(src, frame, run, method_code, tol, max_iter, progress)
        except _Overflow as o:
            if not o.finite:
                return failed(d, NONFINITE, run.n_iter, run.n_passes)
            wider = widen(frame, o.half)
            if wider.status != CONVERGED:
                return failed(d, wider.status, run.n_iter, run.n_passes)
            run.lb *= wider.s / frame.s  # the best bound so far, in the new frame's units
            run.sc = anchor_reset(run.sc)  # a new frame, as after anchoring
            frame = wider


@dataclass
class _Run:
    """What a solve keeps across a change of frame: the last accepted iterate, counts, LB.

    ``sc``: the schedule (``schedule.py``), anchored from the start.
    """

    y: np.ndarray
    n_iter: int = 0
    n_passes: int = 0
    lb: float = -math.inf
    sc: Any = field(default_factory=lambda: anchoring(schedule_start()))


def _iterate(src, frame: Frame, run: _Run, method_code, tol, max_iter, progress):
    """Iterate in ``frame`` to ``tol``; return the outcome.

    As ``solve_problem`` (``solver.hpp``): where the answer in the points' dtype misses tol
    by the rounding's cost, the iteration goes on towards a tighter target.
    """
    it = _Iteration(src, frame, run, method_code)
    target = tol
    for _ in range(ROUNDING_RETRIES + 1):
        status = _loop(it, target, max_iter, progress)
        rounded = it.rounded()
        if rounded is None or status != CONVERGED:
            break
        # Done where certified, and hopeless where the rounding alone costs tol.
        after = certified_gap(rounded, run.lb)
        if after <= tol or after - certified_gap(it.cert, run.lb) >= tol:
            break
        target *= ROUNDING_RETRY_TOL
    if progress is not None:
        progress(run.n_iter, it.cert.f / (it.s * src.wscale), certified_gap(it.cert, run.lb))
    return it.outcome(status, tol, rounded)


def _loop(it, tol, max_iter, progress) -> int:
    """Run the loop of ``iterate`` (``solver.hpp``) to ``tol``; return the status."""
    src, run = it.src, it.run
    unit = it.s * src.wscale
    floor = gap_progress_start()
    while True:
        gap = certified_gap(it.cert, run.lb)
        if gap <= tol:
            status = CONVERGED  # the frame is anchored: the gap vouches for the location
            break
        at_floor, floor = gap_stalled(floor, gap, run.n_iter)
        if at_floor:
            status = STALLED
            break
        if run.n_iter >= max_iter:
            status = MAX_ITER
            break
        if run.sc.recentre:
            it.recentre()
            continue
        trial = it.propose()
        if certified_gap(it.cert, run.lb) <= tol:
            continue  # the Newton step's bound certified the iterate: no trial pass
        if trial is None:
            if not stalled(run.sc, it.z, src.d, run.n_iter):
                run.sc = recentring(run.sc)
                continue
            status = STALLED
            break
        # Each iterate goes to progress as it is left, with every bound found there: the
        # Newton step's (propose) can certify it with no further step, and the last report
        # is the answer's gap.
        f, cert = it.cert.f / unit, it.cert
        if it.take(*trial) and progress is not None:
            progress(run.n_iter - 1, f, certified_gap(cert, run.lb))
    return status


class _Iteration:
    """The iteration in one frame: the iterate, its sums, certificate and Hessian.

    The iterate is z in the frame (c, s), at y = c + z / s (rounded: for the nearest row and
    the record); the Hessian (for Newton) is asked of the pass that reached z, to ride on
    that read. Also gradient descent's memory.
    """

    def __init__(self, src, frame: Frame, run: _Run, method_code: int):
        self.src, self.run, self.d = src, run, src.d
        self.s, self.eps, self.near = frame.s, frame.eps, frame.near
        self.c = np.array(frame.c, dtype=np.float64)
        self.descent = method_code != METHOD_WEISZFELD
        self.newton = method_code == METHOD_NEWTON and self.d <= NEWTON_MAX_D
        self.gd = np.zeros(GD_STATE_SIZE)
        self.z_prev, self.g_prev = np.zeros(self.d), np.zeros(self.d)
        self.y = run.y
        self.z = (self.y - self.c) * self.s
        self.pass_at_iterate()

    def pass_at_iterate(self):
        """Take the pass at z, with the Hessian where a Newton step could be due from it.

        As ``pass_at_iterate`` of ``solver.hpp``: at the start and after recentring.
        """
        hessian = self.newton and self.run.n_iter >= self.run.sc.next_newton
        self.S, self.g, self.cert, self.H = self.pass_at(self.z, hessian)

    def pass_at(self, z, hessian: bool):
        """Return the sums, gradient, certificate and Hessian (None unless asked) at z."""
        run, d = self.run, self.d
        S, probe = self.src.pass_sums(self.c, self.s, self.eps, self.near, hessian, z)
        run.n_passes += 1
        if probe is not None:
            raise _Overflow(probe)
        g = np.empty(d)
        cert = certify(S, d, self.src.W, g)
        run.lb = max(run.lb, cert.lb)
        H = None
        if hessian:  # the triangle, then inv_sq (hessian_pass)
            H = S[sums_size(d) :]
        return S[: sums_size(d)], g, cert, H

    def recentre(self):
        """Move the frame's centre onto the iterate (``recentre_frame`` of ``solver.hpp``)."""
        run = self.run
        run.sc = recentred(run.sc, run.n_iter)
        self.c = self.y.copy()
        self.z = np.zeros(self.d)
        self.gd[GD_HAS_PREV] = 0.0
        self.pass_at_iterate()

    def propose(self):
        """Return the trial (kind, zt, Newton decrement); None where it cannot move z."""
        run, d, S = self.run, self.d, self.S
        n_iter = run.n_iter
        zt = np.empty(d)
        vertex = False
        due, run.sc = vertex_due(run.sc, S, n_iter)
        if due:
            k, xk = self.src.nearest(self.y)
            run.n_passes += 1
            if k < 0:  # no finite distance
                run.sc = vertex_backs_off(run.sc, n_iter)
            else:
                new, run.sc = vertex_new(run.sc, k, n_iter)
                if new:
                    zt = (xk - self.c) * self.s
                    vertex = not np.array_equal(zt, self.z)  # already there: step
        newton, decrement = False, 0.0
        # The Hessian came with the pass at y where a Newton step could be due (pass_hessian).
        if not vertex and self.H is not None and newton_due(run.sc, True, d, n_iter):
            H = np.empty(NEWTON_SCRATCH_SIZE)  # newton_direction factorises it in place
            H[: d * (d + 1) // 2] = self.H[: d * (d + 1) // 2]
            p = np.empty(d)
            newton, decrement = newton_propose(H, d, S[SLOT_INV], self.z, self.g, p, zt)
            if not newton:
                run.sc = newton_backs_off(run.sc, n_iter)
            else:  # the step's second-order bound (newton_bound.py), from H as formed
                inv_sq = self.H[d * (d + 1) // 2]
                run.lb = max(run.lb, newton_bound(S, self.H, inv_sq, p, self.src.W, self.src.n))
        kind = trial_kind(vertex, newton, self.descent)
        moved = True
        if kind == TRIAL_GD:
            moved = gd_propose(self.gd, self.z_prev, self.g_prev, S, d, self.src.W, self.z,
                               self.g, run.sc.retry, zt)  # fmt: skip
        elif kind == TRIAL_WEISZFELD:
            moved = weiszfeld_step(S, d, self.z, zt)
        return (kind, zt, decrement) if moved else None

    def take(self, kind, zt, decrement) -> bool:
        """Run the pass at the trial and take the step or not; return whether taken."""
        run, d = self.run, self.d
        # The Hessian at the trial, where a Newton step could be due from it (from a vertex
        # too: newton_due steps from a data point for the others).
        hessian = self.newton and run.n_iter + 1 >= run.sc.next_newton
        St, gt, ct, Ht = self.pass_at(zt, hessian)
        accept = trial_accepted(kind, majorize_only(self.S), self.gd, self.cert, ct, decrement,
                                self.S[SLOT_W_FAR], St[SLOT_W_FAR])  # fmt: skip
        recentre = False
        if accept:
            if trial_remembered(kind):
                gd_remember(self.gd, self.z_prev, self.g_prev, d, self.z, self.g)
            recentre = recentre_due(self.z, zt, d)
            self.z, self.S, self.g, self.cert, self.H = zt, St, gt, ct, Ht
            self.y = run.y = self.c + zt / self.s
            run.n_iter += 1
        run.sc = trial_done(run.sc, kind, accept, recentre, run.n_iter)
        return accept

    def rounded(self):
        """Return the certificate of the answer in the points' dtype; None where it is at z.

        As ``solve_problem`` (``solver.hpp``): where rounding ``c + z / s`` to the points'
        dtype moves it beyond the coincidence radius, the rounded point is certified itself
        (a pass; the iterate's sums and certificate stay).
        """
        median = self.y.astype(self.src.dtype).astype(np.float64)
        zt = (median - self.c) * self.s
        if not math.sqrt(float(np.sum((zt - self.z) ** 2))) > self.eps:
            return None
        lb = self.run.lb
        S, g, cert, _ = self.pass_at(zt, False)
        return carried(cert, self.cert, lb, S, g, zt, self.z, self.d, self.src.W)

    def outcome(self, status: int, tol: float, rounded) -> ChunkedOutcome:
        """Return the answer in the points' dtype, ``rounded`` its certificate if it moved."""
        src, run = self.src, self.run
        median = self.y.astype(src.dtype)
        cert = self.cert
        if rounded is not None:
            cert = rounded
            if status == CONVERGED and certified_gap(cert, run.lb) > tol:
                status = STALLED
        objective, lower, gap, scale = certified(cert, run.lb, self.s, src.wscale, src.W)
        # An objective or bound beyond float64 in the caller's units certifies nothing there.
        if status == CONVERGED and not (math.isfinite(objective) and math.isfinite(lower)):
            status = STALLED
        return ChunkedOutcome(median, objective, lower, gap, run.n_iter, run.n_passes, status,
                              scale)  # fmt: skip


def chunk_sums(k: Kernels, chunk, w, wscale, y, s, threads, eps, near, hessian, z=None):
    """Return ``(sums, probe)`` of one chunk at ``y + z / s`` (``ChunkedPoints.pass_sums``).

    The fused pass's sums, then the packed Hessian (``hessian_pass``) where ``hessian``:
    both kernels run on the chunk while it is at hand, a Newton iteration reads it once.
    """
    part = k.fused_pass(chunk, w, wscale, y, s, threads, eps, near, z)
    if hessian:
        part = np.concatenate([part, k.hessian_pass(chunk, w, wscale, y, s, threads, eps, z)])
    # Sums that are not finite: NaN or inf in the chunk, or a far row (checked now, while
    # the chunk is at hand).
    return part, None if np.isfinite(part).all() else chunk_probe(chunk, y)


class ArrayPoints:
    """Points already in memory as a ``ChunkedPoints``: one chunk, one kernel call a pass."""

    def __init__(self, x: np.ndarray, w, wscale, k: Kernels, threads: int):
        self.x = x
        self.n, self.d = x.shape
        self.dtype = x.dtype
        self.w = None if w is None else w[0]
        self.wscale = 1.0 if wscale is None else float(wscale[0])
        self.W = float(self.n) if w is None else float(np.sum(self.w) * self.wscale)
        self.kernels = k
        self.threads = threads

    def _chunks(self):
        """Yield ``(lo, hi, rows lo:hi)``: here the whole array at once."""
        yield 0, self.n, self.x

    def _release(self, chunk) -> None:
        """Let go of a chunk once read (a memory map drops its pages)."""

    def pass_sums(self, y: np.ndarray, s: float, eps: float, near: float, hessian=False, z=None):
        parts = []
        for lo, hi, chunk in self._chunks():
            w = None if self.w is None else self.w[lo:hi]
            parts.append(chunk_sums(self.kernels, chunk, w, self.wscale, y, s, self.threads, eps,
                                    near, hessian, z))  # fmt: skip
            self._release(chunk)
        return combine_parts(parts)

    def sums(self, y, s, eps=COINCIDENCE_RADIUS, near=math.inf) -> np.ndarray:
        """Return the combined pass sums alone (see ``ChunkedPoints.pass_sums``)."""
        return self.pass_sums(y, s, eps, near)[0]

    def nearest(self, y: np.ndarray):
        best, best_d2 = (-1, None), np.inf
        for lo, hi, chunk in self._chunks():
            r = chunk - y
            d2 = np.einsum("ij,ij->i", r, r)
            if self.w is not None:
                d2[self.w[lo:hi] == 0] = np.inf
            k = int(np.argmin(d2))
            if d2[k] < best_d2:
                best, best_d2 = (lo + k, np.array(chunk[k], dtype=np.float64)), float(d2[k])
            self._release(chunk)
        return best

    def take(self, idx: np.ndarray):
        return np.array(self.x[idx]), None if self.w is None else np.array(self.w[idx])
