"""The public API around the solvers: result object, warnings, backends, threads, CLI."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import geomedian
from geomedian import ConvergenceWarning, GeometricMedianResult


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, 3))
    x[:300] += 50 * rng.normal(size=(300, 3))
    return x


def test_result_object(backend, data):
    res = geomedian.solve(data, backend=backend)
    assert isinstance(res, GeometricMedianResult)
    assert res.median.shape == (3,) and res.median.dtype == np.float64
    assert isinstance(res.objective, float) and isinstance(res.gap, float)
    assert isinstance(res.n_iter, int) and isinstance(res.n_passes, int)
    assert res.converged is True and res.status == 0
    assert res.n_passes > res.n_iter >= 1
    assert res.method == "newton" and res.backend == backend
    assert "gap" in res.message
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.gap = 0.0  # type: ignore[misc]


def test_geometric_median_equals_solve_median(backend, data):
    np.testing.assert_array_equal(
        geomedian.geometric_median(data, backend=backend),
        geomedian.solve(data, backend=backend).median,
    )


@pytest.mark.parametrize("method", ["weiszfeld", "gd", "newton"])
def test_max_iter_reached_warns_and_reports(backend, data, method):
    with pytest.warns(ConvergenceWarning, match="not certified"):
        y = geomedian.geometric_median(data, backend=backend, method=method, max_iter=1, tol=0)
    res = geomedian.solve(data, backend=backend, method=method, max_iter=1, tol=0)
    assert not res.converged and res.status == 1 and res.n_iter == 1
    np.testing.assert_array_equal(y, res.median)
    assert issubclass(ConvergenceWarning, RuntimeWarning)


def test_converged_solves_do_not_warn(backend, data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        geomedian.geometric_median(data, backend=backend)


def test_init_is_used(backend, data):
    far = geomedian.solve(data, backend=backend, init=[1e3, -1e3, 1e3], max_iter=1, tol=0)
    near = geomedian.solve(data, backend=backend, init=np.median(data, axis=0), max_iter=1, tol=0)
    assert far.objective > near.objective
    best = geomedian.solve(data, backend=backend)
    warm = geomedian.solve(data, backend=backend, init=best.median)
    assert warm.converged and warm.n_iter <= 1


def test_tol_zero_runs_to_floating_point_resolution(backend, data):
    # Rounding-level moves may go on until max_iter; the gap is what float64 allows.
    res = geomedian.solve(data, backend=backend, tol=0, max_iter=200)
    assert res.gap < 1e-12
    assert res.converged == (res.gap == 0)


@pytest.mark.parametrize("method", ["weiszfeld", "gd", "newton"])
def test_same_threads_bit_identical_and_thread_counts_agree(backend, method):
    x = np.random.default_rng(3).normal(size=(300_000, 2))
    runs = {t: geomedian.solve(x, backend=backend, method=method, threads=t) for t in (1, 2)}
    again = geomedian.solve(x, backend=backend, method=method, threads=2)
    np.testing.assert_array_equal(again.median, runs[2].median)
    assert again.objective == runs[2].objective
    assert abs(runs[1].objective - runs[2].objective) <= 2e-10 * runs[1].objective
    np.testing.assert_allclose(runs[1].median, runs[2].median, atol=1e-6)


def test_environment_variable_picks_the_default_backend(monkeypatch, data):
    monkeypatch.setenv("GEOMEDIAN_BACKEND", "numba")
    assert geomedian.solve(data).backend == "numba"
    monkeypatch.setenv("GEOMEDIAN_BACKEND", "pascal")
    with pytest.raises(ValueError, match="unknown backend 'pascal'"):
        geomedian.solve(data)
    monkeypatch.delenv("GEOMEDIAN_BACKEND")
    assert geomedian.solve(data).backend == geomedian.backends()[0]


def test_backends_and_config(capsys):
    names = geomedian.backends()
    assert "numba" in names and set(names) <= {"cpp", "numba"}
    geomedian.show_config()
    out = capsys.readouterr().out
    assert "geomedian" in out and "numba" in out
    if "cpp" in names:
        assert "openmp" in out and "isa_active" in out


def test_public_names():
    for name in ("geometric_median", "solve", "objective", "gradient", "backends", "show_config"):
        assert callable(getattr(geomedian, name))
        assert getattr(geomedian, name).__doc__
    assert geomedian.__version__


def test_objective_of_float32_points_is_accumulated_in_float64(backend):
    x = np.full((1_000_001, 1), 0.1, dtype=np.float32)
    f = geomedian.objective([0.0], x, backend=backend)
    assert f == pytest.approx(1_000_001 * float(np.float32(0.1)), rel=1e-12)


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "geomedian", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_cli_demo_and_config():
    out = run_cli("demo", "--n", "20000")
    assert out.returncode == 0, out.stderr
    assert "certified gap" in out.stdout
    for name in geomedian.backends():
        assert name in out.stdout
    cfg = run_cli("config")
    assert cfg.returncode == 0 and "numba" in cfg.stdout


def test_auto_starts_clean_data_at_the_mean(backend, monkeypatch):
    # No outliers: the subsample's median is no better a start than the mean (it would
    # only add its own sampling error), so auto starts where gd does.
    from geomedian._paths import in_memory
    from geomedian._paths.warm_start import warm_start

    x = np.random.default_rng(12).normal(size=(100_000, 16))
    starts = []

    def recorded(*args):
        starts.append(warm_start(*args))
        return starts[-1]

    monkeypatch.setattr(in_memory, "warm_start", recorded)
    auto = geomedian.solve(x, backend=backend)
    assert starts == [None]
    cold = geomedian.solve(x, backend=backend, method="gd")
    assert auto.converged and auto.n_passes == cold.n_passes


def test_cli_rejects_bad_arguments():
    out = run_cli("demo", "--n", "zero")
    assert out.returncode == 2
    assert "invalid" in out.stderr


def test_auto_warm_start_saves_full_passes(backend):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(100_000, 2))
    x[:20_000] = 50 + 100 * rng.normal(size=(20_000, 2))  # 20% far outliers
    auto = geomedian.solve(x, backend=backend)
    # From the mean itself (a caller's start is kept; without one, a mean dragged this far
    # hands the start to the robust centre, and gd takes 7 passes).
    cold = geomedian.solve(x, backend=backend, method="gd", init=x.mean(axis=0))
    assert auto.converged and cold.converged
    assert auto.n_passes <= 8 < cold.n_passes
    assert abs(auto.objective - cold.objective) <= 2e-10 * cold.objective
    again = geomedian.solve(x, backend=backend, threads=1)
    assert again.n_passes == auto.n_passes
    np.testing.assert_allclose(again.median, auto.median, atol=1e-8)
