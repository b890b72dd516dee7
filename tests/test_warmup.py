"""``geomedian warmup``: every path it compiles ahead of time runs."""

from __future__ import annotations

import numpy as np
import pytest

import geomedian


def test_every_warm_path_runs():
    if "numba" not in geomedian.backends():
        pytest.skip("the Numba backend is not installed")
    from geomedian._tools.warmup import warm_paths

    names = []
    for name, call in warm_paths(np.float64):
        call()
        names.append(name)
    # The paths that compile kernels of their own, beyond the in-memory solves.
    assert {"large, one thread", "a memory map", "geomad", "sgd", "online"} <= set(names)
