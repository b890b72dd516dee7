r"""``method="sgd"``: averaged minibatch stochastic gradient, certified by one exact pass.

The iteration (Cardot, Cénac and Zitt, Bernoulli 19(1), 2013), written out in
``csrc/geomedian/sgd.hpp`` and mirrored in ``_numba/sgd.py``: for minibatch :math:`B_t`,

.. math::

    m_t = m_{t-1} + \gamma_t \, \frac{n_B}{W} \sum_{i \in B_t} w_i
          \frac{x_i - m_{t-1}}{\lVert x_i - m_{t-1} \rVert}, \qquad
    \bar m_t = \bar m_{t-1} + \frac{m_t - \bar m_{t-1}}{t}, \qquad
    \gamma_t = \frac{\gamma \, \sigma}{t^{\alpha}},

with :math:`\bar m` (the Polyak--Ruppert average) the estimate. The minibatches are the
:math:`n_B = \lceil n / b \rceil` blocks of ``batch_size`` (:math:`b`) consecutive rows,
visited in a random order each epoch (without replacement: an epoch reads every row once,
in runs of :math:`b` rows), so :math:`n_B / W` makes each step an unbiased estimate of
:math:`-\nabla f / W`. Schedule: :math:`\alpha = 2/3` (any :math:`\alpha \in (1/2, 1)`
gives the averaged iterate its optimal :math:`O(1/\sqrt{t})` rate), :math:`\gamma = 1`,
:math:`\sigma` the mean distance from the start point of a first sample of 1,024 rows,
those of them within the near radius :math:`R = 2^{10} \rho` of the sample's robust anchor
(``robust_frame.hpp``: its coordinate-wise weighted lower median :math:`m` and median
distance :math:`\rho` to it), which makes the schedule independent of the data's units and
of far outliers. The start point is ``init`` where it lies within :math:`R` of :math:`m`,
else :math:`m`.

The frame follows ``make_frame`` (``solver.hpp``): the scale from the sample's spread,
raised towards :math:`R s \sim 1` when far points make the spread exceed :math:`R`. The
iteration runs in that frame without the headroom limit (its coincidence radius is fixed
at :math:`2^{-40}`, so :math:`R s` must not shrink; a row whose squared distance overflows
there still adds its unit vector, ``sgd.hpp``); the certificate pass runs at a scale that
keeps the sampled far points below :math:`2^{480}`, and a pass that overflows on a far row
outside the sample widens it (``_chunked.widen``) instead of reporting NaN or inf.

After each epoch one exact pass at :math:`\bar m` gives the certificate of the exact
solvers; the run stops at the first epoch whose certified relative gap is at most ``tol``
(default ``1e-3``) or after ``max_iter`` epochs (default 1000). ``n_iter`` counts
epochs, ``n_passes`` epochs plus certificate passes.
"""

from __future__ import annotations

import math

import numpy as np

from .._contract import NEAR_FACTOR
from .._kernels import Kernels
from .._options import SolveOptions
from .._result import CONVERGED, MAX_ITER, NONFINITE
from .chunked import (
    ChunkedOutcome,
    Frame,
    Progress,
    certified,
    certify,
    failed,
    fit_frame,
    gap_of,
    half_spread,
    row_distances,
    widen,
)
from .sgd_route import SAMPLE_ROWS

__all__ = ["run_blocks", "sgd_frame", "sgd_frames", "solve_sgd"]

GAMMA = 1.0
ALPHA = 2.0 / 3.0
BLOCKS_PER_CALL = 1 << 14  # Ctrl-C is honoured between kernel calls
READ_BLOCKS_PER_CALL = 1 << 10  # minibatches of a memmap read per kernel call
# The iteration's frame rises all the way to R s ~ 1 (see the module's docstring).
KERNEL_HEADROOM = 1 << 12


def sgd_frames(
    k: Kernels, sample: np.ndarray, weights: np.ndarray | None, init: np.ndarray | None
) -> tuple[np.ndarray, float, float, Frame]:
    """Return the iteration's frame ``(c, s)``, its first step ``gamma0`` and the certificate's.

    ``sample``: finite rows, ``weights`` theirs (None: unit weights). ``gamma0`` is in the
    iteration's frame units; the certificate's frame has the same centre and near radius,
    and status RANGE when the sample spans more than float64 can hold.
    """
    sample = np.asarray(sample, dtype=np.float64)
    m, rho = k.robust_anchor(sample, weights)
    R = NEAR_FACTOR * rho
    c = m if init is None else np.array(init, dtype=np.float64)
    if R > 0 and math.isfinite(R) and row_distances(c[None], m)[0] > R:
        c = m  # as the exact solvers: a start beyond the near radius gives way to m
    half = half_spread((sample,), c)
    s = fit_frame(c, half, R, KERNEL_HEADROOM).s
    dist = row_distances(sample, c)
    if R > 0 and math.isfinite(R):
        near = row_distances(sample, m) <= R
        dist = dist[near] if near.any() else dist
    with np.errstate(over="ignore"):  # far rows the near radius could not leave out
        sigma = float(np.mean(dist * s))
    # All sampled rows at the start point: no scale to learn from, take the frame's unit.
    gamma0 = GAMMA * (sigma if 0 < sigma < math.inf else 1.0)
    return c, s, gamma0, fit_frame(c, half, R)


