"""Array layouts: the points axis and the coordinates axis named, never guessed wrong.

A (time, band, y, x) stack with ``axis=0, coord_axis=1`` gives one median per pixel, the
same as solving each pixel alone; a layout that cannot be told is an error; any layout
goes to the kernels without a copy where its strides allow it.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import geomedian
from geomedian import _validate as v
from geomedian._options import SolveOptions


def _stack() -> np.ndarray:
    """A (time 9, band 3, y 4, x 5) uint16 stack, 0 marking missing observations."""
    r = np.random.default_rng(21)
    stack = r.integers(100, 5000, (9, 3, 4, 5)).astype(np.uint16)
    stack[2, :, 1, 1] = 0  # one missing observation
    stack[5, 1, 2, 3] = 0  # one band missing: the whole observation goes
    stack[:, :, 3, 4] = 0  # a pixel with no data at all
    return stack


def _per_pixel(stack: np.ndarray, backend: str) -> np.ndarray:
    _, b, ny, nx = stack.shape
    out = np.full((ny, nx, b), np.nan, dtype=np.float32)
    for i in range(ny):
        for j in range(nx):
            x = stack[:, :, i, j]
            x = x[(x != 0).all(axis=1)].astype(np.float32)
            if len(x):
                out[i, j] = geomedian.solve(x, backend=backend).median
    return out


def test_time_band_y_x_stack_equals_per_pixel_solves(backend):
    stack = _stack()
    before = stack.copy()
    with pytest.warns(RuntimeWarning, match="All-NaN slice encountered: 1 of 20 problems"):
        med = geomedian.geometric_median(
            stack, axis=0, coord_axis=1, nodata=0, nan_policy="omit", backend=backend
        )
    np.testing.assert_array_equal(stack, before)
    assert med.shape == (4, 5, 3) and med.dtype == np.float32
    np.testing.assert_array_equal(med, _per_pixel(stack, backend))
    # The same as moving the axes by hand to the default layout.
    moved = np.moveaxis(stack, (0, 1), (-2, -1))
    with pytest.warns(RuntimeWarning, match="All-NaN"):
        ref = geomedian.solve(moved, nodata=0, nan_policy="omit", backend=backend)
    np.testing.assert_array_equal(med, ref.median)


def test_weights_follow_the_layout_without_the_coordinates(backend):
    x = np.random.default_rng(3).normal(size=(6, 2, 4, 5))  # (time, band, y, x)
    w = np.random.default_rng(4).uniform(0.5, 2.0, size=(6, 4, 5))  # (time, y, x)
    res = geomedian.solve(x, w, axis=0, coord_axis=1, backend=backend)
    moved = np.moveaxis(x, (0, 1), (-2, -1))  # (y, x, time, band)
    ref = geomedian.solve(moved, np.moveaxis(w, 0, -1), backend=backend)
    np.testing.assert_array_equal(res.median, ref.median)
    np.testing.assert_array_equal(res.gap, ref.gap)


@pytest.mark.parametrize("coord_axis", [0, -2])
def test_points_as_columns(backend, coord_axis):
    x = np.random.default_rng(5).normal(size=(40, 3))
    ref = geomedian.solve(x, backend=backend)
    res = geomedian.solve(x.T, coord_axis=coord_axis, backend=backend)  # axis: the other one
    np.testing.assert_array_equal(res.median, ref.median)
    assert res.objective == ref.objective
    y = ref.median
    assert geomedian.objective(y, x.T, coord_axis=coord_axis, backend=backend) == (
        geomedian.objective(y, x, backend=backend)
    )
    np.testing.assert_array_equal(
        geomedian.gradient(y + 1, x.T, axis=1, coord_axis=0, backend=backend),
        geomedian.gradient(y + 1, x, backend=backend),
    )


def test_no_copy_where_the_strides_allow():
    x = np.random.default_rng(6).normal(size=(30, 4))
    layout = SolveOptions(coord_axis=0)
    assert np.shares_memory(v.as_batch(x.T, layout).x, x)  # the transpose: a view
    assert np.shares_memory(v.as_points(x.T, None, 0), x)
    stack = np.zeros((3, 7, 2))  # (pixels, time, band): the default layout, a view
    assert np.shares_memory(v.as_batch(stack, SolveOptions(axis=1, coord_axis=2)).x, stack)
    c_order = np.zeros((2, 30))  # (band, time) C-contiguous: coordinates must be gathered
    assert not np.shares_memory(v.as_batch(c_order, layout).x, c_order)


def test_memmap_in_another_layout_is_not_streamed_as_is(tmp_path, backend):
    x = np.random.default_rng(7).normal(size=(500, 3))
    path = tmp_path / "points.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=(3, 500), order="F")
    mm[:] = x.T
    mm.flush()
    columns = np.memmap(path, dtype=np.float64, mode="r", shape=(3, 500), order="F")
    res = geomedian.solve(columns, coord_axis=0, backend=backend)
    ref = geomedian.solve(x, backend=backend)
    np.testing.assert_allclose(res.median, ref.median, rtol=0, atol=1e-9)
    sgd = geomedian.solve(columns, coord_axis=0, method="sgd", backend=backend)
    assert np.linalg.norm(sgd.median - ref.median) < 0.05


@pytest.mark.parametrize(
    ("shape", "axes", "match"),
    [
        ((4, 3), {"axis": 1}, "axis=1 and coord_axis=-1 both name axis 1 of the 2-D"),
        ((4, 3), {"axis": 0, "coord_axis": 0}, "both name axis 0"),
        ((5, 4, 3), {"coord_axis": 1}, "pass axis= too"),
        ((5, 4, 3), {"axis": 0, "coord_axis": 3}, "coord_axis 3 is out of bounds"),
    ],
)
def test_layouts_that_cannot_be_told_are_errors(shape, axes, match):
    with pytest.raises(ValueError, match=match):
        geomedian.solve(np.zeros(shape), **axes)
    with pytest.raises(ValueError, match=match):
        geomedian.geometric_median(np.zeros(shape), **axes)
    if len(shape) == 2:
        with pytest.raises(ValueError, match=match):
            geomedian.objective(np.zeros(3), np.zeros(shape), **axes)
    with pytest.raises(TypeError, match="coord_axis must be an integer"):
        geomedian.solve(np.zeros(shape), coord_axis=1.0)


def test_dask_batch_in_another_layout(backend):
    da = pytest.importorskip("dask.array")
    x = np.random.default_rng(8).normal(size=(6, 2, 4, 5))  # (time, band, y, x)
    lazy = da.from_array(x, chunks=(6, 2, 2, 5))
    res = geomedian.solve(lazy, axis=0, coord_axis=1, backend=backend)
    ref = geomedian.solve(x, axis=0, coord_axis=1, backend=backend)
    np.testing.assert_array_equal(res.median.compute(), ref.median)


def test_the_hot_loop_is_still_taken(backend, monkeypatch):
    from geomedian import _api

    taken = []
    ready = _api.ready_median
    monkeypatch.setattr(_api, "ready_median", lambda *a: taken.append(a) or ready(*a))
    x = np.random.default_rng(9).normal(size=(20, 3))
    a = geomedian.geometric_median(x, backend=backend)
    b = geomedian.geometric_median(np.ascontiguousarray(x.T), coord_axis=0, backend=backend)
    assert len(taken) == 1
    np.testing.assert_array_equal(a, b)


# --- pandas and xarray at the NumPy API -------------------------------------------------


def test_dataframe_in_series_out(backend):
    pd = pytest.importorskip("pandas")
    r = np.random.default_rng(10)
    df = pd.DataFrame(r.normal(size=(25, 3)), columns=["lon", "lat", "height"])
    med = geomedian.geometric_median(df, backend=backend)
    assert isinstance(med, pd.Series) and list(med.index) == ["lon", "lat", "height"]
    plain = geomedian.geometric_median(df.to_numpy(), backend=backend)
    np.testing.assert_array_equal(med.to_numpy(), plain)
    res = geomedian.solve(df, backend=backend)
    assert isinstance(res.median, pd.Series) and res.median.equals(med)
    assert res.converged
    g = geomedian.gradient(np.zeros(3), df, backend=backend)
    assert isinstance(g, pd.Series) and list(g.index) == list(df.columns)


def test_dataframe_weight_column_and_nullable_na(backend):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "x": pd.array([0, 4, 0, 1, 7], dtype="Int64"),
            "y": pd.array([0.0, 0.0, 3.0, None, 1.0], dtype="Float64"),
            "weight": [1.0, 1.0, 1.0, 5.0, 2.0],
        }
    )
    with pytest.raises(ValueError, match="NaN"):  # pd.NA is NaN: raise by default
        geomedian.solve(df, weights="weight", backend=backend)
    res = geomedian.solve(df, weights="weight", nan_policy="omit", backend=backend)
    assert list(res.median.index) == ["x", "y"]  # the weight column is no coordinate
    x = np.array([[0, 0], [4, 0], [0, 3], [7, 1]], dtype=float)
    ref = geomedian.solve(x, [1.0, 1.0, 1.0, 2.0], backend=backend)
    np.testing.assert_allclose(res.median.to_numpy(), ref.median, rtol=0, atol=1e-9)
    assert res.objective == pytest.approx(ref.objective, rel=1e-12)
    complete = df.iloc[[0, 1, 2, 4]]
    f = geomedian.objective(ref.median, complete, weights="weight", backend=backend)
    assert f == pytest.approx(ref.objective, rel=1e-12)
    with pytest.raises(ValueError, match="'w' is not a column"):
        geomedian.solve(df, weights="w")
    with pytest.raises(ValueError, match="makes the columns points"):
        geomedian.solve(df, weights="weight", coord_axis=0)
    with pytest.raises(TypeError, match="a column name needs points in a pandas DataFrame"):
        geomedian.solve(df.to_numpy(dtype=float, na_value=np.nan), weights="weight")


def test_sparse_is_refused():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="sparse input is not supported"):
        geomedian.solve(sparse.csr_array(np.eye(3)))


def test_dataframe_refusals():
    pd = pytest.importorskip("pandas")
    with pytest.raises(TypeError, match="but column 'name' has dtype"):
        geomedian.solve(pd.DataFrame({"x": [1.0, 2.0], "name": ["a", "b"]}))
    with pytest.raises(ValueError, match="pandas Series, one-dimensional"):
        geomedian.geometric_median(pd.Series([1.0, 2.0, 3.0]))


def test_xarray_is_refused_with_directions():
    xr = pytest.importorskip("xarray")
    da = xr.DataArray(_stack(), dims=("time", "band", "y", "x"))
    for call in (geomedian.geometric_median, geomedian.solve):
        with pytest.raises(TypeError, match=r"xarray DataArray with dims \('time', 'band'"):
            call(da)
    with pytest.raises(TypeError, match=r"pass da\.values with axis="):
        geomedian.objective([0, 0, 0], da)


def test_neither_pandas_nor_xarray_is_imported():
    import subprocess

    code = (
        "import sys, numpy, geomedian; geomedian.solve(numpy.ones((3, 2))); "
        "print(sorted({m.partition('.')[0] for m in sys.modules} & {'pandas', 'xarray'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_one_problem_with_no_point_left_warns_once(backend):
    x = np.full((4, 2), np.nan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = geomedian.solve(x, nan_policy="omit", backend=backend)
        med = geomedian.geometric_median(x, nan_policy="omit", backend=backend)
    assert [str(w.message)[:45] for w in caught] == [
        "All-NaN slice encountered: the problem has no"
    ] * 2
    assert all(w.category is RuntimeWarning for w in caught)
    assert res.status == 5 and np.isnan(res.median).all() and np.isnan(med).all()
