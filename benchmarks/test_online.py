"""Time a stream through ``OnlineGeometricMedian.partial_fit``, in blocks of 100,000 rows.

Run from the project root (the default pytest options disable benchmarks)::

    python -m pytest benchmarks/test_online.py --benchmark-enable --benchmark-only \
        --benchmark-columns=min,median,max,rounds -q

Each round streams the whole dataset into a fresh estimator (both backends, grouped per
dataset as ``online-<dataset>``). Every block runs the SGD kernel over its rows and, at
the estimator's checks, the robust anchor of its sample; the benchmark checks that every
row was seen and that the estimate lies near the data's centre (the data are centred
Gaussians).
"""

from __future__ import annotations

import numpy as np

import geomedian

BLOCK = 100_000


def test_partial_fit_stream(benchmark, dataset, backend):
    x = dataset.points
    benchmark.group = f"online-{dataset.name}"
    benchmark.extra_info.update(n=dataset.n, d=dataset.d, backend=backend, block=BLOCK)

    def stream():
        est = geomedian.OnlineGeometricMedian(backend=backend)
        for lo in range(0, x.shape[0], BLOCK):
            est.partial_fit(x[lo : lo + BLOCK])
        return est

    est = benchmark(stream)

    assert est.n_seen_ == x.shape[0]
    assert np.abs(est.median_).max() < 0.05
