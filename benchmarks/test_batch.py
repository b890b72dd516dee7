"""Time a batch of 100,000 pixel problems (20 dates x 6 bands) against the peers.

Run from the project root (the default pytest options disable benchmarks)::

    python -m pytest benchmarks/test_batch.py --benchmark-enable --benchmark-only \
        --benchmark-columns=min,median,max,rounds -q

The data imitate a satellite time series: per pixel a surface reflectance in [0.02, 0.4]^6,
20 observations with noise 0.01 and 20% bright clouds (0.3-0.9), seeded. Timed here:

- ``geomedian`` (both backends, float64 and float32, default tolerance, all cores): one
  call for the whole batch; every problem must be certified (gap <= tol);
- the same batch with 5 % of its rows netCDF's default fill value left unmasked (far rows
  whose distances hide the inliers in f's rounding);
- one large problem with the same number of points (2,000,000 x 6), for the cost of
  batching over the raw kernel;
- ``hdmedians.geomedian`` in a Python loop, on the first 2,000 problems only, scaled by 50
  (reported as the scaled time);
- ``geomad.nangeomedian_pcm`` (float32, its default absolute step 1e-4, all cores) on the
  same problems, laid out as it wants them ((rows, cols, bands, dates), copied untimed);
- a straightforward Numba ``prange`` loop of plain Weiszfeld (start at the mean, stop when
  the step is below 1e-10 of the data's spread), float64.

Peers that are not installed are skipped. The end-of-run table gives medians, problems/s
and each row's time relative to geomedian cpp float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian._threads import resolve_threads

P, N, D = 100_000, 20, 6
LOOP_SUBSET = 2_000
SEED = 20240607


def pixels(P: int = P, n: int = N, d: int = D, cloud: float = 0.2) -> np.ndarray:
    """Seeded synthetic pixel time series, shape (P, n, d), float64."""
    rng = np.random.default_rng([SEED, 4])
    surface = rng.uniform(0.02, 0.4, (P, 1, d))
    x = surface + rng.normal(0.0, 0.01, (P, n, d))
    clouds = rng.random((P, n)) < cloud
    k = int(clouds.sum())
    x[clouds] = rng.uniform(0.3, 0.9, (k, 1)) + rng.normal(0.0, 0.02, (k, d))
    return x


@pytest.fixture(scope="module")
def data() -> dict:
    x = pixels()
    return {"f64": x, "f32": x.astype(np.float32)}


def _row(record, benchmark, name, dtype, scale=1.0, **extra):
    row = record(benchmark, kind="batch", name=name, dtype=dtype, problems=P, **extra)
    if row is not None:
        row["median_s"] *= scale
    return row


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_geomedian_batch(benchmark, record, data, backend, dtype):
    x = data[dtype]
    benchmark.group = "batch-100k-pixels"
    benchmark.extra_info.update(backend=backend, dtype=dtype, threads=resolve_threads(None))
    res = benchmark(geomedian.solve, x, backend=backend)
    assert res.converged.all(), res.message
    benchmark.extra_info.update(
        mean_passes=float(res.n_passes.mean()), mean_iter=float(res.n_iter.mean())
    )
    _row(record, benchmark, f"geomedian {backend}", dtype, passes=float(res.n_passes.mean()))


# netCDF's default float fill value, left unmasked in 5 % of the rows: far rows whose
# distances hide the inliers in f's rounding.
NETCDF_FILL = 9.969209968386869e36
FILL_SHARE = 0.05


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_geomedian_batch_beside_fill_values(benchmark, record, data, backend, dtype):
    rng = np.random.default_rng([SEED, 5])
    x = data[dtype].copy()
    x[rng.random((P, N)) < FILL_SHARE] = NETCDF_FILL
    benchmark.group = "batch-100k-pixels-beside-fill-values"
    benchmark.extra_info.update(backend=backend, dtype=dtype, threads=resolve_threads(None))
    res = benchmark.pedantic(geomedian.solve, (x,), {"backend": backend}, rounds=3)
    assert res.converged.all(), res.message
    benchmark.extra_info.update(
        mean_passes=float(res.n_passes.mean()), max_passes=int(res.n_passes.max())
    )
    _row(record, benchmark, f"geomedian {backend}, 5 % fill rows", dtype,
         passes=float(res.n_passes.mean()))  # fmt: skip


def test_geomedian_one_large_problem(benchmark, record, data, backend):
    """Same number of points as the batch, as one problem: the raw kernel's throughput."""
    x = data["f64"].reshape(P * N, D)
    benchmark.group = "batch-100k-pixels"
    res = benchmark(geomedian.solve, x, backend=backend)
    assert res.converged
    _row(record, benchmark, f"geomedian {backend}, one 2e6 x 6 problem", "f64", passes=res.n_passes)


