"""``p = 1`` on one Dask problem: the weighted coordinate-wise median by counting passes.

The answer is the in-memory one (:mod:`.._lp.coordinate_median`), bit for bit where the
weight sums are exact (equal or integer weights): per coordinate the least value ``a`` with
at least half of the weight ``W / 2`` at or below it, or, where exactly half is, the
midpoint of ``a`` and the next value of positive weight (``np.median``'s rule for an even
count). The points are scaled by the same power of two as in memory where they reach beyond
``2**500`` (or stay within ``2**-500`` of 0).

Each coordinate keeps an open interval ``(lo, hi)`` that holds ``a``, and the weight at or
below ``lo``. A pass over the persisted chunks counts the weight in the buckets that pivots
inside the interval cut it into, each pivot a bucket of its own (a value that carries much
of the weight is then ``a`` at once), and takes an evenly strided sample of the values
inside. The driver adds the chunks' counts in chunk order, keeps the bucket where the
cumulative weight reaches ``W / 2``, and takes the next pivots from the sample's values in
the new interval: its quantiles, and a few spaced evenly in the order of the floats (so that
every pass narrows the interval at least sixteenfold in that order, whatever the sample).
Once few values are left inside, one pass brings them to the driver, which selects ``a``
exactly. The first pass also checks that every value is finite and finds the largest.
The certificate's sums (weight below and above ``y``, ``sum w z`` and ``sum w |z|``) are
each chunk's pairwise sums, added across chunks exactly rounded (``math.fsum``): the
rounding allowance of :mod:`.._lp.certificate` holds.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as v
from .._kernels import Solved
from .._lp.coordinate_median import balance_bound
from .._options import SolveOptions
from .._result import RANGE, GeometricMedianResult, make_result
from .lp import finish_lp, in_caller_units, scale_exponent

__all__ = ["NONFINITE_MESSAGE", "solve_coordinate_median_dask"]

NONFINITE_MESSAGE = "points must be finite: the Dask array holds NaN or inf"
SAMPLE_VALUES = 1 << 14  # sampled values per coordinate and pass, over all the chunks
QUANTILE_PIVOTS = 128  # pivots per coordinate and pass from the sample's quantiles
EVEN_PARTS = 16  # and pivots cutting the interval into this many parts in the floats' order
GATHER_VALUES = 1 << 16  # values per coordinate left inside when they go to the driver

_COUNT, _GATHER, _DONE = 0, 1, 2
_SIGN = 1 << 63


def _key(v: float) -> int:
    """Return an integer that orders the floats as their values (``-0.0`` just below 0)."""
    bits = int(np.float64(v).view(np.uint64))
    return bits if bits < _SIGN else -(bits - _SIGN) - 1


def _value(key: int) -> float:
    bits = key if key >= 0 else (-(key + 1)) | _SIGN
    return float(np.array(bits, dtype=np.uint64).view(np.float64))


def _even(lo: float, hi: float) -> np.ndarray:
    """Return floats strictly inside ``(lo, hi)`` that cut it into ``EVEN_PARTS`` in order."""
    klo, khi = _key(lo), _key(hi)
    keys = {klo + (khi - klo) * i // EVEN_PARTS for i in range(1, EVEN_PARTS)}
    return np.array([_value(k) for k in sorted(keys) if klo < k < khi], dtype=np.float64)


def _pivots(sample: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Return the next pivots inside ``(lo, hi)``, ascending: the sample's quantiles and more."""
    s = np.sort(sample)
    if s.size > QUANTILE_PIVOTS:
        s = s[(np.arange(1, QUANTILE_PIVOTS + 1) * s.size) // (QUANTILE_PIVOTS + 1)]
    return np.unique(np.concatenate([s, _even(lo, hi)]))


def _scaled(x: np.ndarray, xexp: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.ldexp(x, -xexp) if xexp else x


def _weights(w, wexp: int):
    return None if w is None else np.ldexp(np.asarray(w, dtype=np.float64), -wexp)


def _chunk_buckets(chunk, w, first, wexp, xexp, lo, hi, pivots, stride, gather, scan):
    """Count one chunk's weight per bucket of every coordinate still sought; sample it.

    ``pivots[j]``: the pivots of coordinate ``j`` (None: found already); ``gather[j]``: return
    the values inside ``(lo_j, hi_j)`` and their weights instead. ``first[j]``, ``stride[j]``:
    the sample, every ``stride``-th value inside from ``first``. ``scan`` (the first pass):
    also whether the chunk is finite and its largest ``|x_ij|``; its values are not scaled
    yet (``xexp`` is found from them).
    """
    x = np.asarray(chunk, dtype=np.float64)
    head = None
    if scan:
        finite = np.isfinite(x).all()
        head = (bool(finite), float(np.max(np.abs(x), initial=0.0)) if finite else 0.0)
        if not finite:
            return head, []
    else:
        x = _scaled(x, xexp)
    ww = _weights(w, wexp)
    parts = []
    for j, piv in enumerate(pivots):
        if piv is None:
            parts.append(None)
            continue
        v = x[:, j]
        inside = (v > lo[j]) & (v < hi[j])
        vi = v[inside]
        wi = None if ww is None else ww[inside]
        if gather[j]:
            parts.append((vi, wi))
            continue
        parts.append((*_buckets(vi, wi, piv), vi[first[j] :: stride[j]]))
    return head, parts


def _buckets(v: np.ndarray, w: np.ndarray | None, piv: np.ndarray):
    """Return the count and weight of the values ``v`` in each bucket of the pivots ``piv``.

    Buckets ``2 k``: between ``piv[k-1]`` and ``piv[k]`` (open); ``2 k + 1``: ``piv[k]``.
    The values are ordered (faster than a search for each); the weights add up along that
    order, exactly where they are integers.
    """
    if piv.size == 0:
        return np.array([v.size]), np.array([float(v.size) if w is None else np.sum(w)])
    if w is None:
        sv, ws = np.sort(v), None
    else:
        order = np.argsort(v)
        sv, ws = v[order], w[order]
    edges = np.empty(2 * piv.size + 2, dtype=np.int64)
    edges[0], edges[-1] = 0, sv.size
    edges[1:-1:2] = np.searchsorted(sv, piv, side="left")
    edges[2:-1:2] = np.searchsorted(sv, piv, side="right")
    counts = np.diff(edges)
    if ws is None:
        return counts, counts.astype(np.float64)
    total = np.concatenate([[0.0], np.cumsum(ws)])
    return counts, total[edges[1:]] - total[edges[:-1]]


def _chunk_next(chunk, w, wexp, xexp, after):
    """Return, per coordinate, the least value of positive weight above ``after`` (or inf)."""
    x = _scaled(chunk, xexp)
    ww = _weights(w, wexp)
    out = np.full(x.shape[1], np.inf)
    for j in np.flatnonzero(~np.isnan(after)):
        keep = x[:, j] > after[j]
        if ww is not None:
            keep &= ww > 0
        out[j] = np.min(x[keep, j], initial=np.inf)
    return out


def _chunk_balance(chunk, w, wexp, xexp, y):
    """Return the chunk's weight below and above ``y``, ``sum w z`` and ``sum w |z|``, ``(4, d)``.

    Along the contiguous last axis, where NumPy adds pairwise.
    """
    xt = np.ascontiguousarray(_scaled(chunk, xexp).T)
    z = y[:, None] - xt
    ww = _weights(w, wexp)
    if ww is None:
        below = np.count_nonzero(z > 0, axis=-1).astype(np.float64)
        above = np.count_nonzero(z < 0, axis=-1).astype(np.float64)
        wz = z
    else:
        below = np.sum(np.where(z > 0, ww, 0.0), axis=-1)
        above = np.sum(np.where(z < 0, ww, 0.0), axis=-1)
        wz = ww * z
    M = np.sum(wz, axis=-1)
    np.abs(wz, out=wz)
    return np.stack([below, above, M, np.sum(wz, axis=-1)])


def exact_sum(parts) -> np.ndarray:
    """Return the chunks' sums ``(C, ...)`` added exactly rounded, in the shape of one."""
    parts = np.asarray(parts, dtype=np.float64)
    flat = parts.reshape(len(parts), -1)
    return np.array([math.fsum(col) for col in flat.T]).reshape(parts.shape[1:])


class _Median:
    """The selection of one Dask problem's coordinate-wise median, pass by pass."""

    def __init__(self, src, w: np.ndarray | None):
        self.src = src
        n, d = src.n, src.d
        self.wexp = 0
        if w is None:
            self.W, self.exact = float(n), n < 2.0**53
        else:
            e = int(np.frexp(np.max(w))[1])
            self.wexp = e if abs(e) > 100 else 0  # as in memory: huge or tiny weights only
            ws = np.ldexp(w, -self.wexp)
            self.W = float(np.sum(ws))
            self.exact = bool((ws == np.round(ws)).all() and self.W < 2.0**53)
        self.half = self.W * 0.5
        self.weighted = w is not None
        self.xexp = 0
        self.passes = 0
        self.lo, self.hi = np.full(d, -np.inf), np.full(d, np.inf)
        self.below = np.zeros(d)
        self.inside = np.tile(np.array(src.lengths, dtype=np.int64)[:, None], (1, d))
        self.state = np.full(d, _GATHER if n <= GATHER_VALUES else _COUNT)
        self.sample: list = [None] * d
        self.a, self.le = np.full(d, np.nan), np.full(d, np.nan)
        self.y = np.full(d, np.nan)

    def run(self) -> np.ndarray:
        """Return the median ``(d,)``, in the points scaled by ``2**-xexp``."""
        scan = True
        while (self.state != _DONE).any():
            self._pass(scan)
            scan = False
        after = np.where(np.isnan(self.y), self.a, np.nan)
        if not np.isnan(after).all():  # exactly half at or below a: the next value too
            self.passes += 1
            nxt = np.min(self.src._map(_chunk_next, wexp=self.wexp, xexp=self.xexp,
                                       after=after), axis=0)  # fmt: skip
            mid = np.where(nxt == np.inf, self.a, (self.a + nxt) * 0.5)
            self.y = np.where(np.isnan(after), self.y, mid)
        return self.y

    def _pass(self, scan: bool) -> None:
        d = self.src.d
        live = self.state != _DONE
        pivots = [None] * d
        for j in np.flatnonzero(live):
            s = self.sample[j]
            pivots[j] = np.empty(0) if s is None else _pivots(s, self.lo[j], self.hi[j])
        stride = np.maximum(1, np.sum(self.inside, axis=0) // SAMPLE_VALUES)
        # Each chunk's sample starts where the evenly strided sample of them all would.
        first = -(np.cumsum(self.inside, axis=0) - self.inside) % stride
        out = self.src._map(_chunk_buckets, list(first), wexp=self.wexp, xexp=self.xexp,
                            lo=self.lo, hi=self.hi, pivots=pivots, stride=stride,
                            gather=self.state == _GATHER, scan=scan)  # fmt: skip
        self.passes += 1
        if scan:
            if not all(head[0] for head, _ in out):
                raise ValueError(NONFINITE_MESSAGE)
            self.xexp = scale_exponent(max(head[1] for head, _ in out), 1)
        for j in np.flatnonzero(live):
            parts = [chunk[j] for _, chunk in out]
            if self.state[j] == _GATHER:
                self._select(j, parts, scan)
            else:
                self._narrow(j, parts, pivots[j], scan)

    def _select(self, j: int, parts, scan: bool) -> None:
        vals = np.concatenate([p[0] for p in parts])
        vals = _scaled(vals, self.xexp) if scan else vals
        wts = (np.ones(vals.size) if not self.weighted
               else np.concatenate([p[1] for p in parts]))  # fmt: skip
        order = np.argsort(vals, kind="stable")
        v, ws = vals[order], wts[order]
        cw = self.below[j] + np.cumsum(ws)
        reached = cw >= self.half
        k = int(np.argmax(reached)) if reached.any() else v.size - 1  # (rounding: the last)
        a = v[k]
        le = cw[np.searchsorted(v, a, side="right") - 1]
        self._found(j, a, le)
        if self.state[j] == _DONE and np.isnan(self.y[j]):
            later = (v > a) & (ws > 0)
            if later.any():
                self.y[j] = (a + v[np.argmax(later)]) * 0.5

    def _narrow(self, j: int, parts, piv: np.ndarray, scan: bool) -> None:
        counts = np.stack([p[0] for p in parts])
        total = np.sum(np.stack([p[1] for p in parts]), axis=0)  # in chunk order
        cum = self.below[j] + np.cumsum(total)
        reached = cum >= self.half
        b = int(np.argmax(reached)) if reached.any() else int(np.flatnonzero(total > 0)[-1])
        if b % 2:  # a pivot itself
            self._found(j, piv[b // 2], cum[b])
            return
        k = b // 2
        if k > 0:
            self.lo[j], self.below[j] = piv[k - 1], cum[b - 1]
        if k < piv.size:
            self.hi[j] = piv[k]
        self.inside[:, j] = counts[:, b]
        s = np.concatenate([p[2] for p in parts])
        s = _scaled(s, self.xexp) if scan else s
        self.sample[j] = s[(s > self.lo[j]) & (s < self.hi[j])]
        if np.sum(self.inside[:, j]) <= GATHER_VALUES:
            self.state[j] = _GATHER

    def _found(self, j: int, a: float, le: float) -> None:
        """Record ``a``, coordinate ``j``'s least value with half the weight at or below it."""
        self.a[j], self.le[j], self.state[j] = a, le, _DONE
        if le > self.half:
            self.y[j] = a

    def bound_at(self, y: np.ndarray):
        """Return the ``(Bound, optimal)`` at ``y`` ``(1, d)`` (scaled points): one pass."""
        self.passes += 1
        parts = self.src._map(_chunk_balance, wexp=self.wexp, xexp=self.xexp, y=y[0])
        below, above, M, B = exact_sum(parts)[:, None, :]
        return balance_bound(np.array([self.W]), below, above, M, B, np.array([self.exact]))


def solve_coordinate_median_dask(src, w, dtype, options: SolveOptions) -> GeometricMedianResult:
    """Solve one persisted Dask problem ``src`` (``DaskPoints``) for ``p = 1``, exactly.

    ``w``: the caller's weights ``(n,)`` or None. ``init`` is not used (as in memory).
    """
    med = _Median(src, None if w is None else np.asarray(w, dtype=np.float64).reshape(src.n))
    y = med.run()[None]
    bound, optimal = med.bound_at(y)
    tol = options.tol_for(dtype)
    zero = np.zeros(1, dtype=np.int64)
    y, f, lb, gap, n_iter, n_passes, status, spread = finish_lp(
        None, dtype, y, bound.objective, bound.lower_bound, zero, np.array([med.passes]),
        np.zeros(1, np.int32), optimal, 1, tol, np.array([med.wexp]),
        bound_at=med.bound_at,
    )  # fmt: skip
    n_passes = np.array([med.passes])  # the rounded point's bound took one more
    y, f, lb, gap, spread, status = in_caller_units(med.xexp, y, f, lb, gap, spread, status)
    if status[0] == RANGE:
        raise v.range_error()
    W = np.ldexp(med.W, med.wexp)
    out = Solved(y, f, lb, gap, n_iter, n_passes, status, spread / W)
    return make_result(out, True, (), dtype, options, "lp")
