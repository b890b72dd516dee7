"""geomad: the median, the three MADs and the count, per backend, against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import geomedian
from geomedian._result import EMPTY


def numpy_mads(x: np.ndarray, median: np.ndarray, weights=None):
    """emad, smad, bcmad and count of (P, n, d) points around (P, d) medians, in float64."""
    x = np.asarray(x, dtype=np.float64)
    median = np.asarray(median, dtype=np.float64)
    out = np.full((4, x.shape[0]), np.nan)
    for k in range(x.shape[0]):
        valid = ~np.isnan(x[k]).any(axis=1)
        if weights is not None:
            valid &= weights > 0
        xv, m = x[k][valid], median[k]
        out[3, k] = len(xv)
        if len(xv) == 0:
            continue
        out[0, k] = np.median(np.linalg.norm(xv - m, axis=1))
        den = np.linalg.norm(xv, axis=1) * np.linalg.norm(m)
        out[1, k] = np.median(1 - _ratio_or_zero(xv @ m, den))
        dif, tot = np.abs(xv - m).sum(axis=1), np.abs(xv + m).sum(axis=1)
        out[2, k] = np.median(_ratio_or_zero(dif, tot))
    return out


def _ratio_or_zero(num, den):
    """num / den, 0 where den is 0 (geomad's documented rule)."""
    return np.where(den == 0, 0.0, num / np.where(den == 0, 1.0, den))


def cloudy(rng, P, n, d, dtype=np.float64, fraction=0.4):
    """P problems of n points in d bands, about ``fraction`` of the points NaN."""
    x = rng.random((P, n, d)).astype(dtype) + 0.1
    x[rng.random((P, n)) < fraction] = np.nan
    return x


def check_mads(res, x, weights=None, rtol=1e-12):
    ref = numpy_mads(x, res.median, weights)
    np.testing.assert_array_equal(res.count, ref[3])
    for row, name in enumerate(("emad", "smad", "bcmad")):
        np.testing.assert_allclose(getattr(res, name), ref[row], rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("n", [7, 20])  # odd and even counts both occur
def test_mads_match_numpy(backend, rng, n):
    x = cloudy(rng, 200, n, 4)
    x[3] = np.nan  # an all-missing problem
    res = geomedian.geomad(x, backend=backend)
    check_mads(res, x)
    assert res.count[3] == 0 and res.status[3] == EMPTY
    assert np.isnan(res.median[3]).all() and np.isnan(res.emad[3])
    assert res.converged[np.arange(200) != 3].all()


@pytest.mark.parametrize("d", [1, 2, 10])
def test_mads_of_small_weighted_problems(backend, rng, d):
    """Packs of eight and single lanes (13 problems), weights of 0 among the valid points."""
    x = cloudy(rng, 13, 15, d, fraction=0.3)
    w = rng.random(15)
    w[[2, 9]] = 0.0
    res = geomedian.geomad(x, w, backend=backend)
    check_mads(res, x, weights=w)
    assert res.converged.all()


def test_median_is_solves_with_nan_omitted(backend, rng):
    x = cloudy(rng, 50, 30, 6, np.float32)
    res = geomedian.geomad(x, backend=backend)
    ref = geomedian.solve(x, nan_policy="omit", backend=backend)
    np.testing.assert_array_equal(res.median, ref.median)
    np.testing.assert_array_equal(res.status, ref.status)
    assert res.median.dtype == res.emad.dtype == np.float32
    check_mads(res, x, rtol=1e-6)


def test_large_problems_and_weights(backend, rng):
    # n d above the small-problem size: NaN rows are given weight 0 outside the kernel
    x = cloudy(rng, 3, 2100, 4)
    res = geomedian.geomad(x, backend=backend)
    check_mads(res, x)
    w = rng.random(2100)
    w[::5] = 0.0  # a point of weight 0 is not a valid point
    res = geomedian.geomad(x, w, backend=backend)
    check_mads(res, x, weights=w)
    ref = geomedian.solve(x, w, nan_policy="omit", backend=backend)
    np.testing.assert_allclose(res.median, ref.median, rtol=1e-9)


def test_single_problem_gives_scalars(backend):
    x = np.array([[0.0, 1.0], [1.0, 0.0], [np.nan, 3.0], [1.0, 1.0]])
    res = geomedian.geomad(x, backend=backend)
    assert isinstance(res.emad, float) and res.count == 3
    check_mads(_batched(res), x[None])
    assert "emad" in repr(res) and "count: 3" in repr(res)


def _batched(res):
    class R:
        median = np.asarray(res.median)[None]
        count = np.array([res.count])
        emad, smad, bcmad = (np.array([getattr(res, n)]) for n in ("emad", "smad", "bcmad"))

    return R


def test_layout_of_geomad_package(backend, rng):
    # (y, x, band, time), as geomad's nangeomedian_pcm reads it
    x = cloudy(rng, 24, 15, 3).reshape(4, 6, 15, 3)
    ref = geomedian.geomad(x, backend=backend)
    res = geomedian.geomad(np.moveaxis(x, -1, -2).copy(), axis=-1, coord_axis=-2, backend=backend)
    for name in ("median", "emad", "smad", "bcmad", "count"):
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name))
    assert res.median.shape == (4, 6, 3) and res.emad.shape == (4, 6)
    assert "emad" in repr(res)


