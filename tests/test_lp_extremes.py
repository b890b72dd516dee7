"""Lp medians on adversarial data: extreme magnitudes and far points, both backends."""

from __future__ import annotations

import numpy as np
import pytest

import geomedian

P_ALL = [1, 1.2, 3.0, np.inf]


@pytest.mark.parametrize("p", P_ALL)
@pytest.mark.parametrize("scale", [2.0**1000, 2.0**-1000])
def test_extreme_magnitudes_scale_the_answer(backend, rng, p, scale):
    # A power of two scales every computed quantity exactly: the answer must follow it,
    # without an overflow in the certificate's sums (warnings are errors in the suite).
    x = rng.normal(size=(300, 3))
    ref = geomedian.solve(x, p=p, backend=backend)
    res = geomedian.solve(x * scale, p=p, backend=backend)
    assert res.converged, res
    np.testing.assert_array_equal(res.median, ref.median * scale)
    assert res.objective == ref.objective * scale
    assert res.gap == ref.gap


@pytest.mark.parametrize("p", [1.2, 1.5, 3.0, 10.0])
def test_a_far_point_pulls_as_its_direction(backend, rng, p):
    # One point far away acts on the median through its direction alone: at 1e100 and at
    # 1e200 (the same direction, f 1e100 times larger) the medians agree. A tie in f, which
    # cannot resolve moves within the cloud, must not let the iterate jump to a data point.
    x = rng.normal(size=(400, 3))
    far = np.array([1.0, -1.0, 0.25])
    medians = []
    for r in (1e100, 1e200):
        res = geomedian.solve(np.vstack([x, r * far]), p=p, backend=backend)
        assert res.converged, res
        medians.append(res.median)
    np.testing.assert_allclose(medians[0], medians[1], atol=1e-9)
    assert not (np.abs(x - medians[1]) < 1e-12).all(axis=1).any()  # not a data point
