"""The kernel interface: both backends export the same kernels, and _kernels dispatches them."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import reference
from pybind_signature import parameters

from geomedian._backends import load_backend
from geomedian._kernels import Evaluated, Kernels, Solved

# Every kernel the Python layer calls through Kernels, in both dtypes.
KERNELS = ("solve", "median", "evaluate", "fused_pass", "hessian_pass", "sgd")


def test_backends_export_the_same_kernels():
    core = pytest.importorskip("geomedian._core")
    numba = load_backend("numba")
    for kernel in KERNELS:
        for suffix in ("f32", "f64"):
            name = f"{kernel}_{suffix}"
            compiled = parameters(getattr(core, name))
            mirror = list(inspect.signature(getattr(numba, name)).parameters)
            assert compiled == mirror, name
    assert core.small_problem_size == numba.small_problem_size
    assert parameters(core.robust_anchor) == list(inspect.signature(numba.robust_anchor).parameters)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dispatch_and_named_outcomes(backend, dtype):
    k = Kernels(backend)
    x = np.array([[[0, 0], [4, 0], [0, 3]]], dtype=dtype)
    entry = "solve_f32" if dtype == np.float32 else "solve_f64"
    assert k.entry("solve", x.dtype) is getattr(k.module, entry)
    out = k.solve(x, None, None, None, 2, 1e-10, 100, 1)
    assert isinstance(out, Solved) and out.median.shape == (1, 2)
    assert out.status[0] == 0 and out.lower_bound[0] <= out.objective[0]
    ev = k.evaluate(x[0], None, 1.0, np.zeros(2), 1)
    assert isinstance(ev, Evaluated) and ev.objective == pytest.approx(7.0)
    assert ev.gradient.shape == (2,)
    median, status = k.median(x[0], 2, 1e-6, 100)
    assert status == 0 and np.allclose(median, out.median[0], atol=1e-5)


@pytest.mark.parametrize("d", [2, 5, 16])
def test_pass_at_an_offset_in_the_frame(backend, d):
    """fused_pass and hessian_pass at y + z / s (the chunked driver's iterate z): with s a
    power of two, (x - 0) s - z and (x - y) s round alike, so a frame at the origin with
    z = y s gives the bits of the frame centred on y; a z of the wrong length is refused."""
    k = Kernels(backend)
    rng = np.random.default_rng(d)
    x = rng.standard_normal((500, d)) + 3.0
    w = rng.random(500)
    y, s = x.mean(axis=0) + 0.25, 0.5
    at_y = k.fused_pass(x, w, 1.0, y, s, 2, 1e-12, 4.0)
    offset = k.fused_pass(x, w, 1.0, np.zeros(d), s, 2, 1e-12, 4.0, y * s)
    np.testing.assert_array_equal(offset, at_y)
    np.testing.assert_array_equal(k.fused_pass(x, w, 1.0, y, s, 2, 1e-12, 4.0, np.zeros(d)), at_y)
    np.testing.assert_array_equal(
        k.hessian_pass(x, w, 1.0, np.zeros(d), s, 2, 1e-12, y * s),
        k.hessian_pass(x, w, 1.0, y, s, 2, 1e-12),
    )
    with pytest.raises(ValueError, match="z must be a"):
        k.fused_pass(x, w, 1.0, y, s, 1, 1e-12, 4.0, np.zeros(d + 1))
    with pytest.raises(ValueError, match="z must be a"):
        k.hessian_pass(x, w, 1.0, y, s, 1, 1e-12, np.zeros((1, d)))


@pytest.mark.parametrize("n", [1, 7, 300, 1024])
def test_robust_anchor_is_the_documented_one(backend, n):
    """The sample's anchor (m, rho) as documented, ties and weights included; inputs kept."""
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 3))
    x[: n // 3] = x[0]  # a third of the rows on one point: ties in every coordinate
    w = rng.integers(1, 4, n).astype(np.float64)
    x0, w0 = x.copy(), w.copy()
    m, rho = Kernels(backend).robust_anchor(x, w)
    ref_m, ref_rho = reference.robust_anchor(x, w)
    assert np.array_equal(m, ref_m)
    assert rho == pytest.approx(ref_rho, rel=1e-15, abs=0.0)
    assert np.array_equal(x, x0) and np.array_equal(w, w0)
    m1, rho1 = Kernels(backend).robust_anchor(x, None)
    assert np.array_equal(m1, reference.robust_anchor(x)[0]) and rho1 >= 0


def test_robust_anchor_refuses_bad_arrays(backend):
    module = load_backend(backend)
    x = np.zeros((4, 2))
    with pytest.raises(TypeError, match="sample"):
        module.robust_anchor(x.astype(np.float32), np.ones(4))
    with pytest.raises(ValueError, match="weights"):
        module.robust_anchor(x, np.ones(3))
    with pytest.raises(ValueError, match="sample"):
        module.robust_anchor(np.zeros((0, 2)), np.ones(0))


def test_numba_kernels_see_read_only_inputs(monkeypatch):
    """Writable and read-only arrays reach a Numba kernel alike, read-only, without a copy.

    Numba compiles a kernel anew for each writability of its arguments: one kind for all
    inputs means one compilation for arrays from memory maps and from NumPy alike.
    """
    pytest.importorskip("numba")
    bindings = load_backend("numba")
    seen = []

    def kernel(points, w, wscale, y, *rest):
        seen.append((points.flags.writeable, w.flags.writeable, y.flags.writeable))
        seen.append(np.shares_memory(points, x) or np.shares_memory(points, ro))

    monkeypatch.setattr(bindings, "serial_sums", kernel)
    x = np.ones((5, 2))
    ro = x.copy()
    ro.flags.writeable = False
    for a in (x, ro):
        bindings.fused_pass_f64(a, np.ones(5), 1.0, np.zeros(2), 1.0, 1)
    assert seen == [(False, False, False), True] * 2
    assert x.flags.writeable  # the caller's array itself is left as it was
