"""While the Numba kernels compile (the first use on a machine), one line on standard error.

Each case runs in a fresh process (the notice is printed once per process) with its own
Numba cache directory, and a notice delay of 0 so that a tiny function's compile shows it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba")

NOTICE = "compiling the Numba kernels"


def _stderr(tmp_path, code: str, **env: str) -> str:
    full = textwrap.dedent("""
        import geomedian._numba.compile_notice as notice
        notice.NOTICE_SECONDS = 0.0
    """) + textwrap.dedent(code)
    environ = {k: v for k, v in os.environ.items() if k != "GEOMEDIAN_COMPILE_NOTICE"}
    environ.update(NUMBA_CACHE_DIR=str(tmp_path / "cache"), **env)
    proc = subprocess.run([sys.executable, "-c", full], env=environ, capture_output=True,
                          text=True, timeout=600, check=True, cwd=tmp_path)  # fmt: skip
    return proc.stderr


TWO_COMPILES = """
    from numba import njit
    njit(lambda x: x + 1)(1)
    njit(lambda x: x * 2.0)(2.0)
"""


def test_compiles_print_one_line(tmp_path):
    assert _stderr(tmp_path, TWO_COMPILES).count(NOTICE) == 1


def test_silenced_by_the_environment(tmp_path):
    assert NOTICE not in _stderr(tmp_path, TWO_COMPILES, GEOMEDIAN_COMPILE_NOTICE="0")


def test_a_load_from_the_cache_prints_nothing(tmp_path):
    (tmp_path / "kernel.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n"
    )
    code = "import sys; sys.path.insert(0, '.'); import kernel; kernel.f(1)"
    assert NOTICE in _stderr(tmp_path, code)  # compiled, then written to the cache
    assert NOTICE not in _stderr(tmp_path, code)  # loaded
