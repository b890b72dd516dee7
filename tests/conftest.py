"""Every behaviour runs on both backends: tests take the ``backend`` fixture.

The compiled backend is skipped when this installation has none (a pure-Python install),
unless ``GEOMEDIAN_REQUIRE_COMPILED=1`` (CI's compiled job), where its absence fails the run.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import pytest
import reference
from hypothesis import HealthCheck, settings

import geomedian
from geomedian import _api
from geomedian._options import SolveOptions
from geomedian._paths import arrays

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


# Every in-memory solve of one problem in the suite, whatever the test asserts, must carry
# an honest certificate: the lower bound cannot exceed the objective at the returned median
# evaluated independently (reference.py, compensated float64 sums; f* <= f(median)), and
# "converged" means the gap reached the tolerance asked for. test_certificates.py checks
# lower_bound <= f* itself against 40-digit evaluations on a corpus.
CHECKED_COORDINATES = 200_000  # larger inputs: the independent sum would dominate the suite


def _check_certificate(points, weights, options, res) -> None:
    if not isinstance(res.objective, float) or not math.isfinite(res.objective):
        return  # a batch, a lazy Dask result, or NaN under nan_policy
    if (
        options.axis not in (None, -2)
        or options.coord_axis != -1
        or options.nodata is not None
        or options.nan_policy != "raise"
        or not isinstance(points, (np.ndarray, list, tuple))
    ):
        return
    x = np.asarray(points)
    if x.ndim != 2 or x.size > CHECKED_COORDINATES or x.dtype.kind not in "iuf":
        return
    if options.p != 2:  # the Lp family: its own objective, scale is f / W
        f = reference.lp_objective(res.median, x, weights, options.p)
        assert res.lower_bound <= f * (1 + 1e-12) + 1e-300, ("lower bound above f(median)", res)
        assert res.converged == (res.status == 0)
        assert not res.converged or options.tol is None or res.gap <= options.tol, res
        return
    with np.errstate(all="ignore"):
        f = reference.objective(res.median, x, weights)
    if math.isfinite(f) and f > 0:
        # 1e-300: subnormal data, where the float64 evaluation itself has no digits left.
        assert res.lower_bound <= f * (1 + 1e-12) + 1e-300, ("lower bound above f(median)", res)
    assert res.converged == (res.status == 0)
    if res.converged and options.tol is not None:
        assert res.gap <= options.tol, ("converged above tol", res)
    _check_scale(x, weights, res, f)


def _check_scale(x, weights, res, f) -> None:
    """The claim ``f(median) - f* <= gap * W * scale`` and what ``scale`` is.

    - ``objective - lower_bound <= gap * W * scale`` (to rounding): the claim then follows
      from ``lower_bound <= f*``, which the check above and test_certificates.py test. (With
      far points ``lower_bound`` rounds to ``objective`` and this holds trivially; the
      claim itself is checked against independent optima in test_far_points.py.)
    - ``scale`` is a mean distance from the median, of the points within the near radius
      ``R = 2**10 rho`` of the documented robust anchor (``reference.robust_anchor``): so
      ``W * scale <= f(median)``, and where no point lies within a factor 4 of R (the
      sample a path takes may move rho a little) and those within R hold most of the
      weight (else the near points cannot carry the certificate and it is the classic
      one) it is their mean: on clean data, ``W * scale == f(median)``.
    """
    W = math.fsum(np.broadcast_to(reference._weights(x, weights), x.shape[:1]))
    assert math.isfinite(res.scale) and res.scale >= 0, ("scale is not a distance", res)
    claim = res.gap * W * res.scale
    rounding = 4 * np.spacing(abs(res.objective)) + 1e-300
    assert res.objective - res.lower_bound <= claim * (1 + 1e-9) + rounding, (
        "gap * W * scale below objective - lower_bound",
        claim,
        res,
    )
    if not (math.isfinite(f) and f > 1e-290):
        return  # nothing, or subnormal distances: no digits to compare
    assert W * res.scale <= f * (1 + 1e-12), ("W * scale above f(median)", W * res.scale, f, res)
    _, rho = reference.robust_anchor(x, weights)
    R = reference.NEAR_FACTOR * rho
    dist = reference.distances(res.median, x)
    if not R > 0 or ((dist > R / 4) & (dist < 4 * R)).any():
        return
    w = np.broadcast_to(reference._weights(x, weights), x.shape[:1])
    near = dist <= R
    if not math.fsum(w[near]) > 0.5 * W:
        return
    expected = math.fsum(w[near] * dist[near]) / math.fsum(w[near])
    assert res.scale == pytest.approx(expected, rel=1e-9), ("scale", expected, res)


@pytest.fixture(autouse=True)
def honest_certificates(monkeypatch):
    """Wrap the solve of every array (in memory, streamed) with :func:`_check_certificate`.

    geometric_median's hot-loop path (``ready_median``) bypasses it: every median it
    returns must equal, bit for bit, the routed (checked) median on the same input.
    """
    solve = arrays.solve_arrays
    ready = _api.ready_median

    @functools.wraps(solve)
    def checked(points, weights, options, *origin):
        res = solve(points, weights, options, *origin)
        _check_certificate(points, weights, options, res)
        return res

    @functools.wraps(ready)
    def ready_checked(points, backend):
        median = ready(points, backend)
        if median is not None:
            full = checked(points, None, SolveOptions(backend=backend))
            assert full.converged, ("ready path returned an uncertified median", full)
            np.testing.assert_array_equal(median, full.median)
            assert median.dtype == full.median.dtype
        return median

    monkeypatch.setattr(arrays, "solve_arrays", checked)
    monkeypatch.setattr(_api, "ready_median", ready_checked)


@pytest.fixture(scope="session")
def dask_client():
    """A two-process LocalCluster, started once for every Dask test of the run."""
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    if "numba" in geomedian.backends():
        # Compile (or load) the Numba pass here once, so that the two workers find it in
        # the on-disk cache instead of both compiling it at once.
        impl = geomedian._backends.load_backend("numba")
        for dtype in (np.float64, np.float32):
            impl_pass = impl.fused_pass_f64 if dtype == np.float64 else impl.fused_pass_f32
            impl_pass(np.ones((4, 2), dtype=dtype), None, 1.0, np.zeros(2), 1.0, 1)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c
