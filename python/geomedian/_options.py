"""The options of a solve: one table, validated once, handed to every path.

:class:`SolveOptions` is that table. Each field is one keyword of :func:`geomedian.solve`
and :func:`geomedian.geometric_median`, with the same default, and its validator (from
``_validate``) in the field's metadata. Building the object runs them in the order of the
table, so an option that depends on another (``batch_size`` on ``method``) sees it already
checked. Options that need the data to be checked (``axis`` and ``coord_axis`` against
the number of dimensions, ``init`` against the batch shape, the default ``tol`` of the
compute dtype) are stored as given and finished by the path that sees the data.

Adding an option: one row here, its keyword in the two public signatures, and the kernel or
path that uses it.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from . import _validate as v
from ._backends import resolve_backend
from ._threads import resolve_threads

__all__ = ["SGD_BATCH_SIZE", "SGD_TOL", "SolveOptions"]


def _checked_by(check: Callable[[Any, SolveOptions], Any] | None) -> dict:
    """Return a field's metadata: its validator, ``check(value, options) -> value``."""
    return {"check": check}


def _nan_policy(value: Any, _: SolveOptions) -> str:
    return v.as_nan_policy(value)


def _backend(value: Any, _: SolveOptions) -> str:
    return resolve_backend(value)


def _threads(value: Any, _: SolveOptions) -> int:
    return resolve_threads(value)


def _random_state(value: Any, opts: SolveOptions) -> np.random.Generator | None:
    return v.as_random_state(value, opts.method_name)


def _progress(value: Any, _: SolveOptions) -> Any:
    return v.as_progress(value)


def _nodata(value: Any, _: SolveOptions) -> float | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"nodata must be a real number or None, got {type(value).__name__}")
    return value


def _p(value: Any, _: SolveOptions) -> float:
    return v.as_p(value)


def _tol(value: Any, _: SolveOptions) -> float | None:
    return None if value is None else v.as_tol(value, np.float64)


def _max_iter(value: Any, _: SolveOptions) -> int:
    return v.as_max_iter(value)


def _batch_size(value: Any, opts: SolveOptions) -> int | None:
    return None if value is None else v.as_batch_size(value, opts.method_name, SGD_BATCH_SIZE)


# method="sgd" only: its own defaults (a stochastic estimate certifies less by design).
SGD_TOL = 1e-3
SGD_BATCH_SIZE = 16


@dataclass(frozen=True, eq=False)
class SolveOptions:
    """Every option of a solve, validated; the public defaults (see :func:`geomedian.solve`).

    ``max_iter`` and ``threads`` hold the resolved numbers, ``backend`` the name of a
    backend that loads, ``random_state`` a Generator for ``method="sgd"`` (else None).
    ``tol`` stays None for the dtype's default (:meth:`tol_for`).
    """

    axis: int | None = field(default=None, metadata=_checked_by(None))
    coord_axis: int = field(default=-1, metadata=_checked_by(None))
    nan_policy: str = field(default="raise", metadata=_checked_by(_nan_policy))
    nodata: float | None = field(default=None, metadata=_checked_by(_nodata))
    method: str = field(default="auto", metadata=_checked_by(None))  # first, see __post_init__
    backend: str = field(default="auto", metadata=_checked_by(_backend))
    tol: float | None = field(default=None, metadata=_checked_by(_tol))
    max_iter: int | None = field(default=None, metadata=_checked_by(_max_iter))
    init: Any = field(default=None, metadata=_checked_by(None))
    threads: int | None = field(default=None, metadata=_checked_by(_threads))
    batch_size: int | None = field(default=None, metadata=_checked_by(_batch_size))
    random_state: Any = field(default=None, metadata=_checked_by(_random_state))
    progress: Any = field(default=None, metadata=_checked_by(_progress))
    p: float = field(default=2, metadata=_checked_by(_p))

    NAMES: ClassVar[tuple[str, ...]]

    def __post_init__(self) -> None:
        # The method first: other checks depend on it. Kept as given ("auto" also decides
        # the warm start), with its resolved name and kernel code beside it.
        object.__setattr__(self, "_method", v.as_method(self.method))
        for name, check in _CHECKS:
            object.__setattr__(self, name, check(getattr(self, name), self))

    @classmethod
    def of_call(cls, arguments: dict) -> SolveOptions:
        """Build the options from a public function's ``locals()`` (its keyword arguments)."""
        return cls(**{name: arguments[name] for name in cls.NAMES})

    @staticmethod
    def at_defaults(*values: Any) -> bool:
        """Whether the options, every one but ``backend`` in table order, are the defaults.

        For the hot loop: it validates nothing and compares by identity, so a value equal
        to a default but not the same object (``np.int64(-1)``) takes the full path, which
        is always correct. Every option must be given: a row added to the table and not to
        the call is an error, not an option silently ignored.
        """
        if len(values) != len(_HOT_DEFAULTS):
            raise TypeError(f"at_defaults takes {len(_HOT_DEFAULTS)} options, got {len(values)}")
        return all(map(operator.is_, values, _HOT_DEFAULTS))

    def replace(self, **changes: Any) -> SolveOptions:
        """Return a copy with some options changed (and validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def method_name(self) -> str:
        """The method that runs: ``"auto"`` resolved (see ``_validate.AUTO_METHOD``)."""
        return self._method[0]

    @property
    def method_code(self) -> int | None:
        """The kernels' code of the method (None for ``"sgd"``, which has its own kernel)."""
        return self._method[1]

    @property
    def sgd(self) -> bool:
        return self._method[0] == v.SGD_METHOD

    def tol_for(self, dtype: Any) -> float:
        """Return the certified relative gap to reach for points computed in ``dtype``."""
        if self.tol is not None:
            return self.tol
        return SGD_TOL if self.sgd else v.DEFAULT_TOL[np.dtype(dtype)]

    @property
    def rows_per_step(self) -> int:
        """``method="sgd"``'s minibatch size (``batch_size``, or its default)."""
        return SGD_BATCH_SIZE if self.batch_size is None else self.batch_size


SolveOptions.NAMES = tuple(f.name for f in dataclasses.fields(SolveOptions))
_CHECKS = tuple(
    (f.name, f.metadata["check"])
    for f in dataclasses.fields(SolveOptions)
    if f.metadata["check"] is not None
)
# Every default but the backend's, in table order (any backend serves the default solve).
_HOT_DEFAULTS = tuple(f.default for f in dataclasses.fields(SolveOptions) if f.name != "backend")
