"""The pass sums stay within 2^-46 of their exact value, whatever n, d and the path.

A sum of many tiny terms after a few large ones is the worst case of a plain running sum:
each tiny term falls below half an ulp of the sum and vanishes. Eight rows at 1, then
rows alternating +-0.99 2^-54 on the first coordinate (``constructed``), lost every tiny
term in long per-lane sums (-15.8 2^-46 relative at d = 1). The passes sum at most
``BLOCK_ROWS`` rows per accumulator and add those partial sums with compensation, so the
relative error of every sum stays below about 2^-46 (certificate.hpp derives the bound),
far inside the certificate's ``SUM_ROUNDING`` allowance. References are ``math.fsum`` of
the per-row distances (each correctly rounded here: the rows' squares are exact).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import reference

import geomedian
from geomedian import _contract
from geomedian._paths import memmap

BOUND = 2.0**-46
TINY = 0.99 * 2.0**-54


def constructed(n_tiny: int, d: int, dtype=np.float64, line: bool = False) -> np.ndarray:
    """Eight rows at 1 (on the first axis alone with ``line``), then the tiny ones."""
    x = np.zeros((8 + n_tiny, d), dtype=dtype)
    x[:8, : 1 if line else d] = 1
    x[8:, 0] = TINY * (-1.0) ** np.arange(n_tiny)
    return x


def relative_error(value: float, exact: float) -> float:
    return abs(value - exact) / exact


def test_the_bound_is_inside_the_certificate_allowance():
    assert BOUND * 4 <= _contract.SUM_ROUNDING


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 2, 3, 8, 16, 40])
def test_objective_of_the_constructed_case(backend, d, dtype):
    x = constructed(32768 if d <= 4 else 4096, d, dtype)
    y = np.zeros(d)
    exact = reference.objective(y, x)
    value = geomedian.objective(y, x, backend=backend)
    assert relative_error(value, exact) <= BOUND


@pytest.mark.parametrize("threads", [1, 2])
def test_many_chunks_weighted(backend, threads):
    # d = 2: 16384 rows a chunk, so about 13 chunks, each with its own tiny terms.
    x = constructed(200_000, 2)
    w = np.where(np.arange(x.shape[0]) < 8, 3.0, 1.0 + 2.0**-30)
    y = np.zeros(2)
    exact = reference.objective(y, x, w)
    value = geomedian.objective(y, x, weights=w, backend=backend, threads=threads)
    assert relative_error(value, exact) <= BOUND


def test_memmap_chunks(backend, tmp_path, monkeypatch):
    # Chunks of 64 KiB: the pass sums of about 16 chunks are added in Python.
    monkeypatch.setattr(memmap, "CHUNK_BYTES", 1 << 16)
    x = constructed(65536, 2)
    path = tmp_path / "points.npy"
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=x.shape)
    mapped[:] = x
    mapped.flush()
    points = np.load(path, mmap_mode="r")
    res = geomedian.solve(points, backend=backend, tol=1e-6)
    exact = reference.objective(res.median, x)
    assert relative_error(res.objective, exact) <= BOUND
    assert res.lower_bound <= exact


def exact_optimum_on_a_line(n_tiny: int) -> Fraction:
    """f* of ``constructed(n_tiny, d, line=True)`` (n_tiny even): points on the first axis.

    Sorted: n_tiny / 2 at -a, n_tiny / 2 at +a, eight at 1; with 8 + n_tiny points the
    median interval is [+a, +a], so f* = n_tiny / 2 * 2a + 8 (1 - a), in exact rationals.
    """
    a = Fraction(TINY)
    return n_tiny // 2 * 2 * a + 8 * (1 - a)


@pytest.mark.parametrize("d", [1, 2])
def test_small_pass_objective_and_bound(backend, d):
    # n d <= SMALL_PROBLEM_SIZE: the copy in lanes; 1024 rows per lane at d = 1.
    n_tiny = _contract.SMALL_PROBLEM_SIZE // d - 8
    x = constructed(n_tiny, d, line=True)
    res = geomedian.solve(x, backend=backend, tol=0.0, max_iter=200)
    exact = reference.objective(res.median, x)
    assert relative_error(res.objective, exact) <= BOUND
    assert res.objective >= exact * (1 - BOUND)
    assert Fraction(res.lower_bound) <= exact_optimum_on_a_line(n_tiny)


def test_solve_bound_below_the_exact_optimum(backend):
    n_tiny = 32768
    x = constructed(n_tiny, 2, line=True)
    res = geomedian.solve(x, backend=backend, tol=0.0, max_iter=200)
    assert Fraction(res.lower_bound) <= exact_optimum_on_a_line(n_tiny)
    exact = reference.objective(res.median, x)
    assert relative_error(res.objective, exact) <= BOUND


@pytest.mark.parametrize("weighted", [False, True])
def test_packed_batch_objectives(backend, weighted, rng):
    # n d = PACKED_PROBLEM_SIZE: eight blocks of BLOCK_ROWS rows per lane.
    n = _contract.PACKED_PROBLEM_SIZE
    x = rng.standard_normal((16, n, 1)) * (1.0 + rng.random((16, n, 1)) * 2.0**-20)
    w = rng.random((16, n)) + 0.5 if weighted else None
    res = geomedian.solve(x, weights=w, backend=backend)
    for k in range(x.shape[0]):
        exact = reference.objective(res.median[k], x[k], None if w is None else w[k])
        assert relative_error(res.objective[k], exact) <= BOUND
        assert res.lower_bound[k] <= exact
