"""Which kernels run a call: the compiled core (``"cpp"``) or the Numba mirror (``"numba"``).

Precedence: the ``backend=`` argument, then the ``GEOMEDIAN_BACKEND`` environment variable
(read at call time), then ``"auto"``: the compiled core when it imports, Numba otherwise.
An explicitly requested backend that cannot load raises; ``"auto"`` never substitutes
silently for a *broken* core (one that exists but fails to import): it warns.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

__all__ = ["BACKENDS", "backends", "load_backend", "resolve_backend"]

BACKENDS = ("cpp", "numba")

_loaded: dict[str, ModuleType] = {}
_failed: dict[str, BaseException] = {}
_auto: list[str] = []  # the backend "auto" chose, once found


def _import(name: str) -> ModuleType:
    if name in _loaded:
        return _loaded[name]
    if name in _failed:
        raise _failed[name]
    module_name = "geomedian._core" if name == "cpp" else "geomedian._numba.bindings"
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        _failed[name] = err
        raise
    _loaded[name] = module
    return module


def _available(name: str) -> bool:
    try:
        _import(name)
    except ModuleNotFoundError as err:
        if name == "cpp" and err.name == "geomedian._core":
            return False  # installed without the compiled core: expected, stay quiet
        warnings.warn(
            f"geomedian backend {name!r} failed to import: {err}", RuntimeWarning, stacklevel=3
        )
        return False
    except ImportError as err:
        warnings.warn(
            f"geomedian backend {name!r} failed to import: {err}", RuntimeWarning, stacklevel=3
        )
        return False
    return True


def backends() -> list[str]:
    """Return the backends that load on this installation, fastest first.

    Returns
    -------
    list of str
        A subset of ``["cpp", "numba"]``.

    Examples
    --------
    >>> import geomedian
    >>> "numba" in geomedian.backends()
    True
    """
    return [name for name in BACKENDS if _available(name)]


def resolve_backend(backend: str = "auto") -> str:
    """Turn a ``backend=`` argument into the name of a backend that loads.

    Parameters
    ----------
    backend : {"auto", "cpp", "numba"}
        ``"auto"`` consults ``GEOMEDIAN_BACKEND`` and then picks the first available.

    Raises
    ------
    ValueError
        Unknown name.
    ImportError
        An explicitly requested backend is not available.
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {type(backend).__name__}")
    if backend == "auto":
        env = os.environ.get("GEOMEDIAN_BACKEND")  # read at every call (hot loops too)
        backend = (env.strip().lower() or "auto") if env else "auto"
        if backend == "auto":
            if _auto:
                return _auto[0]
            for name in BACKENDS:
                if _available(name):
                    _auto.append(name)  # what loads does not change within a process
                    return name
            raise ImportError("no geomedian backend loads: neither the compiled core nor numba")
    if backend in _loaded:
        return backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of 'auto', 'cpp', 'numba'")
    try:
        _import(backend)
    except ImportError as err:
        hint = (
            " (this installation has no compiled core: it was installed pure-Python or the "
            "build failed; reinstall with a C++17 compiler)"
            if backend == "cpp"
            else ""
        )
        raise ImportError(f"geomedian backend {backend!r} is not available{hint}: {err}") from err
    return backend


def load_backend(name: str) -> ModuleType:
    """Return the module implementing a resolved backend (``solve_f64``, ``evaluate_f32``, ...)."""
    return _import(name)
