"""The options table: the public signatures, the defaults and the validation come from it."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

import geomedian
from geomedian._options import SolveOptions


@pytest.mark.parametrize("fn", [geomedian.solve, geomedian.geometric_median])
def test_signatures_are_the_table(fn):
    params = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in params[:2]] == ["points", "weights"]
    options = params[2:]
    fields = dataclasses.fields(SolveOptions)
    assert [p.name for p in options] == [f.name for f in fields]
    assert all(p.kind is p.KEYWORD_ONLY for p in options)
    assert [p.default for p in options] == [f.default for f in fields]


def test_defaults_are_recognised_cheaply():
    hot = [f.default for f in dataclasses.fields(SolveOptions) if f.name != "backend"]
    assert SolveOptions.at_defaults(*hot)
    names = [f.name for f in dataclasses.fields(SolveOptions) if f.name != "backend"]
    for name, value in [
        ("axis", -1),
        ("axis", -2),  # the same axis here, but given: the full path decides
        ("coord_axis", np.int64(-1)),  # equal, but not the default object: the full path too
        ("nan_policy", "omit"),
        ("tol", 1e-3),
        ("init", np.zeros(3)),  # an array must not be compared elementwise
        ("threads", 1),
        ("progress", False),
    ]:
        values = [value if n == name else d for n, d in zip(names, hot)]
        assert not SolveOptions.at_defaults(*values), name
    with pytest.raises(TypeError, match="at_defaults takes"):
        SolveOptions.at_defaults(*hot[:-1])  # a row the call forgot


NOT_DEFAULT = {  # for each option, a valid value that is not its default
    "axis": 0,
    "coord_axis": 1,  # the last axis of (20, 3) points, given: off the hot loop all the same
    "nan_policy": "omit",
    "nodata": 1e300,
    "method": "gd",
    "tol": 1e-8,
    "max_iter": 500,
    "init": np.zeros(3),
    "threads": 1,
    "progress": lambda *_: None,
    "p": 3,
}


def test_every_option_leaves_the_hot_loop(monkeypatch):
    from geomedian import _api

    taken = []
    ready = _api.ready_median
    monkeypatch.setattr(_api, "ready_median", lambda *a: taken.append(a) or ready(*a))
    x = np.random.default_rng(0).normal(size=(20, 3))
    geomedian.geometric_median(x)
    assert len(taken) == 1
    for f in dataclasses.fields(SolveOptions):
        if f.name == "backend":
            continue
        if f.name in ("batch_size", "random_state"):  # method="sgd" only: the full path refuses
            with pytest.raises(ValueError, match="method='sgd' only"):
                geomedian.geometric_median(x, **{f.name: 4})
        else:
            geomedian.geometric_median(x, **{f.name: NOT_DEFAULT[f.name]})
        assert len(taken) == 1, f.name


def test_validated_once_into_resolved_values():
    opts = SolveOptions(method="auto", max_iter=None, threads=None, tol=None)
    assert opts.method == "auto" and opts.method_name == "newton"
    assert isinstance(opts.max_iter, int) and opts.max_iter >= 1
    assert isinstance(opts.threads, int) and opts.threads >= 1
    assert opts.backend in ("cpp", "numba")
    assert opts.tol_for(np.float64) == 1e-10 and opts.tol_for(np.float32) == 1e-6
    sgd = SolveOptions(method="sgd", batch_size=4)
    assert sgd.rows_per_step == 4 and sgd.tol_for(np.float64) == 1e-3
    assert isinstance(sgd.random_state, np.random.Generator)
    # replace() validates again, and accepts the resolved values it holds.
    assert opts.replace(threads=1).threads == 1
    assert sgd.replace(init=np.zeros(2)).rows_per_step == 4
    with pytest.raises(ValueError, match="tol must be >= 0"):
        opts.replace(tol=-1.0)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"method": "bogus"}, ValueError, "unknown method"),
        ({"nan_policy": 3}, TypeError, "nan_policy must be a string"),
        ({"nodata": "0"}, TypeError, "nodata must be a real number"),
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1"),
        ({"threads": 1.5}, TypeError, "threads must be a positive integer"),
        ({"batch_size": 8}, ValueError, "batch_size applies to method='sgd' only"),
        ({"random_state": 1}, ValueError, "random_state applies to method='sgd' only"),
        ({"progress": "yes"}, TypeError, "progress must be None"),
        ({"backend": "gpu"}, ValueError, "unknown backend"),
    ],
)
def test_bad_options_name_themselves(changes, error, match):
    with pytest.raises(error, match=match):
        SolveOptions(**changes)
    with pytest.raises(error, match=match):  # the public functions report the same
        geomedian.solve([[0.0, 1.0], [2.0, 3.0]], **changes)
