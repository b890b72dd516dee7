"""``p = inf``: the Chebyshev median by linear programs in a trust region, certified by the l1 dual.

``f(y) = sum_i w_i max_j |y_j - x_ij|`` is piecewise linear. Around the iterate ``y``, a
point whose largest coordinate ``|y_j - x_ij|`` leads the second by more than ``2 rho`` (and
is above ``rho``) contributes the linear term ``w_i sign(y_j - x_ij) (y'_j - x_ij)`` for
every ``y'`` with ``||y' - y||_inf <= rho``; those terms are added up into one vector. The
other points (at most ``program_points(d, n)``, by the choice of ``rho``; all of them in a
small problem, with no box) enter the linear program

    min sum_E w_i t_i + c . y'   subject to   -t_i <= y'_j - x_ij <= t_i,  |y'_j - y_j| <= rho,

solved by the simplex method of :mod:`.simplex` on its dual. Its multipliers
``a_ij, b_ij >= 0`` give ``u_i = a_i - b_i`` with ``||u_i||_1 <= w_i``; the linear points
keep ``u_i = w_i sign e_j``. When the box is not
binding these balance (``sum_i u_i = 0``): the l1 dual certifies ``y'`` as a minimiser; the
certificate checks it whatever the solver's tolerances. Otherwise ``y'`` (a decrease of f)
is the next iterate.

Each round moves ``y`` by at most ``rho``, which shrinks as the points crowd (about
``program_points(d, n) / n`` of their spread): the start must lie within a few ``rho`` of the
minimiser. It is Newton's Lp median for ``p = 16`` and then for ``p = 256``
(:func:`newton_start`): the Lp median nears the Chebyshev one as p grows, and Newton's
passes over the points cost less than rounds.
"""

from __future__ import annotations

import math

import numpy as np

from .._contract import STATUS_CONVERGED, STATUS_MAX_ITER, STATUS_STALLED
from .certificate import Bound, lower_bound
from .newton import newton_median
from .simplex import chebyshev_programs

__all__ = [
    "EXPLICIT_POINTS",
    "FLAT_ROUNDS",
    "TABLEAU_ENTRIES",
    "Stalls",
    "chebyshev_median",
    "explicit_program",
    "gradient_duals",
    "largest_coordinate",
    "margins",
    "merged_duplicates",
    "newton_start",
    "program_points",
    "tie_radius",
    "trust_radius",
]

EXPLICIT_POINTS = 1024
# The dense simplex costs about the cube of its points: a problem of n points takes programs
# of about sqrt(n) of them (at least this many, at most program_points(d)), and rounds of a
# pass over the n points for the rest. Up to the full size, where such rounds do not
# certify within SMALL_PROBLEM_ROUNDS (ties on a lattice, with weights), one program over
# all the points solves it exactly.
SMALL_PROGRAM = 256
SMALL_PROBLEM_ROUNDS = 8
BLOCK_POINTS = 512  # points per program when small problems are solved together
# A program over m points in d coordinates is a dense tableau of about 2 m^2 d entries:
# beyond d = 32 fewer points per program (and more rounds) keep it within this many.
TABLEAU_ENTRIES = 2**26
FLAT_ROUNDS = 64  # a creep down to rounding (2**-52 by halvings) has room
# The start's Newton solves, (p, tol, max_iter, max_passes) each from the last: p = 16 from
# afar, where Newton converges in a few steps, then p = 256, whose median is within about a
# radius of the Chebyshev median (tol 1e-6: its last steps are below a radius). Where one
# coordinate dominates, p = 256 is nearly not smooth: its line searches halve step after
# step, and its passes are capped (there the radius is wide, and the p = 16 median near).
START = ((16.0, 1e-3, 50, np.inf), (256.0, 1e-6, 20, 8))


