"""``p = inf`` on one Dask problem: the trust-region programs of :mod:`.._lp.chebyshev`.

The rounds are the in-memory ones (``chebyshev._one``), their reads of the points passes
over the persisted chunks; only the points that enter the program come to the driver. From
the start (``init``, or Newton's Lp median for ``p = 16`` by the Dask Lp pass):

- a pass finds every point's margin at ``y``, and each chunk sends its
  ``EXPLICIT_POINTS + 1`` smallest: the driver has the trust radius exactly;
- a pass brings the points within it (their rows, weights and indices) to the driver, with
  the sum of the other points' gradients at ``y`` (the program's linear term);
- the driver solves the program (:func:`~.._lp.chebyshev.explicit_program`), and a pass at
  its ``y'`` adds up the certificate's sums of the linear points (their gradients there)
  and finds the next round's margins. The explicit points' sums come from their duals.

The certificate is the in-memory one (:func:`~.._lp.certificate.assemble`, ``converged``
where its gap is at most ``tol``): each chunk's sums are pairwise, added across chunks
exactly rounded. A problem of at most ``EXPLICIT_POINTS`` rows is one program over all its
points: it is brought to the driver and solved in memory.
"""

from __future__ import annotations

import numpy as np

from .._kernels import Solved
from .._lp import chebyshev
from .._lp.certificate import Bound, assemble, cancel_at_y
from .._lp.chebyshev import ROUNDS, explicit_program, margins, trust_radius
from .._options import SolveOptions
from .._result import make_result
from .dask_coordinate_median import NONFINITE_MESSAGE, exact_sum
from .lp import finish_lp

__all__ = ["gather_points", "solve_chebyshev_dask"]


def _transposed(chunk, w, wexp):
    xt = np.ascontiguousarray(np.asarray(chunk, dtype=np.float64).T)
    ww = np.ones(xt.shape[1]) if w is None else np.ldexp(np.asarray(w, dtype=np.float64), -wexp)
    return xt, ww


def _smallest(margin: np.ndarray) -> np.ndarray:
    k = chebyshev.EXPLICIT_POINTS + 1
    return margin if margin.size <= k else np.partition(margin, k - 1)[:k]


