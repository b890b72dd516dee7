"""Boundary fuzzing: any input gives a correct answer or a ValueError/TypeError, never a crash.

Hypothesis draws recipes (``fuzz_cases.py``): shapes from 0-D to 4-D with zero-length axes,
every dtype family, odd memory layouts, NaN/inf placements, weight vectors, options. Each
case runs in a long-lived worker process (``isolated.py``), so a crash or hang fails the
test with the case that caused it. The test decides from the recipe alone whether the
library must refuse the case (and with which exception) or solve it, and checks a solved
case against an independent NumPy evaluation: shape and dtype as documented, the
objective at the returned median, an honest lower bound, a converged gap within ``tol``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fuzz_cases import LAYOUTS, OTHER_KINDS, REAL_KINDS, build_weights, passed_points
from hypothesis import given, settings
from hypothesis import strategies as st
from isolated import Worker

recipes = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**16),
        "shape": st.lists(st.integers(0, 5), min_size=0, max_size=4),
        "kind": st.sampled_from(REAL_KINDS * 3 + OTHER_KINDS),
        "scale": st.sampled_from([1.0, 1e-3, 1e3, 0.0, 1e-150, 1e150]),
        "offset": st.sampled_from([0.0, 1e12, -1e5]),
        "duplicates": st.booleans(),
        "specials": st.one_of(
            st.just([]),
            st.lists(
                st.tuples(st.integers(0, 1000), st.sampled_from([math.nan, math.inf, -math.inf])),
                min_size=1,
                max_size=3,
            ),
        ),
        "layout": st.sampled_from(LAYOUTS),
        "weights": st.sampled_from(
            [
                None,
                None,
                "batch",
                "wrong-length",
                "some-zero",
                "all-zero",
                "negative",
                "nan",
                "inf",
                "wide",
            ]
        ),
        "weights_layout": st.sampled_from(LAYOUTS),
        "func": st.sampled_from(["solve", "geometric_median"]),
        "nan_policy": st.sampled_from(["raise", "omit", "propagate"]),
        "method": st.sampled_from(["auto", "gd", "weiszfeld"]),
        "tol": st.sampled_from([None, 0.0, 1e-3, 1e-12]),
        "axis": st.sampled_from([-2, 0, 1]),
        "threads": st.sampled_from([1, 2]),
        "p": st.sampled_from([2.0, 2.0, 1.0, 1.05, 1.5, 10.0, math.inf]),
    }
)


def _problems(recipe: dict):
    """Return (X (P, n, d) float64, W (P, n) float64, batch shape) of a valid recipe."""
    x = passed_points(recipe).astype(np.float64)
    ndim = x.ndim
    x = np.moveaxis(x, recipe["axis"], -2)
    *batch, n, d = x.shape
    P = math.prod(batch)
    w = _weights_values(recipe)
    if w is None:
        W = np.ones((P, n))
    elif w.ndim == 1 and w.shape[0] == n:
        W = np.broadcast_to(w, (P, n))
    else:
        target = list(batch)
        target.insert(recipe["axis"] % ndim, n)
        wb = np.moveaxis(np.broadcast_to(w, tuple(target)), recipe["axis"] % ndim, -1)
        W = wb.reshape(P, n)
    return x.reshape(P, n, d), W, tuple(batch)


def _weights_values(recipe: dict) -> np.ndarray | None:
    w = build_weights(recipe)
    return None if w is None else np.array(w, dtype=np.float64)


def expected_refusal(recipe: dict) -> str | None:
    """The exception the library must raise for this recipe, or None if it must solve it."""
    arr = passed_points(recipe)
    if arr.dtype.kind not in "iuf":  # bool, complex, object, strings
        return "TypeError"
    shape = arr.shape
    ndim = arr.ndim
    if ndim < 2:
        return "ValueError"
    axis = recipe["axis"]
    if not -ndim <= axis < ndim or axis % ndim == ndim - 1:
        return "ValueError"
    moved = list(shape)
    n = moved.pop(axis % ndim)
    batch, d = moved[:-1], moved[-1]
    if n == 0 or d == 0:
        return "ValueError"
    w = _weights_values(recipe)
    if w is not None:
        if w.ndim == 1 and w.shape[0] == n:
            rows = w.reshape(1, n)  # checked even for an empty batch
        else:
            target = list(batch)
            target.insert(axis % ndim, n)
            try:
                wb = np.broadcast_to(w, tuple(target))
            except ValueError:
                return "ValueError"
            rows = np.moveaxis(wb, axis % ndim, -1).reshape(-1, n)
        if not np.isfinite(w).all() or (w < 0).any() or not (rows.max(axis=1) > 0).all():
            return "ValueError"
    x = arr.astype(np.float64)
    if np.isinf(x).any():
        return "ValueError"
    if recipe["nan_policy"] == "raise" and np.isnan(x).any():
        return "ValueError"
    return None


def objective_ref(y: np.ndarray, x: np.ndarray, w: np.ndarray, p: float = 2.0) -> float:
    """sum_i w_i |y - x_i|_p, scaled so that neither 1e-300 nor 1e+300 data under/overflows."""
    diff = x - y
    m = np.abs(diff).max(initial=0.0)
    if m == 0:
        return 0.0
    return float(np.sum(w * (m * np.linalg.norm(diff / m, ord=p, axis=1))))


def check_solved(recipe: dict, outcome: dict) -> int:
    """Check a solved case; return how many problems had no point of positive weight left."""
    X, W, batch = _problems(recipe)
    P, _, d = X.shape
    res = outcome["result"]
    dtype = passed_points(recipe).dtype
    f32 = dtype in (np.float32, np.float16) or (dtype.kind in "iu" and dtype.itemsize <= 2)
    median = np.asarray(res["median"])
    assert median.dtype == (np.float32 if f32 else np.float64), median.dtype
    assert median.shape == (*batch, d)
    median = median.reshape(P, d).astype(np.float64)
    solve = recipe["func"] == "solve"
    not_certified = any(w[0] == "ConvergenceWarning" for w in outcome["warnings"])
    if solve:
        fields = {k: np.asarray(res[k]) for k in ("objective", "lower_bound", "gap", "status")}
        for k, v in fields.items():
            assert v.shape == tuple(batch), (k, v.shape)
        obj, lb, gap, status = (
            fields[k].reshape(P) for k in ("objective", "lower_bound", "gap", "status")
        )
        converged = np.asarray(res["converged"]).reshape(P)
        tol = recipe["tol"] if recipe["tol"] is not None else (1e-6 if f32 else 1e-10)
    empty = 0
    for k in range(P):
        missing = np.isnan(X[k]).any(axis=1)
        if recipe["nan_policy"] == "propagate" and missing.any():
            assert np.isnan(median[k]).all()
            if solve:
                assert status[k] == 4
            continue
        keep = ~missing
        xk, wk = X[k][keep], W[k][keep]
        if not (wk > 0).any():
            assert np.isnan(median[k]).all()
            if solve:
                assert status[k] == 5
            empty += 1
            continue
        y = median[k]
        assert np.isfinite(y).all(), y
        p = recipe["p"]
        fy = objective_ref(y, xk, wk, p)
        # The kernels scale the weights so that the largest is ~1: weights more than 2**1021
        # below it are subnormal or zero there, so the objective is exact only up to this.
        floor = 4 * len(wk) * 2.0**-1021 * wk.max() * np.abs(xk - y).max(initial=0.0)
        best_point = min(objective_ref(xi, xk, wk, p) for xi in xk[wk > 0])
        if solve:
            assert status[k] in (0, 1, 2)
            assert bool(converged[k]) == (status[k] == 0)
            assert math.isclose(obj[k], fy, rel_tol=1e-9, abs_tol=floor), (obj[k], fy)
            # The bound is a bound: at most f there and at the best data point.
            assert lb[k] <= fy * (1 + 1e-12) + floor, (lb[k], fy)
            assert lb[k] <= best_point * (1 + 1e-9) + floor, (lb[k], best_point)
            if status[k] == 0:
                assert gap[k] <= tol, (gap[k], tol)
                assert fy <= best_point * (1 + tol + 1e-9) + floor
        elif not not_certified:
            assert fy <= best_point * (1 + 1e-5) + floor, (fy, best_point)
    return empty


_workers: dict[str, Worker] = {}


@pytest.fixture(scope="module")
def workers():
    yield _workers
    for w in _workers.values():
        w.close()


@pytest.mark.slow
@settings(max_examples=300)
@given(recipe=recipes)
def test_fuzz_any_input_is_solved_correctly_or_refused(backend, workers, recipe):
    recipe = {**recipe, "backend": backend}
    if backend not in workers:
        workers[backend] = Worker()
    outcome = workers[backend].call("fuzz", recipe)
    assert "harness_error" not in outcome, outcome["harness_error"]
    assert "unexpected" not in outcome, outcome["unexpected"]
    assert outcome["points_unchanged"], "the caller's points were modified"
    assert outcome["weights_unchanged"], "the caller's weights were modified"
    others = [w for w in outcome["warnings"] if w[0] != "ConvergenceWarning"]
    # Problems left with no point under "omit" warn once, as np.nanmedian's all-NaN slice.
    all_nan = [w for w in others if w[1].startswith("All-NaN slice encountered")]
    assert all(w[0] == "RuntimeWarning" for w in all_nan), all_nan
    others = [w for w in others if w not in all_nan]
    assert not others, others
    refusal = expected_refusal(recipe)
    if refusal is None:
        assert "error" not in outcome, f"a valid input was refused: {outcome['error']}"
        empty = check_solved(recipe, outcome)
        assert len(all_nan) == (1 if empty else 0), (empty, all_nan)
    else:
        assert "error" in outcome, f"expected {refusal}, got a result {outcome.get('result')}"
        assert outcome["error"][0] == refusal, outcome["error"]


def test_compiled_kernels_refuse_a_misaligned_buffer():
    # The validator copies misaligned input (UBSan found the kernels loading misaligned
    # doubles from such a view); the bindings refuse it outright. Numba types a
    # misaligned array as such and reads it correctly, so only the core needs the guard.
    core = pytest.importorskip("geomedian._core")
    x = np.random.default_rng(0).normal(size=(1, 50, 3))
    raw = np.zeros(x.nbytes + 1, dtype=np.uint8)
    view = raw[1:].view(np.float64).reshape(x.shape)
    view[...] = x
    with pytest.raises(ValueError, match="aligned"):
        core.solve_f64(view, None, None, None, 1, 1e-10, 100, 1)
    with pytest.raises(ValueError, match="aligned"):
        core.evaluate_f64(view[0], None, 1.0, np.zeros(3), 1)
