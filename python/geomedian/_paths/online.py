"""A streaming geometric median for data that arrives in chunks (scikit-learn style)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as v
from .._contract import NEAR_FACTOR, ROBUST_SAMPLE_ROWS
from .._kernels import kernels
from .._options import SGD_BATCH_SIZE, SolveOptions

__all__ = ["OnlineGeometricMedian"]


def _priority(position: np.ndarray) -> np.ndarray:
    """Return pseudo-random uint64 priorities fixed by the rows' positions in the stream.

    splitmix64's finaliser: the rows of least priority are a uniform sample of the stream
    so far, and the same rows however the stream was cut into chunks.
    """
    z = position.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class OnlineGeometricMedian:
    r"""Averaged stochastic gradient estimate of the geometric median of a stream.

    Each call to :meth:`partial_fit` runs the averaged SGD of ``method="sgd"`` (the update
    and its step schedule :math:`\gamma_t = \gamma \sigma / t^{\alpha}` are written out in
    ``geomedian._paths.sgd``) over the new rows in the order they arrive, in minibatches of
    ``batch_size`` consecutive rows; rows that do not fill a minibatch wait for the next
    chunk. So the estimate depends on the rows and their order, not on how the stream was
    cut into chunks (for unit weights; with weights the step is normalised by the mean
    weight seen so far, which grows with each chunk). The first minibatch fixes the frame as
    ``method="sgd"``'s sample does: its coordinate-wise lower median :math:`m` is the start
    point, and the mean distance from it of the rows within :math:`2^{10}` times their
    median distance to :math:`m` the step scale :math:`\sigma` (so far outliers neither
    set the scale nor, however far, overflow the steps). A stream that begins with far rows
    (a run of fill values) would leave that frame, and the estimate, among them: so after
    ``batch_size`` times 1, 2, 4, 8, ... rows the robust anchor of a uniform sample of the
    rows so far (1,024 of them, chosen by their positions) is compared with the estimate,
    and an estimate beyond that sample's near radius starts over in the sample's frame (the
    steps taken still count in ``n_steps_``). Memory is
    :math:`O(d \cdot (\text{batch\_size} + 1024))`, whatever the stream.

    Parameters
    ----------
    batch_size : int
        Rows per stochastic gradient step (default 16).
    backend : {"auto", "cpp", "numba"}
        Kernels to run, as in :func:`geomedian.solve`.

    Attributes
    ----------
    median_ : ndarray of float64, shape (d,)
        The current estimate (the Polyak--Ruppert average); before the first full
        minibatch, the coordinate-wise median of the rows seen.
    n_seen_ : int
        Rows received so far.
    n_steps_ : int
        Stochastic gradient steps taken.

    Examples
    --------
    >>> import numpy as np
    >>> from geomedian import OnlineGeometricMedian
    >>> rng = np.random.default_rng(0)
    >>> est = OnlineGeometricMedian()
    >>> for _ in range(50):
    ...     _ = est.partial_fit(rng.standard_normal((1000, 3)) + [1.0, 2.0, 3.0])
    >>> est.n_seen_, bool(np.abs(est.median_ - [1, 2, 3]).max() < 0.05)
    (50000, True)
    """

    def __init__(self, batch_size: int = SGD_BATCH_SIZE, *, backend: str = "auto"):
        self.batch_size = batch_size
        self.backend = backend

    def partial_fit(self, X: Any, weights: Any = None) -> OnlineGeometricMedian:
        """Update the estimate with a chunk of rows, in place.

        Parameters
        ----------
        X : array_like, shape (m, d)
            New points, any ``m >= 1``; float32 stays float32 (accumulated in float64).
            ``d`` must match earlier chunks. Must be finite.
        weights : array_like, shape (m,), optional
            Non-negative finite weights, not all zero. Default: all ones.

        Returns
        -------
        OnlineGeometricMedian
            ``self``.
        """
        x = v.as_points(X)
        m, d = x.shape
        w, _ = v.as_weights(weights, m)
        w = None if w is None else w[0]
        if not np.isfinite(x).all():
            raise ValueError("X must be finite (NaN or inf in this chunk); drop such rows first")
        if not hasattr(self, "n_seen_"):
            self._start(d)
        elif d != self.d_:
            raise ValueError(f"X has {d} coordinates, earlier chunks had {self.d_}")
        if w is None and self._weighted:
            w = np.ones(m)
        if w is not None and not self._weighted:  # the first weights: earlier rows weigh 1
            self._weighted = True
            self._wsum = float(self.n_seen_)
            self._wpend = np.ones(self._xpend.shape[0])
        self.n_seen_ += m
        if w is not None:
            self._wsum += float(np.sum(w))
        self._xpend = np.concatenate([self._xpend, x]) if self._xpend.size else x
        if self._weighted:
            self._wpend = np.concatenate([self._wpend, w]) if self._wpend.size else w
        self._consume()
        return self

    def _start(self, d: int) -> None:
        self.d_ = d
        self.n_seen_ = 0
        self.n_steps_ = 0
        self._weighted = False
        self._wsum = 0.0
        self._xpend = np.empty((0, d))
        self._wpend = np.empty(0)
        self._frame = None
        self._state = np.zeros(1 + 2 * d)
        self._consumed = 0  # rows the steps have used
        self._sample = np.empty((0, d))  # the uniform sample of those (see _remember)
        self._sample_key = np.empty(0, dtype=np.uint64)
        self._sample_at = np.empty(0, dtype=np.int64)
        options = SolveOptions(method="sgd", batch_size=self.batch_size, backend=self.backend)
        self._batch = options.rows_per_step
        self._next_check = self._batch
        self._kernels = kernels(options.backend)

    def _consume(self) -> None:
        # Imported on first use: the frame math is the Numba mirror's, run as plain Python,
        # and importing it loads numba, which `import geomedian` does not.
        from .sgd import run_blocks, sgd_frame

        b = self._batch
        full = self._xpend.shape[0] // b
        if full == 0:
            return
        x = self._xpend[: full * b]
        w = self._wpend[: full * b] if self._weighted else None
        # E[step] = -grad f / W per row seen: unit weights 1 / b, else 1 / (b mean weight).
        norm = 1.0 / b if not self._weighted else self.n_seen_ / (b * self._wsum)
        lo = 0
        while lo < full * b:
            if self._frame is None:
                self._frame = sgd_frame(x[lo : lo + b], None)
            c, s, gamma0 = self._frame
            # Up to the next check (a multiple of b rows into the stream).
            hi = min(full * b, lo + self._next_check - self._consumed)
            xc = np.ascontiguousarray(x[lo:hi])
            wc = None if w is None else np.ascontiguousarray(w[lo:hi])
            blocks = np.arange((hi - lo) // b, dtype=np.int64)
            run_blocks(self._kernels, xc, wc, 1.0, blocks, b, norm, c, s, gamma0, self._state)
            self.n_steps_ += (hi - lo) // b
            self._remember(x[lo:hi])
            lo = hi
            if self._consumed == self._next_check:
                self._next_check *= 2
                self._check()
        self._xpend = self._xpend[full * b :].copy()
        if self._weighted:
            self._wpend = self._wpend[full * b :].copy()

    def _remember(self, x: np.ndarray) -> None:
        """Add the rows ``x`` (the next ones the steps used) to the uniform sample."""
        at = np.arange(self._consumed, self._consumed + x.shape[0], dtype=np.int64)
        self._consumed += x.shape[0]
        xs = np.concatenate([self._sample, np.asarray(x, dtype=np.float64)])
        key = np.concatenate([self._sample_key, _priority(at)])
        at = np.concatenate([self._sample_at, at])
        if key.shape[0] > ROBUST_SAMPLE_ROWS:
            keep = np.argpartition(key, ROBUST_SAMPLE_ROWS - 1)[:ROBUST_SAMPLE_ROWS]
            keep.sort()  # stream order: the same arrays however the stream was chunked
            xs, key, at = xs[keep], key[keep], at[keep]
        self._sample, self._sample_key, self._sample_at = xs, key, at

    def _check(self) -> None:
        """Start over in the sample's frame if the estimate lies beyond its near radius."""
        from .chunked import anchor, row_distances
        from .sgd import sgd_frame

        m, rho = anchor(self._sample, None)
        R = NEAR_FACTOR * rho
        if not (R > 0 and np.isfinite(R)):
            return  # more than half the sample on one point: nothing to judge by
        if row_distances(self.median_[None], m)[0] <= R:
            return
        self._frame = sgd_frame(self._sample, None)
        self._state[:] = 0.0

    @property
    def median_(self) -> np.ndarray:
        if not hasattr(self, "n_seen_"):
            raise AttributeError("median_: call partial_fit first")
        if self._frame is None:
            return np.median(np.asarray(self._xpend, dtype=np.float64), axis=0)
        c, s, _ = self._frame
        return c + self._state[1 + self.d_ :] / s
