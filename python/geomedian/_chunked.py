r"""The exact solver over data read in chunks: memory-mapped files and Dask arrays.

The compiled solver (``csrc/geomedian/solver.hpp``) runs a whole solve in one kernel call
on data in memory. Data that is not (a file larger than memory, a Dask array spread over
workers) is read in chunks instead, and every pass of the iteration is a sum over rows:

.. math::

    [f, \mathrm{inv}, \eta, f_\mathrm{coinc}, \mathrm{max\_term}, R, M]
    = \sum_{\text{chunks}} \mathrm{fused\_pass}(\text{chunk}, y)

(``max_term`` combines by ``max``). A :class:`ChunkedPoints` maps an iterate to these
combined sums; :func:`solve_chunked` runs the same iteration as the compiled driver on
them (gradient descent or Weiszfeld, the vertex test, the certificate), with the step,
acceptance and certificate code of the Numba mirror called as plain Python (``py_func``:
one implementation of that math, and nothing is compiled for it). Python's cost per
iteration is irrelevant here: each pass reads the whole data.

Each pass is one read of the data, so the solve starts from the answer on a subsample
(contiguous runs of rows at random places, solved in memory) and ``n_passes`` counts the
full passes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ._numba.certificate import certify, relative_gap
from ._numba.gradient_descent import GD_STATE_SIZE, gd_accept, gd_propose, gd_remember
from ._numba.weiszfeld import weiszfeld_step
from ._result import CONVERGED, INTERRUPTED, MAX_ITER, NONFINITE, STALLED
from ._validate import METHODS

__all__ = [
    "ArrayPoints",
    "ChunkedOutcome",
    "ChunkedPoints",
    "combine_sums",
    "sample_runs",
    "solve_chunked",
    "start",
]

# The pass's sum slots (csrc/geomedian/fused_pass.hpp, namespace slot).
SLOT_F, SLOT_INV, SLOT_ETA, SLOT_MAX_TERM = 0, 1, 2, 4
METHOD_WEISZFELD = METHODS["weiszfeld"]

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

    def sums(self, y: np.ndarray, s: float) -> np.ndarray:
        """Return the combined pass sums at ``y`` in the frame centred at ``y``, scale ``s``."""

    def nearest(self, y: np.ndarray) -> np.ndarray | None:
        """Return the row of positive weight nearest to ``y`` (float64), None if not finite."""

    def sample(self, rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Return about ``rows`` rows (and their weights) as in-memory arrays."""


def combine_sums(parts) -> np.ndarray:
    """Add the pass sums of several chunks (``max_term`` by maximum)."""
    parts = list(parts)
    stacked = np.asarray(parts, dtype=np.float64)
    acc = stacked.sum(axis=0)
    acc[SLOT_MAX_TERM] = stacked[:, SLOT_MAX_TERM].max()
    return acc


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


def frame_scale(x: np.ndarray, c: np.ndarray) -> float:
    """Return a power of two ``s`` with ``2 max|x - c| s < 1`` (1 when ``x`` is all ``c``).

    As the compiled driver's frame: the kernels compute ``(x - c) s`` exactly, so data at
    any magnitude keeps its digits; twice the sample's spread leaves room for the rest.
    """
    spread = float(np.max(np.abs(np.asarray(x, dtype=np.float64) - c))) if x.size else 0.0
    if not (spread > 0 and np.isfinite(spread)):
        return 1.0
    _, e = np.frexp(2.0 * spread)
    return float(np.ldexp(1.0, -int(np.clip(e, -1022, 1022))))


@dataclass
class ChunkedOutcome:
    """What :func:`solve_chunked` found (objective and bound in the caller's units)."""

    median: np.ndarray
    objective: float
    lower_bound: float
    gap: float
    n_iter: int
    n_passes: int
    status: int

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
        )


Progress = Callable[[int, float, float], None]


def start(src: ChunkedPoints, impl, init, method_code: int, threads: int, seed: int = 0x6D):
    """Return ``(start point, frame scale)``: ``init``, or the answer on a subsample.

    The subsample (``sample_size`` rows) is solved in memory to a relative gap of 1e-6;
    with ``init`` given, a smaller one (``SAMPLE_RUNS`` rows) only sets the frame's scale.
    NaN or inf in the sample: the first row is the start, and the first full pass reports
    them.
    """
    rng = np.random.default_rng(seed)
    if init is not None:
        xs, _ = src.sample(min(src.n, SAMPLE_RUNS * 64), rng)
        return init, frame_scale(xs, init)
    xs, ws = src.sample(sample_size(src.n), rng)
    x3 = np.ascontiguousarray(xs)[None]
    kernel = impl.solve_f32 if x3.dtype == np.float32 else impl.solve_f64
    w2 = None if ws is None else np.ascontiguousarray(ws, dtype=np.float64)[None]
    if w2 is not None and not (w2 > 0).any():
        w2 = None  # no weight in the sample: the unweighted sample still locates the data
    wsc = None if w2 is None else np.array([1.0 / float(w2.max())])
    median, *_, status = kernel(x3, w2, wsc, None, method_code, SAMPLE_TOL, 100, threads)
    if status[0] == INTERRUPTED:
        raise KeyboardInterrupt
    y0 = np.asarray(median[0], dtype=np.float64)
    if not np.isfinite(y0).all():
        return np.array(xs[0], dtype=np.float64), 1.0
    return y0, frame_scale(xs, y0)


