"""``geomedian warmup``: compile the Numba kernels ahead of time (for container images).

Each public path runs once on small data, in float64 and float32, on the Numba backend:
what compiles is what those calls need, and Numba caches it on disk, so a later process
(a container started from the image) loads it instead of compiling.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["warm_paths", "warmup"]


def warm_paths(dtype) -> list[tuple[str, Callable[[], object]]]:
    """Return ``(name, call)`` for each path, on data of ``dtype``."""
    from .. import OnlineGeometricMedian, geomad, gradient, objective, solve

    rng = np.random.default_rng(0)
    small = rng.standard_normal((50, 3)).astype(dtype)
    large = rng.standard_normal((70_000, 3)).astype(dtype)  # threaded passes, warm start
    # The packed solver, over the threads: more problems than one block of them.
    batch = rng.standard_normal((128, 20, 6)).astype(dtype)
    holes = batch.copy()
    holes[0, 0] = np.nan
    w = rng.uniform(0.5, 2.0, small.shape[0])
    models = rng.standard_normal((4, 1 << 16)).astype(dtype)
    y = small.mean(axis=0)
    return [
        ("one problem", lambda: solve(small, backend="numba")),
        ("weights", lambda: solve(small, w, backend="numba")),
        ("one large problem", lambda: solve(large, backend="numba")),
        # One thread (threads=1, a one-core machine, each chunk of a Dask solve): the
        # passes of the calling thread, compiled apart from the threaded ones.
        ("large, one thread", lambda: solve(large, threads=1, backend="numba")),
        ("a batch", lambda: solve(batch, backend="numba")),
        ("missing rows", lambda: solve(holes, nan_policy="omit", backend="numba")),
        ("objective", lambda: objective(y, small, backend="numba")),
        ("gradient", lambda: gradient(y, small, backend="numba")),
        ("sgd", lambda: solve(large, method="sgd", backend="numba")),
        ("gram", lambda: solve(models, method="gram", backend="numba")),
        ("online", lambda: OnlineGeometricMedian(backend="numba").partial_fit(large[:4096])),
        ("Lp, one problem", lambda: solve(large, p=3, backend="numba")),
        ("Lp, a batch", lambda: solve(batch, p=1.5, backend="numba")),
        ("a memory map", lambda: _solve_memmap(large)),
        ("geomad", lambda: geomad(batch.reshape(2, 64, 20, 6), backend="numba")),
    ] + ([("dask", lambda: _solve_dask(large))] if importlib.util.find_spec("dask") else [])


def _solve_memmap(x: np.ndarray):
    """Solve x read back as a memory map: the chunked driver's passes, Newton's Hessian."""
    from .. import solve

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "points.npy"
        np.save(path, x)
        mm = np.load(path, mmap_mode="r")
        try:
            return solve(mm, backend="numba")
        finally:
            del mm  # the file's mapping closes before its directory goes


def _solve_dask(x: np.ndarray):
    """Solve x as a Dask array of two chunks: the one-thread passes of every chunk."""
    import dask.array as da

    from .. import solve

    return solve(da.from_array(x, chunks=(x.shape[0] // 2, x.shape[1])), backend="numba")


def warmup(report: Callable[[str], None] = print) -> float:
    """Run every path of :func:`warm_paths` in both dtypes; return the seconds it took."""
    start = time.perf_counter()
    for dtype in (np.float64, np.float32):
        for name, call in warm_paths(dtype):
            t0 = time.perf_counter()
            call()
            report(f"  {np.dtype(dtype).name:8} {name:22} {time.perf_counter() - t0:7.2f} s")
    return time.perf_counter() - start
