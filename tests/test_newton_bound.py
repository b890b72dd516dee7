"""The Newton step's bound: below f* wherever it is formed, and second order near y*.

The bound (``newton_bound``, derived in its module) is checked directly, from the passes'
sums and Hessian at points at several distances from the optimum, against ``f*`` bounded
from above in 40-digit arithmetic (as in ``test_certificates``), and through the solves
that use it: the chunked driver (memory-mapped files, Dask arrays), which certifies a
Newton iterate with the pass that reached it.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from test_certificates import reference_upper

import geomedian
from geomedian._backends import load_backend
from geomedian._contract import COINCIDENCE_RADIUS, SLOT_INV
from geomedian._numba import certificate, newton
from geomedian._paths.chunked import plain
from geomedian._paths.newton_bound import newton_bound

certify = plain(certificate.certify)
newton_propose = plain(newton.newton_propose)


def _bounds(impl, x, w, y, s=1.0):
    """Return (f, classic LB, LB2) at y in the caller's units, from a frame centred on y.

    s (a power of two) scales the frame, as the solvers scale theirs to the data's spread.
    """
    n, d = x.shape
    W = float(n if w is None else w.sum())
    S = impl.fused_pass_f64(x, w, 1.0, y, s, 1, COINCIDENCE_RADIUS, math.inf)
    Hs = impl.hessian_pass_f64(x, w, 1.0, y, s, 1, COINCIDENCE_RADIUS)
    m = d * (d + 1) // 2
    g = np.empty(d)
    cert = certify(S, d, W, g)
    H = np.zeros(newton.NEWTON_SCRATCH_SIZE)
    H[:m] = Hs[:m]
    p, zt = np.empty(d), np.empty(d)
    moved, _ = newton_propose(H, d, S[SLOT_INV], np.zeros(d), g, p, zt)
    lb2 = newton_bound(S, Hs[:m], Hs[m], p, W, n) if moved else -math.inf
    return cert.f / s, cert.lb / s, lb2 / s


def _cases():
    rng = np.random.default_rng(11)
    near = rng.normal(size=(60, 3))
    return {
        "gaussian-3d": (rng.normal(size=(300, 3)), None),
        "weighted-2d": (rng.normal(size=(80, 2)), rng.uniform(0.01, 10.0, 80)),
        "skewed-16d": (rng.exponential(size=(200, 16)), None),
        "offset-1e9": (rng.normal(size=(100, 2)) + 1e9, None),
        "tiny-1e-150": (rng.normal(size=(50, 3)) * 1e-150, None),
        "huge-1e150": (rng.normal(size=(50, 3)) * 1e150, None),
        "outliers": (np.r_[rng.normal(size=(90, 2)), rng.normal(size=(10, 2)) * 1e6], None),
        # Points crowding the optimum: inv_sq is large and the bound must stay below f*.
        "crowded": (np.r_[near, np.median(near, axis=0) + 1e-9 * rng.normal(size=(5, 3))], None),
    }


CASES = _cases()


@pytest.mark.parametrize("case", CASES)
def test_newton_bound_is_below_the_optimum(backend, case):
    impl = load_backend(backend)
    x, w = CASES[case]
    wf = np.ones(len(x)) if w is None else w
    upper = reference_upper(x, wf)
    ref = geomedian.solve(x, w, backend=backend, tol=0.0)
    rng = np.random.default_rng(3)
    scale = float(np.median(np.linalg.norm(x - ref.median, axis=1)))
    s = 2.0 ** -math.floor(math.log2(scale))
    formed = 0
    for delta in (1.0, 1e-2, 1e-4, 1e-6, 1e-8):
        y = ref.median + delta * scale * rng.normal(size=x.shape[1]) / math.sqrt(x.shape[1])
        _, lb, lb2 = _bounds(impl, x, w, y, s)
        formed += lb2 > -math.inf
        assert mpmath.mpf(lb2) <= upper, (delta, lb2, upper)
        assert lb <= upper
    assert formed >= 3  # the Newton step exists near the optimum


@st.composite
def spread_problems(draw):
    """Points with a spread (no single point), at any magnitude, weighted or not."""
    n, d = draw(st.integers(3, 15)), draw(st.integers(2, 4))  # d = 1: H = 0, no Newton
    unit = arrays(np.int64, (n, d), elements=st.integers(-(10**6), 10**6))
    x = draw(unit) * 10.0 ** (draw(st.integers(-150, 150)) - 6)
    assume(np.ptp(x, axis=0).max() > 0)
    if draw(st.booleans()):
        w = draw(arrays(np.float64, n, elements=st.floats(0.0, 10.0)))
        assume(w.max() > 0)
        return x, w
    return x, None


@settings(max_examples=60, deadline=None)
@given(spread_problems(), st.floats(-12.0, 0.0), st.integers(0, 2**32 - 1))
def test_newton_bound_is_below_the_optimum_anywhere(backend, problem, log_delta, seed):
    # Any data, any distance from the optimum (10^-12 to 1 times the data's spread),
    # weights or none: LB2 never exceeds f*.
    x, w = problem
    wf = np.ones(len(x)) if w is None else w
    spread = float(np.ptp(x, axis=0).max())
    rng = np.random.default_rng(seed)
    y = np.median(x, axis=0) + 10.0**log_delta * spread * rng.normal(size=x.shape[1])
    s = math.ldexp(1.0, -math.frexp(spread)[1])
    f, lb, lb2 = _bounds(load_backend(backend), x, w, y, s)
    if lb2 > -math.inf:
        assert mpmath.mpf(lb2) <= reference_upper(x, wf), (lb2, f, lb)


def test_newton_bound_is_second_order(backend):
    """At distance delta from y*, the classic gap is O(delta) and LB2's O(delta^2)."""
    impl = load_backend(backend)
    x = np.random.default_rng(5).normal(size=(2000, 3))
    ref = geomedian.solve(x, backend=backend, tol=0.0)
    v = np.array([0.6, -0.8, 0.0])
    gaps = {}
    for delta in (1e-3, 1e-5):
        f, lb, lb2 = _bounds(impl, x, None, ref.median + delta * v)
        gaps[delta] = ((f - lb) / f, (f - lb2) / f)
    (c3, s3), (c5, s5) = gaps[1e-3], gaps[1e-5]
    assert c3 / c5 > 30  # first order: about 100
    assert s3 / s5 > 3000  # second order: about 10,000
    assert s5 < 1e-3 * c5


