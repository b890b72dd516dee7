"""``p = inf`` on one Dask problem: the trust-region programs of :mod:`.._lp.chebyshev`.

The rounds are the in-memory ones (``chebyshev._one``), one pass over the persisted chunks
each; only the points that enter the program come to the driver. A pass at ``y`` returns,
per chunk, the certificate's sums of its points but those of the last program (their
gradients at ``y`` as duals), and its ``program_points(d) + 1`` smallest margins with those
points' rows: the driver then has the trust radius exactly, the points within it, and the
program's linear term (the other points' gradients at ``y``: the chunks' sum, with the last
program's points added and the new ones taken away on the driver). It solves the program
(:func:`~.._lp.chebyshev.explicit_program`); the pass at its ``y'`` certifies it, the
program's points entering with their duals, and starts the next round. The start is
``init``, or Newton's Lp medians for ``p = 16`` and ``256`` by the Dask Lp pass, as in
memory.

The certificate is the in-memory one (:func:`~.._lp.certificate.assemble`, ``converged``
where its gap is at most ``tol``): each chunk's sums are pairwise, added across chunks
exactly rounded. A problem of at most ``program_points(d)`` rows is one program over all its
points: it is brought to the driver and solved in memory.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as v
from .._contract import STATUS_CONVERGED, STATUS_MAX_ITER, STATUS_STALLED
from .._kernels import Solved
from .._lp import chebyshev
from .._lp.certificate import Bound, assemble, cancel_at_y
from .._lp.chebyshev import (
    explicit_program,
    gradient_duals,
    margins,
    tie_radius,
    trust_radius,
)
from .._options import SolveOptions
from .._result import RANGE, make_result
from .dask_coordinate_median import NONFINITE_MESSAGE, exact_sum
from .lp import finish_lp, in_caller_units

__all__ = ["gather_points", "solve_chebyshev_dask"]


def _transposed(chunk, w, wexp, xexp):
    xt = np.ascontiguousarray(np.ldexp(np.asarray(chunk, dtype=np.float64), -xexp).T)
    ww = np.ones(xt.shape[1]) if w is None else np.ldexp(np.asarray(w, dtype=np.float64), -wexp)
    return xt, ww


def certificate_sums(z: np.ndarray, w: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Return ``[f, S, A, eta, g, M, B, G]`` of :func:`~.._lp.certificate.assemble`, and more.

    From ``z = y - x`` and duals ``u`` ``(d, m)``, weights ``w`` ``(m,)``; ``eta``: the weight
    at ``y``. Pairwise sums along the last axis, as :func:`~.._lp.certificate.lower_bound`.
    """
    N = np.max(np.abs(z), axis=0)
    uz = u * z
    wz = w * z
    head = [np.sum(w * N), np.sum(np.sum(uz, axis=0)), np.sum(np.sum(np.abs(uz), axis=0)),
            np.sum(np.where(N == 0, w, 0.0))]  # fmt: skip
    return np.concatenate([head, np.sum(u, axis=-1), np.sum(wz, axis=-1),
                           np.sum(np.abs(wz), axis=-1), np.sum(np.abs(u), axis=-1)])  # fmt: skip


def _excess(u: np.ndarray, w: np.ndarray) -> float:
    """Return the largest ``||u_i||_1 / w_i`` (0 for none)."""
    norms = np.sum(np.abs(u), axis=0)
    return float(np.max(np.where(w > 0, norms / np.where(w > 0, w, 1.0), 0.0), initial=0.0))