def newton_start(pts, y: np.ndarray):
    """Return the start ``(P, d)`` from ``y`` and the passes over ``pts`` (``Points``) it took.

    Only the point matters, not its certificate: the near radius is not used.
    """
    pts = pts._replace(near=None)
    passes = 0
    for p, tol, max_iter, max_passes in START:
        solved = newton_median(pts, y, p, tol, max_iter, max_passes=max_passes)
        y = np.where(np.isfinite(solved[0]).all(axis=1, keepdims=True), solved[0], y)
        passes = passes + solved[4]
    return y, passes


def program_points(d: int, n: int | None = None) -> int:
    """Return the most points one program over ``d`` coordinates takes.

    ``n``: the problem's points; then the points its programs take (see SMALL_PROGRAM).
    """
    most = max(16, min(EXPLICIT_POINTS, math.isqrt(TABLEAU_ENTRIES // (2 * d))))
    return most if n is None else min(most, max(SMALL_PROGRAM, math.isqrt(n)))


def explicit_program(x: np.ndarray, w: np.ndarray, c: np.ndarray, y: np.ndarray, rho: float):
    """Solve the programs over the explicit points ``x`` ``(K, m, d)``: ``y'`` and the duals.

    ``K`` independent problems (weights ``w`` ``(K, m)``, linear terms ``c`` and centres
    ``y`` ``(K, d)``), by the simplex method on their l1 duals, pivoted together.
    ``(None, None)`` if any of them is left unsolved (each is then solved alone).
    """
    # Centred at y: the tolerances then apply to the differences, which are small where
    # the data sit far from the origin.
    x = x - y[:, None, :]
    ynew, u, solved = chebyshev_programs(x, w, c, rho)
    if not solved.all():
        return None, None
    l1 = np.sum(np.abs(u), axis=1)  # rounding may leave ||u_i||_1 a hair above w_i
    u = u * np.minimum(1.0, w / np.where(l1 > 0, l1, 1.0))[:, None, :]
    return y + ynew, u


def largest_coordinate(a: np.ndarray) -> np.ndarray:
    """Return ``np.argmax(a, axis=0)`` of ``a`` ``(d, n)`` (no NaN): the first largest per column.

    By comparisons one row at a time: NumPy's argmax along the outer axis of a C-order
    array goes column by column, an order of magnitude slower on many points.
    """
    top = np.zeros(a.shape[1], dtype=np.intp)
    best = a[0].copy()
    for j in range(1, a.shape[0]):
        larger = a[j] > best
        top[larger] = j
        np.maximum(best, a[j], out=best)
    return top


def gradient_duals(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return the duals ``u`` ``(d, m)``: ``w_i sign(z_ij)`` at each point's largest ``|z_ij|``."""
    m = z.shape[1]
    top = largest_coordinate(np.abs(z))
    u = np.zeros_like(z)
    u[top, np.arange(m)] = w * np.sign(z[top, np.arange(m)])
    return u


def margins(z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each point's largest coordinate of ``z = y - x`` ``(d, n)`` and its margin.

    The margin: half the lead of the largest ``|z_ij|`` over the second (at most the
    largest); a point stays linear in a box of that half-width. ``inf`` for weight zero.
    """
    d, n = z.shape
    a = np.abs(z)
    top = largest_coordinate(a)
    first = a[top, np.arange(n)]
    a[top, np.arange(n)] = -1.0
    second = np.max(a, axis=0) if d > 1 else np.zeros(n)
    margin = np.minimum((first - second) * 0.5, first)
    margin[w == 0] = np.inf
    return top, margin


def trust_radius(margin: np.ndarray, k: int) -> float:
    """Return the box half-width that leaves at most ``k`` points non-linear.

    ``margin``: every point's margin, or any subset that holds the ``k + 1`` smallest (more
    than that many in all).
    """
    return float(np.partition(margin, k)[k]) * (1 - 2**-20)


class Stalls:
    """Tell when the rounds stop short of a certificate (stalled).

    A round that leaves ``y`` where it was: the next would solve the same program again.
    ``FLAT_ROUNDS`` rounds in a row that decrease f by at most ``tol f``: ``y`` creeping
    along a switch (boxes shrinking to the rounding of the programs' answers around ties).
    """

    def __init__(self, tol: float) -> None:
        self.tol, self.f, self.flat = tol, np.inf, 0

    def __call__(self, moved: bool, f: float) -> bool:
        self.flat = self.flat + 1 if self.f - f <= self.tol * f else 0
        self.f = f
        return not moved or self.flat >= FLAT_ROUNDS


def tie_radius(margin: np.ndarray) -> float:
    """Return the box half-width that leaves every point but the tied ones linear.

    The ties (margin 0) and nothing else enter its program; ``inf`` where no point of
    positive weight lies beyond them. ``margin``: any subset holding the smallest positive.
    """
    beyond = margin[(margin > 0) & (margin < np.inf)]
    return float(np.min(beyond)) * (1 - 2**-20) if beyond.size else np.inf


def merged_duplicates(xt: np.ndarray, w: np.ndarray):
    """Return ``(xt, w)`` with equal points merged into one of their summed weight, or None.

    Only where the sums are exact (every weight the same power of two, as without
    weights), so the merged problem has the same objective, not a rounded one; None where
    that does not hold or no point repeats.
    """
    w0 = float(w[0])
    if not (w0 > 0 and np.frexp(w0)[0] == 0.5 and (w == w0).all()):
        return None
    xu, counts = np.unique(xt.T, axis=0, return_counts=True)
    if xu.shape[0] == xt.shape[1]:
        return None
    return np.ascontiguousarray(xu.T), counts * w0


def _one(xt: np.ndarray, w: np.ndarray, y: np.ndarray, tol: float, max_rounds: int,
         rounds_before: int = 0, k: int | None = None):  # fmt: skip
    """Solve one problem ``xt`` ``(d, n)`` from ``y`` in at most ``max_rounds`` programs.

    ``k``: the points a program takes (default ``program_points(d, n)``).

    Return ``(y, Bound, programs solved, status)``: ``STATUS_CONVERGED`` where the last
    program certified its answer (or was not boxed: optimal up to rounding),
    ``STATUS_MAX_ITER`` where the rounds ran out, ``STATUS_STALLED`` where a program failed,
    more points tie than two programs' worth, or :class:`Stalls` says so.
    """
    d, n = xt.shape
    k = program_points(d, n) if k is None else k
    stalls = Stalls(tol)
    bound, status, rounds = None, STATUS_MAX_ITER, rounds_before
    while rounds < max_rounds:
        rounds += 1
        z = y[:, None] - xt
        top, margin = margins(z, w)
        if n <= k:
            rho, explicit = np.inf, np.ones(n, dtype=bool)
        else:
            rho = trust_radius(margin, k)
            # More than k points tie (margin 0: data on a lattice, repeated values) and no
            # box leaves them linear. Where they repeat, one point of their summed weight
            # stands for each value; otherwise, up to 2k of them, they alone enter a program
            # in the box up to the nearest other switch; beyond that the program would not
            # fit, and the solve stops here.
            merged = merged_duplicates(xt, w) if rho <= 0 else None
            if merged is not None:
                return _one(*merged, y, tol, max_rounds, rounds - 1)
            if rho <= 0:
                rho = tie_radius(margin)
                if rho == np.inf or np.count_nonzero(margin <= 0) > 2 * k:
                    status, rounds = STATUS_STALLED, rounds - 1  # no program solved
                    break
            explicit = margin <= rho
        u = np.zeros_like(xt)
        lin = ~explicit
        cols = np.flatnonzero(lin)
        u[top[cols], cols] = w[cols] * np.sign(z[top[cols], cols])
        c = np.sum(u, axis=-1)
        ynew, ue = explicit_program(xt[:, explicit].T[None], w[explicit][None], c[None], y[None],
                                    rho)  # fmt: skip
        if ynew is None:
            status = STATUS_STALLED
            break
        ynew, ue = ynew[0], ue[0]
        zy = ynew[:, None] - xt
        ay = np.abs(zy)
        if rho != np.inf:  # the linear points' duals are their gradients at ynew
            u = np.zeros_like(xt)
            top = largest_coordinate(ay)[cols]
            u[top, cols] = w[cols] * np.sign(zy[top, cols])
        u[:, explicit] = ue
        moved = not np.array_equal(ynew, y)
        y = ynew
        bound = lower_bound(zy[None], w[None], np.max(ay, axis=0)[None], u[None], np.inf,
                            cancel=False)  # fmt: skip
        f, lb = bound.objective[0], bound.lower_bound[0]
        if f - lb <= tol * f or rho == np.inf:
            return y, bound, rounds, STATUS_CONVERGED
        if stalls(moved, f):
            status = STATUS_STALLED
            break
    if bound is None:  # no program solved: the gradient's duals at y, as on Dask
        zy = y[:, None] - xt
        bound = lower_bound(zy[None], w[None], np.max(np.abs(zy), axis=0)[None],
                            gradient_duals(zy, w)[None], np.inf)  # fmt: skip
    return y, bound, rounds, status


def _small_or_one(xt: np.ndarray, w: np.ndarray, y: np.ndarray, tol: float, max_rounds: int):
    """Solve as :func:`_one`; a problem that fits one program, in it where rounds do not do.

    That is, where SMALL_PROBLEM_ROUNDS rounds of smaller programs leave it uncertified:
    one program over all its points, centred where the rounds left it.
    """
    d, n = xt.shape
    most = program_points(d)
    if not program_points(d, n) < n <= most:
        return _one(xt, w, y, tol, max_rounds)
    y, bound, rounds, status = _one(xt, w, y, tol, min(max_rounds, SMALL_PROBLEM_ROUNDS))
    if status == STATUS_CONVERGED or rounds >= max_rounds:
        return y, bound, rounds, status
    return _one(xt, w, y, tol, max_rounds, rounds, k=most)


def chebyshev_median(
    xt: np.ndarray, w: np.ndarray, y0: np.ndarray, tol: float, max_rounds: int
):
    """Solve every problem of ``xt`` ``(P, d, n)`` from ``y0`` ``(P, d)``.

    Return ``(medians, Bound, linear programs solved, status)``, the last two per problem
    (``max_rounds`` programs at most each; the status as :func:`_one`'s).
    """
    P, d, n = xt.shape
    y = y0.copy()
    parts = []
    rounds = np.zeros(P, dtype=np.int64)
    status = np.full(P, STATUS_CONVERGED, dtype=np.int32)
    K = 1
    if n <= program_points(d, n):  # as many as the points and the tableau's entries allow
        K = max(1, min(BLOCK_POINTS // n, TABLEAU_ENTRIES // (2 * n * n * d)))
    for lo in range(0, P, K):
        hi = min(P, lo + K)
        if K > 1:  # small problems: one program for the block, no trust region
            yb, u = explicit_program(xt[lo:hi].transpose(0, 2, 1), w[lo:hi], np.zeros((hi - lo, d)),
                             y0[lo:hi], np.inf)  # fmt: skip
            if yb is not None:
                z = yb[:, :, None] - xt[lo:hi]
                N = np.max(np.abs(z), axis=1)
                y[lo:hi], rounds[lo:hi] = yb, 1
                parts.append(lower_bound(z, w[lo:hi], N, u, np.inf, cancel=False))
                continue
        for k in range(lo, hi):  # one at a time (also where the block's program failed)
            y[k], bound, rounds[k], status[k] = _small_or_one(xt[k], w[k], y0[k], tol, max_rounds)
            parts.append(bound)
    return y, Bound(*(np.concatenate(f) for f in zip(*parts))), rounds, status