def test_hdmedians_loop(benchmark, record, data):
    hd = pytest.importorskip("hdmedians")
    x = data["f64"][:LOOP_SUBSET]
    benchmark.group = "batch-100k-pixels"

    def run():
        return [np.asarray(hd.geomedian(xk, axis=0)) for xk in x]

    out = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    err = float(np.abs(np.array(out) - geomedian.solve(x).median).max())
    benchmark.extra_info["max_abs_error"] = err
    assert err < 1e-3
    _row(
        record,
        benchmark,
        f"hdmedians loop ({LOOP_SUBSET} problems x {P // LOOP_SUBSET})",
        "f64",
        scale=P / LOOP_SUBSET,
    )


def test_geomad(benchmark, record, data):
    geomad = pytest.importorskip("geomad")
    # (P, dates, bands) -> (rows, cols, bands, dates), the layout geomad reduces.
    x = np.ascontiguousarray(data["f32"].reshape(100, P // 100, N, D).transpose(0, 1, 3, 2))
    benchmark.group = "batch-100k-pixels"
    threads = resolve_threads(None)
    out = benchmark(geomad.nangeomedian_pcm, x, num_threads=threads)
    ref = geomedian.solve(data["f64"]).median.reshape(100, P // 100, D)
    benchmark.extra_info["max_abs_error"] = float(np.abs(out - ref).max())
    _row(
        record,
        benchmark,
        "geomad nangeomedian_pcm (eps 1e-4)",
        "f32",
        max_err=float(np.abs(out - ref).max()),
    )


def _numba_loop():
    from numba import njit, prange

    @njit(parallel=True, cache=True)
    def weiszfeld_loop(x, out):
        for k in prange(x.shape[0]):
            xk = x[k]
            n, d = xk.shape
            y = np.zeros(d)
            for j in range(d):
                y[j] = xk[:, j].mean()
            spread = 0.0
            for j in range(d):
                spread = max(spread, xk[:, j].max() - xk[:, j].min())
            for _ in range(1000):
                num = np.zeros(d)
                den = 0.0
                for i in range(n):
                    r = 0.0
                    for j in range(d):
                        r += (xk[i, j] - y[j]) ** 2
                    r = max(np.sqrt(r), 1e-12 * spread)
                    den += 1.0 / r
                    for j in range(d):
                        num[j] += xk[i, j] / r
                step = 0.0
                for j in range(d):
                    new = num[j] / den
                    step = max(step, abs(new - y[j]))
                    y[j] = new
                if step <= 1e-10 * spread:
                    break
            out[k] = y

    return weiszfeld_loop


def test_numba_prange_loop(benchmark, record, data):
    loop = _numba_loop()
    x = data["f64"]
    out = np.empty((P, D))
    loop(x[:64], out[:64])  # compile outside the timing
    benchmark.group = "batch-100k-pixels"
    benchmark(loop, x, out)
    _row(record, benchmark, "numba prange Weiszfeld loop (uncertified)", "f64")
