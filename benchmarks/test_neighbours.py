"""A solve beside other libraries' threads: alone, and right after their work, and theirs
right after a solve (issue 18, "good neighbours").

Run from the project root (add ``-s`` for the ratios)::

    python -m pytest benchmarks/test_neighbours.py --benchmark-enable --benchmark-only \
        --benchmark-columns=min,median,max,rounds -q -s

The data is the ``vertex`` dataset of ``geomedian bench`` (100,001 x 3, the optimum at a
data point: a solve of a fraction of a millisecond, where a neighbour's spinning threads
cost the most). "After X" times one call made right after a call of X (``setup`` of
``benchmark.pedantic``, untimed). The neighbours: a NumPy matrix product (its BLAS
threads) and geomad's ``nangeomedian_pcm`` (its own OpenMP runtime, when installed).
geomedian is imported first (by this file's imports), as in a user's script that imports
it before the other libraries, so their GNU OpenMP runtimes read the spin count it sets.
"""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian._tools.bench import _at_data_point

ROUNDS = 200
_medians: dict[str, float] = {}


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return _at_data_point(np.random.default_rng(0), 100_001, 3)


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((400, 400))


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    geomad = pytest.importorskip("geomad")
    pix = np.random.default_rng(2).standard_normal((1, 200, 6, 20)).astype(np.float32)
    geomad.nangeomedian_pcm(pix, num_threads=2)
    return pix


def _run(benchmark, name: str, fn, after=None) -> None:
    def setup() -> None:  # its return value would be taken as fn's arguments
        if after is not None:
            after()

    fn()
    benchmark.group = "neighbours-vertex-100001x3"
    benchmark.pedantic(fn, setup=setup, rounds=ROUNDS, iterations=1)
    _medians[name] = benchmark.stats.stats.median


def _solve(points):
    res = geomedian.solve(points)
    assert res.converged
    return res


def test_solve_alone(benchmark, points):
    _run(benchmark, "solve", lambda: _solve(points))


def test_solve_after_blas(benchmark, points, matrix):
    _run(benchmark, "solve after BLAS", lambda: _solve(points), lambda: matrix @ matrix)


def test_blas_alone(benchmark, matrix):
    _run(benchmark, "BLAS", lambda: matrix @ matrix)


def test_blas_after_solve(benchmark, points, matrix):
    _run(benchmark, "BLAS after solve", lambda: matrix @ matrix, lambda: _solve(points))


def test_solve_after_geomad(benchmark, points, pixels):
    import geomad

    _run(benchmark, "solve after geomad", lambda: _solve(points),
         lambda: geomad.nangeomedian_pcm(pixels, num_threads=2))  # fmt: skip


def test_geomad_alone(benchmark, pixels):
    import geomad

    _run(benchmark, "geomad", lambda: geomad.nangeomedian_pcm(pixels, num_threads=2))


def test_geomad_after_solve(benchmark, points, pixels):
    import geomad

    _run(benchmark, "geomad after solve", lambda: geomad.nangeomedian_pcm(pixels, num_threads=2),
         lambda: _solve(points))  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def summary():
    """Print each "after" median against its "alone" median (``-s``)."""
    yield
    for name, t in _medians.items():
        if " after " in name and name.split(" after ")[0] in _medians:
            alone = _medians[name.split(" after ")[0]]
            print(f"{name}: {t * 1e3:.3f} ms, {t / alone:.2f}x alone ({alone * 1e3:.3f} ms)")
