"""A solve on C-contiguous float64/float32 points allocates no copy of them.

In a fresh child process: make 1,000,000 x 16 points, warm the kernels up on a small
problem, reset the peak resident set (``/proc/self/clear_refs``), solve, and measure the
growth of the peak resident set (``VmHWM``, which sees allocations in C++ and Numba too)
and the peak of Python's allocations (``tracemalloc``, which sees NumPy's). Both must stay
below 5% of the input: method="auto" samples n / 256 rows for its warm start (0.4%).
"""

from __future__ import annotations

import os

import pytest
from isolated import last_json_line, run_script

CHILD = r"""
import json, sys, tracemalloc
import numpy as np
import geomedian

backend, dtype = sys.argv[1], np.dtype(sys.argv[2])


def vm(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024


x = np.random.default_rng(0).standard_normal((1_000_000, 16), dtype=dtype)
geomedian.solve(x[:100_000], backend=backend)  # load and compile, start the thread pools
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to the current resident set
before = vm("VmRSS")
tracemalloc.start()
res = geomedian.solve(x, backend=backend)
_, python_peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({"input": x.nbytes, "rss_growth": vm("VmHWM") - before,
                  "python_peak": python_peak, "converged": bool(res.converged)}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_large_solve_makes_no_copy_of_the_points(backend, dtype):
    proc = run_script(CHILD, backend, dtype, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = last_json_line(proc)
    assert out["converged"]
    assert out["rss_growth"] < 0.05 * out["input"], out
    assert out["python_peak"] < 0.05 * out["input"], out
