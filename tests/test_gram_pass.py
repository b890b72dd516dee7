"""The Gram path's kernels (``gram_pass``, ``gram_median_pass``, ``gram_certificate_pass``)
against NumPy in float64, on both backends: several blocks and stripes, rows that are not
a multiple of the tile, strided rows, a vertex, float32 rounding, and their checks."""

from __future__ import annotations

import numpy as np
import pytest

from geomedian._contract import GRAM_STRIPES
from geomedian._kernels import kernels

N, D = 7, 5000  # 7 rows: not a multiple of the tile; 5000 columns: many blocks per stripe


def _rows(x, strided=False):
    if strided:  # every other column of a wider array: an element stride of 2
        wide = np.repeat(x, 2, axis=1)
        return [row[::2] for row in wide]
    return list(x)


def _centred(x, r, s):
    x64 = x.astype(np.float64)
    return (x64 - x64[r]) * s


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("strided", [False, True])
def test_gram_pass_is_the_centred_gram_matrix(backend, rng, dtype, strided):
    x = (rng.standard_normal((N, D)) * 3 + 100).astype(dtype)
    k = kernels(backend)
    G = k.gram_pass(_rows(x, strided), 2, 0.125, 2)
    B = _centred(x, 2, 0.125)
    np.testing.assert_allclose(G, B @ B.T, rtol=1e-12, atol=1e-12 * np.abs(B @ B.T).max())
    np.testing.assert_array_equal(G, G.T)
    np.testing.assert_array_equal(G, k.gram_pass(_rows(x, strided), 2, 0.125, 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_median_and_certificate_passes(backend, rng, dtype):
    x = (rng.standard_normal((N, D)) + 7).astype(dtype)
    k = kernels(backend)
    a = rng.uniform(size=N)
    a /= a.sum()
    r, s = 3, 0.5
    y, d2 = k.gram_median_pass(_rows(x), r, s, a, -1, 2)
    assert y.dtype == dtype and y.shape == (D,)
    x64 = x.astype(np.float64)
    y64 = x64[r] + a @ (x64 - x64[r])
    np.testing.assert_allclose(y, y64.astype(dtype), rtol=4 * np.finfo(dtype).eps)
    # The point certified: y as returned (float32), y unrounded (float64).
    yc = y.astype(np.float64) if dtype == np.float32 else y64
    np.testing.assert_allclose(d2, (((x64 - yc) * s) ** 2).sum(axis=1), rtol=1e-12)
    t, ws = rng.uniform(size=N), rng.uniform(size=N)
    rr, rm = k.gram_certificate_pass(_rows(x), r, s, a, -1, y, t, ws, 2)
    R, M = t @ (x64 - yc), ws @ (x64 - yc)
    assert rr == pytest.approx(R @ R * s * s, rel=1e-11)
    assert rm == pytest.approx(R @ M * s, rel=1e-9, abs=1e-12 * np.sqrt(rr) * np.abs(M).sum())
    y1, d21 = k.gram_median_pass(_rows(x), r, s, a, -1, 1)
    np.testing.assert_array_equal(y1, y)
    np.testing.assert_array_equal(d21, d2)  # the stripes, not the threads, fix the sums
    assert (rr, rm) == k.gram_certificate_pass(_rows(x), r, s, a, -1, y, t, ws, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_vertex_is_its_row_bit_for_bit(backend, rng, dtype):
    x = rng.standard_normal((N, 300)).astype(dtype)
    a = np.zeros(N)
    a[4] = 1.0
    y, d2 = kernels(backend).gram_median_pass(_rows(x), 0, 1.0, a, 4, 2)
    np.testing.assert_array_equal(y, x[4])
    assert d2[4] == 0.0
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(d2, ((x64 - x64[4]) ** 2).sum(axis=1), rtol=1e-12)


def test_fewer_columns_than_stripes(backend, rng):
    x = rng.standard_normal((5, 3))
    assert x.shape[1] < GRAM_STRIPES
    G = kernels(backend).gram_pass(_rows(x), 0, 1.0, 2)
    B = x - x[0]
    np.testing.assert_allclose(G, B @ B.T, rtol=1e-13, atol=1e-15)


def test_rows_are_checked(backend, rng):
    k = kernels(backend)
    x = rng.standard_normal((3, 10))
    with pytest.raises(TypeError, match="float64"):
        k.entry("gram_pass", np.float64)([x[0], x[1].astype(np.float32)], 0, 1.0, 1)
    with pytest.raises(ValueError, match="same length"):
        k.gram_pass([x[0], x[1, :5]], 0, 1.0, 1)
    with pytest.raises(ValueError, match="row index"):
        k.gram_pass(list(x), 3, 1.0, 1)
    with pytest.raises(ValueError, match="row index"):
        k.gram_median_pass(list(x), 0, 1.0, np.ones(3) / 3, 5, 1)
    with pytest.raises(TypeError):
        k.entry("gram_pass", np.float64)(x, 0, 1.0, 1)  # a list of rows, not an array
