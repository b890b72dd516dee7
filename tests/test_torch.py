"""Other libraries' arrays: DLPack in without a copy, a torch tensor in gives one out."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import geomedian
from geomedian._interop import as_array


class Exported:
    """Another library's CPU array, known to NumPy through DLPack only."""

    def __init__(self, x, device=(1, 0)):
        self._x = x
        self._device = device

    def __dlpack__(self, **kwargs):
        return self._x.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._device


def test_dlpack_objects_are_read_in_place(backend, rng):
    x = rng.standard_normal((9, 20))
    obj = Exported(x)
    assert np.shares_memory(as_array(obj, "points"), x)
    res = geomedian.solve(obj, backend=backend)
    np.testing.assert_array_equal(res.median, geomedian.solve(x, backend=backend).median)
    models = [Exported(row) for row in x]
    np.testing.assert_array_equal(geomedian.tree_median(models, backend=backend),
                                  geomedian.tree_median(x, backend=backend))  # fmt: skip


def test_device_arrays_get_a_clear_error():
    gpu = Exported(np.ones((3, 2)), device=(2, 0))
    with pytest.raises(ValueError, match=r"points is on a CUDA device.*cpu"):
        geomedian.solve(gpu)
    with pytest.raises(ValueError, match=r"models\[1\] is on a CUDA device"):
        geomedian.tree_median([np.ones(2), gpu])


def test_torch_is_not_imported_by_geomedian():
    code = "import sys, geomedian; assert 'torch' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


torch = pytest.importorskip("torch")


def test_tensor_in_tensor_out(backend):
    g = torch.Generator().manual_seed(0)
    t = torch.randn(12, 3000, generator=g)
    out = geomedian.geometric_median(t, backend=backend)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (3000,)
    np.testing.assert_array_equal(
        out.numpy(), geomedian.geometric_median(t.numpy(), backend=backend)
    )
    res = geomedian.solve(t, torch.ones(12), method="gram", backend=backend)
    assert isinstance(res.median, torch.Tensor) and res.converged
    batch = geomedian.geometric_median(torch.randn(4, 6, 3, generator=g), backend=backend)
    assert isinstance(batch, torch.Tensor) and batch.shape == (4, 3)


def test_tensors_that_numpy_cannot_view(backend):
    g = torch.Generator().manual_seed(1)
    p = torch.nn.Parameter(torch.randn(5, 40, generator=g))  # requires grad
    out = geomedian.geometric_median(p, backend=backend)
    assert isinstance(out, torch.Tensor) and not out.requires_grad
    bf = p.detach().to(torch.bfloat16)
    np.testing.assert_array_equal(
        geomedian.geometric_median(bf, backend=backend).numpy(),
        geomedian.geometric_median(bf.float(), backend=backend).numpy(),
    )
    tt = p.detach().T  # not contiguous: viewed with its strides
    np.testing.assert_array_equal(
        geomedian.geometric_median(tt, backend=backend).numpy(),
        geomedian.geometric_median(tt.numpy().copy(), backend=backend),
    )


def test_state_dicts(backend):
    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(30, 20), torch.nn.ReLU(), torch.nn.Linear(20, 2))
            for _ in range(7)]  # fmt: skip
    states = [net.state_dict() for net in nets[1:]]
    before = [{k: v.clone() for k, v in s.items()} for s in states]
    for per_component in (False, True):
        med = geomedian.tree_median(states, per_component=per_component, method="gram",
                                    backend=backend)  # fmt: skip
        assert list(med) == list(states[0])
        for key, value in med.items():
            assert isinstance(value, torch.Tensor) and value.shape == states[0][key].shape
        nets[0].load_state_dict(med)  # the median is a model (nets[0] is not among them)
    for s, b in zip(states, before):
        for key in s:
            assert torch.equal(s[key], b[key])
    flat = np.stack([np.concatenate([v.numpy().ravel() for v in s.values()]) for s in states])
    joint = geomedian.tree_solve(states, method="gram", backend=backend)
    got = np.concatenate([v.numpy().ravel() for v in joint.median.values()])
    ref = geomedian.solve(flat, backend=backend)
    assert geomedian.objective(got, flat) <= ref.objective * (1 + 2e-6)
