"""Models (pytrees): one median of all their coordinates, or one per leaf.

The n models are read leaf by leaf (``_pytree.flatten``: the caller's tensors, in place).
``per_component=False`` is one problem over every coordinate of every leaf, solved in the
Gram space (:mod:`.gram`) without concatenating the leaves. ``per_component=True`` is
one problem per leaf. The Gram path runs under ``method="gram"``, and under ``"auto"``
where it wins (``gram_wins``); elsewhere, and where its certificate fails, the direct
solver runs on one ``(n, d)`` copy of the problem's leaves (from the Gram path's median
when there is one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as v
from .._interop import as_array
from .._kernels import Kernels, kernels
from .._options import SolveOptions
from .._pytree import Leaf, Tree, flatten, unflatten
from .._result import CONVERGED, STATUS_MESSAGES, GeometricMedianResult, batch_message
from .gram import Component, gram_wins, solve_gram
from .in_memory import solve_in_memory

__all__ = ["solve_tree"]


def _component(leaf: Leaf) -> Component:
    return Component(leaf.rows, dtype=leaf.dtype)


def _raise_nonfinite(leaves: list) -> None:
    """Raise the ``ValueError`` naming the first NaN or inf among ``leaves``' values."""
    for leaf in leaves:
        for i in range(len(leaf.rows)):
            row = leaf.rows[i]
            bad = ~np.isfinite(row)
            if bad.any():
                j = int(np.argmax(bad))
                where = np.unravel_index(j, leaf.shape) if leaf.shape else ()
                raise ValueError(
                    f"models must be finite, got {row[j]} in models[{i}]{leaf.name}"
                    + (f" at index {tuple(int(k) for k in where)}" if leaf.shape else "")
                )


def _stack(comps: list, n: int) -> np.ndarray:
    """Return the problem as one ``(1, n, D)`` array in the widest of the leaves' dtypes."""
    dtype = np.result_type(*(c.dtype for c in comps))
    x = np.empty((1, n, sum(c.d for c in comps)), dtype=dtype)
    lo = 0
    for c in comps:
        c.load(0, c.d, x[0, :, lo : lo + c.d])
        lo += c.d
    return x


def _solve(leaves: list, w, wscale, k: Kernels, options: SolveOptions, n: int):
    """Solve one problem over ``leaves``; return ``(medians, stats, method)``.

    ``stats``: objective, lower_bound, gap, scale, n_iter, n_passes, status.
    """
    comps = [_component(leaf) for leaf in leaves if leaf.size > 0]
    D = sum(c.d for c in comps)
    if D == 0:
        return [np.empty(0, leaf.dtype) for leaf in leaves], (0.0,) * 4 + (0, 0, CONVERGED), ""
    # The loosest dtype sets the default tol: a float32 leaf's rounding limits the answer.
    tol = options.tol_for(np.float32 if any(c.dtype == np.float32 for c in comps) else np.float64)
    w1 = None if w is None else w[0]
    s1 = None if wscale is None else wscale[0]
    y0, n_iter, n_passes = None, 0, 0
    gram = options.method_name == v.GRAM_METHOD or (options.method == "auto" and gram_wins(n, D))
    if gram:
        res = solve_gram(comps, w1, s1, k, v.METHODS[v.AUTO_METHOD], tol, options.max_iter,
                         options.threads)  # fmt: skip
        if res.certified:
            stats = (res.objective, res.lower_bound, res.gap, res.scale, res.n_iter,
                     res.n_passes, CONVERGED)  # fmt: skip
            return _per_leaf(leaves, res.median), stats, v.GRAM_METHOD
        if res.median is None:  # the Gram matrix was not finite
            _raise_nonfinite(leaves)
        else:
            y0 = np.concatenate([y.astype(np.float64) for y in res.median])[None]
        n_iter, n_passes = res.n_iter, res.n_passes
    else:
        _raise_nonfinite(leaves)
    direct = options.replace(method="auto") if options.method_name == v.GRAM_METHOD else options
    x = _stack(comps, n)
    out = solve_in_memory(k, v.Batch(x, (), 0, 2), w, wscale, y0, direct, tol)
    median, lo = [], 0
    for c in comps:
        median.append(out.median[0, lo : lo + c.d].astype(c.dtype))
        lo += c.d
    stats = (float(out.objective[0]), float(out.lower_bound[0]), float(out.gap[0]),
             float(out.scale[0]), int(out.n_iter[0]) + n_iter, int(out.n_passes[0]) + n_passes,
             int(out.status[0]))  # fmt: skip
    return _per_leaf(leaves, median), stats, direct.method_name


def _per_leaf(leaves: list, medians: list) -> list:
    """Give the empty leaves (left out of the solve) their empty medians back."""
    it = iter(medians)
    return [next(it) if leaf.size > 0 else np.empty(0, leaf.dtype) for leaf in leaves]


def solve_tree(
    models: Any, weights: Any, per_component: bool, options: SolveOptions
) -> GeometricMedianResult:
    """Solve the median of ``models`` (see :func:`geomedian.tree_solve`)."""
    if options.sgd:
        raise ValueError("method='sgd' is not available for models; use 'auto' or 'gram'")
    if not isinstance(per_component, (bool, np.bool_)):
        raise TypeError(f"per_component must be a bool, got {type(per_component).__name__}")
    tree: Tree = flatten(models)
    w, wscale = v.as_weights(as_array(weights, "weights"), tree.n)
    k = kernels(options.backend)
    if not per_component:
        if all(leaf.size == 0 for leaf in tree.leaves):
            raise ValueError("models have no coordinates: every leaf is empty")
        medians, stats, method = _solve(tree.leaves, w, wscale, k, options, tree.n)
        objective, lower, gap, scale, n_iter, n_passes, status = stats
        return GeometricMedianResult(
            unflatten(tree, medians), objective, lower, gap, scale, n_iter, n_passes,
            status == CONVERGED, status, STATUS_MESSAGES[status], method, options.backend,
        )  # fmt: skip
    solved = [_solve([leaf], w, wscale, k, options, tree.n) for leaf in tree.leaves]
    columns = list(zip(*(stats for _, stats, _ in solved)))
    status = np.array(columns[6], dtype=np.int32)
    methods = sorted({m for _, _, m in solved if m})
    return GeometricMedianResult(
        unflatten(tree, [med[0] for med, _, _ in solved]),
        np.array(columns[0]), np.array(columns[1]), np.array(columns[2]), np.array(columns[3]),
        np.array(columns[4], dtype=np.int64), np.array(columns[5], dtype=np.int64),
        status == CONVERGED, status, batch_message(status), ", ".join(methods),
        options.backend,
    )  # fmt: skip
