"""geometric_median's hot-loop path: one small, ready float array under default options.

The suite-wide fixture in conftest.py already checks that every median this path returns
equals solve's; here: which inputs take it, and that everything else (bad values, other
layouts, uncertified outcomes) still gets the full path's errors and warnings.
"""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian import _api, _validate
from geomedian._backends import load_backend


@pytest.fixture
def calls(monkeypatch):
    """Record whether each ready_median call answered (True) or passed (False)."""
    seen = []
    ready = _api.ready_median

    def spy(points, backend):
        median = ready(points, backend)
        seen.append(median is not None)
        return median

    monkeypatch.setattr(_api, "ready_median", spy)
    return seen


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (20, 3), (64, 6), (8192, 1)])
def test_ready_inputs_take_the_path(backend, calls, rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    before = x.copy()
    y = geomedian.geometric_median(x, backend=backend)
    assert calls == [True]
    assert y.dtype == dtype and y.shape == (shape[1],)
    np.testing.assert_array_equal(x, before)


def test_read_only_input(backend, calls, rng):
    x = rng.standard_normal((20, 3))
    x.flags.writeable = False
    geomedian.geometric_median(x, backend=backend)
    assert calls == [True]


def _non_ready_inputs(rng):
    x = rng.standard_normal((20, 3))
    return {
        "fortran order": np.asfortranarray(x),
        "strided view": x[::2],
        "byte-swapped": x.astype(">f8"),
        "int": np.arange(60).reshape(20, 3),
        "float16": x.astype(np.float16),
        "list": x.tolist(),
        "subclass": x.view(np.matrix),
        "batch": x.reshape(2, 10, 3),
        "too many coordinates": rng.standard_normal((3000, 3)),
        "misaligned": np.frombuffer(b"\0" + x.tobytes(), dtype=np.float64, offset=1).reshape(20, 3),
    }


@pytest.mark.parametrize(
    "name",
    [
        "fortran order",
        "strided view",
        "byte-swapped",
        "int",
        "float16",
        "list",
        "subclass",
        "batch",
        "too many coordinates",
        "misaligned",
    ],
)
def test_other_inputs_take_the_full_path(backend, calls, rng, name):
    x = _non_ready_inputs(rng)[name]
    y = geomedian.geometric_median(x, backend=backend)
    assert calls == [False]
    np.testing.assert_array_equal(y, geomedian.solve(x, backend=backend).median)


@pytest.mark.parametrize(
    "options",
    [
        {"weights": np.ones(20)},
        {"tol": 1e-10},
        {"max_iter": 1000},
        {"method": "newton"},
        {"init": np.zeros(3)},
        {"threads": 1},
        {"nan_policy": "omit"},
        {"nodata": 7.0},
        {"axis": 0},
    ],
)
def test_any_option_takes_the_full_path(backend, calls, rng, options):
    x = rng.standard_normal((20, 3))
    if options.get("axis") == 0:
        x = x.T.copy()
    geomedian.geometric_median(x, backend=backend, **options)
    assert calls == []


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_get_the_full_paths_error(backend, calls, rng, bad):
    x = rng.standard_normal((20, 3))
    x[7, 1] = bad
    with pytest.raises(ValueError) as from_path:
        geomedian.geometric_median(x, backend=backend)
    with pytest.raises(ValueError) as from_solve:
        geomedian.solve(x, backend=backend)
    assert calls == [False]
    assert str(from_path.value) == str(from_solve.value)
    assert "row 7" in str(from_path.value)


def test_uncertified_outcome_warns_as_before(backend, calls, monkeypatch, rng):
    x = rng.standard_normal((20, 3))
    monkeypatch.setattr(_validate, "DEFAULT_MAX_ITER", 1)  # the default budget, for both paths
    res = geomedian.solve(x, backend=backend)
    assert res.status == 1  # max_iter reached
    with pytest.warns(geomedian.ConvergenceWarning, match="not certified"):
        y = geomedian.geometric_median(x, backend=backend)
    assert calls == [False]
    np.testing.assert_array_equal(y, res.median)


def test_kernel_entry_checks_shapes(backend):
    impl = load_backend(backend)
    code = _validate.METHODS["newton"]
    median, status = impl.median_f64(np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]]), code, 1e-10, 9)
    assert status == 0 and median.tolist() == [1.0, 0.0]
    for bad in (np.zeros(3), np.zeros((1, 2, 3)), np.zeros((0, 3)), np.zeros((3, 0))):
        with pytest.raises((ValueError, TypeError)):
            impl.median_f64(bad, code, 1e-10, 1000)
