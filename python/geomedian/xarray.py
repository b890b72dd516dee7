"""Composites of labelled stacks: :func:`geomad` and :func:`geomedian` on xarray objects.

Needs the optional ``xarray`` extra (``pip install "geomedian[xarray]"``). The input is an
``xarray.Dataset`` whose data variables are bands over ``(time, y, x)`` (the Open Data
Cube's layout) or a ``DataArray`` with a band dimension. Each pixel's observations over
``dim`` are the points and its bands their coordinates; coordinates and attributes are kept.
Dask-backed input stays lazy: it is computed block by block over the other dimensions (its
chunks along ``dim`` and the bands are merged first), with the same results as eager input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import geomedian as _gm

from . import _validate as v

__all__ = ["geomad", "geomedian"]

_DEVIATIONS = ("emad", "smad", "bcmad")


def _xarray():
    try:
        import xarray
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ImportError(
            'geomedian.xarray needs xarray: pip install "geomedian[xarray]"'
        ) from None
    return xarray


def _stacked(data: Any, dim: str, band_dim: str):
    """Return ``(DataArray with dim and band_dim, nodata from the attributes or None)``."""
    xr = _xarray()
    if isinstance(data, xr.Dataset):
        if not data.data_vars:
            raise ValueError("the Dataset has no data variables (bands)")
        missing = [name for name, var in data.data_vars.items() if dim not in var.dims]
        if missing:
            raise ValueError(
                f"dimension {dim!r} not found in the Dataset's variables {missing}; their "
                f"dimensions are {dict(data.sizes)}: pass dim="
            )
        if band_dim in data.dims:
            raise ValueError(
                f"band_dim {band_dim!r} is already a dimension of the Dataset: its bands "
                "are its data variables"
            )
        found = {var.attrs["nodata"] for var in data.data_vars.values() if "nodata" in var.attrs}
        if len(found) > 1:
            raise ValueError(
                f"the bands' nodata attributes differ ({sorted(map(str, found))}): pass nodata="
            )
        # to_dataarray is xarray 2023.12's name of to_array
        stack = getattr(data, "to_dataarray", None) or data.to_array
        return stack(dim=band_dim), found.pop() if found else None
    if isinstance(data, xr.DataArray):
        for name, what in ((dim, "dim"), (band_dim, "band_dim")):
            if name not in data.dims:
                raise ValueError(f"{what} {name!r} is not a dimension of the DataArray {data.dims}")
        if dim == band_dim:
            raise ValueError(f"dim and band_dim must differ, both are {dim!r}")
        return data, data.attrs.get("nodata")
    raise TypeError(f"data must be an xarray Dataset or DataArray, got {type(data).__name__}")


def _apply(data: Any, dim: str, band_dim: str, nodata: Any, options: dict, deviations: bool):
    xr = _xarray()
    arr, found = _stacked(data, dim, band_dim)
    if nodata is None:
        nodata = found
    if nodata is not None and (
        isinstance(nodata, (bool, np.bool_)) or not isinstance(nodata, (int, float, np.number))
    ):
        raise TypeError(f"nodata must be a real number or None, got {type(nodata).__name__}")
    if arr.chunks is not None:  # every pixel's points and bands in one block
        arr = arr.chunk({dim: -1, band_dim: -1})
    dtype = np.dtype(v.compute_dtype(arr.dtype))
    if options.get("integer_median"):
        dtype = arr.dtype

    def run(x):
        res = _gm.geomad(x, axis=-2, coord_axis=-1, nodata=nodata, **options)
        median = np.asarray(res.median, dtype=dtype)
        if not deviations:
            return median
        return (median, *(np.asarray(getattr(res, n)) for n in _DEVIATIONS), res.count)

    n_out = 5 if deviations else 1
    out = xr.apply_ufunc(
        run,
        arr,
        input_core_dims=[[dim, band_dim]],
        output_core_dims=[[band_dim]] + [[]] * (n_out - 1),
        dask="parallelized",
        output_dtypes=[dtype] + [np.dtype(v.compute_dtype(arr.dtype))] * 3 + [np.int64]
        if deviations
        else [dtype],
        keep_attrs=True,
    )
    return out if deviations else (out,)


def geomad(
    data: Any, dim: str = "time", band_dim: str = "band", *, nodata: Any = None, **options: Any
) -> Any:
    """Return the geometric median composite over ``dim`` and its MADs, as a Dataset.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataArray
        A Dataset whose data variables are the bands, each over ``dim`` and the pixel
        dimensions (e.g. ``(time, y, x)``), or a DataArray with a ``band_dim`` dimension.
        NumPy- or Dask-backed.
    dim : str
        The dimension of the observations (the points), reduced.
    band_dim : str
        The bands (the coordinates of each point): a dimension of a DataArray; for a
        Dataset, the name its variables are stacked along.
    nodata : number, optional
        The value marking missing data; by default the variables' ``nodata`` attribute
        (which must then agree across the bands), if any.
    **options
        Passed to :func:`geomedian.geomad`: ``scale``, ``offset``, ``integer_median``,
        ``method``, ``backend``, ``tol``, ``max_iter``, ``threads``.

    Returns
    -------
    xarray.Dataset
        For a Dataset, one variable per band holding the median (with the band's
        attributes), for a DataArray one variable ``median`` with the band dimension; and
        ``emad``, ``smad``, ``bcmad`` and ``count``, over the other dimensions. Lazy
        (Dask) for Dask input.

    Raises
    ------
    ValueError
        ``dim`` or ``band_dim`` missing, bands whose ``nodata`` attributes differ.
    TypeError
        Not an xarray object, a non-numeric ``nodata``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import geomedian.xarray
    >>> red = xr.DataArray(np.array([[[10]], [[0]], [[12]], [[11]]], dtype=np.uint16),
    ...                    dims=("time", "y", "x"), attrs={"nodata": 0})
    >>> ds = xr.Dataset({"red": red, "nir": red * 2})
    >>> out = geomedian.xarray.geomad(ds)
    >>> float(out.red[0, 0]), float(out.nir[0, 0]), int(out["count"][0, 0])
    (11.0, 22.0, 3)
    """
    xr = _xarray()
    median, *devs, count = _apply(data, dim, band_dim, nodata, options, True)
    if isinstance(data, xr.Dataset):
        out = median.to_dataset(dim=band_dim)
        for name in out.data_vars:
            out[name].attrs = dict(data[name].attrs)
    else:
        out = median.rename("median").to_dataset()
    for name, value in zip(_DEVIATIONS, devs):
        out[name] = value.assign_attrs({})
    out["count"] = count.assign_attrs({})
    out.attrs = dict(data.attrs)
    return out


def geomedian(
    data: Any, dim: str = "time", band_dim: str = "band", *, nodata: Any = None, **options: Any
) -> Any:
    """Return the geometric median composite over ``dim``, of the input's type.

    The arguments of :func:`geomad`. A Dataset gives a Dataset of the bands, a DataArray
    a DataArray with its dimensions in their order, ``dim`` removed; coordinates and
    attributes are kept, and Dask input stays lazy.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import geomedian.xarray
    >>> da = xr.DataArray(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [np.nan, 0.0]]),
    ...                   dims=("time", "band"))
    >>> geomedian.xarray.geomedian(da).values
    array([3., 4.])
    """
    xr = _xarray()
    (median,) = _apply(data, dim, band_dim, nodata, options, False)
    if isinstance(data, xr.Dataset):
        out = median.to_dataset(dim=band_dim)
        for name in out.data_vars:
            out[name].attrs = dict(data[name].attrs)
        out.attrs = dict(data.attrs)
        return out
    return median.transpose(*[d for d in data.dims if d != dim])
