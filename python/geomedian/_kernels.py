"""The typed kernel interface: one backend's kernels, the dtype chosen once, named outcomes.

Both backends export the same functions, ``<kernel>_f64`` and ``<kernel>_f32`` (the
compiled core, ``geomedian._core``, and its Numba mirror, ``geomedian._numba.bindings``),
returning positional tuples. :class:`Kernels` is the one place that picks the entry for a
dtype and names what comes back, so that the paths read ``out.status``, not ``out[6]``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._backends import load_backend

__all__ = ["Evaluated", "Kernels", "Solved", "kernels"]


class Solved(NamedTuple):
    """Per-problem outcomes of ``solve``: arrays of length P (``median``: ``(P, d)``)."""

    median: np.ndarray
    objective: np.ndarray
    lower_bound: np.ndarray
    gap: np.ndarray
    n_iter: np.ndarray
    n_passes: np.ndarray
    status: np.ndarray
    scale: np.ndarray


class Evaluated(NamedTuple):
    """``f(y)``, the minimum-norm subgradient and the dual lower bound at ``y``."""

    objective: float
    gradient: np.ndarray
    lower_bound: float


class Kernels:
    """The kernels of one backend (``"cpp"`` or ``"numba"``), dtype-dispatched.

    Every method takes the points first and calls the float32 entry for float32 points, the
    float64 entry otherwise; arguments are those of the backend functions (see their
    docstrings, or the ``_core`` stub).
    """

    def __init__(self, name: str):
        self.name = name
        self.module = load_backend(name)
        self.small_problem_size: int = self.module.small_problem_size
        self._entries: dict[tuple[str, bool], Any] = {}

    def entry(self, kernel: str, dtype: Any) -> Any:
        """Return the backend function ``<kernel>_f32`` or ``<kernel>_f64`` for ``dtype``."""
        key = (kernel, dtype == np.float32)
        fn = self._entries.get(key)
        if fn is None:
            fn = getattr(self.module, f"{kernel}_{'f32' if key[1] else 'f64'}")
            self._entries[key] = fn
        return fn

    def solve(self, x, w, wscale, init, method, tol, max_iter, threads, omit=False) -> Solved:
        """Solve the batch ``x`` (P, n, d) in one kernel call."""
        out = self.entry("solve", x.dtype)(x, w, wscale, init, method, tol, max_iter, threads, omit)
        return Solved(*out)

    def solve_mads(self, x, w, wscale, init, method, tol, max_iter, threads, omit) -> tuple:
        """Solve as ``solve``, with each problem's MADs computed after its median.

        Returns ``Solved``'s eight arrays, then emad, smad, bcmad and count (see
        ``csrc/geomedian/mad.hpp``).
        """
        return self.entry("solve", x.dtype)(
            x, w, wscale, init, method, tol, max_iter, threads, omit, True
        )

    def solve_stack(
        self, raw, w, wscale, init, method, tol, max_iter, threads, omit, dtype, *,
        mads=False, nodata=None, scale=None, offset=None,
    ) -> Any:  # fmt: skip
        """Solve as ``solve`` the problems of ``raw`` (P, n, d) as it lies, in ``dtype``.

        ``raw`` is one of the stack dtypes, with any strides; each problem is read as
        ``raw.astype(dtype) * scale + offset`` with ``nodata`` as NaN would give it. Returns
        ``Solved``, or its arrays and the MADs' as ``solve_mads`` when ``mads``.
        """
        out = self.entry("solve_stack", dtype)(
            raw, w, wscale, init, method, tol, max_iter, threads, omit, mads, nodata, scale,
            offset,
        )
        return out if mads else Solved(*out)

    def median(self, x, method, tol, max_iter) -> tuple[np.ndarray, int]:
        """One ``(n, d)`` problem, unweighted, one thread: ``(median, status)`` (hot loop)."""
        return self.entry("median", x.dtype)(x, method, tol, max_iter)

    def evaluate(self, x, w, wscale, y, threads) -> Evaluated | None:
        """Return f, the subgradient and the bound at ``y``; None for non-finite points."""
        out = self.entry("evaluate", x.dtype)(x, w, wscale, y, threads)
        return None if out is None else Evaluated(*out)

    def fused_pass(self, x, w, wscale, y, s, threads, eps, near, z=None) -> np.ndarray:
        """Return the pass sums at ``y + z / s`` (their slots are in the contract)."""
        return self.entry("fused_pass", x.dtype)(x, w, wscale, y, s, threads, eps, near, z)

    def hessian_pass(self, x, w, wscale, y, s, threads, eps, z=None) -> np.ndarray:
        """Return the packed Hessian at ``y + z / s`` (``d (d + 1) / 2``), then inv_sq."""
        return self.entry("hessian_pass", x.dtype)(x, w, wscale, y, s, threads, eps, z)

    def lp_pass(self, x, w, rows, y, shift, near, p, threads) -> np.ndarray:
        """Return the Lp pass sums ``(m, size)`` of problems ``rows`` of ``x`` at ``y``."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if shift is not None:
            shift = np.ascontiguousarray(shift, dtype=np.float64)
        if near is not None:
            near = np.ascontiguousarray(near, dtype=np.float64)
        return self.entry("lp_pass", x.dtype)(x, w, rows, y, shift, near, float(p), threads)

    def gram_pass(self, rows, r, s, threads) -> np.ndarray:
        """Return G = X_c X_c^T, X_c = (X - x_r) s, of ``rows`` (n 1-D arrays, one dtype)."""
        return self.entry("gram_pass", rows[0].dtype)(rows, r, s, threads)

    def gram_median_pass(self, rows, r, s, a, vertex, threads) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(y, d2)``: y = x_r + a (X - x_r) (row ``vertex`` if >= 0), the distances."""
        return self.entry("gram_median_pass", rows[0].dtype)(rows, r, s, a, vertex, threads)

    def gram_certificate_pass(self, rows, r, s, a, vertex, y, t, ws, threads) -> tuple:
        """Return ``(||R||^2 s^2, R.M s)`` for R = sum t_i (x_i - y), M = sum ws_i (x_i - y)."""
        entry = self.entry("gram_certificate_pass", rows[0].dtype)
        return entry(rows, r, s, a, vertex, y, t, ws, threads)

    def robust_anchor(self, xs, ws) -> tuple[np.ndarray, float]:
        """Return ``(m, rho)`` of sample rows ``xs`` (finite), weights ``ws`` (None: unit).

        m: the coordinate-wise weighted lower median; rho: the weighted lower median of the
        rows' distances to m (the frame's robust anchor, as the in-memory solver forms it).
        """
        xs = np.ascontiguousarray(xs, dtype=np.float64)
        ws = np.ones(xs.shape[0]) if ws is None else np.ascontiguousarray(ws, dtype=np.float64)
        m, rho = self.module.robust_anchor(xs, ws)
        return m, float(rho)

    def sgd(self, x, w, wscale, blocks, batch, norm, c, s, gamma0, alpha, state) -> None:
        """Averaged SGD over row blocks, updating ``state`` in place."""
        self.entry("sgd", x.dtype)(x, w, wscale, blocks, batch, norm, c, s, gamma0, alpha, state)


_cache: dict[str, Kernels] = {}


def kernels(name: str) -> Kernels:
    """Return the :class:`Kernels` of a resolved backend name (one object per backend)."""
    k = _cache.get(name)
    if k is None:
        k = _cache[name] = Kernels(name)
    return k
