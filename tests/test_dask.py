"""Dask arrays on a 2-worker process LocalCluster: one problem, batches, zarr, progress."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import geomedian

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")  # the [dask] extra; the test extra installs it
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((40_000, 4)) * [1.0, 2.0, 3.0, 4.0] + 7.0
    x[:4000] += 500.0 * rng.standard_normal((4000, 4))
    return x, rng.random(40_000)


def test_one_problem_matches_in_memory(dask_client, backend, data):
    x, w = data
    xd = da.from_array(x, chunks=(7_000, 2))  # uneven row chunks, columns merged
    for weights in (None, w, da.from_array(w, chunks=5_000)):
        res = geomedian.solve(xd, weights, backend=backend)
        ref = geomedian.solve(x, None if weights is None else w, backend=backend)
        assert res.backend == backend and res.converged and res.gap <= 1e-10
        assert res.objective == pytest.approx(ref.objective, rel=1e-10)
        np.testing.assert_allclose(res.median, ref.median, atol=1e-7)
    # The workers ran the kernels of the backend asked for.
    module = "geomedian._core" if backend == "cpp" else "geomedian._numba.bindings"
    assert all(dask_client.run(lambda: module in sys.modules).values())


def test_local_scheduler_and_float32(monkeypatch, backend, data):
    from geomedian._paths import dask as _dask

    monkeypatch.setattr(_dask, "_client", lambda: None)  # no cluster: the local scheduler
    x = data[0].astype(np.float32)
    with dask.config.set(scheduler="threads"):
        res = geomedian.solve(da.from_array(x, chunks=10_000), backend=backend, method="weiszfeld")
    ref = geomedian.solve(x, backend=backend, method="weiszfeld")
    assert res.median.dtype == np.float32 and res.converged and res.gap <= 1e-6
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5, np.inf])
def test_empty_chunks_are_left_out(dask_client, backend, data, p):
    # A boolean filter leaves chunks of no rows; they hold nothing and change nothing.
    x, w = data
    x, w = x[:6000], w[:6000]
    xd = da.from_array(x, chunks=(1500, 4))
    keep = da.from_array(np.arange(6000) // 1500 != 1, chunks=1500)
    xf, wf = xd[keep], da.from_array(w, chunks=1500)[keep]
    assert 0 in xf.compute_chunk_sizes().chunks[0]
    res = geomedian.solve(xf.compute_chunk_sizes(), wf.compute_chunk_sizes(), backend=backend, p=p)
    mask = np.arange(6000) // 1500 != 1
    ref = geomedian.solve(x[mask], w[mask], backend=backend, p=p)
    assert res.converged
    assert res.objective == pytest.approx(ref.objective, rel=1e-9)


def test_progress_callback(dask_client, backend, data):
    seen = []
    xd = da.from_array(data[0], chunks=10_000)
    res = geomedian.solve(xd, backend=backend, progress=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == list(range(res.n_iter + 1))
    assert seen[-1][1] == pytest.approx(res.objective) and seen[-1][2] == res.gap


def test_zarr_backed_batch_and_problem(dask_client, backend, tmp_path):
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(4)
    stack = rng.integers(1, 4000, size=(12, 10, 9, 3)).astype(np.uint16)  # rows, cols, dates, bands
    stack[rng.random(stack.shape[:3]) < 0.2] = 0  # no data
    store = zarr.open_array(
        str(tmp_path / "stack.zarr"), mode="w", shape=stack.shape, chunks=(6, 5, 9, 3),
        dtype=stack.dtype,
    )  # fmt: skip
    store[...] = stack
    lazy = da.from_zarr(str(tmp_path / "stack.zarr"))
    res = geomedian.solve(lazy, nodata=0, nan_policy="omit", backend=backend)
    assert isinstance(res.median, da.Array) and res.median.shape == (12, 10, 3)
    median, gap, status = da.compute(res.median, res.gap, res.status)
    ref = geomedian.solve(stack, nodata=0, nan_policy="omit", backend=backend)
    assert median.dtype == np.float32
    np.testing.assert_array_equal(median, ref.median)  # the same kernel, block by block
    np.testing.assert_array_equal(status, ref.status)
    np.testing.assert_array_equal(gap, ref.gap)
    lazy_median = geomedian.geometric_median(lazy, nodata=0, nan_policy="omit", backend=backend)
    np.testing.assert_array_equal(lazy_median.compute(), ref.median)
    # One problem backed by zarr: the rows of the first pixel's whole time series, stacked.
    flat = stack.reshape(-1, 3).astype(np.float64) + 0.5
    zarr.open_array(str(tmp_path / "rows.zarr"), mode="w", shape=flat.shape, chunks=(300, 3),
                    dtype=flat.dtype)[...] = flat  # fmt: skip
    one = geomedian.solve(da.from_zarr(str(tmp_path / "rows.zarr")), backend=backend)
    assert one.converged
    assert one.objective == pytest.approx(geomedian.solve(flat, backend=backend).objective)


def test_errors(dask_client, data):
    xd = da.from_array(data[0], chunks=10_000)
    with pytest.raises(ValueError, match="method='sgd' is not available for Dask"):
        geomedian.solve(xd, method="sgd")
    with pytest.raises(ValueError, match="nan_policy='raise' only"):
        geomedian.solve(xd, nan_policy="omit")
    batch = da.zeros((4, 5, 2), chunks=(2, 5, 2))
    with pytest.raises(ValueError, match="not a batch"):
        geomedian.solve(batch, method="sgd")
    with pytest.raises(ValueError, match="tol must be >= 0"):
        geomedian.geometric_median(batch, tol=-1.0)
    with pytest.raises(ValueError, match="weights of a batched Dask array"):
        geomedian.solve(batch, np.ones((4, 5)))
    with pytest.raises(TypeError, match="real numbers"):
        geomedian.solve(da.zeros((10, 2), dtype=complex))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        geomedian.solve(da.zeros(10))
    bad = data[0].copy()
    bad[12_345, 1] = np.inf
    with pytest.raises(ValueError, match="finite"):
        geomedian.solve(da.from_array(bad, chunks=10_000))


def test_plain_input_never_imports_dask():
    code = (
        "import sys, numpy as np, geomedian; geomedian.solve(np.ones((5, 2)) * [1, 2]); "
        "sys.exit('dask' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
