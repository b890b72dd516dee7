"""Numba mirror of ``csrc/geomedian``: same file names, same functions, same order of operations.

Imported only when the Numba backend is chosen (importing Numba costs ~0.5 s). Every kernel
is compiled with ``cache=True``, so only the first process on a machine pays the JIT.

Numba invalidates a cached function only when *its own* source file changes, not when a
kernel it calls (and inlines) in another file does; after an edit or an upgrade that
touches some of these files, stale machine code could run. So the cache is keyed on all of
them: a digest of every source here is kept next to the cache, and a mismatch drops it.
"""

import hashlib
from pathlib import Path


def _drop_stale_cache() -> None:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    # The kernels read the shared constants of _contract.py as compile-time values.
    for source in [*sorted(here.glob("*.py")), here.parent / "_contract.py"]:
        digest.update(source.read_bytes())
    cache = here / "__pycache__"
    stamp = cache / "geomedian-kernels.sha256"
    try:
        if stamp.read_text() == digest.hexdigest():
            return
    except OSError:
        pass
    try:
        for entry in cache.glob("*.nb[ic]"):
            entry.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:
        pass  # read-only installation: Numba then caches in its user-wide directory


_drop_stale_cache()

from .compile_notice import install as _install_compile_notice  # noqa: E402

_install_compile_notice()
