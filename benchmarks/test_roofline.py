"""Roofline: what this machine allows for one pass, and each pass as a ratio to it.

Run from the project root, together with ``test_pass.py`` so the end-of-run table can
divide each pass by the bounds measured in the same run::

    python -m pytest benchmarks/test_pass.py benchmarks/test_roofline.py \
        --benchmark-enable --benchmark-only --benchmark-min-rounds=9 \
        --benchmark-columns=min,median,max,rounds -q

Two bounds, measured with the plainest compiled loops (``csrc/roofline.cpp``, built with
the kernels' flags and instruction-set clones) on the same data:

- **read**: ``_core.roofline_read_f64/_f32(points, threads)`` sums every coordinate once:
  one pass can never be faster than one read of its data.
- **arith**: ``_core.roofline_arith(block, y, repeats, threads)`` computes, for rows of a
  block small enough to stay in cache, the distance to y, a square root and a division
  (``sum ||x - y|| + sum 1 / ||x - y||``), repeated; scaled to n rows it is the per-point
  arithmetic a pass cannot avoid when it uses a correctly rounded sqrt and division.

The bound of a pass is max(read, arith). Besides the datasets of ``conftest.py`` this
file times passes at run-time row lengths d = 5, 13, 32, 128 (1,000,000 rows, or 16e6
coordinates when that is fewer) so the generic path is on the table too.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import geomedian
from geomedian._backends import load_backend

GENERIC_DIMS = (5, 13, 32, 128)
ARITH_BLOCK_BYTES = 128 * 1024  # the cached block: well inside L2 on any current core


def _core():
    if "cpp" not in geomedian.backends():
        pytest.skip("the compiled core is not available: no roofline helpers")
    return load_backend("cpp")


_generic: dict[int, np.ndarray] = {}


def _generic_points(d: int) -> np.ndarray:
    if d not in _generic:
        _generic.clear()  # one generic array alive at a time keeps memory modest
        n = min(1_000_000, 16_000_000 // d)
        _generic[d] = np.random.default_rng([20240607, d]).standard_normal((n, d))
    return _generic[d]


def _arith_inputs(x: np.ndarray):
    d = x.shape[1]
    m = max(64, ARITH_BLOCK_BYTES // (8 * d))
    block = np.ascontiguousarray(x[:m], dtype=np.float64)
    repeats = max(1, x.shape[0] // m)
    return block, x.mean(axis=0), repeats, m * repeats


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_read_bound(benchmark, record, dataset, threads, dtype):
    core = _core()
    x = dataset.get(dtype)
    read = core.roofline_read_f32 if dtype == "f32" else core.roofline_read_f64
    benchmark.group = f"roofline-read-{dataset.name}"
    total = benchmark(read, x, threads)
    assert total == pytest.approx(float(x.sum(dtype=np.float64)), rel=1e-9, abs=1e-6 * x.size)
    record(
        benchmark,
        kind="bound",
        bound="read",
        dataset=dataset.name,
        dtype=dtype,
        threads=threads,
        scale=1.0,
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_arith_bound(benchmark, record, dataset, threads):
    core = _core()
    block, y, repeats, rows = _arith_inputs(dataset.points)
    benchmark.group = f"roofline-arith-{dataset.name}"
    total = benchmark(core.roofline_arith, block, y, repeats, threads)
    dist = np.sqrt(((block - y) ** 2).sum(axis=1))
    assert total == pytest.approx(repeats * float(dist.sum() + (1 / dist).sum()), rel=1e-9)
    for dtype in ("f64", "f32"):  # the arithmetic is float64 for both dtypes
        record(
            benchmark,
            kind="bound",
            bound="arith",
            dataset=dataset.name,
            dtype=dtype,
            threads=threads,
            scale=dataset.n / rows,
        )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["f64", "f32"])
@pytest.mark.parametrize("d", GENERIC_DIMS)
def test_generic_d(benchmark, record, record_row, d, dtype, threads):
    """One pass at a run-time-only row length, with its own read and arithmetic bounds."""
    core = _core()
    x64 = _generic_points(d)
    x = x64.astype(np.float32) if dtype == "f32" else x64
    name = f"{x.shape[0]:.0e}x{d}".replace("+0", "")
    kernel = core.fused_pass_f32 if dtype == "f32" else core.fused_pass_f64
    read = core.roofline_read_f32 if dtype == "f32" else core.roofline_read_f64
    y = x64.mean(axis=0)
    benchmark.group = f"pass-generic-d{d}"
    sums = benchmark(kernel, x, None, 1.0, y, 1.0, threads)
    ref = float(np.sqrt(((x.astype(np.float64) - y) ** 2).sum(axis=1)).sum())
    assert sums[0] == pytest.approx(ref, rel=1e-10, abs=0)
    record(
        benchmark,
        kind="pass",
        dataset=name,
        dtype=dtype,
        backend="cpp",
        threads=threads,
        bytes_read=x.nbytes,
    )
    # The bounds of this array, timed here as medians of plain repeats (not benchmarks of
    # their own, to keep one benchmark per test).
    block, yb, repeats, rows = _arith_inputs(x64)
    for bound, fn, args, scale in (
        ("read", read, (x, threads), 1.0),
        ("arith", core.roofline_arith, (block, yb, repeats, threads), x.shape[0] / rows),
    ):
        record_row(
            kind="bound",
            bound=bound,
            dataset=name,
            dtype=dtype,
            threads=threads,
            scale=scale,
            median_s=_median_time(fn, args),
        )


def _median_time(fn, args, rounds: int = 9) -> float:
    fn(*args)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
