"""Stacks read as they lie: the kernels convert each problem themselves (solve_stack).

A stack in another dtype or layout than the kernels' (an int16 satellite stack laid out
(y, x, band, time), with nodata, scale and offset) is solved without a converted copy of
the whole array. Every answer must be the one of the converted copy, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from isolated import last_json_line, run_script

import geomedian
from geomedian._kernels import kernels
from geomedian._stack import STACK_DTYPES, convert, readable
from geomedian._validate import compute_dtype


def _stack(rng, dtype, shape=(7, 3, 12)):
    """A (P, d, n) array of ``dtype`` with some nodata (0) values and NaN for floats."""
    if np.dtype(dtype).kind == "f":
        x = rng.normal(50.0, 20.0, shape).astype(dtype)
        x[0, :, 3] = np.nan  # an omitted row
        x[1, 1, 5] = 0  # a nodata value in one coordinate
    else:
        info = np.iinfo(dtype)
        low, high = max(info.min, -100), min(info.max, 120)
        x = rng.integers(low, high, shape, endpoint=True).astype(dtype)
        x[1, 1, 5] = 0
    x[2, :, :] = 0  # every row nodata: an empty problem
    x[3, 0, :6] = 0  # half the rows missing
    return x


STEPS = [(None, None, None), (0, None, None), (0, 2.75e-5, -0.2), (None, 0.5, None)]


def assert_stack_read_as_copy(k, raw, target, omit, nodata, scale, offset):
    """Solving the stack as it lies gives the bits of solving its converted copy; return it."""
    got = k.solve_stack(raw, None, None, None, 2, 1e-6, 100, 2, omit, target, mads=True,
                        nodata=nodata, scale=scale, offset=offset)  # fmt: skip
    x = convert(raw, target, nodata, scale, offset)
    want = k.solve_mads(x, None, None, None, 2, 1e-6, 100, 2, omit)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    return got


@pytest.mark.parametrize("dtype", STACK_DTYPES)
@pytest.mark.parametrize("nodata,scale,offset", STEPS)
def test_solve_stack_is_the_converted_copy(backend, rng, dtype, nodata, scale, offset):
    k = kernels(backend)
    raw = _stack(rng, dtype).transpose(0, 2, 1)  # (P, n, d) with the coordinates outermost
    target = compute_dtype(dtype)
    before = raw.copy()
    got = assert_stack_read_as_copy(k, raw, target, True, nodata, scale, offset)
    np.testing.assert_array_equal(raw, before)  # the caller's array is untouched
    if nodata is not None:
        assert got[11][2] == 0 and np.isnan(got[0][2]).all()  # every row nodata
        assert got[11][3] == 6


@pytest.mark.parametrize("layout", ["rows", "coordinates first", "strided", "reversed"])
def test_layouts_and_weights(backend, rng, layout):
    k = kernels(backend)
    base = rng.integers(1, 1000, (6, 4, 2, 20)).astype(np.int16)
    if layout == "rows":
        raw = base.reshape(24, 2, 20).transpose(0, 2, 1).copy()
    elif layout == "coordinates first":
        raw = base.reshape(24, 2, 20).transpose(0, 2, 1)
    elif layout == "strided":
        raw = base[:, ::2].reshape(12, 2, 20)[:, :, ::3].transpose(0, 2, 1)
    else:
        raw = base.reshape(24, 2, 20)[::-1, ::-1, ::-1].transpose(0, 2, 1)
    P, n, _ = raw.shape
    w = rng.uniform(0.5, 2.0, (P, n))
    ws = np.ones(P)
    got = k.solve_stack(raw, w, ws, None, 2, 1e-9, 200, 2, True, np.float32, nodata=7)
    want = k.solve(convert(raw, np.float32, 7), w, ws, None, 2, 1e-9, 200, 2, True)
    for g, e in zip(got, want):
        np.testing.assert_array_equal(g, e)


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
def test_public_calls_read_the_stack(backend, rng):
    """solve and geomad on an int16 (y, x, band, time) stack equal their converted copies."""
    stack = rng.integers(1, 10_000, (5, 4, 3, 16)).astype(np.uint16)
    stack[..., [2, 7]] = 0
    stack[0, 0, :, :] = 0
    copy = convert(np.moveaxis(stack, -1, -2), np.float32, 0, 2.75e-5, -0.2)
    res = geomedian.geomad(stack, axis=-1, coord_axis=-2, nodata=0, scale=2.75e-5, offset=-0.2,
                           backend=backend)  # fmt: skip
    ref = geomedian.geomad(copy, backend=backend)
    for name in ("median", "emad", "smad", "bcmad", "count", "gap", "lower_bound"):
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name), err_msg=name)
    got = geomedian.solve(stack, axis=-1, coord_axis=-2, nodata=0, nan_policy="omit",
                          backend=backend)  # fmt: skip
    want = geomedian.solve(convert(np.moveaxis(stack, -1, -2), np.float32, 0), nan_policy="omit",
                           backend=backend)  # fmt: skip
    np.testing.assert_array_equal(got.median, want.median)
    np.testing.assert_array_equal(got.status, want.status)


def test_unreadable_stacks_are_copied(backend, rng):
    """int64 and byte-swapped arrays are not read as they lie; they are converted first."""
    x = rng.integers(1, 100, (4, 10, 2))
    for raw in (x.astype(np.int64), x.astype(">f8")):
        assert not readable(raw)
        got = geomedian.solve(raw, nodata=5, nan_policy="omit", backend=backend)
        want = geomedian.solve(convert(raw, np.float64, 5), nan_policy="omit", backend=backend)
        np.testing.assert_array_equal(got.median, want.median)
    with pytest.raises(TypeError, match="stack must be"):
        kernels(backend).solve_stack(x.astype(np.int64), None, None, None, 2, 1e-6, 10, 1,
                                     True, np.float64)  # fmt: skip


# Run in a fresh interpreter: tracemalloc counts every thread's allocations, and threads
# that earlier tests leave behind (a Dask cluster's) allocate during the traced window.
NO_COPY_SCRIPT = """
import json, sys, tracemalloc
import numpy as np
import geomedian

