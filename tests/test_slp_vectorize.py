"""The kernels compile with LLVM's SLP vectoriser on; a user's functions as their settings say.

Each case runs in a fresh process with ``NUMBA_SLP_VECTORIZE=0`` and its own Numba cache
directory, and records the setting each compile saw at its start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba")

RECORD = """
    import json
    import geomedian._numba  # installs the listener
    from numba import njit
    from numba.core import config, event

    seen = []

    class Record(event.Listener):
        def on_start(self, ev):
            seen.append([ev.data["dispatcher"].py_func.__name__, config.SLP_VECTORIZE])

        def on_end(self, ev):
            pass

    event.register("numba:compile", Record())

    @njit
    def callee(x):
        return x * 2.0

    # A function defined as if in this package: its module name is what the listener reads.
    ns = {"__name__": "geomedian._numba.probe", "callee": callee}
    exec("def package_kernel(x):\\n    return callee(x) + 1.0\\n", ns)
    package_kernel = njit(ns["package_kernel"])

    @njit
    def users_caller(x):
        return package_kernel(x) - 1.0

    @njit
    def users_alone(x):
        return x - 3.0

    users_caller(1.0)
    users_alone(1.0)
    print(json.dumps({"seen": seen, "after": config.SLP_VECTORIZE}))
"""


def _record(tmp_path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "GEOMEDIAN_SLP_VECTORIZE"}
    environ.update(NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_SLP_VECTORIZE="0", **env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(RECORD)], env=environ,
                          capture_output=True, text=True, timeout=600, check=True,
                          cwd=tmp_path)  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_only_the_package_kernels_compile_with_slp(tmp_path):
    out = _record(tmp_path)
    seen = dict((name, slp) for name, slp in out["seen"])
    assert seen == {"users_caller": 0, "package_kernel": 1, "callee": 1, "users_alone": 0}
    # Compiles nest: the user's caller, then the kernel it calls, then the kernel's callee,
    # which compiles as part of the kernel.
    assert [name for name, _ in out["seen"]][:3] == ["users_caller", "package_kernel",
                                                      "callee"]  # fmt: skip
    assert out["after"] == 0


def test_turned_off_by_the_environment(tmp_path):
    out = _record(tmp_path, GEOMEDIAN_SLP_VECTORIZE="0")
    assert all(slp == 0 for _, slp in out["seen"])
