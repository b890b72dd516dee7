r"""geomad: a composite's geometric median and its three median absolute deviations.

The signature and documentation; the data is laid out by ``_paths/geomad.py`` and the
deviations are computed by the kernels (``csrc/geomedian/mad.hpp`` and its Numba mirror).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validate as v
from ._kernels import kernels
from ._options import SolveOptions
from ._paths.geomad import as_layout, as_scaling, solve_geomad
from ._result import GeometricMedianResult, _is_single, _range, make_result

__all__ = ["GeoMADResult", "geomad"]


@dataclass(frozen=True, repr=False)
class GeoMADResult(GeometricMedianResult):
    """Outcome of :func:`geomedian.geomad`: the median, its certificate and the deviations.

    Every field of :class:`GeometricMedianResult`, and:

    Attributes
    ----------
    emad, smad, bcmad : float or ndarray
        The Euclidean, spectral (cosine) and Bray--Curtis median absolute deviations of
        each problem's valid points from its median (see :func:`geomedian.geomad`); NaN
        where no point is valid. Scalars for one problem, arrays of the batch shape
        otherwise, in the median's float dtype.
    count : int or ndarray
        The number of valid points of each problem (0: its median and MADs are NaN).
    """

    emad: float | np.ndarray
    smad: float | np.ndarray
    bcmad: float | np.ndarray
    count: int | np.ndarray

    def __repr__(self) -> str:
        """Return the median's aligned ``name: value`` lines, then the deviations and count."""
        lines = [super().__repr__()]
        rows: list[tuple[str, str]]
        if _is_single(self):
            rows = [(name, repr(getattr(self, name))) for name in ("emad", "smad", "bcmad")]
            rows.append(("count", str(self.count)))
        else:
            rows = [(name, _range(getattr(self, name))) for name in _DEVIATIONS]
        width = max(len(line.split(":")[0]) for line in lines[0].splitlines())
        lines += [f"{name:>{width}}: {value}" for name, value in rows]
        return "\n".join(lines)


_DEVIATIONS = ("emad", "smad", "bcmad", "count")


