"""Bad input raises a ValueError/TypeError naming the problem; good input in any layout works.

Every call also checks that the caller's arrays come back unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian import _validate

GOOD = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0], [1.0, 1.0]])


def frozen_copy(*arrays):
    return [a.copy() if isinstance(a, np.ndarray) else None for a in arrays]


def call(points, weights=None, **kwargs):
    """Run solve, then geometric_median, objective and gradient on the same input."""
    before = frozen_copy(points, weights)
    try:
        geomedian.solve(points, weights, **kwargs)
    finally:
        for b, a in zip(before, (points, weights)):
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)


BAD_POINTS = [
    (np.empty((0, 2)), ValueError, "empty"),
    (np.empty((3, 0)), ValueError, "d must be >= 1"),
    (np.float64(1.0), ValueError, "2-D|at least 2 dimensions"),
    (np.array([1.0, 2.0, 3.0]), ValueError, "reshape"),
    (np.array([[1.0, np.nan], [0.0, 0.0]]), ValueError, "row 0, column 1"),
    (np.array([[1.0, 2.0], [0.0, np.inf]]), ValueError, "row 1, column 1"),
    (np.array([[1.0, 2.0], [-np.inf, 0.0]], dtype=np.float32), ValueError, "finite"),
    (np.ones((3, 2), dtype=complex), TypeError, "complex"),
    (np.ones((3, 2), dtype=bool), TypeError, "bool"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "dtype"),
    (np.array([[1, None], [2, 3]], dtype=object), TypeError, "object"),
    ([[1, 2], [3]], ValueError, "could not be read"),
    (np.array([[1, 2], [3, 4]], dtype="datetime64[s]"), TypeError, "datetime"),
]


@pytest.mark.parametrize(("points", "error", "match"), BAD_POINTS, ids=lambda v: str(v)[:20])
def test_bad_points(backend, points, error, match):
    with pytest.raises(error, match=match):
        call(points, backend=backend)
    with pytest.raises(error, match=match):
        geomedian.geometric_median(points, backend=backend)
    with pytest.raises(error, match=match):
        geomedian.objective(np.zeros(2), points, backend=backend)


def test_nan_far_down_a_large_array_is_located(backend):
    x = np.random.default_rng(0).normal(size=(200_000, 3))
    x[123_456, 2] = np.nan
    with pytest.raises(ValueError, match="row 123456, column 2"):
        call(x, backend=backend)


BAD_WEIGHTS = [
    ([1.0, 1.0, 1.0], ValueError, r"shape \(3,\) do not match.*\(4,\)|length 3 but points has n=4"),
    ([[1.0, 1.0, 1.0, 1.0]], ValueError, r"shape \(1, 4\) do not match|1-D array of length n=4"),
    ([1.0, np.nan, 1.0, 1.0], ValueError, "finite.*index 1"),
    ([1.0, 1.0, np.inf, 1.0], ValueError, "finite.*index 2"),
    ([1.0, -1e-300, 1.0, 1.0], ValueError, "non-negative.*index 1"),
    ([0.0, 0.0, 0.0, 0.0], ValueError, "all zero"),
    ([1j, 1, 1, 1], TypeError, "complex"),
    ([True, False, True, True], TypeError, "bool"),
    (["1", "1", "1", "1"], TypeError, "dtype"),
]


@pytest.mark.parametrize(("weights", "error", "match"), BAD_WEIGHTS, ids=lambda v: str(v)[:24])
def test_bad_weights(backend, weights, error, match):
    w = np.array(weights)
    with pytest.raises(error, match=match):
        call(GOOD, w, backend=backend)
    with pytest.raises(error, match=match):
        geomedian.gradient(np.zeros(2), GOOD, w, backend=backend)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"tol": -1e-3}, ValueError, "tol must be >= 0"),
        ({"tol": float("nan")}, ValueError, "tol must be >= 0"),
        ({"tol": "small"}, TypeError, "tol must be a real number"),
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1"),
        ({"max_iter": 2.5}, TypeError, "max_iter must be a positive integer"),
        ({"max_iter": True}, TypeError, "bool"),
        ({"method": "newtonish"}, ValueError, "unknown method 'newtonish'"),
        ({"method": None}, TypeError, "method must be a string"),
        ({"backend": "fortran"}, ValueError, "unknown backend 'fortran'"),
        ({"threads": 0}, ValueError, "threads must be >= 1"),
        ({"threads": 1.5}, TypeError, "threads must be a positive integer"),
        ({"init": [1.0, 2.0, 3.0]}, ValueError, r"init must have shape \(2,\)"),
        ({"init": [np.nan, 0.0]}, ValueError, "init must be finite"),
        ({"init": ["a", "b"]}, TypeError, "init must hold real numbers"),
    ],
)
def test_bad_options(backend, options, error, match):
    options = {"backend": backend, **options}
    with pytest.raises(error, match=match):
        call(GOOD, **options)


def test_bad_evaluation_point(backend):
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        geomedian.objective([1.0], GOOD, backend=backend)
    with pytest.raises(ValueError, match="y must be finite"):
        geomedian.gradient([np.inf, 0.0], GOOD, backend=backend)


def layouts(x):
    yield "C", x
    yield "Fortran", np.asfortranarray(x)
    yield "row-strided", np.repeat(x, 2, axis=0)[::2]
    yield "column-strided", np.repeat(x, 3, axis=1)[:, ::3]
    yield "reversed", x[::-1][::-1]
    yield "negative-strides", x[::-1, ::-1][::-1, ::-1]
    ro = x.copy()
    ro.flags.writeable = False
    yield "read-only", ro
    yield "list", x.tolist()
    # Points sitting at an odd byte offset inside a buffer: unaligned floats.
    raw = np.zeros(x.nbytes + 1, dtype=np.uint8)
    unaligned = raw[1:].view(x.dtype).reshape(x.shape)
    unaligned[...] = x
    yield "unaligned", unaligned


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_layout_gives_the_same_answer(backend, dtype):
    x = np.random.default_rng(1).normal(size=(257, 3)).astype(dtype)
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=257)
    expected = geomedian.solve(x, w, backend=backend, threads=1)
    for name, variant in layouts(x):
        before = np.array(variant, copy=True)
        res = geomedian.solve(variant, w[::-1][::-1], backend=backend, threads=1)
        np.testing.assert_array_equal(np.asarray(variant), before, err_msg=name)
        if name == "list":
            continue  # a list of float32 values becomes float64 points
        np.testing.assert_array_equal(res.median, expected.median, err_msg=name)
        assert res.median.dtype == dtype


def test_dtype_rules(backend):
    x = np.array([[1, 2], [3, 4], [5, 7]])
    for dtype, out in [
        (np.int8, np.float32),  # integers of <= 16 bits are exact in float32
        (np.uint16, np.float32),
        (np.int32, np.float64),
        (np.int64, np.float64),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
    ]:
        res = geomedian.solve(x.astype(dtype), backend=backend)
        assert res.median.dtype == out, dtype
    # Large integers are computed in float64, not in their own (overflowing) arithmetic.
    big = np.array([[2**62, 0], [-(2**62), 0], [0, 2**62]], dtype=np.int64)
    res = geomedian.solve(big, backend=backend)
    assert np.isfinite(res.objective) and res.converged


def test_contiguous_float_points_are_not_copied():
    for dtype in (np.float32, np.float64):
        x = np.ones((10, 3), dtype=dtype)
        assert _validate.as_points(x) is x
    assert _validate.as_points(np.asfortranarray(np.ones((10, 3)))).flags.c_contiguous


def test_weights_are_not_modified_and_may_be_read_only(backend):
    w = np.array([1.0, 2.0, 3.0, 4.0])
    w.flags.writeable = False
    before = w.copy()
    geomedian.solve(GOOD, w, backend=backend)
    np.testing.assert_array_equal(w, before)
