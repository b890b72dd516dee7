"""Cases whose answer geometry gives exactly, on both backends, both methods and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import reference

import geomedian

METHODS = ["weiszfeld", "gd", "newton", "auto"]
DTYPES = [np.float64, np.float32]


def solve(points, weights=None, **kwargs):
    res = geomedian.solve(points, weights, **kwargs)
    assert res.converged, res
    assert res.median.dtype == np.asarray(points).dtype or np.asarray(points).dtype.kind in "iu"
    return res


@pytest.mark.parametrize("method", METHODS)
def test_three_collinear_points(backend, method):
    res = solve(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), method=method, backend=backend)
    np.testing.assert_array_equal(res.median, [3.0, 4.0])
    assert res.objective == pytest.approx(2 * np.hypot(2, 2), rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_equilateral_triangle_gives_centroid(backend, method, dtype):
    pts = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, np.sqrt(3.0)]], dtype=dtype)
    res = solve(pts, method=method, backend=backend)
    centroid = pts.astype(np.float64).mean(axis=0)
    atol = 1e-9 if dtype == np.float64 else 1e-3
    np.testing.assert_allclose(res.median, centroid, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "triangle",
    [
        [[0.0, 0.0], [10.0, 0.0], [5.0, 0.5]],  # angle at (5, 0.5) is about 169 degrees
        [[-1.0, 0.0], [1.0, 0.0], [0.0, np.tan(np.pi / 6) * 0.999]],  # just over 120 degrees
        [[3.0, -7.0, 1.0], [-4.0, 2.0, 2.0], [0.0, 0.0, 1.5]],  # in 3-D
    ],
)
def test_triangle_with_angle_of_120_degrees_or_more_gives_that_vertex(
    backend, method, dtype, triangle
):
    pts = np.array(triangle, dtype=dtype)
    res = solve(pts, method=method, backend=backend)
    np.testing.assert_array_equal(res.median, pts[2])
    assert res.gap == 0.0 or res.gap <= 1e-12


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [5, 7, 101])
def test_collinear_points_give_the_one_dimensional_median(backend, method, n, rng):
    t = rng.normal(size=n)
    direction = np.array([3.0, -4.0, 12.0]) / 13.0
    origin = np.array([1.0, 2.0, 3.0])
    pts = origin + t[:, None] * direction
    res = solve(pts, method=method, backend=backend)
    expected = pts[np.argsort(t)[n // 2]]
    np.testing.assert_allclose(res.median, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_even_collinear_points_any_point_between_is_optimal(backend, method):
    pts = np.array([[0.0], [1.0], [3.0], [10.0]])
    res = solve(pts, method=method, backend=backend)
    assert 1.0 <= res.median[0] <= 3.0
    assert res.objective == pytest.approx(12.0, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("share", [0.5, 0.6, 0.99])
def test_point_holding_half_the_weight_is_the_median(backend, method, dtype, share, rng):
    pts = rng.normal(size=(50, 4)).astype(dtype)
    w = rng.uniform(0.5, 1.5, size=50)
    w[17] = 0.0
    w[17] = share / (1 - share) * w.sum()
    res = solve(pts, w, method=method, backend=backend)
    np.testing.assert_array_equal(res.median, pts[17])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_identical_points(backend, method, dtype):
    pts = np.tile(np.array([[1.5, -2.25, 1e3]], dtype=dtype), (1000, 1))
    res = solve(pts, method=method, backend=backend)
    np.testing.assert_array_equal(res.median, pts[0])
    assert res.objective == 0.0
    assert res.gap == 0.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("d", [1, 2, 7])
def test_single_point(backend, method, d, rng):
    pts = rng.normal(size=(1, d))
    res = solve(pts, method=method, backend=backend)
    np.testing.assert_array_equal(res.median, pts[0])
    assert res.objective == 0.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("d", [1, 3, 16])
def test_two_points_objective_is_their_distance(backend, method, d, rng):
    pts = rng.normal(size=(2, d))
    res = solve(pts, method=method, backend=backend)
    distance = float(np.linalg.norm(pts[0] - pts[1]))
    assert res.objective == pytest.approx(distance, rel=1e-10)
    # The answer lies on the segment between them.
    a, b = (np.linalg.norm(res.median - p) for p in pts)
    assert a + b == pytest.approx(distance, rel=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_weighted_two_points_heavier_wins(backend, method):
    res = solve([[0.0, 0.0], [3.0, 4.0]], [1.0, 1.0 + 1e-9], method=method, backend=backend)
    np.testing.assert_array_equal(res.median, [3.0, 4.0])


@pytest.mark.parametrize("method", METHODS)
def test_one_dimensional_data_gives_the_weighted_median(backend, method, rng):
    x = rng.normal(size=(201, 1))
    w = rng.integers(1, 5, size=201).astype(float)
    res = solve(x, w, method=method, backend=backend)
    order = np.argsort(x[:, 0])
    cum = np.cumsum(w[order])
    lo = x[order[np.searchsorted(cum, cum[-1] / 2)], 0]
    hi = x[order[np.searchsorted(cum, cum[-1] / 2, side="right")], 0]
    assert min(lo, hi) - 1e-12 <= res.median[0] <= max(lo, hi) + 1e-12
    assert res.objective == pytest.approx(reference.objective(res.median, x, w), rel=1e-14)


def test_integer_points_are_computed_in_float64(backend):
    res = solve(np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int64), backend=backend)
    assert res.median.dtype == np.float64
    np.testing.assert_array_equal(res.median, [3.0, 4.0])
