r"""Few points of many coordinates (n << d): the solve in the span of the points.

The geometric median lies in the convex hull of the points. Centred on a reference row
``x_r`` (scaled by a power of two ``s``), the points' Gram matrix
:math:`G = X_c X_c^T`, :math:`X_c = (X - x_r) s`, gives every distance from a point of
their affine span, :math:`\lVert y - x_i \rVert`, for :math:`y = x_r + X_c^T c / s`. So:

1. **Gram pass.** G (n x n) in float64, block of columns by block of columns: each block
   is copied centred and scaled into float64 (so float32 data is accumulated in float64,
   and the entries are at the scale of the points' spread, not of their norms), and its
   products are added into G by tiles of rows held in registers.
2. **The solve in n dimensions.** G is factored as :math:`P P^T` (``embedding``: the
   eigendecomposition of its correlation matrix, so that every row keeps its own relative
   accuracy whatever the other rows' magnitudes), and the geometric median of the rows of
   P, n points in at most n coordinates, is solved by the backend's own solver (Newton,
   gradient descent, its certificate). Its answer z becomes convex weights ``a`` on the
   points (``coefficients``: one Weiszfeld step from z, or the data point z sits on), so
   that ``y = sum_i a_i x_i`` is formed without amplifying any rounding.
3. **Median pass.** y, block by block, rounded to the output dtype at once; in the same
   read the exact distances :math:`\lVert y - x_i \rVert` of the point certified (the
   rounded y itself for float32 data, ``_offset``).
4. **Certificate pass.** The sums of the fused pass at y (``certificate.py``: f, the
   subgradient R, M = sum w_i (x_i - y), far and coincident weights) from those exact
   distances, reduced over the blocks to the norms the certificate needs (``||R||^2``,
   ``R . M``). The point returned is the point certified.

Three passes over the data in all. The reference is the medoid of up to
``SKETCH_ROWS`` rows measured on ``SKETCH_COLUMNS`` columns (a robust choice: far rows
are never the medoid), so a cluster far from the origin, or far outliers, do not cost G
its digits. Where the certificate still fails (points that differ below the Gram's
resolution, data beyond float64's range in squares, NaN), ``GramOutcome.certified`` is
False and the caller falls back to the direct solver from y.

The data is read as ``Component`` s: n rows that need not be one array (one tensor of
each of n models), so a pytree is solved without concatenating it. The three passes are
the backend's kernels (``gram_pass``, ``gram_median_pass``, ``gram_certificate_pass``),
called once per component; they cut the blocks into a fixed number of stripes whatever
the thread count, so the answer does not depend on it. Extra memory: G and a block of
``GRAM_BLOCK_BYTES`` (512 KiB) of float64 per thread, and y in the output dtype.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np

from .. import _validate as v
from .._contract import (
    NEAR_FACTOR,
    SLOT_ETA,
    SLOT_F,
    SLOT_F_COINC,
    SLOT_F_NEAR,
    SLOT_HEAD,
    SLOT_INV,
    SLOT_MAX_TERM,
    SLOT_W_FAR,
)
from .._kernels import Kernels, Solved
from .._options import SolveOptions
from .._result import CONVERGED, INTERRUPTED
from .in_memory import solve_in_memory

__all__ = [
    "GRAM_MAX_ROWS",
    "Component",
    "GramOutcome",
    "coefficients",
    "embedding",
    "gram_wins",
    "solve_gram",
    "solve_gram_batch",
]

# The reference row: the medoid of this many rows (evenly spaced) ...
SKETCH_ROWS = 32
# ... measured on this many columns, in SKETCH_RUNS runs spread over the coordinates.
SKETCH_COLUMNS = 4096
SKETCH_RUNS = 16
# Beyond these, squares of centred coordinates lose range (frame units): fall back.
SAFE_RANGE = 2.0**400
# method="auto" takes this path for one problem of 2 <= n <= GRAM_MAX_ROWS points of at
# least GRAM_MIN_COLUMNS coordinates: where it won on the development machine (the
# measurements are in the user guide, "Models and tensors"). Its Gram pass costs n / 2
# multiply-adds per coordinate read; the direct solver's passes, a few each.
GRAM_MAX_ROWS = 64
GRAM_MIN_COLUMNS = 1 << 16


def gram_wins(n: int, d: int) -> bool:
    """Whether ``method="auto"`` solves one ``(n, d)`` problem in the Gram space."""
    return 2 <= n <= GRAM_MAX_ROWS and d >= GRAM_MIN_COLUMNS


class Component:
    """n rows of d coordinates, read in place by the passes: one tensor of every model.

    ``rows``: n 1-D arrays of length d, or one ``(n, d)`` array (its rows are views).
    ``dtype``: the dtype the median of this component is computed and returned in,
    float32 or float64; a row of another dtype is converted (a copy of that row only).
    """

    def __init__(self, rows, dtype=np.float64):
        self.dtype = np.dtype(dtype)
        self.rows = [row if row.dtype == self.dtype else row.astype(self.dtype) for row in rows]
        self.n = len(self.rows)
        self.d = self.rows[0].shape[0] if self.rows else 0

    def load(self, lo: int, hi: int, out: np.ndarray) -> None:
        """Write columns ``lo:hi`` of every row into ``out`` (n, hi - lo), in its dtype."""
        for i, row in enumerate(self.rows):
            np.copyto(out[i], row[lo:hi], casting="unsafe")

    def sample(self, rows: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Return columns ``lo:hi`` of ``rows`` as a float64 array."""
        return np.array([self.rows[int(i)][lo:hi] for i in rows], dtype=np.float64)