def _gradient_sums(z: np.ndarray, w: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Return :func:`certificate_sums` for the gradients as duals, ``top``: each largest ``|z|``.

    Then ``u_i . z_i = w_i |z_i,top| = w_i N_i``: ``S`` and ``A`` are ``f``, the same sum.
    """
    m = z.shape[1]
    ztop = z[top, np.arange(m)]
    wn = w * np.abs(ztop)
    u = np.zeros_like(z)
    u[top, np.arange(m)] = w * np.sign(ztop)
    wz = w * z
    f = np.sum(wn)
    head = [f, f, f, np.sum(np.where(ztop == 0, w, 0.0))]
    return np.concatenate([head, np.sum(u, axis=-1), np.sum(wz, axis=-1),
                           np.sum(np.abs(wz), axis=-1), np.sum(np.abs(u), axis=-1)])  # fmt: skip


def _chunk_round(chunk, w, skip, start, wexp, xexp, y):
    """Return the chunk's part of a round at ``y``.

    The certificate's sums of its points but ``skip`` (local indices; their gradients as
    duals) and their largest ``||u_i||_1 / w_i`` (1, or 0 for none away from ``y``); its
    ``program_points(d) + 1`` smallest margins, and those points' global indices (from
    ``start``), rows and weights; whether it is finite.
    """
    xt, ww = _transposed(chunk, w, wexp, xexp)
    z = y[:, None] - xt
    top, margin = margins(z, ww)
    kept = ww
    if len(skip):  # weight zero adds nothing to any sum
        kept = ww.copy()
        kept[skip] = 0.0
    d, m = xt.shape
    excess = float(np.any((kept > 0) & (z[top, np.arange(m)] != 0)))
    k = chebyshev.program_points(d) + 1
    small = np.arange(m) if m <= k else np.argpartition(margin, k - 1)[:k]
    return (_gradient_sums(z, kept, top), excess, margin[small], start + small,
            xt[:, small].T, ww[small], np.isfinite(xt).all())  # fmt: skip


def _chunk_within(chunk, w, start, wexp, xexp, y, rho):
    """Return the global indices, rows and weights of the chunk's points within ``rho``.

    Also the box half-width up to the chunk's nearest switch beyond them (``tie_radius``).
    """
    xt, ww = _transposed(chunk, w, wexp, xexp)
    margin = margins(y[:, None] - xt, ww)[1]
    rows = np.flatnonzero((margin <= rho) & (margin < np.inf))
    return start + rows, xt[:, rows].T, ww[rows], tie_radius(margin[margin > rho])


class _Chebyshev:
    """The rounds of one Dask problem's Chebyshev median, in its points scaled by ``2**-xexp``."""

    def __init__(self, src, w: np.ndarray | None, xexp: int):
        self.src = src
        self.xexp = xexp
        self.wexp = 0
        if w is None:
            self.W = float(src.n)
        else:
            e = int(np.frexp(np.max(w))[1])
            self.wexp = e if abs(e) > 100 else 0  # as in memory
            self.W = float(np.sum(np.ldexp(w, -self.wexp)))
        self.starts = np.cumsum([0, *src.lengths[:-1]])
        self.passes = 0

    def _bound(self, parts, extra=None, cancel=False) -> Bound:
        sums = [p[0] for p in parts] + ([] if extra is None else [extra[0]])
        excess = max([p[1] for p in parts] + ([] if extra is None else [extra[1]]))
        d = self.src.d
        s = exact_sum(sums)
        f, S, A, eta = s[:4]
        g, M, B, G = (s[4 + k * d : 4 + (k + 1) * d][None] for k in range(4))
        gnorm = None
        if cancel:
            g, gnorm = cancel_at_y(g, np.array([eta]), np.inf)
        return assemble(np.array([f]), np.array([self.W]), np.array([S]), np.array([A]), g, M,
                        B, G, np.array([excess]), np.inf, gnorm)  # fmt: skip

    def _pass(self, y: np.ndarray, skip=None) -> list:
        if skip is None:
            skip = [[]] * len(self.starts)
        self.passes += 1
        parts = self.src._map(_chunk_round, skip, list(self.starts), wexp=self.wexp,
                              xexp=self.xexp, y=y)  # fmt: skip
        if not all(p[6] for p in parts):
            raise ValueError(NONFINITE_MESSAGE)
        return parts

    def bound_at(self, y: np.ndarray):
        """Return the ``(Bound, None)`` at ``y`` ``(1, d)`` from the gradients: one pass."""
        return self._bound(self._pass(y[0]), cancel=True), None

    def run(self, y: np.ndarray, tol: float, max_rounds: int):
        """Return ``(y, Bound, rounds, status)`` from ``y`` ``(d,)``, as ``chebyshev._one``.

        Stalled where ``chebyshev.Stalls`` says so (a round that leaves ``y`` in place would
        be followed by the same program, up to the rounding of its linear term), as in
        memory.
        """
        d = self.src.d
        k = chebyshev.program_points(d)
        stalls = chebyshev.Stalls(tol)
        parts = self._pass(y)
        bound, status, rounds = None, STATUS_MAX_ITER, 0
        last = np.empty((0, d)), np.empty(0)  # the last program's points and weights
        while rounds < max_rounds:
            rounds += 1
            margin = np.concatenate([p[2] for p in parts])
            rho = trust_radius(margin, k)
            # With no box (rho = inf: at most k of positive weight) the points of weight
            # zero stay out: their duals are 0 whatever the program.
            chosen = (margin <= rho) & (margin < np.inf)
            # Each chunk sends its k + 1 smallest margins: all its points within rho, and
            # its smallest beyond, unless more than k of them lie within.
            beyond = tie_radius(margin[margin > rho])
            if any(len(p[2]) == k + 1 and np.max(p[2]) <= rho for p in parts):
                # A chunk holds more than k points within rho (ties at the radius, as
                # rho = 0 where many points' two largest |z_ij| are equal): all of them.
                within = self.src._map(_chunk_within, list(self.starts), wexp=self.wexp,
                                       xexp=self.xexp, y=y, rho=rho)  # fmt: skip
                self.passes += 1
                idx, xe, we = (np.concatenate([p[i] for p in within]) for i in range(3))
                beyond = min(p[3] for p in within)
            else:
                idx = np.concatenate([p[3] for p in parts])[chosen]
                order = np.argsort(idx)  # in the points' order, as in memory
                idx = idx[order]
                xe = np.concatenate([p[4] for p in parts])[chosen][order]
                we = np.concatenate([p[5] for p in parts])[chosen][order]
            if rho <= 0:  # the ties alone, in the box up to the nearest other switch
                rho = beyond
                if rho == np.inf or idx.size > 2 * k:
                    status, rounds = STATUS_STALLED, rounds - 1  # no program solved
                    break
            # The others' gradients at y: the chunks' sum (all but the last program's
            # points), with those added and the new program's taken away.
            g_rest = exact_sum([p[0][4 : 4 + d] for p in parts])
            c = exact_sum([g_rest, _gradient_sum(y, *last), -_gradient_sum(y, xe, we)])
            ynew, ue = explicit_program(xe[None], we[None], c[None], y[None], rho)
            if ynew is None:
                status = STATUS_STALLED
                break
            ynew, ue = ynew[0], ue[0]
            moved = not np.array_equal(ynew, y)
            edges = np.searchsorted(idx, self.starts)
            skip = [idx[a:b] - s for a, b, s in
                    zip(edges, [*edges[1:], idx.size], self.starts)]  # fmt: skip
            parts = self._pass(ynew, skip)
            ze = ynew[:, None] - xe.T
            bound = self._bound(parts, (certificate_sums(ze, we, ue), _excess(ue, we)))
            y, last = ynew, (xe, we)
            f, lb = bound.objective[0], bound.lower_bound[0]
            if f - lb <= tol * f or rho == np.inf:
                return y, bound, rounds, STATUS_CONVERGED
            if stalls(moved, f):
                status = STATUS_STALLED
                break
        if bound is None:
            bound = self.bound_at(y[None])[0]
        return y, bound, rounds, status


