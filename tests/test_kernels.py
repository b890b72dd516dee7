"""The kernel interface: both backends export the same kernels, and _kernels dispatches them."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
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
