"""Functions compiled per kind of pass: the C++ overloads on the pass type (``solver.hpp``).

The C++ driver is a template over its pass (SmallPass, SerialPass, OpenMPPass), and
functions such as ``frame_moved`` or ``pass_hessian`` are overloaded on it. Here each kind
of pass is a named tuple of its own, and ``by_pass`` turns a stub into a function that
Numba compiles, wherever it is called, as the implementation for the type of the stub's
argument ``pa``. A solve thus compiles the code of its own pass only: a small problem never
compiles the row passes, whose parallel loops are the costliest code to compile.
"""

from __future__ import annotations

import inspect
from typing import Callable

from numba.extending import overload

__all__ = ["by_pass"]


def by_pass(implementations: dict) -> Callable:
    """Decorate a stub; calls of it compile as ``implementations[type of pa]``.

    ``implementations`` maps a pass's named tuple class to a function with the stub's
    arguments (plain Python or ``@njit``, whose Python function is used). A pass type not
    in the map is a typing error. The implementation is inlined where it is called, so
    the pick adds no compiled layer of its own.
    """

    def decorate(stub: Callable) -> Callable:
        where = list(inspect.signature(stub).parameters).index("pa")
        table = {kind: getattr(impl, "py_func", impl) for kind, impl in implementations.items()}

        @overload(stub, inline="always", strict=False)
        def pick(*args):
            return table.get(getattr(args[where], "instance_class", None))

        return stub

    return decorate
