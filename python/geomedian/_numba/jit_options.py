"""The Numba options of the kernels here: ENTRY for those Python calls, KERNEL for the rest.

Numba builds two wrappers for every function it compiles, one for calls from Python and
one as a C callback, and they cost about as much to compile as a small kernel itself. A
kernel that only compiled code calls needs neither (KERNEL); the bindings' entry points
and the few helpers Python code calls keep them (ENTRY). Every kernel is cached on disk
(``kernel_cache.py``) and releases the GIL.

Helpers of a few lines are inlined where they are called (``inline="always"``), or, where
they are called at many sites with constant arguments, compiled once (``one_signature``).
Numba compiles inlined code with its caller's flags, so a helper is inlined only where
neither it nor its callers set ``fastmath`` or a ``numpy`` error model, which would change
its bits.
"""

from __future__ import annotations

from typing import Callable

from numba.extending import overload

ENTRY = {"cache": True, "nogil": True}
KERNEL = {**ENTRY, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}

# An overload's implementation is cached with the kernels that call it.
_IMPLEMENTATION = {key: value for key, value in KERNEL.items() if key != "cache"}


def one_signature(helper: Callable) -> Callable:
    """Compile calls of ``helper`` (plain Python) as one kernel per signature of types.

    Numba compiles an ``@njit`` function once per *constant* argument it is called with
    (``at(ws, V_C, d)``, ``at(ws, V_Z, d)``: two compiles), and inlines an
    ``inline="always"`` one by compiling its source afresh at every call site; the solver
    calls its workspace accessors at dozens of sites. Typed without the constants'
    values, the helper compiles once, and LLVM inlines it into its callers all the same.
    """

    @overload(helper, strict=False, prefer_literal=False, jit_options=_IMPLEMENTATION)
    def typed(*args):
        return helper

    return helper
