"""method="sgd": averaged minibatch SGD, its certificate, reproducibility, both backends."""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian import _backends


@pytest.fixture(scope="module")
def gauss():
    return np.random.default_rng(5).standard_normal((10_000, 5))


def test_defaults_reach_1e3_certified(backend, gauss):
    res = geomedian.solve(gauss, method="sgd", backend=backend)
    assert res.method == "sgd" and res.backend == backend
    assert res.converged and res.status == 0 and res.gap <= 1e-3
    assert res.n_passes == 2 * res.n_iter  # an epoch and a certificate pass each
    exact = geomedian.solve(gauss, backend=backend)
    # The certificate is honest: the true relative suboptimality is below it.
    assert res.lower_bound <= exact.objective <= res.objective
    assert (res.objective - exact.objective) / res.objective <= res.gap
    assert res.objective == pytest.approx(geomedian.objective(res.median, gauss), rel=1e-12)


def test_reproducible_and_seeded(backend, gauss):
    a = geomedian.solve(gauss, method="sgd", backend=backend, random_state=3, tol=1e-4)
    b = geomedian.solve(
        gauss, method="sgd", backend=backend, random_state=np.random.default_rng(3), tol=1e-4
    )
    c = geomedian.solve(gauss, method="sgd", backend=backend, random_state=4, tol=1e-4)
    assert np.array_equal(a.median, b.median)
    assert not np.array_equal(a.median, c.median)
    assert a.gap <= 1e-4 and c.gap <= 1e-4


def test_backends_agree_bitwise(gauss):
    if "cpp" not in geomedian.backends():
        pytest.skip("needs both backends")
    a = geomedian.solve(gauss, method="sgd", backend="cpp", batch_size=7, max_iter=3, tol=0)
    b = geomedian.solve(gauss, method="sgd", backend="numba", batch_size=7, max_iter=3, tol=0)
    assert np.array_equal(a.median, b.median)
    assert a.n_iter == b.n_iter == 3 and a.status == b.status == 1


def numpy_sgd(x, w, blocks, batch, norm, c, s, gamma0, alpha):
    """The update of csrc/geomedian/sgd.hpp, written independently in NumPy."""
    m = np.zeros(x.shape[1])
    mbar = np.zeros(x.shape[1])
    for t, b in enumerate(blocks, start=1):
        r = (x[b * batch : (b + 1) * batch] - c) * s - m
        dist = np.linalg.norm(r, axis=1)
        wb = np.ones(len(r)) if w is None else w[b * batch : (b + 1) * batch]
        m = m + gamma0 / t**alpha * norm * ((wb / dist) @ r)
        mbar = mbar + (m - mbar) / t
    return m, mbar


@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_matches_numpy(backend, weighted):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((103, 3)) * 5 + 2
    w = rng.random(103) if weighted else None
    impl = _backends.load_backend(backend)
    blocks = rng.permutation(11).astype(np.int64)
    c, s = np.array([1.0, 2.0, 3.0]), 0.0625
    state = np.zeros(7)
    impl.sgd_f64(x, w, 1.0, blocks, 10, 0.3, c, s, 0.7, 0.6, state)
    m, mbar = numpy_sgd(x, w, blocks, 10, 0.3, c, s, 0.7, 0.6)
    assert state[0] == 11
    np.testing.assert_allclose(state[1:4], m, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state[4:], mbar, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="block index"):
        impl.sgd_f64(x, w, 1.0, np.array([11], dtype=np.int64), 10, 0.3, c, s, 0.7, 0.6, state)


def test_weighted_and_float32(backend, gauss):
    w = np.random.default_rng(2).integers(0, 4, size=gauss.shape[0]).astype(float)
    res = geomedian.solve(gauss, w, method="sgd", backend=backend)
    exact = geomedian.solve(gauss, w, backend=backend)
    assert res.converged and res.gap <= 1e-3
    assert exact.objective <= res.objective <= exact.objective * (1 + res.gap) / (1 - res.gap)
    r32 = geomedian.solve(gauss.astype(np.float32), method="sgd", backend=backend)
    assert r32.median.dtype == np.float32 and r32.converged and r32.gap <= 1e-3


def test_budget_and_progress(backend, gauss):
    seen = []
    res = geomedian.solve(
        gauss, method="sgd", backend=backend, tol=0, max_iter=2, progress=lambda *a: seen.append(a)
    )
    assert res.status == 1 and not res.converged and res.n_iter == 2 and res.n_passes == 4
    assert [it for it, _, _ in seen] == [1, 2]
    assert seen[-1][1] == pytest.approx(res.objective) and seen[-1][2] == pytest.approx(res.gap)
    with pytest.warns(geomedian.ConvergenceWarning):
        geomedian.geometric_median(gauss, method="sgd", backend=backend, tol=0, max_iter=1)


def test_errors(backend, gauss):
    with pytest.raises(ValueError, match="batch_size applies to method='sgd'"):
        geomedian.solve(gauss, method="gd", batch_size=8)
    with pytest.raises(ValueError, match="random_state applies"):
        geomedian.solve(gauss, random_state=1)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        geomedian.solve(gauss, method="sgd", batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        geomedian.solve(gauss, method="sgd", batch_size=2.5)
    with pytest.raises(TypeError, match="random_state"):
        geomedian.solve(gauss, method="sgd", random_state="seed")
    with pytest.raises(TypeError, match="progress"):
        geomedian.solve(gauss, progress="yes")
    with pytest.raises(ValueError, match="one problem"):
        geomedian.solve(gauss.reshape(2, 5000, 5), method="sgd")
    with pytest.raises(ValueError, match="nan_policy='omit'"):
        geomedian.solve(gauss, method="sgd", nan_policy="omit")
    bad = gauss.copy()
    bad[17, 2] = np.nan
    with pytest.raises(ValueError, match="row 17, column 2"):
        geomedian.solve(bad, method="sgd", backend=backend)
    res = geomedian.solve(bad, method="sgd", backend=backend, nan_policy="propagate")
    assert res.status == 4 and np.isnan(res.median).all()
