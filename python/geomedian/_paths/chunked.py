r"""The exact solver over data read in chunks: memory-mapped files and Dask arrays.

The compiled solver (``csrc/geomedian/solver.hpp``) runs a whole solve in one kernel call
on data in memory. Data that is not (a file larger than memory, a Dask array spread over
workers) is read in chunks instead, and every pass of the iteration is a sum over rows:

.. math::

    [f, \mathrm{inv}, \eta, f_\mathrm{coinc}, \mathrm{max\_term}, w_\mathrm{far},
     f_\mathrm{near}, R, M] = \sum_{\text{chunks}} \mathrm{fused\_pass}(\text{chunk}, y)

(``max_term`` combines by ``max``). A :class:`ChunkedPoints` maps an iterate to these
combined sums; :func:`solve_chunked` runs the same iteration as the compiled driver on
them (gradient descent or Weiszfeld, the vertex test, the certificate and its stopping
rule), with the step, acceptance, certificate and robust-anchor code of the Numba mirror
run as plain Python (:func:`plain`: one implementation of that math, and nothing is
compiled for it, which would also load LLVM, some 60 MB, into a process that streams a
file to keep its memory low). Python's cost per iteration is irrelevant here: each pass
reads the whole data.

Each pass is one read of the data, so the solve starts from the answer on a subsample
(contiguous runs of rows at random places, solved in memory) and ``n_passes`` counts the
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
from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np

from .._numba import certificate, gradient_descent, robust_frame, weiszfeld
from .._numba.fused_pass import SLOT_ETA, SLOT_INV, SLOT_MAX_TERM
from .._numba.gradient_descent import GD_STATE_SIZE
from .._numba.robust_frame import FRAME_DEPTH, FRAME_HEADROOM, NEAR_FACTOR
from .._numba.solver import COINCIDENCE_RADIUS
from .._result import CONVERGED, INTERRUPTED, MAX_ITER, NONFINITE, RANGE, STALLED
from .._validate import METHODS

__all__ = [
    "ArrayPoints",
    "ChunkedOutcome",
    "ChunkedPoints",
    "Frame",
    "anchor",
    "anchor_rows",
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

METHOD_WEISZFELD = METHODS["weiszfeld"]


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


certify = plain(certificate.certify)
certified_gap = plain(certificate.certified_gap)
gd_accept = plain(gradient_descent.gd_accept)
gd_propose = plain(gradient_descent.gd_propose)
gd_remember = plain(gradient_descent.gd_remember)
robust_anchor = plain(robust_frame.robust_anchor)
robust_sample_row = plain(robust_frame.robust_sample_row)
robust_sample_size = plain(robust_frame.robust_sample_size)
scaled_distance = plain(robust_frame.scaled_distance)
weiszfeld_step = plain(weiszfeld.weiszfeld_step)

# The warm start: n / 64 rows (at least 65,536, at most 2**21) in 64 runs.
SAMPLE_FRACTION = 64
SAMPLE_MIN_ROWS = 1 << 16
SAMPLE_MAX_ROWS = 1 << 21
SAMPLE_RUNS = 64
SAMPLE_TOL = 1e-6


class ChunkedPoints(Protocol):
    """Points ``(n, d)`` read chunk by chunk (a memory-mapped file, a Dask array).

    ``W`` is the total weight in the kernels' units (weights times ``wscale``).
    """

    n: int
    d: int
    dtype: np.dtype
    wscale: float
    W: float

    def pass_sums(self, y: np.ndarray, s: float, eps: float, near: float):
        """Return ``(sums, probe)``: the combined pass sums at ``y``, and their diagnosis.

        The frame is centred at ``y``, with scale ``s``, coincidence radius ``eps`` and near
        radius ``near`` (frame units). ``probe`` is None when the sums are finite, else
        (every row of the chunks whose sums were not finite is finite, their largest
        ``|x_ij - y_j| / 2``).
        """

    def nearest(self, y: np.ndarray) -> np.ndarray | None:
        """Return the row of positive weight nearest to ``y`` (float64), None if not finite."""

    def sample(self, rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Return about ``rows`` rows (and their weights) as in-memory arrays."""

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the rows ``idx`` (sorted) and their weights as in-memory arrays."""


def combine_sums(parts) -> np.ndarray:
    """Add the pass sums of several chunks (``max_term`` by maximum)."""
    parts = list(parts)
    stacked = np.asarray(parts, dtype=np.float64)
    acc = stacked.sum(axis=0)
    acc[SLOT_MAX_TERM] = stacked[:, SLOT_MAX_TERM].max()
    return acc


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


def sample_size(n: int) -> int:
    """Rows of the warm-start sample for ``n`` rows."""
    return min(n, max(SAMPLE_MIN_ROWS, min(SAMPLE_MAX_ROWS, n // SAMPLE_FRACTION)))


def anchor_rows(n: int) -> np.ndarray:
    """Return the rows the robust anchor samples: those of the in-memory solver."""
    return np.array([robust_sample_row(k, n) for k in range(robust_sample_size(n))], dtype=np.int64)


def anchor(xs: np.ndarray, ws: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Return ``(m, rho)`` of ``robust_frame.py`` for sample rows ``xs`` (finite) and weights."""
    xs = np.ascontiguousarray(xs, dtype=np.float64)
    S, d = xs.shape
    wv = np.ones(S) if ws is None else np.ascontiguousarray(ws, dtype=np.float64)
    m = np.empty(d)
    rho = robust_anchor(xs, wv.copy(), S, d, np.empty(S), np.empty(S), m)
    return m, float(rho)


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
    unit = s * wscale
    gap = gap_of(cert, lb)
    # Points spread over most of float64's range may have an objective beyond it: inf.
    with np.errstate(over="ignore"):
        # The near-point gap is the tighter one where far points dominate f; f - gap_near
        # may then round to f itself (the bound is the gap, not this difference).
        if cert.gap_near < cert.f - lb:
            lower = float(cert.f - cert.gap_near) / unit
        else:
            lower = float(lb) / unit
        return float(cert.f) / unit, lower, gap, float(cert.scale) / (W * s)


