"""geomedian.xarray: composites of Datasets and DataArrays, eager and lazy, per backend."""

from __future__ import annotations

import numpy as np
import pytest

import geomedian

xr = pytest.importorskip("xarray")
gx = pytest.importorskip("geomedian.xarray")

BANDS = ("red", "green", "nir")


def scene(rng, dtype=np.uint16, nodata=0) -> xr.Dataset:
    """Three bands over (time, y, x) with labelled coordinates, some observations missing."""
    shape = (12, 5, 4)
    coords = {"time": np.arange(12), "y": np.linspace(0, 1, 5), "x": np.arange(4) * 10.0}
    data = {}
    cloud = rng.random(shape) < 0.3
    for name in BANDS:
        values = rng.integers(100, 3000, size=shape).astype(dtype)
        values[cloud] = nodata
        data[name] = xr.DataArray(
            values, dims=("time", "y", "x"), attrs={"nodata": nodata, "units": name}
        )
    data["red"].values[:, 0, 0] = nodata  # a pixel that is never seen
    return xr.Dataset(data, coords=coords, attrs={"title": "test scene"})


def test_dataset_matches_numpy_geomad(backend, rng):
    ds = scene(rng)
    out = gx.geomad(ds, scale=1e-4, backend=backend)
    stack = np.stack([ds[b].values for b in BANDS], axis=-1)  # (time, y, x, band)
    ref = geomedian.geomad(stack, axis=0, coord_axis=-1, nodata=0, scale=1e-4, backend=backend)
    for i, band in enumerate(BANDS):
        np.testing.assert_array_equal(out[band].values, ref.median[..., i])
        assert out[band].attrs["units"] == band
    for name in ("emad", "smad", "bcmad", "count"):
        np.testing.assert_array_equal(out[name].values, getattr(ref, name))
    assert out["count"].values[0, 0] == 0 and np.isnan(out["red"].values[0, 0])
    assert out.attrs == ds.attrs
    np.testing.assert_array_equal(out.x.values, ds.x.values)
    np.testing.assert_array_equal(out.y.values, ds.y.values)
    assert "time" not in out.dims


def test_lazy_equals_eager(backend, rng):
    pytest.importorskip("dask")
    ds = scene(rng)
    lazy = gx.geomad(ds.chunk({"time": 5, "y": 2, "x": 3}), backend=backend)
    assert lazy["emad"].chunks is not None  # nothing computed yet
    eager = gx.geomad(ds, backend=backend)
    xr.testing.assert_identical(lazy.compute(), eager)
    med_lazy = gx.geomedian(ds.chunk({"y": 3}), backend=backend)
    xr.testing.assert_identical(med_lazy.compute(), gx.geomedian(ds, backend=backend))


def test_dataarray_keeps_its_type_and_order(backend, rng):
    ds = scene(rng, dtype=np.float32, nodata=-1.0)
    da = ds.to_dataarray(dim="band").transpose("time", "band", "y", "x")
    da.attrs["nodata"] = -1.0
    med = gx.geomedian(da, backend=backend)
    assert isinstance(med, xr.DataArray) and med.dims == ("band", "y", "x")
    assert list(med.band.values) == list(BANDS)
    out = gx.geomad(da, backend=backend)
    np.testing.assert_array_equal(out["median"].transpose("band", "y", "x").values, med.values)
    ints = gx.geomad(ds.astype(np.int16), nodata=-1, integer_median=True, backend=backend)
    assert ints["red"].dtype == np.int16 and ints["red"].values[0, 0] == -1


def test_bad_inputs(rng):
    ds = scene(rng)
    with pytest.raises(ValueError, match="dimension 'date' not found"):
        gx.geomad(ds, dim="date")
    with pytest.raises(TypeError, match="nodata must be a real number"):
        gx.geomad(ds, nodata="zero")
    with pytest.raises(ValueError, match="band_dim 'band' is not a dimension"):
        gx.geomedian(ds["red"])
    ds["nir"].attrs["nodata"] = 1
    with pytest.raises(ValueError, match="nodata attributes differ"):
        gx.geomad(ds)
    with pytest.raises(TypeError, match="must be an xarray Dataset or DataArray"):
        gx.geomad(np.zeros((3, 2)))