def geomad(
    points: Any,
    weights: Any = None,
    *,
    axis: int | None = None,
    coord_axis: int = -1,
    nodata: float | None = None,
    scale: float | None = None,
    offset: float | None = None,
    integer_median: bool = False,
    method: str = "auto",
    backend: str = "auto",
    tol: float | None = None,
    max_iter: int | None = None,
    threads: int | None = None,
) -> GeoMADResult:
    r"""Compute per-problem geometric medians and their median absolute deviations (GeoMAD).

    The composite of satellite imagery: for each pixel, the geometric median :math:`m` of
    its valid observations :math:`x_t \in \mathbb{R}^d` over time (as :func:`solve`, with
    its certificate), and three robust measures of their spread around it,

    .. math::

        \mathrm{emad} &= \operatorname{median}_t \lVert x_t - m \rVert_2, \\
        \mathrm{smad} &= \operatorname{median}_t \Bigl(1 - \frac{\langle x_t, m\rangle}
            {\lVert x_t\rVert_2 \lVert m\rVert_2}\Bigr), \\
        \mathrm{bcmad} &= \operatorname{median}_t
            \frac{\sum_j \lvert x_{tj} - m_j\rvert}{\sum_j \lvert x_{tj} + m_j\rvert},

    the Euclidean, spectral (cosine) and Bray--Curtis deviations, with ``count`` the number
    of valid points. A point is missing when any of its coordinates is NaN or equals
    ``nodata`` (or its weight is 0); missing points are always omitted. The median of an
    even count is the mean of the two middle values, as in :func:`numpy.median`; a ratio
    whose denominator is 0 counts as 0. A problem with no valid point has a NaN median and
    NaN deviations, ``count`` 0 and status 5.

    The deviations are computed by the kernels right after each problem's median, while
    its points are still in cache: one call, not four passes over the stack.

    Parameters
    ----------
    points : array_like, shape (n, d) or (..., n, d)
        float32, float64, or integers such as int16/uint16 reflectance. Integer stacks are
        never copied whole to floats: blocks of problems are converted as the kernels
        reach them. Laid out as for :func:`solve` (``axis`` the points, e.g. the dates;
        ``coord_axis`` the coordinates, e.g. the bands).
    weights : array_like, optional
        Weights of the points, as for :func:`solve`; they weigh the median only.
    axis, coord_axis : int
        The points axis and the coordinates axis, as for :func:`solve`: a ``(y, x, band,
        time)`` stack takes ``axis=-1, coord_axis=-2``.
    nodata : number, optional
        The value marking a missing coordinate (e.g. 0 in uint16 reflectance), compared in
        the data's own dtype.
    scale, offset : float, optional
        Applied to the values as read, in the compute dtype: the median and the deviations
        are of ``x * scale + offset`` (e.g. Landsat Collection 2 surface reflectance:
        ``scale=2.75e-5, offset=-0.2``).
    integer_median : bool
        Integer input only: return the median in the input's units and dtype,
        ``round((m - offset) / scale)`` clipped to the dtype's range, with ``nodata``
        (required then) where a problem has no valid point. The deviations stay in the
        scaled units.
    method, backend, tol, max_iter, threads
        As for :func:`solve` (``method`` one of ``"auto"``, ``"newton"``, ``"gd"``,
        ``"weiszfeld"``).

    Returns
    -------
    GeoMADResult
        The fields of :func:`solve`'s result (``median``: float32 for float32 points and
        integers of at most 16 bits, float64 otherwise) and ``emad``, ``smad``,
        ``bcmad``, ``count``: scalars for one problem, arrays of the batch shape otherwise.

    Raises
    ------
    TypeError
        Non-real points, a non-numeric ``nodata``, ``scale`` or ``offset``, an unknown
        option type.
    ValueError
        Axes out of range, empty points, inf, ``integer_median`` on float input or without
        ``nodata``, a method without this path, the errors of :func:`solve`'s options.

    See Also
    --------
    geomedian.xarray.geomad : The same on an ``xarray.Dataset`` of bands, lazily on Dask.

    Examples
    --------
    >>> import numpy as np
    >>> import geomedian
    >>> stack = np.array([[[10, 20], [0, 0], [12, 22], [11, 21]]], dtype=np.uint16)
    >>> res = geomedian.geomad(stack, nodata=0)
    >>> res.median, res.count
    (array([[11., 21.]], dtype=float32), array([3]))
    >>> res.emad
    array([1.4142135], dtype=float32)
    """
    options = SolveOptions(
        axis=axis, coord_axis=coord_axis, nan_policy="omit", nodata=nodata, method=method,
        backend=backend, tol=tol, max_iter=max_iter, threads=threads,
    )  # fmt: skip
    if options.method_code is None:
        raise ValueError(
            f"method={method!r} has no geomad path: use 'auto', 'newton', 'gd' or 'weiszfeld'"
        )
    scale_ = as_scaling(scale, "scale")
    offset_ = as_scaling(offset, "offset")
    lay = as_layout(points, axis, coord_axis)
    if not isinstance(integer_median, (bool, np.bool_)):
        raise TypeError(f"integer_median must be a bool, got {type(integer_median).__name__}")
    if integer_median and (lay.x.dtype.kind not in "iu" or nodata is None):
        raise ValueError(
            "integer_median=True needs integer points and a nodata value to mark empty "
            f"problems (got {lay.x.dtype} points, nodata={nodata!r})"
        )
    batch = v.Batch(lay.x, lay.shape, lay.axis, lay.ndim)
    w, wscale = v.as_batch_weights(weights, batch)
    k = kernels(options.backend)
    out = solve_geomad(
        k, lay, w, wscale, nodata, scale_, offset_, options.method_code,
        options.tol_for(lay.dtype), options.max_iter, options.threads,
    )  # fmt: skip
    single = lay.ndim == 2
    base = make_result(out, single, lay.shape, lay.dtype, options)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    if integer_median:
        fields["median"] = _in_input_units(base.median, lay.x.dtype, nodata, scale_, offset_)
    extra = {}
    for name in ("emad", "smad", "bcmad"):
        a = getattr(out, name).astype(lay.dtype)
        extra[name] = a[0].item() if single else a.reshape(lay.shape)
    extra["count"] = int(out.count[0]) if single else out.count.reshape(lay.shape)
    return GeoMADResult(**fields, **extra)


def _in_input_units(median, dtype, nodata, scale, offset) -> np.ndarray:
    """Return the median in the integer units read: rounded, clipped, nodata if empty."""
    m = np.asarray(median, dtype=np.float64)
    if offset is not None:
        m = m - offset
    if scale is not None:
        m = m / scale
    info = np.iinfo(dtype)
    empty = np.isnan(m)
    q = np.clip(np.rint(np.where(empty, 0.0, m)), info.min, info.max).astype(dtype)
    q[empty] = nodata
    return q