backend = sys.argv[1]
if backend == "numba":
    from geomedian._numba import bindings
    bindings.BLOCK_VALUES = 1 << 14  # blocks made small here
rng = np.random.default_rng(12345)
# Large enough that a thread's fixed scratch (the Numba backend's packs of problems: a few
# hundred KiB here) stays well below a quarter of the converted copy.
stack = rng.integers(1, 10_000, (80, 80, 4, 64)).astype(np.uint16)
stack[..., ::5] = 0
peaks = {}
for call in (geomedian.solve, geomedian.geomad):
    kw = {"nan_policy": "omit"} if call is geomedian.solve else {}
    kw["threads"] = 2  # the scratch is per thread; the copy it would be is not
    # Untraced first: Numba compiles the threaded batch on its first use.
    call(stack, axis=-1, coord_axis=-2, nodata=0, backend=backend, **kw)
    tracemalloc.start()
    call(stack, axis=-1, coord_axis=-2, nodata=0, backend=backend, **kw)
    peaks[call.__name__] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
print(json.dumps({"peaks": peaks, "copy_bytes": stack.size * 4}))
"""


def test_no_converted_copy_of_the_stack(backend):
    """The compiled core reads an integer stack without a float copy of it; the Numba
    backend converts a block of pixels at a time."""
    report = last_json_line(run_script(NO_COPY_SCRIPT, backend, timeout=600))
    for name, peak in report["peaks"].items():
        assert peak < report["copy_bytes"] / 4, (name, peak, report["copy_bytes"])


def test_inf_and_start_points_on_a_stack(backend, rng):
    """inf in a transposed float32 stack is named; start points give the copy's answers."""
    stack = rng.random((3, 4, 5, 12)).astype(np.float32)  # (y, x, band, time)
    stack[1, 2, 3, 7] = np.inf
    with pytest.raises(ValueError, match=r"inf"):
        geomedian.solve(stack, axis=-1, coord_axis=-2, nan_policy="omit", backend=backend)
    stack[1, 2, 3, 7] = 0.5
    init = np.full((3, 4, 5), 0.5)
    got = geomedian.solve(stack, axis=-1, coord_axis=-2, init=init, backend=backend)
    copy = np.ascontiguousarray(np.moveaxis(stack, -1, -2))
    want = geomedian.solve(copy, init=init, backend=backend)
    np.testing.assert_array_equal(got.median, want.median)
    np.testing.assert_array_equal(got.n_iter, want.n_iter)


