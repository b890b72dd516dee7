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
:math:`\sigma` the mean distance of a first sample of 1,024 rows from the start point,
which makes the schedule independent of the data's units. The start point is ``init``
or the sample's coordinate-wise median.

After each epoch one exact pass at :math:`\bar m` gives the certificate of the exact
solvers; the run stops at the first epoch whose certified relative gap is at most ``tol``
(default ``1e-3``) or after ``max_iter`` epochs (default 1000). ``n_iter`` counts
epochs, ``n_passes`` epochs plus certificate passes.
"""

from __future__ import annotations

import numpy as np

from ._chunked import ChunkedOutcome, Progress, frame_scale
from ._numba.certificate import certify, relative_gap
from ._result import CONVERGED, MAX_ITER, NONFINITE

__all__ = ["DEFAULT_BATCH_SIZE", "SGD_TOL", "run_blocks", "sgd_frame", "solve_sgd"]

DEFAULT_BATCH_SIZE = 16
SGD_TOL = 1e-3
GAMMA = 1.0
ALPHA = 2.0 / 3.0
SAMPLE_ROWS = 1024
BLOCKS_PER_CALL = 1 << 14  # Ctrl-C is honoured between kernel calls


def sgd_frame(sample: np.ndarray, init: np.ndarray | None) -> tuple[np.ndarray, float, float]:
    """Return the frame ``(c, s)`` and the first step ``gamma0`` (frame units) of a run."""
    sample = np.asarray(sample, dtype=np.float64)
    c = np.median(sample, axis=0) if init is None else np.array(init, dtype=np.float64)
    s = frame_scale(sample, c)
    sigma = float(np.mean(np.sqrt(np.sum(((sample - c) * s) ** 2, axis=1))))
    # All sampled rows at the start point: no scale to learn from, take the frame's unit.
    return c, s, GAMMA * (sigma if sigma > 0 else 1.0)


def run_blocks(impl, x, w, wscale, blocks, batch, norm, c, s, gamma0, state) -> None:
    """Run the SGD kernel over ``blocks`` in order (in calls of ``BLOCKS_PER_CALL``)."""
    kernel = impl.sgd_f32 if x.dtype == np.float32 else impl.sgd_f64
    for k in range(0, blocks.shape[0], BLOCKS_PER_CALL):
        part = blocks[k : k + BLOCKS_PER_CALL]
        kernel(x, w, wscale, part, batch, norm, c, s, gamma0, ALPHA, state)


def solve_sgd(
    impl,
    src,
    init: np.ndarray | None,
    tol: float,
    max_epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> ChunkedOutcome:
    """Run epochs of averaged SGD over ``src.x`` until one exact pass certifies ``tol``."""
    x, n, d = src.x, src.n, src.d
    rows = np.sort(rng.integers(0, n, size=min(n, SAMPLE_ROWS)))
    c, s, gamma0 = sgd_frame(x[rows], init)
    n_blocks = -(-n // batch_size)
    norm = n_blocks / src.W
    state = np.zeros(1 + 2 * d)  # [t, m, mbar]: both start at c
    lb = -np.inf
    n_passes = 0
    status = MAX_ITER
    for epoch in range(1, max_epochs + 1):
        blocks = rng.permutation(n_blocks).astype(np.int64)
        run_blocks(impl, x, src.w, src.wscale, blocks, batch_size, norm, c, s, gamma0, state)
        # Certify the answer as returned (in the points' dtype).
        median = (c + state[1 + d :] / s).astype(x.dtype)
        y = median.astype(np.float64)
        S = src.sums(y, s)
        n_passes += 2
        if not np.isfinite(S[0]):
            nan = float("nan")
            return ChunkedOutcome(np.full(d, nan), nan, nan, nan, epoch, n_passes, NONFINITE)
        f, lb_y, _ = certify.py_func(S, d, src.W, np.empty(d))
        lb = max(lb, lb_y)
        gap = relative_gap.py_func(f, lb)
        if progress is not None:
            progress(epoch, f / (s * src.wscale), gap)
        if gap <= tol:
            status = CONVERGED
            break
    unit = s * src.wscale
    return ChunkedOutcome(median, f / unit, lb / unit, gap, epoch, n_passes, status)
