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
    call = {f.name: f.default for f in dataclasses.fields(SolveOptions)}
    assert SolveOptions.all_default(call)
    assert SolveOptions.all_default({**call, "backend": "numba"})  # any backend serves
    for name, value in [
        ("axis", -1),
        ("axis", np.int64(-2)),  # equal, but not the default's type: the full path decides
        ("nan_policy", "omit"),
        ("tol", 1e-3),
        ("init", np.zeros(3)),  # an array must not be compared elementwise
        ("threads", 1),
        ("progress", False),
    ]:
        assert not SolveOptions.all_default({**call, name: value}), name


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
