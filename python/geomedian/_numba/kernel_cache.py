"""Where Numba caches the kernels of this package, keeping that cache fresh, and how warm it is.

Numba caches a module's compiled functions in the first of: ``NUMBA_CACHE_DIR``, the
``__pycache__`` next to the sources when it can be written, and a user-wide cache directory
(``~/.cache/numba`` on Linux) when it cannot (a read-only site-packages). ``cache_dir``
asks Numba's own locators, so it names the directory Numba will use.

Numba invalidates a cached function only when *its own* source file changes, not when a
kernel it calls (and inlines) in another file does; after an edit or an upgrade that
touches some of these files, stale machine code could run. So the cache is keyed on all of
them: a digest of every source here is kept in the cache directory, and a mismatch drops
the cached kernels there.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba.core.caching import (
    InTreeCacheLocator,
    UserProvidedCacheLocator,
    UserWideCacheLocator,
)

__all__ = ["STAMP", "cache_dir", "drop_stale_cache", "entry_kernels", "warm_kernels"]

HERE = Path(__file__).parent
STAMP = "geomedian-kernels.sha256"


def cache_dir() -> Path | None:
    """Return the directory Numba caches these kernels in, ``None`` when none can be written."""
    source = str(HERE / "solver.py")  # every file here maps to the same directory
    for locator in (UserProvidedCacheLocator, InTreeCacheLocator, UserWideCacheLocator):
        found = locator.from_function(cache_dir, source)  # checks that it can write there
        if found is not None:
            return Path(found.get_cache_path())
    return None


def _digest() -> str:
    digest = hashlib.sha256()
    # The kernels read the shared constants of _contract.py as compile-time values.
    for source in [*sorted(HERE.glob("*.py")), HERE.parent / "_contract.py"]:
        digest.update(source.read_bytes())
    return digest.hexdigest()


def drop_stale_cache(directory: Path | None) -> None:
    """Drop the kernels cached in ``directory`` unless they were compiled from these sources."""
    if directory is None:
        return  # nowhere to cache: Numba compiles in every process
    stamp = directory / STAMP
    digest = _digest()
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        for entry in directory.glob("*.nb[ic]"):
            # Only the files of this package's modules (a shared NUMBA_CACHE_DIR subdirectory
            # holds only files of this directory's modules, by Numba's naming).
            entry.unlink(missing_ok=True)
        # Written through a temporary file: a process starting at the same time reads the
        # old stamp or the new one, never half of it.
        tmp = directory / f"{STAMP}.{os.getpid()}.tmp"
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    except OSError:
        pass


def entry_kernels() -> dict:
    """Return the kernels the bindings call, by name (each compiles what it calls)."""
    from . import gram_pass, hessian_pass, lp_pass, parallel, sgd, solver

    return {
        "solve (small problems)": solver.solve_batch_small,
        "solve (batches of larger problems)": solver.solve_batch_serial,
        "solve (small problems, packed Newton)": solver.solve_batch_small_packed,
        "solve (large problems)": solver.solve_batch_within,
        "solve (large problems, threaded)": solver.solve_batch_within_parallel,
        "objective, gradient": solver.evaluate_at,
        "fused pass": parallel.serial_sums,
        "fused pass, threaded": parallel.parallel_sums,
        "hessian pass": hessian_pass.serial_hessian,
        "hessian pass, threaded": hessian_pass.parallel_hessian,
        "sgd": sgd.sgd_run,
        "gram": gram_pass.gram_median_pass,
        "Lp pass": lp_pass.run_lp_pass,
    }


def warm_kernels() -> dict:
    """Return, per entry kernel, how many compiled versions (dtypes, layouts) are cached."""
    counts = {}
    for name, kernel in entry_kernels().items():
        try:
            # Numba's cache index: the signatures cached for this function and these sources.
            counts[name] = len(kernel._cache._cache_file._load_index())
        except Exception:  # a private interface: report "unknown" rather than fail
            counts[name] = None
    return counts