def gap_of(cert, lb: float) -> float:
    """Return the stopping rule's relative gap (``certified_gap``; C++ ``relative_gap``)."""
    return certified_gap(cert, lb)


Progress = Callable[[int, float, float], None]


def start(src: ChunkedPoints, impl, init, method_code: int, threads: int, seed: int = 0x6D):
    """Return ``(start point, frame)``: ``init`` or the answer on a subsample, and the frame.

    The subsample (``sample_size`` rows) is solved in memory to a relative gap of 1e-6;
    with ``init`` given, a smaller one (``SAMPLE_RUNS`` rows) only measures the spread.
    The robust anchor (m, rho) comes from the rows the in-memory solver would sample
    (``anchor_rows``); a start beyond the near radius ``R = NEAR_FACTOR rho`` of m gives
    way to m. The frame is centred at the start. NaN or inf in either sample: the frame's
    status is NONFINITE.
    """
    rng = np.random.default_rng(seed)
    xa, wa = src.take(anchor_rows(src.n))
    d = src.d
    if not np.isfinite(xa).all():
        return np.full(d, math.nan), Frame(np.zeros(d), 1.0, status=NONFINITE)
    m, rho = anchor(xa, wa)
    xs, ws = src.sample(
        min(src.n, SAMPLE_RUNS * 64) if init is not None else sample_size(src.n), rng
    )
    if not np.isfinite(xs).all():
        return np.full(d, math.nan), Frame(np.zeros(d), 1.0, status=NONFINITE)
    if init is not None:
        y0 = np.array(init, dtype=np.float64)
    else:
        x3 = np.ascontiguousarray(xs)[None]
        kernel = impl.solve_f32 if x3.dtype == np.float32 else impl.solve_f64
        w2 = None if ws is None else np.ascontiguousarray(ws, dtype=np.float64)[None]
        if w2 is not None and not (w2 > 0).any():
            w2 = None  # no weight in the sample: the unweighted sample still locates the data
        wsc = None if w2 is None else np.array([1.0 / float(w2.max())])
        out = kernel(x3, w2, wsc, None, method_code, SAMPLE_TOL, 100, threads)
        if out[6][0] == INTERRUPTED:
            raise KeyboardInterrupt
        y0 = np.asarray(out[0][0], dtype=np.float64)
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

    Iterates are ``z = (y - c) s`` and every pass runs at ``y = c + z / s`` in the frame
    centred at ``y`` itself (a vertex trial at the data point itself). The steps
    (``gd_propose``/``gd_accept`` or ``weiszfeld_step``), the certificate (``certify``), the
    stopping rule (``certified_gap``: the gap relative to the data near the iterate where
    points lie beyond the near radius) and the vertex test are those of the compiled driver;
    a step that no longer moves ``y`` in float64 ends the solve as stalled (the in-memory
    driver first moves its frame to the iterate, which passes at ``y`` itself make
    unnecessary here). A pass that overflows on finite rows widens the frame (``widen``)
    and the iteration resumes from its last iterate; ``n_passes`` counts every pass.
    ``frame`` may be a bare scale (a frame at ``y0`` with every point near).
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
            frame = wider


@dataclass
class _Run:
    """What a solve keeps across a change of frame: the last accepted iterate, counts, LB."""

    y: np.ndarray
    n_iter: int = 0
    n_passes: int = 0
    lb: float = -math.inf
    reported: bool = False  # iteration 0 went to progress