@dataclass
class GramOutcome:
    """What :func:`solve_gram` found, in the caller's units.

    ``median``: one array per component (its dtype); None where no y was formed (the Gram
    was not finite: NaN or inf in the data, or squares beyond float64). ``certified``:
    the gap reached ``tol``; otherwise the caller falls back to the direct solver.
    """

    median: list | None
    objective: float = math.nan
    lower_bound: float = math.nan
    gap: float = math.inf
    scale: float = math.nan
    n_iter: int = 0
    n_passes: int = 0
    certified: bool = False


def blas_single_threaded():
    """One BLAS thread for the path's small products (the sketch, the n x n eigenproblem).

    BLAS's threads gain nothing on them, and they spin after each call, against the
    passes' threads (the passes ran at half speed beside them on a 2-core machine). Without
    threadpoolctl, BLAS keeps its own setting.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _sketch(components, rows: np.ndarray) -> np.ndarray:
    """Return ``rows`` of the points on about ``SKETCH_COLUMNS`` columns (float64)."""
    D = sum(comp.d for comp in components)
    if D <= SKETCH_COLUMNS:
        runs = [(0, D)]
    else:
        width = SKETCH_COLUMNS // SKETCH_RUNS
        starts = np.linspace(0, D - width, SKETCH_RUNS).astype(np.int64)
        runs = [(int(a), int(a) + width) for a in starts]
    parts = []
    offset = 0
    for comp in components:
        for a, b in runs:
            lo, hi = max(a, offset) - offset, min(b, offset + comp.d) - offset
            if lo < hi:
                parts.append(comp.sample(rows, lo, hi))
        offset += comp.d
    return np.concatenate(parts, axis=1)


def reference(components, n: int, w) -> tuple[int, float]:
    """Return ``(r, s)``: the reference row (a sketch medoid) and the power-of-two scale.

    ``s`` brings the sketch's largest ``|x_ij - x_rj|`` below 1; NaN for a sketch that is
    not finite.
    """
    rows = np.unique(np.linspace(0, n - 1, min(n, SKETCH_ROWS)).astype(np.int64))
    xs = _sketch(components, rows)
    if not np.isfinite(xs).all():
        return 0, math.nan
    ws = np.ones(rows.size) if w is None else w[rows]
    if not (ws > 0).any():
        ws = np.ones(rows.size)
    with np.errstate(over="ignore", invalid="ignore"):
        h = 0.5 * xs  # halved: differences of finite values stay finite
        hc = h - h.mean(axis=0)
        sq = np.einsum("ij,ij->i", hc, hc)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2.0 * (hc @ hc.T), 0.0))
    r = int(np.argmin(dist @ ws))  # only a choice: the squares' rounding does not matter
    half = float(np.max(np.abs(h - h[r]), initial=0.0))
    s = math.ldexp(1.0, -(math.frexp(half)[1] + 1)) if half > 0 else 1.0
    return int(rows[r]), s


def gram_pass(k: Kernels, components, r: int, s: float, threads: int) -> np.ndarray:
    """Return ``G = X_c X_c^T`` for ``X_c = (X - x_r) s``, float64, one read of the data."""
    G = k.gram_pass(components[0].rows, r, s, threads)
    for comp in components[1:]:
        G += k.gram_pass(comp.rows, r, s, threads)
    return G


def embedding(G: np.ndarray) -> np.ndarray:
    """Return P (n, k) with ``P P^T = G`` to the rounding of G, ``k <= n``.

    The eigendecomposition of the correlation matrix ``G_ij / sqrt(G_ii G_jj)``: its
    rounding is relative to each row's own norm, so rows of very different magnitudes
    (far outliers beside a tight cluster) each keep their digits. Directions of
    eigenvalue zero or below (duplicates, rounding) are dropped.
    """
    n = G.shape[0]
    norms = np.sqrt(np.maximum(np.diag(G), 0.0))
    live = norms > 0
    P = np.zeros((n, 1))
    if not live.any():
        return P  # every point on the reference
    nl = norms[live]
    C = G[np.ix_(live, live)] / np.outer(nl, nl)
    lam, V = np.linalg.eigh(C)
    keep = lam > lam[-1] * 8 * n * np.finfo(np.float64).eps
    Pl = V[:, keep] * np.sqrt(lam[keep])
    P = np.zeros((n, max(1, int(keep.sum()))))
    P[live, : Pl.shape[1]] = Pl * nl[:, None]
    return P


def coefficients(P: np.ndarray, z: np.ndarray, w) -> np.ndarray:
    """Return convex weights ``a`` (n,) with ``sum_i a_i p_i`` one Weiszfeld step from z.

    The Weiszfeld map never increases f; at the optimum it is the optimum. Where z sits on
    data points (within 2^-40 of the spread) it is the modified step of Vardi and Zhang:
    the data point itself when its weight outweighs the other points' pull (Kuhn), and
    otherwise a convex combination of the two. ``a`` is non-negative and sums to 1, so
    ``sum_i a_i x_i`` forms y without cancellation.
    """
    n = P.shape[0]
    wv = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    dist = np.linalg.norm(P - z, axis=1)
    on = dist <= 2.0**-40 * dist.max()
    q = np.where(on | (wv == 0), 0.0, wv / np.where(on, 1.0, dist))
    if not on.any():
        return q / q.sum()
    k = int(np.flatnonzero(on)[np.argmax(wv[on])])
    a = np.zeros(n)
    a[k] = 1.0
    eta = float(wv[on].sum())
    pull = float(np.linalg.norm(q @ (P - z)))
    if q.sum() == 0 or pull <= eta:
        return a
    lam = 1.0 - eta / pull
    return lam * q / q.sum() + (1.0 - lam) * a


def vertex_of(a: np.ndarray) -> int:
    """Return the row that ``a`` picks whole, or -1 (y is then formed from every row)."""
    return int(np.argmax(a)) if a.max() == 1.0 else -1


def median_pass(k: Kernels, components, r: int, s: float, a: np.ndarray, threads: int):
    """Form y = sum_i a_i x_i in each component's dtype; return (y, d2).

    ``d2``: the exact squared distances ``||(y - x_i) s||^2`` of the point certified, from
    the same read. That point is the one returned, rounded, for float32 data (as the
    direct solver does); for float64 data ``x_r + a (X - x_r)`` unrounded (as the direct
    solver certifies its iterate, whose rounding to float64 moves f only at second order).
    ``a`` is convex, so y has the rounding of the points' spread, not of their norms.
    Where ``a`` picks one point, y is that point's row, bit for bit.
    """
    vertex = vertex_of(a)
    y, d2 = [], np.zeros(components[0].n)
    for comp in components:
        yc, dc = k.gram_median_pass(comp.rows, r, s, a, vertex, threads)
        y.append(yc)
        d2 += dc
    return y, d2


def certificate_pass(k: Kernels, components, r, s, a, y, t, wk, threads) -> tuple[float, float]:
    """Return ``(||R||^2, R . M)``: R = sum_i t_i (x_i - y) s, M = sum_i w_i (x_i - y) s.

    At the point of :func:`median_pass`, reduced block by block (neither R nor M, d
    entries each, is ever held whole).
    """
    vertex = vertex_of(a)
    ws = np.ascontiguousarray(wk * s)
    rr = rm = 0.0
    for comp, yc in zip(components, y):
        crr, crm = k.gram_certificate_pass(comp.rows, r, s, a, vertex, yc, t, ws, threads)
        rr += crr
        rm += crm
    return rr, rm


def pass_certificate(d, wk, t, on, far, D: int, rr: float, rm: float):
    """Return the certificate (``certificate.certify``) of the pass sums at y.

    ``d``: the exact distances, ``wk``: the weights (kernel units), ``t``: ``wk / d`` off
    the coincident points ``on``, ``far``: the points beyond the near radius, ``rr =
    ||R||^2`` and ``rm = R . M`` (:func:`certificate_pass`). ``certify`` reads R and M
    coordinate by coordinate but uses only ``||R||`` and ``R . M``, so they are handed to
    it as two-coordinate vectors with those values. Its rounding allowance on the gradient
    (``grad_rounding``, in the near-point bound only) grows with the number of
    coordinates: that bound comes from a second call whose ``||R||`` carries the allowance
    of all ``D`` coordinates.
    """
    W = float(wk.sum())
    sums = np.zeros(SLOT_HEAD + 4)
    sums[SLOT_F] = float(np.dot(wk, d))
    sums[SLOT_INV] = float(t.sum())
    sums[SLOT_ETA] = float(wk[on].sum())
    sums[SLOT_F_COINC] = float(np.dot(wk[on], d[on]))
    sums[SLOT_MAX_TERM] = float(t.max())
    sums[SLOT_W_FAR] = float(wk[far].sum())
    sums[SLOT_F_NEAR] = float(np.dot(wk[~far], d[~far]))
    rn = math.sqrt(rr)
    sums[SLOT_HEAD] = rn
    sums[SLOT_HEAD + 2] = rm / rn if rn > 0 else 0.0
    from .chunked import certify

    g = np.empty(2)
    cert = certify(sums, 2, W, g)
    if not sums[SLOT_W_FAR] > 0:
        return cert
    wide = max(rn, sums[SLOT_ETA]) + (D - 2) * 2.0**-53 * W
    sums[SLOT_HEAD + 1] = math.sqrt(max(wide * wide - rn * rn, 0.0))
    return cert._replace(gap_near=certify(sums, 2, W, g).gap_near)


def solve_gram(
    components, w, wscale, k: Kernels, method_code: int, tol: float, max_iter: int, threads: int
) -> GramOutcome:
    """Solve the points held by ``components`` (every one with the same n rows) in 3 passes.

    ``w``: (n,) weights or None, ``wscale`` their power-of-two scale (``as_weights``).
    The certificate's math is the Numba mirror's, run as plain Python (``chunked.plain``).
    """
    with blas_single_threaded():
        return _solve_gram(components, w, wscale, k, method_code, tol, max_iter, threads)


def _solve_gram(components, w, wscale, k, method_code, tol, max_iter, threads) -> GramOutcome:
    from .chunked import certified, fit_frame, weighted_lower_median

    n = components[0].n
    D = sum(comp.d for comp in components)
    r, s = reference(components, n, w)
    if not math.isfinite(s):
        return GramOutcome(None)
    G = gram_pass(k, components, r, s, threads)
    if not (np.isfinite(G).all() and np.max(np.abs(G)) < SAFE_RANGE):
        return GramOutcome(None, n_passes=1)
    P = embedding(G)
    ws = 1.0 if wscale is None else float(wscale)
    wk = np.ones(n) if w is None else w * ws
    inner_tol = tol / 16
    out = k.solve(P[None], None if w is None else w[None], None if wscale is None else
                  np.array([ws]), None, method_code, inner_tol, max_iter, threads)  # fmt: skip
    if out.status[0] == INTERRUPTED:
        raise KeyboardInterrupt
    n_iter = int(out.n_iter[0])
    a = coefficients(P, out.median[0], w)
    y, d2 = median_pass(k, components, r, s, a, threads)
    d = np.sqrt(d2)
    reach = float(d.max())  # bounds every |x_ij - y_j| s: the frame's spread
    if not reach < SAFE_RANGE:
        return GramOutcome(y, n_iter=n_iter, n_passes=2)
    rho = weighted_lower_median(d.copy(), wk.copy(), n)
    frame = fit_frame(np.zeros(1), 0.5 * reach, NEAR_FACTOR * rho if rho > 0 else math.inf)
    if frame.status != CONVERGED:
        return GramOutcome(y, n_iter=n_iter, n_passes=2)
    eps, near = frame.eps / frame.s, frame.near / frame.s  # back to the units of d
    on = d <= eps
    t = np.where(on, 0.0, wk / np.where(on, 1.0, d))
    rr, rm = certificate_pass(k, components, r, s, a, y, t, wk, threads)
    cert = pass_certificate(d, wk, t, on, d > near, D, rr, rm)
    objective, lower, gap, scale = certified(cert, cert.lb, s, ws, float(wk.sum()))
    return GramOutcome(y, objective, lower, gap, scale, n_iter, 3, gap <= tol)


def as_solved(res: GramOutcome) -> Solved:
    """Return a certified outcome of one ``(n, d)`` problem as the kernels' arrays."""
    return Solved(
        res.median[0][None],
        np.array([res.objective]),
        np.array([res.lower_bound]),
        np.array([res.gap]),
        np.array([res.n_iter], dtype=np.int64),
        np.array([res.n_passes], dtype=np.int64),
        np.array([CONVERGED], dtype=np.int32),
        np.array([res.scale]),
    )