def sgd_frame(
    k: Kernels, sample: np.ndarray, init: np.ndarray | None
) -> tuple[np.ndarray, float, float]:
    """Return the iteration's frame ``(c, s)`` and first step ``gamma0`` for unit weights."""
    c, s, gamma0, _ = sgd_frames(k, sample, None, init)
    return c, s, gamma0


def run_blocks(k: Kernels, x, w, wscale, blocks, batch, norm, c, s, gamma0, state) -> None:
    """Run the SGD kernel over ``blocks`` in order (in calls of ``BLOCKS_PER_CALL``)."""
    for b in range(0, blocks.shape[0], BLOCKS_PER_CALL):
        part = blocks[b : b + BLOCKS_PER_CALL]
        k.sgd(x, w, wscale, part, batch, norm, c, s, gamma0, ALPHA, state)


def run_read_blocks(k: Kernels, src, blocks, batch, norm, c, s, gamma0, state) -> bool:
    """Run :func:`run_blocks` on minibatches read from a memmap's file (``read_rows``).

    The blocks of each call are read, in order, into one buffer where they are blocks
    0, 1, ...; a short last block of the file ends its buffer, so every block keeps its
    rows. The kernel sees the same rows in the same order: the same steps, bit for bit.
    Returns False (nothing run) where the file cannot be read so.
    """
    n = src.n
    at = 0
    while at < blocks.shape[0]:
        part = blocks[at : at + READ_BLOCKS_PER_CALL]
        short = np.flatnonzero((part + 1) * batch > n)
        if short.size:  # the file's short last block: it ends this buffer
            part = part[: short[0] + 1]
        runs = [(int(b) * batch, min(n, (int(b) + 1) * batch)) for b in part]
        xb = src.read_rows(runs)
        if xb is None:
            return False
        wb = None if src.w is None else np.concatenate([src.w[lo:hi] for lo, hi in runs])
        local = np.arange(part.shape[0], dtype=np.int64)
        run_blocks(k, xb, wb, src.wscale, local, batch, norm, c, s, gamma0, state)
        at += part.shape[0]
    return True


def solve_sgd(
    k: Kernels,
    src,
    init: np.ndarray | None,
    options: SolveOptions,
    tol: float,
    progress: Progress | None = None,
) -> ChunkedOutcome:
    """Run epochs of averaged SGD over ``src.x`` until one exact pass certifies ``tol``.

    ``options.max_iter`` counts epochs; ``options.rows_per_step`` rows make a minibatch,
    drawn in the order of ``options.random_state``.
    """
    x, n, d = src.x, src.n, src.d
    rng, batch_size = options.random_state, options.rows_per_step
    rows = np.sort(rng.integers(0, n, size=min(n, SAMPLE_ROWS)))
    xs, ws = src.take(rows)  # a memmap's scattered rows without mapping the whole file
    xs = np.asarray(xs, dtype=np.float64)
    if not np.isfinite(xs).all():
        return failed(d, NONFINITE)
    c, s, gamma0, frame = sgd_frames(k, xs, ws, init)
    if frame.status != CONVERGED:
        return failed(d, frame.status)
    n_blocks = -(-n // batch_size)
    norm = n_blocks / src.W
    state = np.zeros(1 + 2 * d)  # [t, m, mbar]: both start at c
    lb = -np.inf
    n_passes = 0
    status = MAX_ITER
    for epoch in range(1, options.max_iter + 1):
        blocks = rng.permutation(n_blocks).astype(np.int64)
        read = getattr(src, "read_rows", None) is not None and run_read_blocks(
            k, src, blocks, batch_size, norm, c, s, gamma0, state
        )
        if not read:
            run_blocks(k, x, src.w, src.wscale, blocks, batch_size, norm, c, s, gamma0, state)
        n_passes += 1
        # Certify the answer as returned (in the points' dtype).
        median = (c + state[1 + d :] / s).astype(x.dtype)
        y = median.astype(np.float64)
        while True:
            S, probe = src.pass_sums(y, frame.s, frame.eps, frame.near)
            n_passes += 1
            if probe is None:
                break
            finite, far = probe
            if not finite:  # NaN or inf in the rows behind the pass
                return failed(d, NONFINITE, epoch, n_passes)
            wider = widen(frame, far)  # a far row outside the sample
            if wider.status != CONVERGED:
                return failed(d, wider.status, epoch, n_passes)
            lb *= wider.s / frame.s  # the best bound so far, in the wider frame's units
            frame = wider
        cert = certify(S, d, src.W, np.empty(d))
        lb = max(lb, cert.lb)
        gap = gap_of(cert, lb)
        if progress is not None:
            progress(epoch, cert.f / (frame.s * src.wscale), gap)
        if gap <= tol:
            status = CONVERGED
            break
    objective, lower, gap, scale = certified(cert, lb, frame.s, src.wscale, src.W)
    return ChunkedOutcome(median, objective, lower, gap, epoch, n_passes, status, scale)
