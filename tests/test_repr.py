"""The result reads well: aligned lines for one problem, a summary for a batch."""

from __future__ import annotations

import numpy as np
import pytest

import geomedian

FIELDS = ("message", "converged", "status", "median", "objective", "lower_bound", "gap",
          "scale", "n_iter", "n_passes", "method", "backend")  # fmt: skip


def _names(text: str) -> list[str]:
    return [line.split(":")[0].strip() for line in text.splitlines()]


def test_one_problem_is_aligned_lines(backend):
    res = geomedian.solve([[0, 0], [4, 0], [0, 3]], backend=backend)
    text = repr(res)
    lines = text.splitlines()
    assert _names(text) == list(FIELDS)
    assert len({line.index(":") for line in lines}) == 1  # the colons line up
    assert f"objective: {res.objective!r}" in text and f"gap: {res.gap!r}" in text
    assert "converged: True" in text and f"backend: {backend}" in text
    assert lines[3].endswith(np.array2string(res.median))


def test_batch_is_summarised(backend):
    x = np.random.default_rng(0).normal(size=(10, 12, 30, 3))
    x[0, 0] = np.nan
    with pytest.warns(RuntimeWarning, match="All-NaN"):
        res = geomedian.solve(x, max_iter=3, nan_policy="omit", backend=backend)
    text = repr(res)
    assert len(text) < 1200 and len(text.splitlines()) == 13
    k = int(res.converged.sum())
    assert 0 < k < 119  # some problems ran out of max_iter: the summary must say so
    assert f"converged: {k} of 120" in text
    assert "shape: (10, 12) (120 problems)" in text
    assert "median: shape (10, 12, 3), float64" in text
    gaps = res.gap[np.isfinite(res.gap)]
    assert f"gap: min {gaps.min():.4g}, median {np.median(gaps):.4g}, max {gaps.max():.4g}" in (
        text
    )
    assert "(1 NaN)" in text.splitlines()[_names(text).index("gap")]
    counts = np.bincount(res.status.ravel())
    assert f"status: 0: {counts[0]}, 1: {counts[1]}, 5: 1" in text


def test_dataframe_median_shows_its_labels():
    pd = pytest.importorskip("pandas")
    res = geomedian.solve(pd.DataFrame({"lon": [0.0, 2.0, 1.0], "lat": [0.0, 0.0, 1.0]}))
    assert f"median: Series(lon={res.median['lon']:.8g}, lat=" in repr(res)


def test_lazy_batch_is_not_computed(backend):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(np.random.default_rng(1).normal(size=(4, 10, 2)), chunks=(2, 10, 2))
    text = repr(geomedian.solve(lazy, backend=backend))
    assert "lazy" in text and "shape: (4,)" in text
