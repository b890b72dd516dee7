"""A streaming geometric median for data that arrives in chunks (a scikit-learn estimator).

scikit-learn is not needed: the estimator API (``get_params``/``set_params``, ``fit``,
``partial_fit``, fitted attributes ending in ``_``) is written out here from the
``__init__`` signature, so that the class drops into a scikit-learn workflow when
scikit-learn is there and costs nothing when it is not.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from .. import _labelled
from .. import _validate as v
from .._contract import NEAR_FACTOR, ROBUST_SAMPLE_ROWS
from .._kernels import kernels
from .._options import SGD_BATCH_SIZE, SolveOptions

__all__ = ["NotFittedError", "OnlineGeometricMedian"]

# A step scale off by more than this factor either way restarts the estimate (see _check).
SCALE_DRIFT = 8.0


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` or ``partial_fit``.

    Subclasses ``ValueError`` and ``AttributeError``, as scikit-learn's ``NotFittedError``
    does, so ``hasattr(est, "median_")`` is False before fitting.
    """


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
    and its step schedule :math:`\gamma_t = \gamma \sigma / t^{\alpha}` are those of
    :func:`geomedian.solve` with ``method="sgd"``) over the new rows in the order they
    arrive, in minibatches of ``batch_size`` consecutive rows; rows that do not fill a
    minibatch wait for the next chunk. So the estimate depends on the rows and their
    order, not on how the stream was cut into chunks (for unit weights; with weights the
    step is normalised by the mean weight seen so far, which grows with each chunk).

    The first minibatch sets the frame as ``method="sgd"``'s sample does: its
    coordinate-wise lower median :math:`m` is the start point, and the mean distance from
    it of the rows within :math:`2^{10}` times their median distance to :math:`m` the step
    scale :math:`\sigma` (so far outliers neither set the scale nor, however far,
    overflow the steps). The first rows may not be typical of the stream: a run of fill
    values, or a sensor's first nearly identical readings, whose tiny :math:`\sigma`
    would keep the steps too short to ever leave them. So the frame is re-estimated as
    data arrive: after ``batch_size`` times 1, 2, 4, 8, ... rows, a uniform sample of the
    rows so far (1,024 of them, chosen by their positions) gives a robust anchor and a
    step scale measured from the estimate. An estimate beyond that sample's near radius
    starts over from the anchor, and one whose step scale is off by more than a factor 8
    either way starts over from where it is with the sample's scale (the steps taken still
    count in ``n_steps_``). Memory is :math:`O(d \cdot (\text{batch\_size} + 1024))`,
    whatever the stream.

    Follows scikit-learn's estimator conventions (``get_params``, ``set_params``,
    ``fit``, ``partial_fit``, ``sample_weight``) without depending on scikit-learn.

    Parameters
    ----------
    batch_size : int
        Rows per stochastic gradient step (default 16).
    backend : {"auto", "cpp", "numba"}
        Kernels to run, as in :func:`geomedian.solve`.
    p : float
        The norm, as in :func:`geomedian.solve` (``1 <= p <= inf``): the steps follow the
        subgradient of the Lp objective, :math:`\sum_i w_i \operatorname{sign}(z_i)
        (|z_i| / \lVert z_i \rVert_p)^{p-1}`, with the same schedule and frame (its scale
        measured in the Euclidean norm). Read at every chunk: ``set_params(p=...)`` changes
        the steps from the next chunk on, continuing from the current estimate; a bad
        ``p`` is a ``ValueError`` there.

    Attributes
    ----------
    median_ : ndarray of float64, shape (d,)
        The current estimate (the Polyak--Ruppert average); before the first full
        minibatch, the coordinate-wise median of the rows seen.
    n_features_in_ : int
        Coordinates per row (``d``).
    feature_names_in_ : ndarray of str, shape (d,)
        The column labels, when ``X`` was a DataFrame whose labels are all strings.
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

    def __init__(
        self, batch_size: int = SGD_BATCH_SIZE, *, backend: str = "auto", p: float = 2
    ):
        self.batch_size = batch_size
        self.backend = backend
        self.p = p

    @classmethod
    def _param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters
        return sorted(name for name in params if name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the parameters of ``__init__`` and their values (scikit-learn's API).

        Parameters
        ----------
        deep : bool
            Accepted for scikit-learn; no parameter is itself an estimator.

        Returns
        -------
        dict
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> OnlineGeometricMedian:
        """Set parameters of ``__init__`` (scikit-learn's API); they apply from the next fit.

        Returns
        -------
        OnlineGeometricMedian
            ``self``.
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """Show the class and the parameters that differ from their defaults, then the state."""
        defaults = inspect.signature(type(self).__init__).parameters
        changed = ", ".join(
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if value is not defaults[name].default and value != defaults[name].default
        )
        text = f"{type(self).__name__}({changed})"
        if not self.__sklearn_is_fitted__():
            return text
        median = np.array2string(self.median_, threshold=8, edgeitems=3, precision=6)
        return (
            f"{text}: {self.n_seen_} rows of {self.n_features_in_} features seen, "
            f"{self.n_steps_} steps, median_={' '.join(median.split())}"
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_seen_")

    def __sklearn_tags__(self) -> Any:
        # Only scikit-learn calls this: it is then importable.
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            input_tags=InputTags(two_d_array=True, allow_nan=False),
        )

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> OnlineGeometricMedian:
        """Forget earlier data, then :meth:`partial_fit` ``X``.

        Parameters
        ----------
        X, sample_weight
            As in :meth:`partial_fit`.
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        OnlineGeometricMedian
            ``self``.
        """
        # Unfitted again: partial_fit then starts afresh (_start sets every other field).
        # Attributes others set (a scikit-learn Pipeline's context) are left alone.
        for name in ("n_seen_", "feature_names_in_"):
            vars(self).pop(name, None)
        return self.partial_fit(X, sample_weight=sample_weight)

    def partial_fit(
        self, X: Any, y: Any = None, sample_weight: Any = None, *, weights: Any = None
    ) -> OnlineGeometricMedian:
        """Update the estimate with a chunk of rows, in place.

        Parameters
        ----------
        X : array_like or pandas.DataFrame, shape (m, d)
            New points, any ``m >= 1``; float32 stays float32 (accumulated in float64).
            ``d`` (and, for a DataFrame, the column labels) must match earlier chunks.
            Must be finite (``pd.NA`` counts as NaN).
        y : None
            Ignored (scikit-learn's API). Weights given in this place by code written for
            geomedian 0.1 are ignored too: pass them as ``sample_weight``.
        sample_weight : array_like, shape (m,), or str, optional
            Non-negative finite weights, not all zero. For a DataFrame, the name of a column
            holding them (not a coordinate then). Default: all ones.
        weights : array_like, optional
            Deprecated alias of ``sample_weight``.

        Returns
        -------
        OnlineGeometricMedian
            ``self``.
        """
        if weights is not None:
            if sample_weight is not None:
                raise TypeError("pass sample_weight only (weights is its deprecated alias)")
            warnings.warn(
                "partial_fit(X, weights=...) is deprecated: use sample_weight=",
                DeprecationWarning,
                stacklevel=2,
            )
            sample_weight = weights
        # Checked at every chunk: set_params(p=...) applies from the next one.
        self._p = SolveOptions(p=self.p).p  # validated
        names = None
        if _labelled.is_labelled(X):
            X, sample_weight, labels = _labelled.unwrap(X, sample_weight, None, -1, name="X")
            names = _feature_names(labels)
        shape = getattr(X, "shape", ())
        if len(shape) == 2 and shape[1] == 0:  # in scikit-learn's words
            raise ValueError(
                f"0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is required: X "
                "must have at least one coordinate"
            )
        x = v.as_points(X)
        m, d = x.shape
        w, _ = v.as_weights(sample_weight, m)
        w = None if w is None else w[0]
        if not np.isfinite(x).all():
            raise ValueError("X must be finite (NaN or inf in this chunk); drop such rows first")
        if not self.__sklearn_is_fitted__():
            self._start(d, names)
        else:
            self._check_features(d, names)
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

    def _check_features(self, d: int, names: np.ndarray | None) -> None:
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and names is not None and not np.array_equal(fitted, names):
            raise ValueError(_names_mismatch(fitted, names))
        if d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (the coordinates of earlier chunks)"
            )

    def _start(self, d: int, names: np.ndarray | None) -> None:
        options = SolveOptions(method="sgd", batch_size=self.batch_size, backend=self.backend)
        self.n_features_in_ = d
        if names is not None:
            self.feature_names_in_ = names
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
        self._batch = options.rows_per_step
        self._next_check = self._batch
        self._backend = options.backend  # a name: the estimator pickles

    def _consume(self) -> None:
        # Imported on first use: the frame math is the Numba mirror's, run as plain Python,
        # and importing it loads numba, which `import geomedian` does not.
        from .sgd import run_blocks, sgd_frame
        from .sgd_lp import run_lp_blocks

        b = self._batch
        k = kernels(self._backend)
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
                self._frame = sgd_frame(k, x[lo : lo + b], None)
            c, s, gamma0 = self._frame
            # Up to the next check (a multiple of b rows into the stream).
            hi = min(full * b, lo + self._next_check - self._consumed)
            xc = np.ascontiguousarray(x[lo:hi])
            wc = None if w is None else np.ascontiguousarray(w[lo:hi])
            blocks = np.arange((hi - lo) // b, dtype=np.int64)
            if self._p == 2:
                run_blocks(k, xc, wc, 1.0, blocks, b, norm, c, s, gamma0, self._state)
            else:
                run_lp_blocks(xc, wc, blocks, b, norm, c, s, gamma0, self._state, self._p)
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
        """Re-estimate the frame from the sample; start over where the old one misleads.

        An estimate beyond the sample's near radius starts over from the sample's anchor;
        one within it, whose step scale measured there is off by more than
        ``SCALE_DRIFT`` either way (first rows unlike the rest), starts over from where
        it is with the sample's scale.
        """
        from .chunked import row_distances
        from .sgd import sgd_frame

        k = kernels(self._backend)
        m, rho = k.robust_anchor(self._sample, None)
        R = NEAR_FACTOR * rho
        if not (R > 0 and np.isfinite(R)):
            return  # more than half the sample on one point: nothing to judge by
        estimate = self.median_
        inside = row_distances(estimate[None], m)[0] <= R
        frame = sgd_frame(k, self._sample, estimate if inside else None)
        drift = _step_scale(frame) / _step_scale(self._frame)
        if inside and 1 / SCALE_DRIFT <= drift <= SCALE_DRIFT:
            return
        self._frame = frame
        self._state[:] = 0.0

    @property
    def median_(self) -> np.ndarray:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: call 'fit' or "
                "'partial_fit' before reading median_"
            )
        if self._frame is None:
            return np.median(np.asarray(self._xpend, dtype=np.float64), axis=0)
        c, s, _ = self._frame
        return c + self._state[1 + self.n_features_in_ :] / s


def _step_scale(frame: tuple) -> float:
    """Return the step scale sigma of an iteration frame ``(c, s, gamma0)``, in the data's units."""
    _, s, gamma0 = frame
    return gamma0 / s


def _feature_names(labels: Any) -> np.ndarray | None:
    """scikit-learn's rule: column labels that are all strings name the features."""
    names = np.asarray(labels, dtype=object)
    return names if all(isinstance(name, str) for name in names) else None


def _names_mismatch(fitted: np.ndarray, given: np.ndarray) -> str:
    """Return the message scikit-learn's estimators give for columns unlike those of the fit."""
    text = "The feature names should match those that were passed during fit.\n"
    unseen = sorted(set(given) - set(fitted))
    missing = sorted(set(fitted) - set(given))
    if not unseen and not missing:
        return text + "Feature names must be in the same order as they were in fit.\n"
    if unseen:
        text += "Feature names unseen at fit time:\n" + "".join(f"- {n}\n" for n in unseen)
    if missing:
        text += "Feature names seen at fit time, yet now missing:\n"
        text += "".join(f"- {n}\n" for n in missing)
    return text
