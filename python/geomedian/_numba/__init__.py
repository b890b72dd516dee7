"""Numba mirror of ``csrc/geomedian``: same file names, same functions, same order of operations.

Imported only when the Numba backend is chosen (importing Numba costs ~0.5 s). Every kernel
is compiled with ``cache=True``, so only the first process on a machine pays the JIT; the
cache is dropped when any source here changes (``kernel_cache.py``).
"""

import os

from numba.core import event

from .compile_notice import CompileNotice
from .kernel_cache import cache_dir as _cache_dir
from .kernel_cache import drop_stale_cache as _drop_stale_cache
from .slp_vectorize import KernelSLP

_drop_stale_cache(_cache_dir())
# The listeners of Numba's compiles, each unless its switch is "0" (read once, here).
for _switch, _listener in (
    ("GEOMEDIAN_COMPILE_NOTICE", CompileNotice),
    ("GEOMEDIAN_SLP_VECTORIZE", KernelSLP),
):
    if os.environ.get(_switch, "1") != "0":
        event.register("numba:compile", _listener())