@pytest.mark.parametrize(
    ("dtype", "nodata", "scale", "offset"),
    [(np.uint16, 0, None, None), (np.uint16, 0, 2.75e-5, -0.2), (np.int16, -999, 1e-4, None)],
)
def test_integers_equal_the_float_path(backend, rng, dtype, nodata, scale, offset):
    raw = rng.integers(1, 10_000, size=(300, 25, 5)).astype(dtype)
    raw[rng.random((300, 25, 5)) < 0.1] = nodata  # one band missing is a missing point
    raw[7] = nodata
    res = geomedian.geomad(raw, nodata=nodata, scale=scale, offset=offset, backend=backend)
    x = raw.astype(np.float32)
    if scale is not None:
        x *= np.float32(scale)
    if offset is not None:
        x += np.float32(offset)
    x[raw == nodata] = np.nan
    ref = geomedian.geomad(x, backend=backend)
    for name in ("median", "emad", "smad", "bcmad", "count", "status"):
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name))
    assert res.median.dtype == np.float32 and res.count[7] == 0

    ints = geomedian.geomad(
        raw, nodata=nodata, scale=scale, offset=offset, integer_median=True, backend=backend
    )
    assert ints.median.dtype == dtype
    assert (ints.median[7] == nodata).all()
    back = ref.median.astype(np.float64)
    if offset is not None:
        back -= offset
    if scale is not None:
        back /= scale
    np.testing.assert_array_equal(np.delete(ints.median, 7, 0), np.rint(np.delete(back, 7, 0)))


def test_bad_inputs(rng):
    x = cloudy(rng, 5, 6, 3)
    with pytest.raises(ValueError, match="axis 5 is out of bounds"):
        geomedian.geomad(x, axis=5)
    with pytest.raises(TypeError, match="nodata must be a real number"):
        geomedian.geomad(x, nodata="0")
    with pytest.raises(TypeError, match="scale must be a real number"):
        geomedian.geomad(x, scale="1e-4")
    with pytest.raises(ValueError, match="offset must be finite"):
        geomedian.geomad(x, offset=np.inf)
    with pytest.raises(ValueError, match="integer_median=True needs integer points"):
        geomedian.geomad(x, integer_median=True, nodata=0)
    with pytest.raises(ValueError, match="needs integer points and a nodata"):
        geomedian.geomad(np.ones((5, 6, 3), dtype=np.uint16), integer_median=True)
    with pytest.raises(ValueError, match="no geomad path"):
        geomedian.geomad(x, method="sgd")
    x[1, 2, 0] = np.inf
    with pytest.raises(ValueError, match="inf"):
        geomedian.geomad(x)


@given(
    st.integers(1, 19),
    st.integers(1, 24),
    st.integers(1, 11),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from([(-3, 3), (0, 2), (-1000, 1000)]),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_mads_of_any_stack_match_numpy(backend, P, n, d, dtype, span, fraction, seed):
    """Small integer values (zeros, points at the median, x = -m and sign cancellations in
    the denominators), any share of missing points, packs and single lanes: the MADs and
    counts are NumPy's around the returned median, every non-empty median certified."""
    rng = np.random.default_rng(seed)
    x = rng.integers(span[0], span[1], (P, n, d), endpoint=True).astype(dtype)
    x[rng.random((P, n)) < fraction] = np.nan
    res = geomedian.geomad(x, backend=backend)
    check_mads(res, x, rtol=1e-12 if dtype == np.float64 else 1e-6)
    present = res.count > 0
    assert res.converged[present].all(), res.message
    assert np.isnan(res.median[~present]).all() and (res.status[~present] == EMPTY).all()