def solve_chunked(
    src: ChunkedPoints,
    y0: np.ndarray,
    s: float,
    method_code: int,
    tol: float,
    max_iter: int,
    progress: Progress | None = None,
) -> ChunkedOutcome:
    """Run the exact iteration of ``solver.hpp`` on ``src`` from ``y0`` in scale ``s``.

    The frame is centred at ``c = y0``, iterates are ``z = (y - c) s`` and every pass runs
    at ``y = c + z / s`` (a vertex trial at the data point itself). The steps
    (``gd_propose``/``gd_accept`` or ``weiszfeld_step``), the certificate (``certify``)
    and the vertex test are those of the compiled driver; a step that no longer moves
    ``y`` in float64 ends the solve as stalled (the in-memory driver first moves its frame
    to the iterate, which passes at ``y`` itself make unnecessary here).
    """
    d, W = src.d, src.W
    # "newton" steps only where the small pass forms the Hessian: here it is "gd".
    descent = method_code != METHOD_WEISZFELD
    c = np.array(y0, dtype=np.float64)
    z = np.zeros(d)
    y = c.copy()
    n_passes = 0

    def at(point):
        nonlocal n_passes
        S = src.sums(point, s)
        n_passes += 1
        if not np.isfinite(S[SLOT_F]):
            return None, None, None
        g = np.empty(d)
        cert = certify.py_func(S, d, W, g)
        return S, g, cert

    S, g, cert = at(y)
    if S is None:
        return _nonfinite(d, n_passes)
    lb = cert[1]
    st = np.zeros(GD_STATE_SIZE)
    z_prev, g_prev = np.zeros(d), np.zeros(d)
    retry = False
    last_vertex = None
    next_vertex_check, vertex_backoff, next_probe = 0, 1, 8
    n_iter = 0
    if progress is not None:
        progress(0, cert[0] / (s * src.wscale), relative_gap.py_func(cert[0], lb))
    while True:
        if relative_gap.py_func(cert[0], lb) <= tol:
            status = CONVERGED
            break
        if n_iter >= max_iter:
            status = MAX_ITER
            break
        zt = np.empty(d)
        vertex = False
        near_vertex = S[SLOT_MAX_TERM] > 0.5 * S[SLOT_INV] or S[SLOT_ETA] > 0
        probe = n_iter >= next_probe
        if not retry and (probe or (near_vertex and n_iter >= next_vertex_check)):
            if probe:
                next_probe *= 2
            xk = src.nearest(y)
            n_passes += 1
            if xk is not None and (last_vertex is None or not np.array_equal(xk, last_vertex)):
                last_vertex = xk
                vertex = not np.array_equal(xk, y)
            else:
                next_vertex_check = n_iter + vertex_backoff
                vertex_backoff *= 2
        if vertex:
            yt = last_vertex.copy()
            zt = (yt - c) * s
            moved = True
        else:
            if descent:
                moved = gd_propose.py_func(st, z_prev, g_prev, S, d, z, g, retry, zt)
            else:
                moved = weiszfeld_step.py_func(S, d, z, zt)
            yt = c + zt / s
            moved = moved and not np.array_equal(yt, y)
        if not moved:
            status = STALLED
            break
        St, gt, ct = at(yt)
        if St is None:
            return _nonfinite(d, n_passes)
        lb = max(lb, ct[1])
        if vertex:
            accept = ct[0] <= cert[0]
        elif descent:
            accept = gd_accept.py_func(st, cert[0], ct[0], cert[2])
        else:
            accept = True  # Vardi-Zhang steps never increase f
        if accept:
            if descent and not vertex:
                gd_remember.py_func(st, z_prev, g_prev, d, z, g)
            z, y, S, g, cert = zt, yt, St, gt, ct
            n_iter += 1
            retry = False
            if progress is not None:
                progress(n_iter, cert[0] / (s * src.wscale), relative_gap.py_func(cert[0], lb))
        elif vertex:
            next_vertex_check = n_iter + vertex_backoff
            vertex_backoff *= 2
        else:
            retry = True
    median = y.astype(src.dtype)
    if not np.array_equal(median.astype(np.float64), y):
        # The answer is returned in float32: certify the rounded point itself.
        S, g, cert = at(median.astype(np.float64))
        lb = max(lb, cert[1])
        if status == CONVERGED and relative_gap.py_func(cert[0], lb) > tol:
            status = STALLED
    unit = s * src.wscale
    return ChunkedOutcome(
        median=median,
        objective=cert[0] / unit,
        lower_bound=lb / unit,
        gap=relative_gap.py_func(cert[0], lb),
        n_iter=n_iter,
        n_passes=n_passes,
        status=status,
    )


def _nonfinite(d: int, n_passes: int) -> ChunkedOutcome:
    nan = float("nan")
    return ChunkedOutcome(np.full(d, nan), nan, nan, nan, 0, n_passes, NONFINITE)


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

    def sums(self, y: np.ndarray, s: float) -> np.ndarray:
        return self.kernel(self.x, self.w, self.wscale, y, s, self.threads)
