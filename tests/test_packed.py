"""Small Newton problems solved eight at a time, one per lane (packed_newton), per backend.

A batch of small problems (n d <= 1024, method newton, no start points) goes through the
packed kernel, which gives back to the general driver every problem it cannot certify on
Newton's common path. A problem's bits must not depend on the batch it sits in, and the
problems given back must still be solved right.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference

import geomedian
from geomedian._result import EMPTY

FIELDS = ("objective", "lower_bound", "gap", "n_iter", "n_passes", "status")


def pixels(P: int, n: int = 20, d: int = 6, seed: int = 0) -> np.ndarray:
    """Seeded pixel-like problems: a surface, noise 0.01, 20% far "cloud" rows."""
    rng = np.random.default_rng([20261124, seed])
    x = rng.uniform(0.02, 0.4, (P, 1, d)) + rng.normal(0.0, 0.01, (P, n, d))
    clouds = rng.random((P, n)) < 0.2
    k = int(clouds.sum())
    x[clouds] = rng.uniform(0.3, 0.9, (k, 1)) + rng.normal(0.0, 0.02, (k, d))
    return x


def bracket(x, w=None) -> tuple[float, float]:
    """``lo <= f* <= hi`` from the reference's L-BFGS point (optimum_bracket without its
    20000 Weiszfeld iterations, which would make this file take a minute)."""
    y = reference.lbfgs(x, w)
    return reference.lower_bound(y, x, w), reference.objective(y, x, w)


def assert_alone_equals_batch(x, backend, weights=None, **options) -> None:
    """solve(x)[k] and solve(x[k]) agree bit for bit on every problem k."""
    res = geomedian.solve(x, weights, backend=backend, **options)
    for k in range(len(x)):
        wk = None if weights is None else weights[k]
        one = geomedian.solve(x[k], wk, backend=backend, **options)
        np.testing.assert_array_equal(res.median[k], one.median, err_msg=f"problem {k}")
        for name in FIELDS:
            assert np.array_equal(getattr(res, name)[k], getattr(one, name), equal_nan=True), (
                name,
                k,
            )


def test_pixel_batch_alone_equals_batch(backend):
    x = pixels(13)  # not a multiple of 8: the last pack has empty lanes
    assert_alone_equals_batch(x, backend)
    assert_alone_equals_batch(x.astype(np.float32), backend)


def test_weighted_batch_alone_equals_batch(backend):
    x = pixels(13, seed=1)
    w = np.random.default_rng(2).uniform(0.1, 3.0, x.shape[:2])
    assert_alone_equals_batch(x, backend, w)


def test_omitted_rows_alone_equals_batch(backend):
    x = pixels(11, seed=3)
    rng = np.random.default_rng(4)
    x[rng.random(x.shape[:2]) < 0.15] = np.nan  # whole rows missing
    x[5, 2:9, 3] = np.nan  # a row with one NaN coordinate is missing too
    assert_alone_equals_batch(x, backend, nan_policy="omit")


def test_blocks_of_packs_alone_equal_batch(backend):
    # 150 problems: the Numba backend packs a block of 64 at once (a partial last block,
    # lanes of fewer rows than others), the compiled core eight at a time; alone, a problem
    # has a pack of its own. Its bits are the same everywhere.
    x = pixels(150, seed=7)
    rng = np.random.default_rng(8)
    x[rng.random(x.shape[:2]) < 0.05] = np.nan
    w = rng.uniform(0.1, 3.0, x.shape[:2])
    assert_alone_equals_batch(x, backend, w, nan_policy="omit")
    assert_alone_equals_batch(np.where(np.isnan(x), 0.5, x), backend)


@pytest.mark.parametrize("weighted", [False, True])
def test_packed_results_are_certified_and_match_reference(backend, weighted):
    x = pixels(13, seed=5)
    w = np.random.default_rng(6).uniform(0.1, 3.0, x.shape[:2]) if weighted else None
    res = geomedian.solve(x, w, backend=backend)
    assert res.converged.all() and (res.gap <= 1e-10).all()
    for k in range(len(x)):
        wk = None if w is None else w[k]
        lo, hi = bracket(x[k], wk)
        # The reference's own dual bound at the answer certifies it independently.
        lo = max(lo, reference.lower_bound(res.median[k], x[k], wk))
        assert (res.objective[k] - lo) / res.objective[k] <= 1e-9
        assert res.lower_bound[k] <= hi * (1 + 1e-14)
        assert res.objective[k] == pytest.approx(
            reference.objective(res.median[k], x[k], wk), 1e-13
        )


def test_float32_objective_is_at_the_returned_median(backend):
    # A float32 answer is rounded, then f is evaluated again at the rounded point: the
    # objective reported belongs to the median returned. At a float32 tolerance the
    # unrounded iterate's f differs by ~1e-14 relative (59 of these 64 by more than
    # 4e-15); a per-lane loop of casts once left the answers unrounded in the kernel.
    x = pixels(64, seed=10).astype(np.float32)
    res = geomedian.solve(x, backend=backend)
    assert res.converged.all()
    for k in range(len(x)):
        f = reference.objective(res.median[k].astype(np.float64), x[k])
        assert abs(res.objective[k] - f) <= 4e-15 * f, k


def test_problems_given_back_are_solved(backend):
    # Pixels mixed with problems whose optimum is a data point (the packed kernel stops
    # near a vertex and gives them back) and an all-NaN problem (never packed).
    x = pixels(12, seed=7)
    w = np.ones(x.shape[:2])
    w[2, 4] = x.shape[1]  # one point holds more than half the weight
    x[6, 9:] = x[6, 0]  # 11 of 20 rows on one point
    x[9] = np.nan
    with pytest.warns(RuntimeWarning, match="All-NaN slice"):
        res = geomedian.solve(x, w, backend=backend, nan_policy="omit")
    np.testing.assert_array_equal(res.median[2], x[2, 4])
    np.testing.assert_array_equal(res.median[6], x[6, 0])
    assert res.status[9] == EMPTY and np.isnan(res.median[9]).all()
    keep = np.arange(len(x)) != 9
    assert res.converged[keep].all() and (res.gap[keep] <= 1e-10).all()
    for k in np.flatnonzero(keep):
        _, hi = bracket(x[k], w[k])
        assert res.objective[k] <= hi * (1 + 1e-9)
        assert res.lower_bound[k] <= hi * (1 + 1e-14)
    with pytest.warns(RuntimeWarning, match="All-NaN slice"):  # problem 9, in and alone
        assert_alone_equals_batch(x, backend, w, nan_policy="omit")


def test_collinear_odd_count_optimum_is_the_middle_point(backend):
    x = pixels(9, n=21, d=3, seed=8)
    x[4] = 0.0
    x[4, :, 1] = np.linspace(-3.0, 7.0, 21) ** 3  # collinear, odd count: the 11th point
    res = geomedian.solve(x, backend=backend)
    np.testing.assert_array_equal(res.median[4], x[4, 10])
    assert res.converged.all()
    assert_alone_equals_batch(x, backend)


def test_max_iter_one(backend):
    x = pixels(10, seed=9)
    res = geomedian.solve(x, backend=backend, max_iter=1, tol=1e-14)
    assert (res.n_iter <= 1).all()
    for k in range(len(x)):
        _, hi = bracket(x[k])
        assert res.lower_bound[k] <= hi * (1 + 1e-14)
        if not res.converged[k]:
            assert res.gap[k] > 1e-14
    assert_alone_equals_batch(x, backend, max_iter=1, tol=1e-14)


@pytest.mark.parametrize("d", [3, 10])
def test_symmetric_pairs_at_every_distance(backend, d):
    # Pairs c +- v (exact in float64) have the optimum c and f* = sum 2 w ||v||, whatever
    # the scales: rows from 2^-12 to 4 away from it. Odd problems add the row c itself, so
    # their start (the coordinate-wise median) sits on a row: that lane is given back at its
    # first pass beside lanes that go on, and its answer is the vertex c.
    rng = np.random.default_rng([20261206, d])
    P, K = 16, 12
    scales = 2.0 ** np.array([-12, -6, -2, 0, 2])
    c = np.where(np.arange(d) % 2 == 0, 0.5, -0.25)
    directions = np.round(rng.standard_normal((P, K, d)) * 2.0**12) / 2.0**12
    v = directions * rng.choice(scales, size=(P, K, 1))
    x = np.concatenate([c + v, c - v, np.broadcast_to(c, (P, 1, d))], axis=1)
    assert np.array_equal(x[:, :K] - c, c - x[:, K : 2 * K])  # exact pairs
    w = np.concatenate([np.tile(rng.uniform(0.5, 2.0, (P, K)), 2), np.ones((P, 1))], axis=1)
    w[::2, -1] = 0.0  # even problems: no row at c
    res = geomedian.solve(x, w, backend=backend)
    assert res.converged.all() and (res.gap <= 1e-10).all()
    for k in range(P):
        f_star = reference.objective(c, x[k], w[k])
        assert res.lower_bound[k] <= f_star * (1 + 1e-14), k
        f = reference.objective(res.median[k], x[k], w[k])
        assert res.objective[k] == pytest.approx(f, rel=1e-13), k
        if k % 2:
            np.testing.assert_array_equal(res.median[k], c)
    assert_alone_equals_batch(x, backend, w)


@pytest.mark.parametrize("shape", [(10, 1, 4), (10, 31, 1), (9, 171, 6)], ids=str)
def test_edge_shapes(backend, shape):
    # n = 1 (the answer is the point), d = 1 (a weighted median), and n d = 1026, just
    # above the packed problem size: the general per-problem path.
    x = pixels(*shape, seed=10)
    res = geomedian.solve(x, backend=backend)
    assert res.converged.all() and (res.gap <= 1e-10).all()
    if shape[1] == 1:
        np.testing.assert_array_equal(res.median, x[:, 0])
    if shape[2] == 1:
        np.testing.assert_allclose(res.median[:, 0], np.median(x[..., 0], axis=1), atol=1e-12)
    assert_alone_equals_batch(x, backend)


def test_buffers_kept_between_calls_change_nothing(backend):
    """A thread keeps its pack buffers from one call to the next (a hot loop of single
    problems): calls of other shapes, with weights or fewer rows in use, in between leave
    every answer's bits as the batch gave them."""
    rng = np.random.default_rng(41)
    x = rng.normal(size=(24, 12, 5))
    x[3, 2:9] = np.nan  # omitted rows: fewer rows in use
    x[17, :11] = np.nan  # one row left
    batch = geomedian.solve(x, backend=backend, nan_policy="omit", threads=1)
    others = [rng.normal(size=(9, 12, 5)), rng.normal(size=(8, 30, 5)), rng.normal(size=(8, 12, 4))]
    w = rng.random((8, 12))
    for k in range(len(x)):
        geomedian.solve(others[k % 3], backend=backend, threads=1)
        geomedian.solve(others[0][:8], w, backend=backend, threads=1)  # weighted: no networks
        one = geomedian.solve(x[k], backend=backend, nan_policy="omit", threads=1)
        np.testing.assert_array_equal(one.median, batch.median[k], err_msg=f"problem {k}")
        assert (one.objective, one.lower_bound) == (batch.objective[k], batch.lower_bound[k])
