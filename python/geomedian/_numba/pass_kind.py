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

from .jit_options import KERNEL

__all__ = ["by_pass"]

# An implementation is compiled as a kernel of its own and called, not inlined: Numba
# compiles an inlined overload's implementation in full all the same (to check that it
# compiles), then types and lowers its code once more at every call site.
_IMPLEMENTATION = {key: value for key, value in KERNEL.items() if key != "cache"}


def by_pass(implementations: dict) -> Callable:
    """Decorate a stub; calls of it compile as ``implementations[type of pa]``.

    ``implementations`` maps a pass's named tuple class to a function with the stub's
    arguments (plain Python or ``@njit``, whose Python function is used). A pass type not
    in the map is a typing error. Each implementation compiles once per signature, cached
    with the kernels that call it.
    """

    def decorate(stub: Callable) -> Callable:
        where = list(inspect.signature(stub).parameters).index("pa")
        table = {kind: getattr(impl, "py_func", impl) for kind, impl in implementations.items()}

        @overload(stub, strict=False, jit_options=_IMPLEMENTATION)
        def pick(*args):
            return table.get(getattr(args[where], "instance_class", None))

        return stub

    return decorate
