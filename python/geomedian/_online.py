"""A streaming geometric median for data that arrives in chunks (scikit-learn style)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as v
from ._backends import load_backend, resolve_backend
from ._sgd import DEFAULT_BATCH_SIZE, run_blocks, sgd_frame

__all__ = ["OnlineGeometricMedian"]


class OnlineGeometricMedian:
    r"""Averaged stochastic gradient estimate of the geometric median of a stream.

    Each call to :meth:`partial_fit` runs the averaged SGD of ``method="sgd"`` (the update
    and its step schedule :math:`\gamma_t = \gamma \sigma / t^{\alpha}` are written out in
    ``geomedian._sgd``) over the new rows in the order they arrive, in minibatches of
    ``batch_size`` consecutive rows; rows that do not fill a minibatch wait for the next
    chunk. So the estimate depends on the rows and their order, not on how the stream was
    cut into chunks (for unit weights; with weights the step is normalised by the mean
    weight seen so far, which grows with each chunk). The first minibatch fixes the frame:
    its coordinate-wise median is the start point and its mean distance from it the step
    scale :math:`\sigma`. Memory is :math:`O(d \cdot \text{batch\_size})`, whatever the stream.

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

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, *, backend: str = "auto"):
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
        self._batch = v.as_batch_size(self.batch_size, v.SGD_METHOD, DEFAULT_BATCH_SIZE)
        self._impl = load_backend(resolve_backend(self.backend))

    def _consume(self) -> None:
        b = self._batch
        full = self._xpend.shape[0] // b
        if full == 0:
            return
        x = self._xpend[: full * b]
        w = self._wpend[: full * b] if self._weighted else None
        if self._frame is None:
            self._frame = sgd_frame(x[:b], None)
        c, s, gamma0 = self._frame
        # E[step] = -grad f / W per row seen: unit weights 1 / b, else 1 / (b mean weight).
        norm = 1.0 / b if not self._weighted else self.n_seen_ / (b * self._wsum)
        blocks = np.arange(full, dtype=np.int64)
        xc = np.ascontiguousarray(x)
        wc = None if w is None else np.ascontiguousarray(w)
        run_blocks(self._impl, xc, wc, 1.0, blocks, b, norm, c, s, gamma0, self._state)
        self.n_steps_ += full
        self._xpend = self._xpend[full * b :].copy()
        if self._weighted:
            self._wpend = self._wpend[full * b :].copy()

    @property
    def median_(self) -> np.ndarray:
        if not hasattr(self, "n_seen_"):
            raise AttributeError("median_: call partial_fit first")
        if self._frame is None:
            return np.median(np.asarray(self._xpend, dtype=np.float64), axis=0)
        c, s, _ = self._frame
        return c + self._state[1 + self.d_ :] / s
