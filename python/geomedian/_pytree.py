"""Models as points: n pytrees of the same structure, read as components, never concatenated.

A model is a tensor or array, or a dict, list or tuple of models (nested to any depth):
a ``state_dict``, a list of parameter tensors. :func:`flatten` checks that the n models
share model 0's structure (the same keys, lengths and leaf shapes; the first difference
is named) and returns, for each leaf, the n models' values as n 1-D arrays: views of the
caller's tensors where they are contiguous, so the leaf of every model is read in place.
:func:`unflatten` builds a model of that structure from one value per leaf, each leaf of
the type of model 0's (a torch tensor for a tensor).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validate as v
from ._interop import as_array, like

__all__ = ["Leaf", "Tree", "flatten", "unflatten"]


@dataclass(frozen=True)
class Leaf:
    """One leaf of the structure: its place, shape and the n models' values.

    ``name``: where it sits (``"['encoder'][0]"``), ``template``: model 0's leaf (the type
    the median's leaf takes), ``rows``: n 1-D arrays of ``size`` values, or one ``(n,
    size)`` array for models given stacked, ``dtype``: the dtype its median is computed in.
    """

    name: str
    shape: tuple
    template: Any
    rows: list
    dtype: np.dtype

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Tree:
    """n models flattened: model 0's structure (``spec``) and its leaves, in order."""

    spec: Any
    leaves: list
    n: int


def _is_sequence(node: Any) -> bool:
    return isinstance(node, (list, tuple))


def _kind(node: Any) -> str:
    if isinstance(node, Mapping):
        return "a dict"
    if _is_sequence(node):
        return f"a {type(node).__name__} of length {len(node)}"
    return "a leaf (tensor or array)"


def _leaf_array(node: Any, where: str) -> np.ndarray:
    arr = np.asarray(as_array(node, where))
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise TypeError(f"{where} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _describe(node: Any, path: str, leaves: list) -> Any:
    """Return model 0's structure; append ``(path, array, template)`` for each leaf."""
    if isinstance(node, Mapping):
        return (type(node), tuple((k, _describe(c, f"{path}[{k!r}]", leaves))
                                  for k, c in node.items()))  # fmt: skip
    if _is_sequence(node):
        return (type(node), tuple(_describe(c, f"{path}[{j}]", leaves)
                                  for j, c in enumerate(node)))  # fmt: skip
    leaves.append((path, _leaf_array(node, f"models[0]{path}"), node))
    return len(leaves) - 1


def _match(spec: Any, node: Any, i: int, path: str, out: list) -> None:
    """Append model i's leaves to ``out`` in spec order; raise at the first mismatch."""
    where = f"models[{i}]{path}"
    if isinstance(spec, int):
        if isinstance(node, Mapping) or _is_sequence(node):
            raise ValueError(f"{where} is {_kind(node)} but models[0]{path} is a leaf")
        out.append(_leaf_array(node, where))
        return
    kind, children = spec
    if issubclass(kind, Mapping):
        if not isinstance(node, Mapping):
            raise ValueError(f"{where} is {_kind(node)} but models[0]{path} is a dict")
        for key, _ in children:
            if key not in node:
                raise ValueError(f"{where} has no key {key!r}, which models[0]{path} has")
        known = {key for key, _ in children}
        for key in node:
            if key not in known:
                raise ValueError(f"{where} has a key {key!r} that models[0]{path} does not")
        for key, child in children:
            _match(child, node[key], i, f"{path}[{key!r}]", out)
        return
    if not _is_sequence(node) or len(node) != len(children):
        raise ValueError(
            f"{where} is {_kind(node)} but models[0]{path} is a {kind.__name__} of length "
            f"{len(children)}"
        )
    for j, (child, c) in enumerate(zip(children, node)):
        _match(child, c, i, f"{path}[{j}]", out)


def _stacked(models: Any) -> Tree:
    """One array or tensor ``(n, ...)``: n models of shape ``(...)``, rows read in place."""
    x = _leaf_array(as_array(models, "models"), "models")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"models given as one array need a first axis of n >= 1 models, got "
                         f"shape {x.shape}")  # fmt: skip
    rows = x.reshape(x.shape[0], -1)
    leaf = Leaf("", x.shape[1:], models, rows, np.dtype(v.compute_dtype(x.dtype)))
    return Tree(0, [leaf], x.shape[0])


def flatten(models: Any) -> Tree:
    """Return the n models as a :class:`Tree`, checking their structures.

    ``models``: a list or tuple of n models, or one array or tensor whose first axis
    indexes them. Raises ``TypeError`` for anything else or a leaf that is not real
    numbers, ``ValueError`` for no model, and for a model whose structure differs from
    model 0's, naming the first difference: a missing or extra key, a length, a shape.
    """
    if isinstance(models, np.ndarray) or hasattr(models, "__dlpack__"):
        return _stacked(models)
    if isinstance(models, Mapping) or not isinstance(models, (list, tuple)):
        raise TypeError(
            "models must be a list or tuple of models (each a tensor, array, or a dict, list "
            f"or tuple of them) or one array of stacked models, got {type(models).__name__}"
        )
    n = len(models)
    if n == 0:
        raise ValueError("models is empty: need at least one model")
    first: list = []
    spec = _describe(models[0], "", first)
    if not first:
        raise ValueError("models[0] holds no tensor or array")
    values = [[arr] for _, arr, _ in first]
    for i in range(1, n):
        got: list = []
        _match(spec, models[i], i, "", got)
        for j, arr in enumerate(got):
            if arr.shape != values[j][0].shape:
                raise ValueError(
                    f"models[{i}]{first[j][0]} has shape {arr.shape} but models[0]{first[j][0]} "
                    f"has shape {values[j][0].shape}"
                )
            values[j].append(arr)
    leaves = []
    for (path, arr0, template), arrs in zip(first, values):
        dtype = np.dtype(v.compute_dtype(np.result_type(*(a.dtype for a in arrs))))
        rows = [a.reshape(-1) for a in arrs]  # a view of each contiguous leaf
        leaves.append(Leaf(path, arr0.shape, template, rows, dtype))
    return Tree(spec, leaves, n)


def _build(spec: Any, values: list) -> Any:
    if isinstance(spec, int):
        return values[spec]
    kind, children = spec
    if issubclass(kind, Mapping):
        items = [(key, _build(child, values)) for key, child in children]
        try:
            return kind(items)
        except TypeError:  # a mapping type that cannot be built from pairs
            return dict(items)
    built = [_build(child, values) for child in children]
    if hasattr(kind, "_fields"):  # a namedtuple
        return kind(*built)
    return kind(built) if kind in (list, tuple) else list(built)


def unflatten(tree: Tree, values: list) -> Any:
    """Return a model of ``tree``'s structure with leaf j made from ``values[j]`` (1-D).

    Each leaf takes model 0's leaf's shape and type (:func:`geomedian._interop.like`).
    """
    leaves = [like(leaf.template, np.asarray(val).reshape(leaf.shape))
              for leaf, val in zip(tree.leaves, values)]  # fmt: skip
    return _build(tree.spec, leaves)