def solve_gram_batch(
    k: Kernels, batch: v.Batch, w, wscale, options: SolveOptions, tol: float
) -> tuple[Solved, str]:
    """Solve the one problem of ``batch`` in the Gram space; ``(outcome, method that ran)``.

    Not certified there: the direct solver (in memory) goes on from y, or from its usual
    start where there is no y (NaN or inf in the data: it applies ``nan_policy``); its
    passes and iterations add to the Gram path's.
    """
    if not batch.single:
        raise ValueError(
            f"method='gram' solves one problem: points must have shape (n, d), got "
            f"{batch.ndim}-D points (a batch of {batch.dims[0]} problems)"
        )
    x = batch.x[0]
    res = solve_gram(
        [Component(x, dtype=x.dtype)],
        None if w is None else w[0],
        None if wscale is None else wscale[0],
        k,
        v.METHODS[v.AUTO_METHOD],
        tol,
        options.max_iter,
        options.threads,
    )
    if res.certified:
        return as_solved(res), v.GRAM_METHOD
    direct = options.replace(method="auto") if options.method == v.GRAM_METHOD else options
    y0 = None if res.median is None else res.median[0].astype(np.float64)[None]
    out = solve_in_memory(k, batch, w, wscale, y0, direct, tol)
    out.n_iter[0] += res.n_iter
    out.n_passes[0] += res.n_passes
    return out, direct.method_name
