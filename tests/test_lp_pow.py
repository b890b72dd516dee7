"""The Lp pass's powers of general p (``pow_fast``): its error bound, its exact cases, and
the certificates that rest on them.

For p other than 1.5, 3 and the integers from 4 (whose terms are products, and only their
roots ``t^(1/p)`` powers) the pass takes ``a^b`` as ``2^(b log2 a)`` from two polynomials
and the bits of a (``lp_rows.inc``; ``powers`` of the Numba mirror gives the same bits).
Its relative error is within ``(LP_POW_ULPS + LP_POW_LOG_ULPS |log2 a^b|) u``
(``u = 2**-53``), checked here against long double and mpmath on dense samples of the
arguments the pass uses: the terms ``m^p`` of ``m`` in ``[0, 1]`` and the roots ``t^(1/p)``
of ``t`` in ``[1, d]``. The Lp certificate's a-priori excess (``lp_excess_bound``) is
derived from that bound.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import geomedian
from geomedian import _contract as c
from geomedian._kernels import kernels
from geomedian._numba.lp_pass import powers

U = 2.0**-53
P_VALUES = [1.002, 1.05, 1.2, 2.5, 2.7, 4.5, 10.0, 40.0, 300.0]
# Long double with a 64-bit or wider significand: a dense reference (x86, aarch64).
WIDE = np.finfo(np.longdouble).nmant >= 63


def samples(rng, top=1.0):
    """Arguments in ``[0, top]``: uniform, log-uniform down to the subnormals, and the
    neighbourhoods of 1, of the mantissa split and of powers of two."""
    k = np.arange(-2000, 2001)
    split = c.LP_LOG2_SPLIT
    near = np.concatenate(
        [
            1.0 + k * U,
            np.ldexp(split, -3) * (1.0 + k * U),
            2 * split * (1.0 + k[k < 0] * U),
            np.ldexp(1.0, -np.arange(0, 1075)),
            np.nextafter(np.ldexp(1.0, -np.arange(1, 1023)), 0.0),
        ]
    )
    out = np.concatenate(
        [
            rng.uniform(0.0, top, 100_000),
            top * np.exp2(-rng.uniform(0.0, 1074.0, 100_000)),
            near * top,
        ]
    )
    return out[(out >= 0.0) & (out <= top)]


def libm_pow(a, b):
    """``a^b`` by the C library's pow, entry by entry (NumPy's array power may use SIMD)."""
    with np.errstate(all="ignore"):
        return np.array([np.float64(v) ** np.float64(b) for v in np.atleast_1d(a)])


def bound_ulps(exact):
    return c.LP_POW_ULPS + c.LP_POW_LOG_ULPS * np.abs(np.log2(exact))


def check_against(a, b, got, exact):
    """``got`` within the bound of ``exact`` (normal results), or pow's own where not."""
    exact = np.asarray(exact, dtype=np.longdouble)
    normal = exact >= np.longdouble(2.0**-1022)
    err = np.abs(got[normal].astype(np.longdouble) - exact[normal]) / exact[normal] / U
    allowed = bound_ulps(exact[normal].astype(np.float64))
    worst = np.argmax(err - allowed)
    assert err[worst] <= allowed[worst], (a[normal][worst], b, float(err[worst]))
    # Results below the normal range come from pow (the exact path): its bits.
    np.testing.assert_array_equal(got[~normal], libm_pow(a[~normal], b))
    return float(np.max(err)) if err.size else 0.0


