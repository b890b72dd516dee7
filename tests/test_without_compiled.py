"""An installation without the compiled core works: every call runs on Numba.

CI also proves it for real (a GEOMEDIAN_PURE_PYTHON=1 install runs the whole suite); here a
child process hides ``geomedian._core`` from the import system, so the check runs anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from isolated import HIDE_CORE

import geomedian


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", HIDE_CORE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_numba_takes_over_quietly():
    out = run(
        """
        import numpy as np, geomedian
        assert geomedian.backends() == ["numba"], geomedian.backends()
        res = geomedian.solve([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        assert res.backend == "numba" and res.converged
        assert res.median.tolist() == [3.0, 4.0]
        geomedian.show_config()
        print("ok")
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
    assert "warn" not in out.stderr.lower()


def test_asking_for_the_missing_core_says_why():
    out = run(
        """
        import geomedian
        try:
            geomedian.solve([[0.0], [1.0]], backend="cpp")
        except ImportError as err:
            print(err)
        """
    )
    assert out.returncode == 0, out.stderr
    assert "not available" in out.stdout and "compiled core" in out.stdout


@pytest.mark.parametrize("backend", ["cpp", "numba"])
def test_environment_variable_is_honoured_when_set(backend):
    out = subprocess.run(
        [sys.executable, "-c", "import geomedian; print(geomedian.solve([[0.0], [1.0]]).backend)"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "GEOMEDIAN_BACKEND": backend},
    )
    if backend not in geomedian.backends():
        assert out.returncode != 0 and "not available" in out.stderr
    else:
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == backend