def _gradients(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return the duals ``u`` ``(d, m)``: ``w_i sign(z_ij)`` at each point's largest ``|z_ij|``."""
    m = z.shape[1]
    top = np.argmax(np.abs(z), axis=0)
    u = np.zeros_like(z)
    u[top, np.arange(m)] = w * np.sign(z[top, np.arange(m)])
    return u


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


def _chunk_margins(chunk, w, wexp, y):
    xt, ww = _transposed(chunk, w, wexp)
    if not np.isfinite(xt).all():
        return None
    return _smallest(margins(y[:, None] - xt, ww)[1])


def _chunk_explicit(chunk, w, start, wexp, y, rho):
    """Return the chunk's points within ``rho`` (indices, rows, weights) and the others' ``c``."""
    xt, ww = _transposed(chunk, w, wexp)
    z = y[:, None] - xt
    top, margin = margins(z, ww)
    # With no box (rho = inf: at most EXPLICIT_POINTS of positive weight) the points of
    # weight zero stay out: their duals are 0 whatever the program.
    explicit = (margin <= rho) & (margin < np.inf)
    lin = np.flatnonzero(~explicit)
    u = np.zeros_like(xt)
    u[top[lin], lin] = ww[lin] * np.sign(z[top[lin], lin])
    rows = np.flatnonzero(explicit)
    return start + rows, xt[:, rows].T, ww[rows], np.sum(u, axis=-1)


def _chunk_certificate(chunk, w, skip, wexp, y):
    """Return the certificate's sums at ``y`` of the chunk's points but ``skip``.

    Their gradients are their duals; also their largest ``||u_i||_1 / w_i``, and the
    smallest margins of every point (the next round's).
    """
    xt, ww = _transposed(chunk, w, wexp)
    z = y[:, None] - xt
    keep = np.ones(xt.shape[1], dtype=bool)
    keep[skip] = False
    zk, wk = z[:, keep], ww[keep]
    u = _gradients(zk, wk)
    return certificate_sums(zk, wk, u), _excess(u, wk), _smallest(margins(z, ww)[1])


class _Chebyshev:
    """The rounds of one Dask problem's Chebyshev median."""

    def __init__(self, src, w: np.ndarray | None):
        self.src = src
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
        if cancel:
            g = cancel_at_y(g, np.array([eta]), np.inf)
        return assemble(np.array([f]), np.array([self.W]), np.array([S]), np.array([A]), g, M,
                        B, G, np.array([excess]), np.inf)  # fmt: skip

    def bound_at(self, y: np.ndarray):
        """Return the ``(Bound, None)`` at ``y`` ``(1, d)`` from the gradients: one pass."""
        self.passes += 1
        parts = self.src._map(_chunk_certificate, [[]] * len(self.starts), wexp=self.wexp,
                              y=y[0])  # fmt: skip
        return self._bound(parts, cancel=True), None

    def run(self, y: np.ndarray, tol: float):
        """Return ``(y, Bound, rounds)`` from ``y`` ``(d,)``, as ``chebyshev._one``."""
        src = self.src
        small = src._map(_chunk_margins, wexp=self.wexp, y=y)
        self.passes += 1
        if any(m is None for m in small):
            raise ValueError(NONFINITE_MESSAGE)
        bound = None
        for rounds in range(1, ROUNDS + 1):
            rho = trust_radius(np.concatenate(small))
            out = src._map(_chunk_explicit, list(self.starts), wexp=self.wexp, y=y, rho=rho)
            self.passes += 1
            idx = np.concatenate([o[0] for o in out])
            xe = np.concatenate([o[1] for o in out])
            we = np.concatenate([o[2] for o in out])
            c = exact_sum([o[3] for o in out])
            ynew, ue = explicit_program(xe[None], we[None], c[None], y[None], rho)
            if ynew is None:
                break
            ynew, ue = ynew[0], ue[0]
            edges = np.searchsorted(idx, self.starts)
            skip = [idx[a:b] - s for a, b, s in
                    zip(edges, [*edges[1:], idx.size], self.starts)]  # fmt: skip
            parts = src._map(_chunk_certificate, skip, wexp=self.wexp, y=ynew)
            self.passes += 1
            ze = ynew[:, None] - xe.T
            bound = self._bound(parts, (certificate_sums(ze, we, ue), _excess(ue, we)))
            small = [p[2] for p in parts]
            y = ynew
            f, lb = bound.objective[0], bound.lower_bound[0]
            if f - lb <= tol * f or rho == np.inf:
                return y, bound, rounds
        if bound is None:
            bound = self.bound_at(y[None])[0]
        return y, bound, ROUNDS


def gather_points(src) -> np.ndarray:
    """Return the points of ``src`` as one NumPy array ``(n, d)``, in its dtype."""
    return np.concatenate(src._map(_chunk_rows))


def _chunk_rows(chunk, w):
    return np.asarray(chunk)


def solve_chebyshev_dask(src, w, dtype, y0, passes: int, options: SolveOptions):
    """Solve one persisted Dask problem ``src`` (``DaskPoints``) for ``p = inf`` from ``y0``.

    ``w``: the caller's weights ``(n,)`` or None; ``passes``: those that found ``y0``.
    """
    run = _Chebyshev(src, None if w is None else np.asarray(w, dtype=np.float64).reshape(src.n))
    tol = options.tol_for(dtype)
    y, bound, rounds = run.run(np.asarray(y0, dtype=np.float64).reshape(src.d), tol)
    y, f, lb, gap, n_iter, _, status, spread = finish_lp(
        None, dtype, y[None], bound.objective, bound.lower_bound, np.array([rounds]),
        np.zeros(1, np.int64), np.zeros(1, np.int32), None, np.inf, tol, np.array([run.wexp]),
        bound_at=run.bound_at,
    )  # fmt: skip
    W = np.ldexp(run.W, run.wexp)
    out = Solved(y, f, lb, gap, n_iter, np.array([passes + run.passes]), status, spread / W)
    return make_result(out, True, (), dtype, options, "lp")