@pytest.mark.parametrize("p", P_VALUES)
def test_error_is_within_the_bound_for_terms_and_roots(rng, p):
    terms = samples(rng)
    roots = samples(rng, top=64.0)
    roots = roots[roots >= 1.0 - 1e-9]
    for a, b in ((terms, p), (roots, 1.0 / p)):
        got = powers(a, b)
        if WIDE:
            exact = np.power(a.astype(np.longdouble), np.longdouble(b))
        else:  # long double is double here: mpmath on a subsample
            a = a[:: max(1, a.size // 3000)]
            got = got[:: max(1, got.size // 3000)]
            with mpmath.workdps(40):
                exact = np.array([mpmath.mpf(float(v)) ** mpmath.mpf(b) for v in a])
                exact = exact.astype(np.float64).astype(np.longdouble)
        check_against(a, b, got, exact)


@pytest.mark.parametrize("b", [1.05, 10.0, 1.0 / 2.5, 0.9523809523809523])
def test_error_against_mpmath(rng, b):
    # The long double reference itself checked: 40 digits, on fewer arguments.
    a = np.concatenate(
        [rng.uniform(0.0, 1.0, 400), np.exp2(-rng.uniform(0.0, 900.0, 400)), [1.0, 0.5, 2.0]]
    )
    got = powers(a, b)
    with mpmath.workdps(40):
        for v, r in zip(a, got):
            exact = mpmath.mpf(float(v)) ** mpmath.mpf(b)
            if exact < mpmath.mpf(2) ** -1022:
                assert r == libm_pow(v, b)[0]
                continue
            err = abs(mpmath.mpf(float(r)) - exact) / exact / mpmath.mpf(U)
            allowed = c.LP_POW_ULPS + c.LP_POW_LOG_ULPS * abs(mpmath.log(exact, 2))
            assert err <= allowed, (v, b, float(err))


def test_the_bound_is_not_loose_by_much(rng):
    # The stated constants are the errors seen, with room: each within 4x of the measure.
    a = samples(rng)
    worst_flat, worst_slope = 0.0, 0.0
    for p in (1.05, 2.5, 10.0):
        got = powers(a, p)
        exact = np.power(a.astype(np.longdouble), np.longdouble(p))
        keep = exact >= np.longdouble(2.0**-1022)
        err = (np.abs(got[keep] - exact[keep]) / exact[keep] / U).astype(np.float64)
        lg = np.abs(np.log2(exact[keep].astype(np.float64)))
        worst_flat = max(worst_flat, float(np.max(err[lg < 0.5])))
        worst_slope = max(worst_slope, float(np.max(err[lg > 64] / lg[lg > 64])))
    assert 0.0 < worst_flat <= c.LP_POW_ULPS and c.LP_POW_ULPS <= 4 * max(worst_flat, 1.0)
    assert 0.0 < worst_slope <= c.LP_POW_LOG_ULPS <= 4 * max(worst_slope, 0.25)


@pytest.mark.parametrize("b", [1.05, 2.5, 10.0, 1.0 / 3.7, 300.0])
def test_exact_cases(b):
    tiny = np.ldexp(1.0, -1074)
    a = np.array(
        [0.0, 1.0, np.nan, np.inf, tiny, 3 * tiny, np.ldexp(1.0, -1022), np.finfo(float).max,
         np.ldexp(1.0, -1021) * 1.5, 2.0, 0.5]
    )
    got = powers(a, b)
    assert got[0] == 0.0 and got[1] == 1.0 and np.isnan(got[2]) and got[3] == np.inf
    # Zero, subnormal, infinite and NaN arguments and results past the range take pow.
    for k in (0, 2, 3, 4, 5):
        np.testing.assert_array_equal(got[k], libm_pow(a[k], b)[0])
    y = b * np.log2(a[6:])
    outside = np.abs(y) > c.LP_POW_LIMIT
    np.testing.assert_array_equal(got[6:][outside], libm_pow(a[6:][outside], b))
    # Far below the least subnormal: +0 without the exact path, as pow gives it.
    low = np.exp2(-np.array([c.LP_POW_ZERO + 1.0, 1500.0, 4000.0]) / b)
    low = low[low >= 2.0**-1022]  # normal arguments (b > 1 only)
    np.testing.assert_array_equal(powers(low, b), 0.0)
    np.testing.assert_array_equal(powers(low, b), libm_pow(low, b))
    if b == 2.5:  # powers of two to an exponent that keeps them powers of two: exact
        assert powers(np.array([0.25, 4.0, 2.0**-400]), 2.5).tolist() == [2.0**-5, 32.0, 2.0**-1000]


def kernel_excess(backend, x, p):
    """The excess the pass reports for one problem at y = 0, and its ``||s_i||_q`` redone:
    the kernel's own arithmetic (``powers`` has its bits), the norm in long double."""
    d = x.shape[1]
    bound = kernels(backend).lp_pass(
        x[None], None, np.zeros(1, np.int64), np.zeros((1, d)), None, None, p, 1
    )[0, c.LP_EXCESS]
    q = p / (p - 1.0)
    z = -x
    big = np.max(np.abs(z), axis=1, keepdims=True)
    m = np.abs(z * (1.0 / big))
    T = powers(m.reshape(-1), p).reshape(m.shape)
    t = np.zeros(len(m))
    for j in range(d):
        t = t + T[:, j]
    root = powers(t, 1.0 / p)
    sv = (T / np.where(m > 0, m, 1.0)) * (root / t)[:, None]
    norm = np.sum(sv.astype(np.longdouble) ** np.longdouble(q), axis=1) ** (1 / np.longdouble(q))
    return bound, norm


@pytest.mark.parametrize("p", [1.002, 1.05, 1.2, 2.5, 10.5, 40.5])  # not integers (squares)
@pytest.mark.parametrize("d", [2, 4, 16])
def test_the_excess_bound_covers_the_fast_powers(backend, rng, p, d):
    # Coordinates over 2^-80 .. 2^80 of each other: terms all over the fast range, some
    # below it (pow), and rows whose largest coordinates tie.
    x = rng.standard_normal((20000, d)) * np.exp(rng.uniform(-55, 55, (20000, d)))
    x[:100, 1] = x[:100, 0]
    x[100:200] = np.round(x[100:200]) + 0.5  # no row at y
    bound, norm = kernel_excess(backend, x, p)
    assert 1.0 < bound < 1.0 + 2.0**-44
    assert np.max(norm) <= bound


def upper_bound_of_minimum(x, p, y0):
    """An upper bound on f* close to it: mpmath gradient steps from the solver's answer,
    each kept only where f decreases, at 40 digits (every f(y) is at least f*)."""
    with mpmath.workdps(40):
        pm = mpmath.mpf(p)
        X = [[mpmath.mpf(float(v)) for v in row] for row in x]

        def f(y):
            return mpmath.fsum(
                mpmath.fsum(abs(yj - xj) ** pm for yj, xj in zip(y, row)) ** (1 / pm)
                for row in X
            )

        y = [mpmath.mpf(float(v)) for v in y0]
        best = f(y)
        scale = mpmath.fsum(abs(v) for row in X for v in row) / (len(X) * len(y))
        for step in (1e-9, 1e-11, 1e-13, -1e-9, -1e-11, -1e-13):
            for j in range(len(y)):
                trial = list(y)
                trial[j] += scale * step
                ft = f(trial)
                if ft < best:
                    y, best = trial, ft
        return best


@pytest.mark.parametrize("p", [1.05, 2.5, 10.0, 256.0])  # 10 and 256: by squares
@pytest.mark.parametrize("scale", [2.0**-1000, 1.0, 2.0**1000, "far"])
def test_lower_bound_is_below_the_minimum_in_high_precision(backend, rng, p, scale):
    x = rng.standard_exponential((60, 3)) * [1.0, 3.0, 0.5]
    if scale == "far":
        x = x + 1e8  # one ulp of y is 1.5e-8 of the spread
    else:
        x = x * scale
    res = geomedian.solve(x, p=p, backend=backend, tol=1e-8)
    assert res.converged, res
    assert mpmath.mpf(res.lower_bound) <= upper_bound_of_minimum(x, p, res.median)


@pytest.mark.parametrize("p", [1.05, 10.5, 10.0])
def test_same_bits_on_both_backends_through_the_exact_path(rng, p):
    # Rows whose coordinates span 2^-400 .. 2^400 of each other: many terms below the fast
    # range (pow), the rest fast, in the same vectors; the two backends agree bit for bit.
    if "cpp" not in geomedian.backends():
        pytest.skip("the compiled core is not installed")
    x = rng.standard_normal((2, 3001, 5)) * np.exp2(rng.uniform(-400, 400, (2, 3001, 5)))
    w = rng.uniform(0.5, 2.0, (2, 3001))
    y = rng.standard_normal((2, 5))
    rows = np.arange(2)
    want = kernels("cpp").lp_pass(x, w, rows, y, None, None, p, 1)
    got = kernels("numba").lp_pass(x, w, rows, y, None, None, p, 2)
    np.testing.assert_array_equal(got, want)
