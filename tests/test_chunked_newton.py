"""Newton steps on data read in chunks: the Hessian pass, and the passes they save."""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian._backends import load_backend
from geomedian._contract import CHUNK_COORDINATES, CHUNK_MIN_ROWS


def _packed(H: np.ndarray) -> np.ndarray:
    return np.array([H[j, k] for j in range(H.shape[0]) for k in range(j + 1)])


@pytest.mark.parametrize("d", [2, 5, 16])
def test_hessian_pass_is_the_hessian_whatever_the_threads(backend, d):
    impl = load_backend(backend)
    rng = np.random.default_rng(d)
    x = rng.standard_normal((40_000, d))
    w = rng.uniform(0.0, 2.0, x.shape[0])
    y, s = 0.1 * rng.standard_normal(d), 0.25
    H = impl.hessian_pass_f64(x, w, 0.5, y, s, 2, 2.0**-40)
    assert np.array_equal(H, impl.hessian_pass_f64(x, w, 0.5, y, s, 1, 2.0**-40))
    r = (x - y) * s
    dist = np.linalg.norm(r, axis=1)
    t = 0.5 * w / dist
    full = t.sum() * np.eye(d) - np.einsum("i,ij,ik->jk", t / dist**2, r, r)
    np.testing.assert_allclose(H[:-1], _packed(full), rtol=1e-12, atol=1e-12 * t.sum())
    assert H[-1] == pytest.approx(np.sum(t / dist), rel=1e-12)  # inv_sq, for the bound


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 16])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hessian_pass_backends_agree_to_the_bit(d, dtype):
    # Every compiled row length (1-4, 6, 8, 16) and the run-time one (5 and 7: a transposed
    # quad and 1 or 3 more; 11: a transposed block of 8 and 3 more; 12 and 13: a block of 8,
    # a quad and 0 or 1 more); n = 3003 leaves a chunk's last lane group short
    # and its last block of groups partial, and one row sits on the iterate (its term is 0).
    pytest.importorskip("geomedian._core")
    rng = np.random.default_rng(d)
    x = rng.standard_normal((3003, d)).astype(dtype)
    w = rng.uniform(0.0, 2.0, x.shape[0])
    y = np.full(d, 0.01)
    x[17] = y
    core, mirror = load_backend("cpp"), load_backend("numba")
    name = "hessian_pass_f32" if dtype == np.float32 else "hessian_pass_f64"
    for weights, threads in ((None, 1), (w, 2)):
        a = getattr(core, name)(x, weights, 0.5, y, 0.5, threads)
        assert np.array_equal(a, getattr(mirror, name)(x, weights, 0.5, y, 0.5, threads))


@pytest.mark.parametrize("d", [2, 7, 16])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hessian_pass_backends_agree_to_the_bit_over_many_chunks(d, dtype):
    # Nine whole chunks and a short one whose last block of groups is partial (the Numba
    # kernel's blocks read the last row again past it, with weight 0), on 1 and 2 threads.
    pytest.importorskip("geomedian._core")
    rng = np.random.default_rng(100 + d)
    step = max(CHUNK_MIN_ROWS, CHUNK_COORDINATES // d)  # chunk_rows (parallel.hpp)
    x = (3.0 * rng.standard_normal((9 * step + 77, d))).astype(dtype)
    w = rng.uniform(0.0, 2.0, x.shape[0])
    y = np.full(d, 0.25)
    core, mirror = load_backend("cpp"), load_backend("numba")
    name = "hessian_pass_f32" if dtype == np.float32 else "hessian_pass_f64"
    for weights, threads in ((None, 2), (w, 1), (w, 2)):
        a = getattr(core, name)(x, weights, 0.5, y, 0.5, threads)
        assert np.array_equal(a, getattr(mirror, name)(x, weights, 0.5, y, 0.5, threads))


def test_memmap_newton_saves_passes(backend, tmp_path):
    x = np.random.default_rng(4).standard_normal((100_000, 3)) * [1.0, 2.0, 0.5] + 3.0
    np.save(tmp_path / "x.npy", x)
    m = np.load(tmp_path / "x.npy", mmap_mode="r")
    newton = geomedian.solve(m, backend=backend, method="newton")
    gd = geomedian.solve(m, backend=backend, method="gd")
    ref = geomedian.solve(x, backend=backend, method="newton", tol=1e-13)
    assert newton.converged and gd.converged
    assert newton.n_passes < gd.n_passes
    np.testing.assert_allclose(newton.median, ref.median, rtol=0, atol=1e-8)
