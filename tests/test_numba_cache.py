"""Numba's on-disk cache of the kernels: where it lives, read-only installations, cold starts.

Each process case gets its own empty cache directory, so it compiles as a fresh install does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

numba = pytest.importorskip("numba")

from geomedian._numba import kernel_cache  # noqa: E402


def _environ(tmp_path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environ.update(GEOMEDIAN_COMPILE_NOTICE="0", XDG_CACHE_HOME=str(tmp_path / "user"), **env)
    return environ


def _unwritable_package(root):
    """A copy of the kernels' sources whose ``__pycache__`` cannot be created (a file holds
    its name; unlike a read-only mode, this stops root as well)."""
    package = root / "_numba"
    package.mkdir(parents=True)
    for source in kernel_cache.HERE.glob("*.py"):
        shutil.copy(source, package)
    shutil.copy(kernel_cache.HERE.parent / "_contract.py", root)
    (package / "__pycache__").write_text("")
    return package


def test_an_unwritable_package_keeps_its_cache_in_the_user_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_cache, "HERE", _unwritable_package(tmp_path / "site"))
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
    where = kernel_cache.cache_dir()
    assert where is not None and (tmp_path / "user") in where.parents
    # Kernels cached from other sources are dropped there, and a stamp of these written.
    stale = where / "solver.solve_problem-100.py3.nbi"
    stale.write_bytes(b"")
    kernel_cache.drop_stale_cache(where)
    assert not stale.exists()
    assert (where / kernel_cache.STAMP).read_text() == kernel_cache._digest()
    # Fresh ones stay.
    fresh = where / "solver.solve_problem-100.py3.1.nbc"
    fresh.write_bytes(b"")
    kernel_cache.drop_stale_cache(where)
    assert fresh.exists()


def test_a_kernel_in_an_unwritable_directory_loads_from_the_user_cache(tmp_path):
    package = tmp_path / "package"
    package.mkdir()
    (package / "kernel.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n"
    )
    (package / "__pycache__").write_text("")
    code = "import kernel; kernel.f(1); print(sum(kernel.f.stats.cache_hits.values()))"
    runs = [
        subprocess.run([sys.executable, "-c", code], env=_environ(tmp_path), cwd=package,
                       capture_output=True, text=True, timeout=300, check=True).stdout
        for _ in range(2)
    ]  # fmt: skip
    assert runs == ["0\n", "1\n"]  # compiled and cached, then loaded
    assert list((tmp_path / "user" / "numba").glob("*/kernel.f-*.nbi"))


COLD = textwrap.dedent("""
    import numpy as np
    import geomedian
    from geomedian._numba import solver

    x = np.random.default_rng(0).standard_normal((300, 3))
    y = np.full(3, 0.25)
    print(repr(geomedian.objective(y, x, backend="numba")))
    print(sum(solver.evaluate_at.stats.cache_hits.values()))
""")


def test_two_cold_processes_at_once_share_one_cache(tmp_path):
    environ = _environ(tmp_path, NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def start():
        pipe = subprocess.PIPE
        return subprocess.Popen([sys.executable, "-c", COLD], env=environ, cwd=tmp_path,
                                stdout=pipe, stderr=pipe, text=True)  # fmt: skip

    both = [start(), start()]
    outs = [proc.communicate(timeout=900) for proc in both]
    for proc, (_, err) in zip(both, outs):
        assert proc.returncode == 0, err
    values = [out.splitlines()[0] for out, _ in outs]
    assert values[0] == values[1]
    # What they left behind is a sound cache: a third process loads it and agrees.
    out, err = start().communicate(timeout=900)
    value, hits = out.splitlines()
    assert value == values[0]
    assert int(hits) == 1


WARMTH = textwrap.dedent("""
    import numpy as np
    import geomedian
    from geomedian._config import config

    def facts():
        numba = config()["backends"]["numba"]
        return numba["cache_warm"], numba["cached_kernels"]

    print(facts())
    x = np.random.default_rng(0).standard_normal((5000, 3))
    geomedian.solve(x, method="sgd", backend="numba")
    print(facts())
""")


def test_config_shows_which_kernels_are_cached(tmp_path):
    environ = _environ(tmp_path, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", WARMTH], env=environ, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900, check=True)  # fmt: skip
    out = proc.stdout
    before, after = out.splitlines()
    assert before.startswith("('0 of ") and before.endswith("'none')")
    assert "sgd (1)" in after and "sgd" not in before
