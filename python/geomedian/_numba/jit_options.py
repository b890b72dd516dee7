"""The Numba options of the kernels here: ENTRY for those Python calls, KERNEL for the rest.

Numba builds two wrappers for every function it compiles, one for calls from Python and
one as a C callback, and they cost about as much to compile as a small kernel itself. A
kernel that only compiled code calls needs neither (KERNEL); the bindings' entry points
and the few helpers Python code calls keep them (ENTRY). Every kernel is cached on disk
(``kernel_cache.py``) and releases the GIL.

Helpers of a few lines are inlined where they are called (``inline="always"``): compiled
on their own, each would cost a compile of its own (``solver.at`` one per constant
argument it is called with), more than its body costs inlined. Numba compiles inlined code
with its caller's flags, so a helper is inlined only where neither it nor its callers set
``fastmath`` or a ``numpy`` error model, which would change its bits.
"""

ENTRY = {"cache": True, "nogil": True}
KERNEL = {**ENTRY, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}
