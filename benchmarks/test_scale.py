"""Scale-out numbers: Dask's overhead per iteration, and one SGD pass against one exact pass.

Run from the project root (the default pytest options disable benchmarks)::

    python -m pytest benchmarks/test_scale.py --benchmark-enable --benchmark-only -q -s

``GEOMEDIAN_BENCH_DASK_ROWS`` (default 20,000,000) sets the rows of the d = 8 float64 Dask
problem and ``GEOMEDIAN_BENCH_SGD_ROWS`` (default 10,000,000) those of the d = 2 SGD one.

- Dask: one pass (an iteration's reduction) over a persisted array in chunks of 1,000,000
  rows on a ``LocalCluster`` of 2 single-threaded worker processes, against the same pass
  in memory on 2 threads (the same data: each chunk is generated from its own seed, on the
  workers and in this process alike), and a full solve of each.
- SGD: one epoch of ``method="sgd"`` (defaults) over 10,000,000 x 2 points: its time, the
  certified relative gap after it, and the time of one exact pass.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import geomedian
from geomedian._backends import load_backend

DASK_ROWS = int(os.environ.get("GEOMEDIAN_BENCH_DASK_ROWS", 20_000_000))
SGD_ROWS = int(os.environ.get("GEOMEDIAN_BENCH_SGD_ROWS", 10_000_000))
CHUNK = 1_000_000
D = 8


def _block(k: int, rows: int) -> np.ndarray:
    return np.random.default_rng([2026, k]).standard_normal((rows, D)) + 3.0


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def test_dask_overhead_per_iteration(benchmark, backend):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    from geomedian._paths.dask import DaskPoints

    sizes = [min(CHUNK, DASK_ROWS - a) for a in range(0, DASK_ROWS, CHUNK)]
    x = np.concatenate([_block(k, m) for k, m in enumerate(sizes)])
    impl = load_backend(backend)
    y = x[:1000].mean(axis=0)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        blocks = [_delayed_block(k, m) for k, m in enumerate(sizes)]
        lazy = da.concatenate(
            [da.from_delayed(b, (m, D), np.float64) for b, m in zip(blocks, sizes)]
        )
        src = DaskPoints(lazy, None, None, backend)  # persists once
        src.sums(y, 1.0)  # warm-up: workers import and load the kernels
        dask_pass = _median_time(lambda: src.sums(y, 1.0), 7)
        memory_pass = _median_time(lambda: impl.fused_pass_f64(x, None, 1.0, y, 1.0, 2), 7)
        np.testing.assert_allclose(src.sums(y, 1.0), impl.fused_pass_f64(x, None, 1.0, y, 1.0, 2),
                                   rtol=1e-9)  # fmt: skip
        t = time.perf_counter()
        res = benchmark.pedantic(geomedian.solve, (lazy,), {"backend": backend}, rounds=1)
        dask_solve = time.perf_counter() - t
    t = time.perf_counter()
    ref = geomedian.solve(x, backend=backend, threads=2)
    memory_solve = time.perf_counter() - t
    assert res.converged and res.objective == pytest.approx(ref.objective, rel=1e-10)
    overhead = (dask_pass - memory_pass) / memory_pass
    benchmark.extra_info.update(
        rows=DASK_ROWS, dask_pass_s=dask_pass, memory_pass_s=memory_pass, overhead=overhead
    )
    print(
        f"\n[dask {backend}] {DASK_ROWS:,} x {D} float64, {len(sizes)} chunks, 2 workers: "
        f"pass {dask_pass * 1e3:.1f} ms (Dask) vs {memory_pass * 1e3:.1f} ms (in memory, "
        f"2 threads): overhead {overhead:+.0%} of the kernel time; solve {dask_solve:.2f} s "
        f"({res.n_passes} passes) vs {memory_solve:.2f} s ({ref.n_passes} passes) in memory"
    )


def _delayed_block(k, m):
    import dask

    return dask.delayed(_block)(k, m)


def test_sgd_one_pass(benchmark, backend):
    x = np.random.default_rng(7).standard_normal((SGD_ROWS, 2)) * [1.0, 3.0]
    impl = load_backend(backend)
    y = x[:1000].mean(axis=0)
    exact_pass = _median_time(lambda: impl.fused_pass_f64(x, None, 1.0, y, 1.0, 2), 5)
    seen = []
    res = benchmark.pedantic(
        geomedian.solve,
        (x,),
        {"method": "sgd", "backend": backend, "max_iter": 1, "tol": 0.0,
         "progress": lambda *a: seen.append(time.perf_counter())},
        setup=lambda: seen.append(time.perf_counter()),
        rounds=3,
    )  # fmt: skip
    epoch = float(np.median([b - a for a, b in zip(seen[::2], seen[1::2])]))  # epoch + 1 pass
    assert res.n_iter == 1 and res.gap < 1e-3
    exact = geomedian.solve(x, backend=backend)
    true_gap = (res.objective - exact.objective) / res.objective
    benchmark.extra_info.update(rows=SGD_ROWS, gap=res.gap, exact_pass_s=exact_pass)
    print(
        f"\n[sgd {backend}] {SGD_ROWS:,} x 2: one epoch + its certificate pass {epoch:.3f} s, "
        f"certified gap {res.gap:.2e} (true {true_gap:.1e})"
        f"; one exact pass {exact_pass * 1e3:.1f} ms (2 threads); exact solve "
        f"{exact.n_passes} passes"
    )
