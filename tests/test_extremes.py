"""Numerical extremes: huge and tiny magnitudes, far offsets, d = 100,000, ten million
identical points, ties between two clusters, weights spanning 600 decades."""

from __future__ import annotations

import numpy as np
import pytest
from reference import objective as objective_ref
from reference import optimum_bracket

import geomedian


def _base(rng, n=200, d=3):
    return rng.normal(size=(n, d))


@pytest.mark.parametrize("scale", [1e300, 1e-300, 2.0**-1060])
def test_magnitudes_scale_the_answer(backend, rng, scale):
    xs = _base(rng) * scale
    x = xs / scale  # what the scaled data hold (subnormal data keep fewer digits)
    unit = geomedian.solve(x, backend=backend)
    big = geomedian.solve(xs, backend=backend)
    assert big.converged and np.isfinite(big.median).all()
    # Subnormal answers are rounded to multiples of 2**-1074: that is all they can hold.
    resolution = max(1e-9, 2.0**-1074 / scale)
    np.testing.assert_allclose(big.median / scale, unit.median, rtol=1e-8, atol=resolution)
    # The reference in unit scale: there its distances are not rounded to subnormals.
    f_ref = objective_ref(big.median / scale, x) * scale
    assert big.objective == pytest.approx(f_ref, rel=max(1e-9, resolution))
    assert big.objective == pytest.approx(unit.objective * scale, rel=max(1e-8, resolution))
    # A subnormal bound is rounded once, to half a unit of 2**-1074.
    assert big.lower_bound <= f_ref * (1 + 1e-12) + 2.0**-1074


def test_offset_1e12_with_unit_spread(backend, rng):
    x = _base(rng)
    unit = geomedian.solve(x, backend=backend)
    far = geomedian.solve(x + 1e12, backend=backend)
    # float64 resolves 1e12 + O(1) to 1.2e-4: the answer keeps that many digits.
    np.testing.assert_allclose(far.median - 1e12, unit.median, atol=5e-4)
    assert far.objective == pytest.approx(objective_ref(far.median, x + 1e12), rel=1e-9)
    assert far.gap <= 1e-10 or far.status == 2  # certified, or stalled at the resolution


def test_three_points_in_100000_dimensions(backend, rng):
    x = rng.normal(size=(3, 100_000))
    res = geomedian.solve(x, backend=backend)
    assert res.converged and res.median.shape == (100_000,)
    # The three points span a plane: solve the same triangle in 2-D, independently.
    q, _ = np.linalg.qr((x[1:] - x[0]).T)
    plane = (x - x[0]) @ q[:, :2]
    lo, hi = optimum_bracket(plane)
    assert res.objective == pytest.approx(objective_ref(res.median, x), rel=1e-9)
    assert res.objective <= hi * (1 + 1e-9)
    assert res.lower_bound <= hi * (1 + 1e-12) and res.objective >= lo * (1 - 1e-9)


@pytest.mark.slow
def test_ten_million_identical_points(backend):
    x = np.full((10_000_000, 1), 3.25)
    res = geomedian.solve(x, backend=backend)
    assert res.converged
    assert res.median.tolist() == [3.25]
    assert res.objective == 0.0 and res.lower_bound <= 0.0


@pytest.mark.parametrize("method", ["gd", "weiszfeld"])
def test_two_clusters_of_equal_weight(backend, rng, method):
    a = np.zeros((50, 2)) + rng.normal(size=(50, 2)) * 1e-9
    b = np.array([1.0, 0.0]) + rng.normal(size=(50, 2)) * 1e-9
    x = np.vstack([a, b])
    res = geomedian.solve(x, backend=backend, method=method)
    # Every point between the clusters is optimal; the objective must be the optimum.
    _, hi = optimum_bracket(x)
    assert res.converged
    assert res.objective <= hi * (1 + 1e-10) and res.lower_bound <= hi * (1 + 1e-12)
    assert res.objective == pytest.approx(50.0, rel=1e-6)


def test_weights_spanning_1e300_to_1e300(backend, rng):
    x = _base(rng, n=60)
    w = 10.0 ** np.linspace(-300, 300, 60)
    rng.shuffle(w)
    res = geomedian.solve(x, w, backend=backend)
    assert res.converged and np.isfinite(res.median).all()
    # Scaling every weight by a power of two changes nothing, to the bit.
    again = geomedian.solve(x, w * 2.0**-600, backend=backend)
    np.testing.assert_array_equal(again.median, res.median)
    assert again.objective == res.objective * 2.0**-600
    # The 1e300 point dominates (Kuhn): the median is that point.
    np.testing.assert_array_equal(res.median, x[np.argmax(w)])
    assert res.objective == pytest.approx(objective_ref(res.median, x, w), rel=1e-9)