def _iterate(src, frame: Frame, run: _Run, method_code, tol, max_iter, progress):
    d, W = src.d, src.W
    c, s, eps, near = frame.c, frame.s, frame.eps, frame.near
    unit = s * src.wscale
    # "newton" steps only where the small pass forms the Hessian: here it is "gd".
    descent = method_code != METHOD_WEISZFELD

    def at(point):
        S, probe = src.pass_sums(point, s, eps, near)
        run.n_passes += 1
        if probe is not None:
            raise _Overflow(probe)
        g = np.empty(d)
        cert = certify(S, d, W, g)
        run.lb = max(run.lb, cert.lb)
        return S, g, cert

    y = run.y
    z = (y - c) * s
    S, g, cert = at(y)
    st = np.zeros(GD_STATE_SIZE)
    z_prev, g_prev = np.zeros(d), np.zeros(d)
    retry = False
    last_vertex = None
    next_vertex_check, vertex_backoff, next_probe = 0, 1, 8
    if progress is not None and not run.reported:
        run.reported = True
        progress(run.n_iter, cert.f / unit, gap_of(cert, run.lb))
    while True:
        if gap_of(cert, run.lb) <= tol:
            status = CONVERGED
            break
        if run.n_iter >= max_iter:
            status = MAX_ITER
            break
        zt = np.empty(d)
        vertex = False
        near_vertex = S[SLOT_MAX_TERM] > 0.5 * S[SLOT_INV] or S[SLOT_ETA] > 0
        probe = run.n_iter >= next_probe
        if not retry and (probe or (near_vertex and run.n_iter >= next_vertex_check)):
            if probe:
                next_probe *= 2
            xk = src.nearest(y)
            run.n_passes += 1
            if xk is not None and (last_vertex is None or not np.array_equal(xk, last_vertex)):
                last_vertex = xk
                vertex = not np.array_equal(xk, y)
            else:
                next_vertex_check = run.n_iter + vertex_backoff
                vertex_backoff *= 2
        if vertex:
            yt = last_vertex.copy()
            zt = (yt - c) * s
            moved = True
        else:
            if descent:
                moved = gd_propose(st, z_prev, g_prev, S, d, z, g, retry, zt)
            else:
                moved = weiszfeld_step(S, d, z, zt)
            yt = c + zt / s
            moved = moved and not np.array_equal(yt, y)
        if not moved:
            status = STALLED
            break
        St, gt, ct = at(yt)
        if vertex:
            accept = ct.f <= cert.f
        elif descent:
            accept = gd_accept(st, cert.f, ct.f, cert.gnorm)
        else:
            accept = True  # Vardi-Zhang steps never increase f
        if accept:
            if descent and not vertex:
                gd_remember(st, z_prev, g_prev, d, z, g)
            z, y, S, g, cert = zt, yt, St, gt, ct
            run.y = y
            run.n_iter += 1
            retry = False
            if progress is not None:
                progress(run.n_iter, cert.f / unit, gap_of(cert, run.lb))
        elif vertex:
            next_vertex_check = run.n_iter + vertex_backoff
            vertex_backoff *= 2
        else:
            retry = True
    median = y.astype(src.dtype)
    if not np.array_equal(median.astype(np.float64), y):
        # The answer is returned in float32: certify the rounded point itself.
        S, g, cert = at(median.astype(np.float64))
        if status == CONVERGED and gap_of(cert, run.lb) > tol:
            status = STALLED
    objective, lower, gap, scale = certified(cert, run.lb, s, src.wscale, W)
    return ChunkedOutcome(
        median=median,
        objective=objective,
        lower_bound=lower,
        gap=gap,
        n_iter=run.n_iter,
        n_passes=run.n_passes,
        status=status,
        scale=scale,
    )


class ArrayPoints:
    """Points already in memory as a ``ChunkedPoints``: one chunk, one kernel call a pass."""

    def __init__(self, x: np.ndarray, w, wscale, impl, threads: int):
        self.x = x
        self.n, self.d = x.shape
        self.dtype = x.dtype
        self.w = None if w is None else w[0]
        self.wscale = 1.0 if wscale is None else float(wscale[0])
        self.W = float(self.n) if w is None else float(np.sum(self.w) * self.wscale)
        self.kernel = impl.fused_pass_f32 if x.dtype == np.float32 else impl.fused_pass_f64
        self.threads = threads

    def pass_sums(self, y: np.ndarray, s: float, eps: float, near: float):
        S = self.kernel(self.x, self.w, self.wscale, y, s, self.threads, eps, near)
        return S, None if np.isfinite(S).all() else chunk_probe(self.x, y)

    def sums(self, y, s, eps=COINCIDENCE_RADIUS, near=math.inf) -> np.ndarray:
        """Return the combined pass sums alone (see ``ChunkedPoints.pass_sums``)."""
        return self.pass_sums(y, s, eps, near)[0]

    def take(self, idx: np.ndarray):
        return np.array(self.x[idx]), None if self.w is None else np.array(self.w[idx])
