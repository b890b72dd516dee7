"""Every behaviour runs on both backends: tests take the ``backend`` fixture.

The compiled backend is skipped when this installation has none (a pure-Python install),
unless ``GEOMEDIAN_REQUIRE_COMPILED=1`` (CI's compiled job), where its absence fails the run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import geomedian

REQUIRE_COMPILED = os.environ.get("GEOMEDIAN_REQUIRE_COMPILED", "") not in ("", "0")

# Numba's first call compiles for ~20 s; hypothesis must not count that against an example.
# The default profile is derandomized, so a CI run cannot fail on an example no earlier run
# saw; "thorough" (GEOMEDIAN_HYPOTHESIS_PROFILE=thorough) explores 1000 fresh ones per test.
settings.register_profile(
    "geomedian",
    derandomize=True,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", parent=settings.get_profile("geomedian"), derandomize=False, max_examples=1000
)
settings.load_profile(os.environ.get("GEOMEDIAN_HYPOTHESIS_PROFILE", "geomedian"))


def pytest_sessionstart(session):
    if REQUIRE_COMPILED and "cpp" not in geomedian.backends():
        raise pytest.UsageError(
            "GEOMEDIAN_REQUIRE_COMPILED is set but the compiled core geomedian._core does not load"
        )


@pytest.fixture(scope="session", params=["cpp", "numba"])
def backend(request) -> str:
    if request.param not in geomedian.backends():
        pytest.skip(f"backend {request.param!r} is not installed")
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
