"""Time ONE fused kernel pass (the cost unit of every solver) per backend and thread count.

Run from the project root (the default pytest options disable benchmarks)::

    python -m pytest benchmarks/test_pass.py --benchmark-enable --benchmark-only \
        --benchmark-min-rounds=5 --benchmark-columns=min,median,max,rounds -q

One call of ``load_backend(name).fused_pass_f64(points, None, 1.0, y, 1.0, threads)`` at
the mean ``y`` reads every coordinate once; ``extra_info["bytes_read"]`` is that volume,
so ``bytes_read / median`` is the achieved bandwidth. Groups: ``pass-<dataset>`` for
float64 points and ``pass-<dataset>-f32`` for the float32 copy (``fused_pass_f32``).
Every benchmark checks the objective and the Weiszfeld denominator it returns against
NumPy to 1e-10 relative.
"""

from __future__ import annotations

import pytest

from geomedian._backends import load_backend


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_fused_pass(benchmark, record, dataset, backend, threads, dtype):
    impl = load_backend(backend)
    kernel = impl.fused_pass_f32 if dtype == "f32" else impl.fused_pass_f64
    x = dataset.get(dtype)
    y = dataset.y
    benchmark.group = f"pass-{dataset.name}" + ("-f32" if dtype == "f32" else "")
    benchmark.extra_info.update(
        n=dataset.n,
        d=dataset.d,
        dtype=dtype,
        backend=backend,
        threads=threads,
        bytes_read=x.nbytes,
    )

    sums = benchmark(kernel, x, None, 1.0, y, 1.0, threads)

    ref_f, ref_inv = (
        (dataset.ref_f32, dataset.ref_inv32) if dtype == "f32" else (dataset.ref_f, dataset.ref_inv)
    )
    assert sums[0] == pytest.approx(ref_f, rel=1e-10, abs=0)
    assert sums[1] == pytest.approx(ref_inv, rel=1e-10, abs=0)
    assert sums[2] == 0.0  # no point sits on the mean
    record(
        benchmark,
        kind="pass",
        dataset=dataset.name,
        dtype=dtype,
        backend=backend,
        threads=threads,
        bytes_read=x.nbytes,
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_hessian_pass(benchmark, record, dataset, backend, threads):
    """The Hessian pass of Newton steps over chunks (memmap, Dask), beside the fused pass.

    Group ``hessian-<dataset>``: one ``hessian_pass_f64`` call at the mean; its ratio to the
    fused pass is against ``pass-<dataset>`` of the same run. Checked by its trace,
    ``(d - 1) inv``.
    """
    impl = load_backend(backend)
    x, y = dataset.get("f64"), dataset.y
    benchmark.group = f"hessian-{dataset.name}"
    benchmark.extra_info.update(n=dataset.n, d=dataset.d, backend=backend, threads=threads)
    H = benchmark(impl.hessian_pass_f64, x, None, 1.0, y, 1.0, threads)
    d = dataset.d
    trace = sum(H[j * (j + 1) // 2 + j] for j in range(d))
    assert trace == pytest.approx((d - 1) * dataset.ref_inv, rel=1e-10)
    record(benchmark, kind="hessian", dataset=dataset.name, backend=backend, threads=threads)
