"""geomedian.geomad against the geomad package on geomad's own benchmark fixture.

Run from the project root (the default pytest options disable benchmarks)::

    python -m pytest benchmarks/test_geomad.py --benchmark-enable --benchmark-only \
        --benchmark-columns=min,median,max,rounds -q

The fixture of geomad's benchmarks: float32 ``(100, 100, 10, 50)`` laid out ``(y, x, band,
time)``, 40 % of the dates NaN in every pixel, seeded; and the same stack as uint16
reflectance (x 10,000) with nodata 0 where the float one is NaN. Both libraries read it in
that layout (geomedian with ``axis=-1, coord_axis=-2``), at 1 and 2 threads:

- the median alone: ``geomad.nangeomedian_pcm`` against ``geomedian.geometric_median``
  (``nan_policy="omit"``; every median certified to the float32 default);
- the median, the three MADs and the count: ``nangeomedian_pcm`` + ``emad_pcm`` +
  ``smad_pcm`` + ``bcmad_pcm`` against one ``geomedian.geomad`` call.

Each pair is one benchmark group (``median-f32-1t``, ``geomad-u16-2t``, ...): the ratio in
parentheses in geomad's row is geomad's time over geomedian's.
"""

from __future__ import annotations

import numpy as np
import pytest

import geomedian

geomad = pytest.importorskip("geomad")

SHAPE = (100, 100, 10, 50)  # (y, x, band, time)
MISSING = 0.4
SEED = 20240607
THREADS = (1, 2)


@pytest.fixture(scope="module")
def stacks() -> dict:
    rng = np.random.default_rng([SEED, 17])
    x = rng.random(SHAPE, dtype=np.float32)
    x[..., rng.random(SHAPE[-1]) < MISSING] = np.nan
    u = np.where(np.isnan(x), 0, np.rint(np.nan_to_num(x) * 10_000) + 1).astype(np.uint16)
    return {"f32": (x, None), "u16": (u, 0)}


def _geomad_all(x, threads, nodata):
    kw = {"num_threads": threads, "nodata": nodata}
    m = geomad.nangeomedian_pcm(x, **kw)
    return m, geomad.emad_pcm(x, m, **kw), geomad.smad_pcm(x, m, **kw), geomad.bcmad_pcm(x, m, **kw)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("data", ["f32", "u16"])
def test_median_geomad(benchmark, stacks, data, threads):
    x, nodata = stacks[data]
    benchmark.group = f"median-{data}-{threads}t"
    benchmark(geomad.nangeomedian_pcm, x, num_threads=threads, nodata=nodata)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("data", ["f32", "u16"])
def test_median_geomedian(benchmark, stacks, data, threads):
    x, nodata = stacks[data]
    benchmark.group = f"median-{data}-{threads}t"
    res = benchmark(
        geomedian.solve, x, axis=-1, coord_axis=-2, nan_policy="omit", nodata=nodata,
        threads=threads,
    )  # fmt: skip
    assert res.converged.all(), res.message


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("data", ["f32", "u16"])
def test_geomad_geomad(benchmark, stacks, data, threads):
    x, nodata = stacks[data]
    benchmark.group = f"geomad-{data}-{threads}t"
    benchmark(_geomad_all, x, threads, nodata)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("data", ["f32", "u16"])
def test_geomad_geomedian(benchmark, stacks, data, threads):
    x, nodata = stacks[data]
    benchmark.group = f"geomad-{data}-{threads}t"
    res = benchmark(geomedian.geomad, x, axis=-1, coord_axis=-2, nodata=nodata, threads=threads)
    assert res.converged[res.count > 0].all(), res.message