@pytest.mark.parametrize(
    "dtype,scaled",
    [(np.float32, False), (np.float64, False), (np.uint16, True), (np.int16, True),
     (np.uint16, False), (np.int16, False)],
)  # fmt: skip
@pytest.mark.parametrize("omit", [True, False])
def test_full_packs_read_from_the_stack(backend, rng, dtype, scaled, omit):
    """Whole packs of problems are read from the stack straight into the solver's lanes:
    rows missing in some problems only, a NaN or nodata value in one coordinate, inf,
    empty problems and scaling give the converted copy's answers, bit for bit. Integers
    unscaled: nodata is found by comparing the integers themselves."""
    P, n, d = 27, 15, 4  # three full packs and a partial one
    if np.dtype(dtype).kind == "f":
        raw = rng.normal(50.0, 20.0, (P, d, n)).astype(dtype)
        raw[0, :, 3] = np.nan
        raw[5, 2, 9] = np.nan
        raw[9, 1, 4] = np.inf
        raw[12, :, 2] = -np.inf
        nodata, scale, offset = None, None, None
    else:
        raw = rng.integers(1, 120, (P, d, n)).astype(dtype)
        nodata, scale, offset = (0, 2.75e-5, -0.2) if scaled else (0, None, None)
    raw[2] = 0 if nodata is not None else np.nan  # an empty problem
    raw[17, :, : n // 2] = 0 if nodata is not None else np.nan  # half the rows missing
    raw[20, 3, 1::3] = 0 if nodata is not None else np.nan  # a coordinate of some rows
    if nodata is not None:
        raw[6, 0, 11] = 0
    raw = raw.transpose(0, 2, 1)  # (P, n, d), coordinates outermost as a (band, time) stack
    k = kernels(backend)
    target = compute_dtype(np.dtype(dtype))
    assert_stack_read_as_copy(k, raw, target, omit, nodata, scale, offset)


@st.composite
def any_stack(draw):
    """A (P, n, d) stack of any readable dtype and layout, its values anywhere in the dtype.

    Packs of 8 problems and partial ones; integers up to the dtype's extremes, floats with
    NaN, inf and huge values; nodata drawn from the values, the extremes or between two
    integers; scale and offset of either sign, tiny or huge (the conversion may overflow).
    """
    dtype = np.dtype(draw(st.sampled_from(STACK_DTYPES)))
    P, n, d = draw(st.integers(1, 19)), draw(st.integers(1, 30)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.kind == "f":
        x = rng.normal(0.0, draw(st.sampled_from([1.0, 1e3, 1e30])), (P, d, n)).astype(dtype)
        special = [np.nan, np.inf, -np.inf, np.finfo(dtype).max, 0.0]
    else:
        info = np.iinfo(dtype)
        low, high = draw(st.sampled_from([(0, 3), (-100, 120), (info.min, info.max)]))
        x = rng.integers(max(low, info.min), min(high, info.max), (P, d, n), endpoint=True)
        x = x.astype(dtype)
        special = [info.min, info.max, 0]
    # Sprinkle special values: whole rows, single coordinates, whole problems.
    for _ in range(draw(st.integers(0, 6))):
        v = draw(st.sampled_from(special))
        k, j, i = rng.integers(P), rng.integers(d), rng.integers(n)
        where = draw(st.sampled_from(["value", "row", "problem"]))
        if where == "value":
            x[k, j, i] = v
        elif where == "row":
            x[k, :, i] = v
        else:
            x[k] = v
    nodata = draw(st.sampled_from([None, "value", "extreme", 0.5]))
    if nodata == "value":
        nodata = x.flat[int(rng.integers(x.size))].item()
    elif nodata == "extreme":
        nodata = special[int(rng.integers(len(special)))]
        nodata = float(nodata) if dtype.kind == "f" else int(nodata)
    scale = draw(st.sampled_from([None, 2.75e-5, -0.5, 1e30]))
    offset = draw(st.sampled_from([None, -0.2, 1e3]))
    if draw(st.booleans()):
        raw = x.transpose(0, 2, 1)  # (P, n, d), coordinates outermost: a (band, time) stack
    else:
        raw = np.ascontiguousarray(x.transpose(0, 2, 1))
    return raw, nodata, scale, offset


@given(any_stack(), st.booleans())
def test_any_stack_reads_as_its_converted_copy(backend, case, omit):
    """Whatever the dtype, layout, values, nodata, scale and offset, solving a stack as it
    lies gives the bits of solving its converted copy, MADs and counts included, and
    leaves the caller's array untouched."""
    raw, nodata, scale, offset = case
    k = kernels(backend)
    before = raw.copy()
    with np.errstate(over="ignore", invalid="ignore"):  # huge scales overflow in both
        assert_stack_read_as_copy(k, raw, compute_dtype(raw.dtype), omit, nodata, scale, offset)
    np.testing.assert_array_equal(raw, before)
