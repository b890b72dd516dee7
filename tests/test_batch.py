"""Batched solves: (..., n, d) points, broadcasting, axis=, nan_policy and nodata, per backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import geomedian
from geomedian._result import EMPTY, NONFINITE


def _backend_param(name: str):
    reason = f"backend {name!r} is not available"
    return pytest.param(
        name, marks=pytest.mark.skipif(name not in geomedian.backends(), reason=reason)
    )


@pytest.fixture(params=[_backend_param("cpp"), _backend_param("numba")], ids=lambda b: b)
def backend(request) -> str:
    return request.param


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([20240607, seed])


def loop(x: np.ndarray, backend: str, weights=None, **kw) -> list:
    """The per-problem loop the batch must reproduce: one (n, d) solve per problem."""
    P = x.reshape(-1, *x.shape[-2:])
    W = None if weights is None else np.broadcast_to(weights, x.shape[:-1]).reshape(len(P), -1)
    return [
        geomedian.solve(P[k], None if W is None else W[k], backend=backend, **kw)
        for k in range(len(P))
    ]


@pytest.mark.parametrize(
    "shape",
    [(7, 3), (5, 1, 2), (4, 20, 6), (2, 3, 9, 4), (3, 300, 40)],
    ids=lambda s: "x".join(map(str, s)),
)
def test_batch_equals_loop_of_single_solves(backend, shape):
    x = rng(len(shape)).standard_normal(shape)
    x[..., 0, :] *= 50  # one far point per problem
    res = geomedian.solve(x, backend=backend)
    ref = loop(x, backend)
    batch_shape = shape[:-2]
    assert res.median.shape == (*batch_shape, shape[-1])
    for name in ("objective", "gap", "n_iter", "n_passes", "converged", "status"):
        got = np.asarray(getattr(res, name))
        assert got.shape == batch_shape
        # Bit-identical: the pass depends on (n, d) only, never on the batch size.
        np.testing.assert_array_equal(got.ravel(), [getattr(r, name) for r in ref])
    np.testing.assert_array_equal(res.median.reshape(-1, shape[-1]), [r.median for r in ref])
    assert np.all(res.converged)


def test_single_problem_keeps_scalars(backend):
    res = geomedian.solve([[0, 0], [4, 0], [0, 3]], backend=backend)
    assert isinstance(res.objective, float) and isinstance(res.n_iter, int)
    assert isinstance(res.converged, bool) and res.median.shape == (2,)


def test_vertex_optima_and_n_equal_1(backend):
    # Problem 0: an obtuse triangle, optimum at the vertex (5, 0.5); problem 1: one point
    # holding more than half the weight; problem 2: n = 1 via identical rows.
    x = np.array(
        [
            [[0.0, 0.0], [10.0, 0.0], [5.0, 0.5]],
            [[1.0, 1.0], [3.0, -2.0], [-4.0, 0.5]],
            [[2.5, -1.0], [2.5, -1.0], [2.5, -1.0]],
        ]
    )
    w = np.array([[1, 1, 1], [5, 1, 1], [1, 2, 3]], dtype=float)
    res = geomedian.solve(x, w, backend=backend)
    np.testing.assert_array_equal(res.median, [[5.0, 0.5], [1.0, 1.0], [2.5, -1.0]])
    assert res.converged.all()
    one = geomedian.solve(rng(1).standard_normal((6, 1, 3)), backend=backend)
    assert one.converged.all()
    np.testing.assert_array_equal(one.objective, 0.0)


def test_weights_broadcast(backend):
    r = rng(2)
    x = r.standard_normal((3, 4, 12, 5))
    w_point = r.uniform(0.1, 2.0, 12)  # (n,): shared by every problem
    w_full = r.uniform(0.0, 2.0, (3, 4, 12))  # one row per problem
    w_cols = r.uniform(0.1, 2.0, (1, 4, 12))  # broadcast along the first axis
    for w in (w_point, w_full, w_cols):
        res = geomedian.solve(x, w, backend=backend)
        ref = loop(x, backend, weights=w)
        np.testing.assert_array_equal(res.objective.ravel(), [q.objective for q in ref])
        np.testing.assert_array_equal(res.median.reshape(-1, 5), [q.median for q in ref])
    # Unit weights given explicitly give the median of no weights.
    res1 = geomedian.solve(x, np.ones(12), backend=backend)
    res0 = geomedian.solve(x, backend=backend)
    np.testing.assert_allclose(res1.median, res0.median, atol=1e-9)


@pytest.mark.parametrize("axis", [0, 1, -3])
def test_axis(backend, axis):
    x = rng(3).standard_normal((6, 7, 5, 3))  # points along `axis`, d = 3 last
    res = geomedian.solve(x, axis=axis, backend=backend)
    moved = np.moveaxis(x, axis, -2)
    ref = geomedian.solve(moved, backend=backend)
    assert res.median.shape == (*moved.shape[:-2], 3)
    np.testing.assert_array_equal(res.median, ref.median)
    # Weights in the caller's layout follow the points axis.
    w = rng(4).uniform(0.1, 1.0, x.shape[:-1])
    np.testing.assert_array_equal(
        geomedian.solve(x, w, axis=axis, backend=backend).median,
        geomedian.solve(moved, np.moveaxis(w, axis % x.ndim, -1), backend=backend).median,
    )


def test_axis_errors():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="both name axis 2"):
        geomedian.solve(x, axis=-1)
    with pytest.raises(ValueError, match="out of bounds"):
        geomedian.solve(x, axis=3)


def _with_nan() -> np.ndarray:
    x = rng(5).standard_normal((4, 9, 3))
    x[1, 2, 0] = np.nan  # one coordinate of one point
    x[2, [0, 4, 5], :] = np.nan  # three whole points, including the first row
    x[3] = np.nan  # every point: nothing left
    return x


def test_nan_policy_raise_names_problem_and_row(backend):
    with pytest.raises(ValueError, match=r"nan in problem \(1,\) at row 2, column 0"):
        geomedian.solve(_with_nan(), backend=backend)
    x = np.array([[0.0, 1.0], [np.nan, 2.0]])
    with pytest.raises(ValueError, match="points must be finite, got nan at row 1, column 0"):
        geomedian.solve(x, backend=backend)


def test_nan_policy_omit_drops_points_of_their_own_problem_only(backend):
    x = _with_nan()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        med = geomedian.geometric_median(x, nan_policy="omit", backend=backend)
    # Problem 3 has no point left: one warning, as np.nanmedian's (no ConvergenceWarning).
    assert [(w.category, str(w.message)[:40]) for w in caught] == [
        (RuntimeWarning, "All-NaN slice encountered: 1 of 4 proble")
    ]
    with pytest.warns(RuntimeWarning, match="All-NaN slice"):
        res = geomedian.solve(x, nan_policy="omit", backend=backend)
    keep1 = np.delete(x[1], 2, axis=0)
    keep2 = np.delete(x[2], [0, 4, 5], axis=0)
    for k, xk in ((0, x[0]), (1, keep1), (2, keep2)):
        ref = geomedian.solve(xk, backend=backend)
        np.testing.assert_allclose(res.median[k], ref.median, rtol=0, atol=1e-9)
        np.testing.assert_allclose(res.objective[k], ref.objective, rtol=1e-12)
        assert res.converged[k]
    assert np.isnan(res.median[3]).all() and np.isnan(med[3]).all()
    assert res.status[3] == EMPTY and not res.converged[3]
    assert "no point of positive weight left" in res.message


def test_nan_policy_omit_zero_weight_left_is_empty(backend):
    x = np.array([[[0.0, 0.0], [np.nan, 1.0], [2.0, 2.0]]])
    with pytest.warns(RuntimeWarning, match="1 of 1 problems have no point of positive"):
        res = geomedian.solve(x, [0.0, 1.0, 0.0], nan_policy="omit", backend=backend)
    assert res.status[0] == EMPTY and np.isnan(res.median).all()


def test_nan_policy_omit_large_problems(backend):
    # n d above the small-problem size: the copy with zero-weight rows, same answer.
    x = rng(6).standard_normal((2, 3000, 4))
    x[0, 10:20, 1] = np.nan
    x[1] = np.nan
    with pytest.warns(RuntimeWarning, match="All-NaN slice"):
        res = geomedian.solve(x, nan_policy="omit", backend=backend)
    ref = geomedian.solve(np.delete(x[0], np.s_[10:20], axis=0), backend=backend)
    np.testing.assert_allclose(res.median[0], ref.median, atol=1e-9)
    assert res.converged[0] and res.status[1] == EMPTY


def test_nan_policy_propagate(backend):
    x = _with_nan()
    res = geomedian.solve(x, nan_policy="propagate", backend=backend)
    np.testing.assert_array_equal(res.status, [0, NONFINITE, NONFINITE, NONFINITE])
    assert np.isnan(res.median[1:]).all() and np.isnan(res.objective[1:]).all()
    np.testing.assert_array_equal(res.median[0], geomedian.solve(x[0], backend=backend).median)


@pytest.mark.parametrize("policy", ["raise", "omit", "propagate"])
def test_inf_is_always_an_error(backend, policy):
    x = rng(7).standard_normal((3, 5, 2))
    x[2, 3, 1] = -np.inf
    with pytest.raises(ValueError, match=r"inf in problem \(2,\) at row 3, column 1"):
        geomedian.solve(x, nan_policy=policy, backend=backend)
    x[2, 3, 0] = np.nan  # inf hidden in a row that "omit" would drop: still an error
    with pytest.raises(ValueError, match=r"finite|inf"):
        geomedian.solve(x, nan_policy=policy, backend=backend)


def test_nan_in_weights_is_an_error(backend):
    w = np.ones((2, 4))
    w[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"weights must be finite, got nan at problem \(1,\)"):
        geomedian.solve(np.zeros((2, 4, 3)), w, nan_policy="omit", backend=backend)


def test_nodata_on_uint16(backend):
    r = rng(8)
    clean = r.integers(100, 10_000, (5, 6, 4)).astype(np.uint16)
    stack = clean.copy()
    stack[0, 1, :] = 0  # a missing observation (all bands 0)
    stack[2, 3, 2] = 0  # one band missing: the whole observation goes
    stack[4, :, :] = 0  # a pixel with no data at all
    before = stack.copy()
    with pytest.warns(RuntimeWarning, match="All-NaN slice"):
        res = geomedian.solve(stack, nodata=0, nan_policy="omit", backend=backend)
    np.testing.assert_array_equal(stack, before)  # the caller's array is not modified
    assert res.median.dtype == np.float32  # <= 16-bit integers compute in float32
    ref0 = geomedian.solve(np.delete(clean[0], 1, axis=0).astype(np.float32), backend=backend)
    np.testing.assert_array_equal(res.median[0], ref0.median)
    assert res.status[4] == EMPTY and np.isnan(res.median[4]).all()
    with pytest.raises(ValueError, match=r"problem \(0,\) at row 1"):
        geomedian.solve(stack, nodata=0, backend=backend)


def test_integer_dtype_rule(backend):
    x = np.arange(24).reshape(2, 4, 3)
    for dtype, expected in (
        (np.uint8, np.float32),
        (np.int16, np.float32),
        (np.uint16, np.float32),
        (np.int32, np.float64),
        (np.int64, np.float64),
    ):
        assert geomedian.geometric_median(x.astype(dtype), backend=backend).dtype == expected
    # uint16 extremes: no overflow, exact in float32.
    big = np.array([[[65535, 65535], [65535, 65535], [0, 0]]], dtype=np.uint16)
    np.testing.assert_array_equal(geomedian.geometric_median(big, backend=backend), [[65535] * 2])


def test_float32_stays_float32_and_inputs_unchanged(backend):
    x = rng(9).standard_normal((3, 8, 6)).astype(np.float32)
    w = rng(10).uniform(0.5, 1.0, (3, 8))
    x0, w0 = x.copy(), w.copy()
    res = geomedian.solve(x, w, backend=backend)
    assert res.median.dtype == np.float32 and res.converged.all()
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_empty_batch(backend):
    res = geomedian.solve(np.zeros((0, 5, 3)), backend=backend)
    assert res.median.shape == (0, 3) and res.objective.shape == (0,)


@pytest.mark.parametrize(
    ("points", "weights", "match"),
    [
        (np.zeros((2, 0, 3)), None, "points is empty"),
        (np.zeros((2, 4, 0)), None, "d must be >= 1"),
        (np.zeros((2, 4, 3)), np.ones(3), r"weights of shape \(3,\) do not match"),
        (np.zeros((2, 4, 3)), np.ones((3, 4)), r"broadcasts to \(2, 4\)"),
        (np.zeros((2, 4, 3)), np.array([[1.0] * 4, [0.0] * 4]), r"all zero in problem \(1,\)"),
        (np.zeros((2, 4, 3)), -np.ones(4), "non-negative"),
    ],
    ids=["n=0", "d=0", "w-length", "w-shape", "w-zero-row", "w-negative"],
)
def test_bad_shapes_raise(points, weights, match):
    with pytest.raises(ValueError, match=match):
        geomedian.solve(points, weights)


def test_init_broadcast(backend):
    x = rng(11).standard_normal((4, 10, 2))
    for init in (np.zeros(2), rng(12).standard_normal((4, 2))):
        res = geomedian.solve(x, init=init, backend=backend)
        assert res.converged.all()
        ref = geomedian.solve(x, backend=backend).median
        np.testing.assert_allclose(res.median, ref, atol=1e-6)


def test_geometric_median_warns_once_with_count(backend):
    x = rng(13).standard_normal((5, 30, 3))
    with pytest.warns(geomedian.ConvergenceWarning, match=r"not certified for 5 of 5 problems"):
        geomedian.geometric_median(x, max_iter=1, backend=backend)


def test_backends_agree():
    if geomedian.backends() != ["cpp", "numba"]:
        pytest.skip("needs both backends")
    x = rng(14).standard_normal((50, 20, 6))
    x[::7, 3] = np.nan
    a = geomedian.solve(x, nan_policy="omit", backend="cpp")
    b = geomedian.solve(x, nan_policy="omit", backend="numba")
    np.testing.assert_allclose(a.median, b.median, atol=1e-8)
    assert a.converged.all() and b.converged.all()
