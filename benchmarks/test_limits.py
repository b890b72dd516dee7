"""One pass against the hardware's limits (issue 18, item 2), as ratios of one run.

Run from the project root::

    python -m pytest benchmarks/test_limits.py --benchmark-enable --benchmark-only -q

Each case times two calls on the same array, alternating them round after round so that
both see the same machine (the development machine is shared and its bandwidth moves
between runs), and reports the ratio of their medians; pytest-benchmark's own table holds
the numerator. The goals of the issue:

- ``f32-over-f64``: the float32 pass over the float32 copy of the points against the
  float64 pass: at most 0.55 (it reads half the bytes).
- ``pass-over-read``: the float64 pass against this machine's plain read of the same
  bytes (``_core.roofline_read_f64``, a compiled sum of every coordinate): within 1.25
  for d >= 8 (the datasets' d = 16, and d = 8, 64, 128 and 1,000 over the same 128 MB).
- ``cached-f32-over-f64``: the same two passes over the first 8,192 rows only, which stay
  in cache: the arithmetic of a float32 row against a float64 one, free of the memory
  traffic that the shared machine's other work perturbs most. At most 1: a float32 row
  is widened once and then costs what a float64 row costs.
- ``pass-over-arith``: at d <= 4, where a pass is bound by its arithmetic, the pass
  against ``_core.roofline_arith`` (a distance, a correctly rounded square root and a
  division per row, on cached rows, scaled to n rows): at most 1.

The compiled core only (the ratios are about what the hardware allows); every pass checks
its objective against NumPy, so a fast wrong kernel fails.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

import geomedian
from geomedian._backends import load_backend

ROUNDS = 15
GOALS = {
    "f32-over-f64": 0.55,
    "cached-f32-over-f64": 1.0,
    "pass-over-read": 1.25,
    "pass-over-arith": 1.0,
}
CACHED_ROWS = 8192
# The other row lengths of pass-over-read: as many coordinates as the 1e6 x 16 dataset.
LONG_ROWS_COORDINATES = 16_000_000
SEED_LONG_ROWS = 18


def _core():
    if "cpp" not in geomedian.backends():
        pytest.skip("the compiled core is not available")
    return load_backend("cpp")


def _alternate(first, second, rounds: int = ROUNDS) -> tuple[float, float]:
    """Medians of ``first()`` and ``second()`` timed in alternation, after one warm call each."""
    first()
    second()
    a, b = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        first()
        t1 = time.perf_counter()
        second()
        t2 = time.perf_counter()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return float(np.median(a)), float(np.median(b))


def _check(sums, x, y):
    ref = float(np.sqrt(((x.astype(np.float64) - y) ** 2).sum(axis=1)).sum())
    assert sums[0] == pytest.approx(ref, rel=1e-10, abs=0)


def _report(benchmark, record_row, name, dataset, threads, num_s, den_s, what):
    ratio = num_s / den_s
    benchmark.extra_info.update(ratio=ratio, numerator_s=num_s, denominator_s=den_s, what=what)
    record_row(
        kind="ratio",
        ratio_name=name,
        dataset=dataset.name,
        threads=threads,
        numerator_s=num_s,
        denominator_s=den_s,
        ratio=ratio,
        goal=GOALS[name],
        what=what,
        median_s=num_s,
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_f32_over_f64(benchmark, record_row, dataset, threads):
    core = _core()
    x64, x32, y = dataset.points, dataset.points32, dataset.y

    def p32():
        return core.fused_pass_f32(x32, None, 1.0, y, 1.0, threads)

    def p64():
        return core.fused_pass_f64(x64, None, 1.0, y, 1.0, threads)

    benchmark.group = f"limits-f32-over-f64-{dataset.name}"
    _check(benchmark(p32), x32, y)
    _check(p64(), x64, y)
    t32, t64 = _alternate(p32, p64)
    _report(benchmark, record_row, "f32-over-f64", dataset, threads, t32, t64, "f32 / f64 pass")


def test_cached_f32_over_f64(benchmark, record_row, dataset):
    core = _core()
    x64 = np.ascontiguousarray(dataset.points[:CACHED_ROWS])
    x32 = np.ascontiguousarray(dataset.points32[:CACHED_ROWS])
    y = dataset.y

    def p32():
        return core.fused_pass_f32(x32, None, 1.0, y, 1.0, 1)

    def p64():
        return core.fused_pass_f64(x64, None, 1.0, y, 1.0, 1)

    benchmark.group = f"limits-cached-f32-over-f64-{dataset.name}"
    _check(benchmark(p32), x32, y)
    _check(p64(), x64, y)
    t32, t64 = _alternate(p32, p64, rounds=15 * ROUNDS)
    _report(
        benchmark, record_row, "cached-f32-over-f64", dataset, 1, t32, t64, "f32 / f64, cached rows"
    )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_pass_over_read(benchmark, record_row, dataset, threads, dtype):
    core = _core()
    x, y = dataset.get(dtype), dataset.y
    kernel = core.fused_pass_f32 if dtype == "f32" else core.fused_pass_f64
    read = core.roofline_read_f32 if dtype == "f32" else core.roofline_read_f64

    def one_pass():
        return kernel(x, None, 1.0, y, 1.0, threads)

    benchmark.group = f"limits-pass-over-read-{dataset.name}"
    _check(benchmark(one_pass), x, y)
    assert read(x, threads) == pytest.approx(
        float(x.sum(dtype=np.float64)), rel=1e-9, abs=1e-6 * x.size
    )
    t_pass, t_read = _alternate(one_pass, lambda: read(x, threads))
    _report(
        benchmark,
        record_row,
        "pass-over-read",
        dataset,
        threads,
        t_pass,
        t_read,
        f"{dtype} pass / read",
    )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("d", [8, 10, 13, 64, 128, 256, 1000])
def test_long_rows_pass_over_read(benchmark, record_row, d, threads):
    """``pass-over-read`` for other row lengths of the goal's d >= 8: 128 MB of float64.

    10 and 13 are band counts of multispectral stacks, and not multiples of 4.
    """
    core = _core()
    n = LONG_ROWS_COORDINATES // d
    x = np.random.default_rng([SEED_LONG_ROWS, d]).standard_normal((n, d))
    y = x.mean(axis=0)
    data = SimpleNamespace(name=f"{n}x{d}")

    def one_pass():
        return core.fused_pass_f64(x, None, 1.0, y, 1.0, threads)

    benchmark.group = f"limits-pass-over-read-{data.name}"
    _check(benchmark(one_pass), x, y)
    t_pass, t_read = _alternate(one_pass, lambda: core.roofline_read_f64(x, threads))
    _report(benchmark, record_row, "pass-over-read", data, threads, t_pass, t_read,
            "f64 pass / read")  # fmt: skip


@pytest.mark.parametrize("threads", [1, 2])
def test_pass_over_arith(benchmark, record_row, dataset, threads):
    if dataset.d > 4:
        pytest.skip("rows longer than 4 are bound by the read, not by the arithmetic")
    core = _core()
    x, y = dataset.points, dataset.y
    m = max(64, 128 * 1024 // (8 * dataset.d))  # a block that stays in cache, as test_roofline
    block = np.ascontiguousarray(x[:m])
    repeats = max(1, x.shape[0] // m)
    scale = x.shape[0] / (m * repeats)

    def one_pass():
        return core.fused_pass_f64(x, None, 1.0, y, 1.0, threads)

    def arith():
        return core.roofline_arith(block, y, repeats, threads)

    benchmark.group = f"limits-pass-over-arith-{dataset.name}"
    _check(benchmark(one_pass), x, y)
    t_pass, t_arith = _alternate(one_pass, arith)
    _report(
        benchmark,
        record_row,
        "pass-over-arith",
        dataset,
        threads,
        t_pass,
        t_arith * scale,
        "f64 pass / sqrt + division",
    )