def _gradient_sum(y: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return the sum of the gradients ``w_i sign(z_ij) e_j`` at ``y`` of the rows ``x``."""
    return np.sum(gradient_duals(y[:, None] - x.T, w), axis=-1)


def gather_points(src) -> np.ndarray:
    """Return the points of ``src`` as one NumPy array ``(n, d)``, in its dtype."""
    return np.concatenate(src._map(_chunk_rows))


def _chunk_rows(chunk, w):
    return np.asarray(chunk)


def solve_chebyshev_dask(src, w, dtype, y0, passes: int, options: SolveOptions, xexp: int):
    """Solve one persisted Dask problem ``src`` (``DaskPoints``) for ``p = inf`` from ``y0``.

    ``w``: the caller's weights ``(n,)`` or None; ``passes``: those that found ``y0``;
    ``xexp``: the rounds run in the points scaled by ``2**-xexp`` (``scale_exponent``).
    """
    w = None if w is None else np.asarray(w, dtype=np.float64).reshape(src.n)
    run = _Chebyshev(src, w, xexp)
    tol = options.tol_for(dtype)
    y0 = np.ldexp(np.asarray(y0, dtype=np.float64).reshape(src.d), -xexp)
    y, bound, rounds, status = run.run(y0, tol, options.max_iter)
    y, f, lb, gap, n_iter, _, status, spread = finish_lp(
        None, dtype, y[None], bound.objective, bound.lower_bound, np.array([rounds]),
        np.zeros(1, np.int64), np.array([status], np.int32), None, np.inf, tol,
        np.array([run.wexp]),
        bound_at=run.bound_at,
    )  # fmt: skip
    y, f, lb, gap, spread, status = in_caller_units(xexp, y, f, lb, gap, spread, status)
    if status[0] == RANGE:
        raise v.range_error()
    W = np.ldexp(run.W, run.wexp)
    out = Solved(y, f, lb, gap, n_iter, np.array([passes + run.passes]), status, spread / W)
    return make_result(out, True, (), dtype, options, "lp")