def test_newton_bound_holds_for_any_step(backend):
    """The bound is valid for every c, not only Newton's: rho carries the mismatch."""
    impl = load_backend(backend)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(150, 2))
    upper = reference_upper(x, np.ones(len(x)))
    n, d = x.shape
    y = np.median(x, axis=0)
    S = impl.fused_pass_f64(x, None, 1.0, y, 1.0, 1, COINCIDENCE_RADIUS, math.inf)
    Hs = impl.hessian_pass_f64(x, None, 1.0, y, 1.0, 1, COINCIDENCE_RADIUS)
    for _ in range(20):
        p = rng.normal(size=d) * 10.0 ** rng.uniform(-6, 1)
        lb2 = newton_bound(S, Hs[:3], Hs[3], p, float(n), n)
        assert mpmath.mpf(lb2) <= upper


@pytest.mark.parametrize("source", ["memmap", "dask"])
def test_chunked_newton_certifies_in_three_passes(backend, source, tmp_path):
    # 200,000 x 2: the classic bound certifies at the fourth pass, LB2 at the third.
    x = np.random.default_rng(20240607).standard_normal((200_000, 2))
    if source == "memmap":
        np.save(tmp_path / "x.npy", x)
        points = np.load(tmp_path / "x.npy", mmap_mode="r")
    else:
        points = pytest.importorskip("dask.array").from_array(x, chunks=50_000)
    res = geomedian.solve(points, backend=backend, method="newton")
    assert res.converged and res.n_passes <= 3
    exact = geomedian.solve(x, backend=backend, tol=0.0)
    assert res.lower_bound <= exact.objective
    assert res.objective <= exact.objective * (1 + 1e-10)
    # The objective is what tol promises; the median is within sqrt(2 tol) of the spread.
    assert np.linalg.norm(res.median - exact.median) <= 2e-5
