"""Arrays of other libraries in, the same type out: torch tensors and ``__dlpack__`` objects.

A CPU tensor is read through DLPack (``np.from_dlpack``): NumPy then views the tensor's
own memory, no copy, whatever its dtype and strides (the paths copy only what they would
copy of the same NumPy array). torch is never imported here: a tensor's own methods do
the work, and ``torch`` is taken from ``sys.modules`` when a median goes back out (it is
loaded, since the caller passed a tensor).

Tensors on another device (CUDA, ROCm, ...) get a clear error: the kernels run on the CPU.
How a GPU backend would take them instead is written in the documentation ("Models and
tensors").
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["as_array", "is_foreign", "is_torch", "like"]

# DLPack's DLDeviceType codes, for the error message.
_CPU = 1
_DEVICES = {2: "CUDA", 3: "CUDA host", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 10: "ROCm",
            13: "CUDA managed", 14: "oneAPI"}  # fmt: skip


def is_torch(obj: Any) -> bool:
    """Tell a ``torch.Tensor`` (or a subclass, e.g. ``nn.Parameter``) without importing torch."""
    return any(c.__name__ == "Tensor" and c.__module__ == "torch" for c in type(obj).__mro__)


def is_foreign(obj: Any) -> bool:
    """Whether ``obj`` is another library's array: it has ``__dlpack__`` and is no ndarray."""
    return not isinstance(obj, np.ndarray) and hasattr(obj, "__dlpack__")


def as_array(obj: Any, name: str) -> Any:
    """Return ``obj`` as a NumPy array when it is another library's array, else unchanged.

    CPU tensors are viewed without a copy. A torch tensor that requires grad is read
    through ``detach()`` (the median carries no gradient); bfloat16, which NumPy lacks,
    is copied to float32. Raises ``ValueError`` for a tensor on another device.
    """
    if not is_foreign(obj):
        return obj
    device = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else _CPU
    if device != _CPU:
        where = _DEVICES.get(int(device), f"DLPack device type {int(device)}")
        raise ValueError(
            f"{name} is on a {where} device; geomedian computes on the CPU: move it there "
            "first (torch: tensor.cpu())"
        )
    if is_torch(obj):
        if obj.requires_grad:
            obj = obj.detach()
        if str(obj.dtype) == "torch.bfloat16":
            obj = obj.float()
    try:
        return np.from_dlpack(obj)
    except (BufferError, TypeError, RuntimeError):
        # A layout DLPack cannot describe (a torch tensor with its conjugate or negative
        # bit set): the array protocol copies it.
        return np.asarray(obj)


def like(template: Any, array: np.ndarray) -> Any:
    """Return ``array`` as the type of ``template``: a torch tensor for one, else NumPy.

    The tensor shares ``array``'s memory. Python numbers give a Python float.
    """
    if is_torch(template):
        return sys.modules["torch"].from_numpy(np.ascontiguousarray(array))
    if isinstance(template, (int, float)) and not isinstance(template, bool):
        return float(array)
    return array
