"""Numba mirror of ``csrc/geomedian``: same file names, same functions, same order of operations.

Imported only when the Numba backend is chosen (importing Numba costs ~0.5 s). Every kernel
is compiled with ``cache=True``, so only the first process on a machine pays the JIT; the
cache is dropped when any source here changes (``kernel_cache.py``).
"""

from .compile_notice import install as _install_compile_notice
from .kernel_cache import cache_dir as _cache_dir
from .kernel_cache import drop_stale_cache as _drop_stale_cache

_drop_stale_cache(_cache_dir())
_install_compile_notice()
