"""The built-in dataset and report of ``geomedian demo``."""

from __future__ import annotations

import time

import numpy as np

from .._api import solve
from .._backends import backends
from .._contract import SMALL_PROBLEM_SIZE
from .._validate import DEFAULT_TOL

__all__ = ["convergence_gaps", "demo_points", "run_demo"]


def demo_points(n: int = 1_000_000, outlier_fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """Return ``n`` points in 2-D: a unit Gaussian cloud at (1, 2) and gross outliers.

    A fraction ``outlier_fraction`` of the rows is replaced by points spread uniformly
    over a box 40 to 60 units away, which drags the mean far from the cloud while the
    geometric median (breakdown point 1/2) stays with it.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)) + np.array([1.0, 2.0])
    k = round(outlier_fraction * n)
    x[:k] = rng.uniform(40.0, 60.0, size=(k, 2))
    return x[rng.permutation(n)]


def convergence_gaps(x: np.ndarray, n_iter: int, **options) -> list[float]:
    """Return the certified relative gap after 1, 2, ..., ``n_iter`` iterations.

    The kernels keep no history, so each point re-runs the same deterministic solve
    (same start, same ``options``) with ``max_iter=k``: every value is the certificate of
    the k-th iterate itself, not an estimate.
    """
    return [float(solve(x, max_iter=k, **options).gap) for k in range(1, n_iter + 1)]


def _warm(x: np.ndarray, backend: str, method: str, threads: int | None) -> float:
    """Run the solves the timed one needs compiled, on a few rows; return the seconds taken.

    The small-problem path (the start) and the large one (the timed solve): each compiles
    on its first use in a fresh installation, then loads from Numba's cache.
    """
    t0 = time.perf_counter()
    for rows in (64, SMALL_PROBLEM_SIZE):
        solve(x[:rows], backend=backend, method=method, threads=threads)
    return time.perf_counter() - t0


def run_demo(
    n: int = 1_000_000,
    threads: int | None = None,
    method: str = "auto",
    plot: str | None = None,
) -> None:
    """Solve the built-in dataset on every available backend and print what happened.

    With ``plot`` (a file name), also draw the data, the mean, the median and the
    certified gap per iteration of the first backend's solve there.
    """
    x = demo_points(n)
    print(f"geomedian demo: {n:,} points in 2-D, 20% gross outliers; inliers centred at (1, 2)")
    mean = x.mean(axis=0)
    print(f"  mean                {mean[0]:12.6f} {mean[1]:12.6f}   (dragged by the outliers)")
    header = (
        f"  {'backend':8} {'median':>27} {'objective':>16} {'certified gap':>14} "
        f"{'iters':>5} {'passes':>6} {'time':>9}"
    )
    print(header)
    first = None
    compiled = {}
    for name in backends():
        if name == "numba":
            compiled[name] = _warm(x, name, method, threads)
        t0 = time.perf_counter()
        res = solve(x, backend=name, method=method, threads=threads)
        elapsed = time.perf_counter() - t0
        y = res.median
        first = first or res
        print(
            f"  {name:8} {y[0]:13.9f} {y[1]:13.9f} {res.objective:16.6f} {res.gap:14.2e} "
            f"{res.n_iter:5d} {res.n_passes:6d} {elapsed * 1e3:7.1f} ms"
        )
    for name, seconds in compiled.items():
        if seconds > 1.0:  # a load from Numba's cache takes a fraction of that
            print(f"  ({name}: {seconds:.1f} s compiling its kernels before the timed solve; "
                  "first use only, cached now)")  # fmt: skip
    if plot is not None and first is not None:
        from .plots import plot_demo

        # Capped: a plot of a few hundred iterations says all a longer one would.
        gaps = convergence_gaps(
            x, min(first.n_iter, 200), method=method, backend=first.backend, threads=threads
        )
        plot_demo(x, first.median, gaps, plot, tol=DEFAULT_TOL[x.dtype])
        print(f"  plot written to {plot}")
