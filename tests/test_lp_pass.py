"""The Lp pass kernel (``lp_pass``): its sums against NumPy, the same bits on both backends.

The sums are recomputed here from their definitions, in NumPy and float64, point by point:
an independent reference for every slot of the contract's ``LP_*`` layout.
"""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian import _contract as c
from geomedian._kernels import kernels


def reference_sums(x, w, y, p, shift=None, near=np.inf):
    """Return the pass sums of one problem ``x`` ``(n, d)`` at ``y``, from the definitions."""
    n, d = x.shape
    end = c.LP_HEAD + 6 * d + d * (d + 1) // 2
    out = np.zeros(end + 2 * d)
    out[c.LP_NEAREST] = np.inf
    out[end : end + d] = np.inf
    q = p / (p - 1)
    blocks = [np.zeros(d) for _ in range(6)]
    C = np.zeros((d, d))
    for i in range(n):
        wi = 1.0 if w is None else w[i]
        if wi <= 0:
            continue
        z = y - x[i].astype(np.float64)
        N = np.sum(np.abs(z) ** p) ** (1 / p)
        out[c.LP_WEIGHT] += wi
        if N < out[c.LP_NEAREST]:
            out[c.LP_NEAREST], out[c.LP_NEAREST_ROW] = N, i
        if N <= near:
            out[c.LP_W_NEAR] += wi
            out[c.LP_F_NEAR] += wi * N
        # The least |z_j|, the smaller x_ij on ties.
        best, best_x = out[end : end + d], out[end + d :]
        nearer = (np.abs(z) < best) | ((np.abs(z) == best) & (x[i] < best_x))
        out[end : end + d][nearer] = np.abs(z)[nearer]
        out[end + d :][nearer] = x[i][nearer]
        if N == 0:
            out[c.LP_ETA] += wi
            continue
        zs = z if shift is None else z + shift
        Ns = np.sum(np.abs(zs) ** p) ** (1 / p)
        a = np.abs(zs) / Ns
        s = np.sign(zs) * a ** (p - 1)
        u = wi * s
        out[c.LP_F] += wi * N
        out[c.LP_S] += u @ z
        out[c.LP_A] += np.abs(u) @ np.abs(z)
        out[c.LP_CURVATURE] += wi / N
        out[c.LP_EXCESS] = max(out[c.LP_EXCESS], np.sum(np.abs(s) ** q) ** (1 / q))
        cw = wi * (p - 1) / N
        for k, term in enumerate(
            (u, wi * z, wi * np.abs(z), np.abs(u), cw * np.maximum(a, c.LP_FLOOR) ** (p - 2))
        ):
            blocks[k] += term
        if p < 2:
            blocks[5] += np.where(z == 0, wi * N ** (1 - p), 0.0)
        C += cw * np.outer(s, s)
    out[c.LP_HEAD : c.LP_HEAD + 6 * d] = np.concatenate(blocks)
    out[c.LP_HEAD + 6 * d : end] = C[np.tril_indices(d)]
    return out


def problems(rng, P, n, d, dtype):
    x = rng.standard_normal((P, n, d)).astype(dtype)
    x[0, 3] = x[0, 5]  # a duplicate
    x[0, min(7, n - 1), 0] = 0.25  # a coordinate met by y below
    w = rng.uniform(0.5, 2.0, (P, n))
    w[0, 2] = 0.0
    return x, w


@pytest.mark.parametrize("p", [1.2, 1.5, 3.0, 4.5, 4.0, 256.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sums_match_their_definitions(backend, rng, p, dtype):
    x, w = problems(rng, 3, 40, 3, dtype)
    y = rng.standard_normal((2, 3))
    y[0, 0] = 0.25
    y[1] = x[2, 9]  # a point at y
    rows = np.array([0, 2])
    got = kernels(backend).lp_pass(x, w, rows, y, None, None, p, 1)
    for k, r in enumerate(rows):
        want = reference_sums(x[r], w[r], y[k], p)
        np.testing.assert_allclose(got[k], want, rtol=1e-12, atol=1e-14)
    assert got[1, c.LP_NEAREST] == 0.0 and got[1, c.LP_NEAREST_ROW] == 9
    assert got[1, c.LP_ETA] == w[2, 9]
    d = 3
    assert got[0, c.LP_HEAD + 5 * d] > 0 if p < 2 else got[0, c.LP_HEAD + 5 * d] == 0


def test_shift_moves_the_duals_only(backend, rng):
    x, w = problems(rng, 1, 30, 4, np.float64)
    y = rng.standard_normal((1, 4))
    shift = 1e-3 * rng.standard_normal((1, 4))
    got = kernels(backend).lp_pass(x, w, np.array([0]), y, shift, None, 1.5, 1)[0]
    np.testing.assert_allclose(got, reference_sums(x[0], w[0], y[0], 1.5, shift[0]), rtol=1e-12)


def test_near_sums(backend, rng):
    x, w = problems(rng, 1, 200, 3, np.float64)
    y = np.zeros((1, 3))
    got = kernels(backend).lp_pass(x, w, np.array([0]), y, None, np.array([1.2]), 3.0, 1)[0]
    want = reference_sums(x[0], w[0], y[0], 3.0, near=1.2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert 0 < got[c.LP_W_NEAR] < got[c.LP_WEIGHT]


def test_unit_weights_and_many_chunks(backend, rng):
    # More rows than one chunk and one block: the compensated chunk sums.
    x = rng.standard_normal((1, 20000, 2))
    y = np.array([[0.1, -0.2]])
    got = kernels(backend).lp_pass(x, None, np.array([0]), y, None, None, 3.0, 1)[0]
    np.testing.assert_allclose(got, reference_sums(x[0], None, y[0], 3.0), rtol=1e-11)


@pytest.mark.parametrize(
    ("p", "d", "n", "dtype", "shifted"),
    [
        (1.5, 5, 9000, np.float64, False),
        (3.0, 5, 9000, np.float64, True),
        (2.7, 5, 9000, np.float64, False),
        (1.5, 2, 20003, np.float32, True),  # many chunks, a tail of 3 rows in the last
        (3.0, 11, 1500, np.float64, False),  # d past the compiled lengths: the run-time loop
        (1.5, 11, 7, np.float64, True),  # fewer rows than lanes
        (1.2, 3, 1030, np.float32, False),
        (3.0, 1, 2053, np.float32, True),  # one coordinate; tiles of rows, a partial last
        (1.5, 4, 1024 + 128 + 8, np.float64, False),  # whole tiles, a tile of one group
        (10.5, 4, 9000, np.float64, True),  # pow_fast (tests/test_lp_pow.py)
        (10.0, 4, 9000, np.float64, True),  # by squares
        (4.0, 11, 1500, np.float64, True),
        (256.0, 3, 2053, np.float32, False),
        (1.05, 3, 2053, np.float32, False),
        (2.5, 11, 1500, np.float64, True),
    ],
)
def test_same_bits_on_both_backends_and_any_thread_count(rng, p, d, n, dtype, shifted):
    if "cpp" not in geomedian.backends():
        pytest.skip("the compiled core is not installed")
    x, w = problems(rng, 4, n, d, dtype)
    y = rng.standard_normal((4, d))
    shift = 1e-3 * rng.standard_normal((4, d)) if shifted else None
    rows = np.arange(4)
    near = np.array([0.5, 1.0, 2.0, np.inf])
    base = kernels("cpp").lp_pass(x, w, rows, y, shift, near, p, 1)
    for backend in ("cpp", "numba"):
        for threads in (1, 2):
            got = kernels(backend).lp_pass(x, w, rows, y, shift, near, p, threads)
            np.testing.assert_array_equal(got, base, err_msg=f"{backend}, {threads} threads")
            one = kernels(backend).lp_pass(
                x, w, rows[2:3], y[2:3], None if shift is None else shift[2:3], near[2:3], p,
                threads,
            )
            np.testing.assert_array_equal(one[0], base[2], err_msg=f"{backend}, one problem")


def test_unit_weights_are_weights_of_one(backend, rng):
    # No weights (the kernels read none): the bits of weights of 1.
    x, _ = problems(rng, 2, 3000, 3, np.float64)
    y = rng.standard_normal((2, 3))
    for p in (1.5, 3.0, 1.2):
        none = kernels(backend).lp_pass(x, None, np.arange(2), y, None, None, p, 1)
        ones = kernels(backend).lp_pass(x, np.ones((2, 3000)), np.arange(2), y, None, None, p, 1)
        np.testing.assert_array_equal(none, ones)


def test_inverse_cube_root_is_within_two_ulps():
    # The p = 3 and p = 1.5 roots: multiplications and additions only, against NumPy's cbrt.
    from geomedian._numba.lp_pass import cube_root_reductions, inverse_cube_root

    rng = np.random.default_rng(5)
    for d in (1, 4, 8, 9, 64, 1000):
        k = cube_root_reductions(d)
        assert 8.0**k > d
        t = np.concatenate([rng.uniform(1.0 - 1e-15, d, 2000), [1.0, float(d), 8.0, 0.999999]])
        got = np.array([inverse_cube_root(v, k) for v in t])
        want = 1.0 / np.cbrt(t.astype(np.longdouble))
        assert np.all(np.abs(got - want) <= 2 * np.spacing(got)), d
    assert np.isfinite(inverse_cube_root(1.0, 1)) and np.isnan(inverse_cube_root(np.nan, 2))


def test_excess_is_measured_near_p_1(backend, rng):
    # q > 512 (p < 1.002): a term that underflows could add 2^(q - 1074), so it is measured.
    x, w = problems(rng, 1, 300, 3, np.float64)
    y = rng.standard_normal((1, 3))
    got = kernels(backend).lp_pass(x, w, np.zeros(1, np.int64), y, None, None, 1.001, 1)
    want = reference_sums(x[0], w[0], y[0], 1.001)
    assert abs(got[0, c.LP_EXCESS] - want[c.LP_EXCESS]) <= 64 * 2.0**-53


def squares(v, n):
    """``v^n`` as the pass takes it for an integer p (``power_by_squares``), in NumPy."""
    base = np.where(v < 2.0 ** -(1022 // n), 0.0, v)
    r = np.ones_like(v)
    while True:
        if n & 1:
            r = r * base
        n >>= 1
        if n == 0:
            return r
        base = base * base


@pytest.mark.parametrize("p", [4.0, 10.0, 64.0, 512.0])
@pytest.mark.parametrize("d", [2, 5])
def test_powers_by_squares_measure_the_excess_of_their_duals(backend, rng, p, d):
    # An integer p takes its powers by squares and measures ||s_i||_q from |s_j| a_j (no
    # pow): the duals' q-norms, redone from the kernel's own arithmetic and taken in long
    # double, stay within what the certificate allows. Coordinates 2^-60 .. 2^60 of each
    # other: terms and duals dropped below the cutoffs, ties of the largest coordinates.
    from geomedian._numba.lp_pass import powers

    x = rng.standard_normal((4000, d)) * np.exp2(rng.uniform(-60, 60, (4000, d)))
    x[:100, 1] = -x[:100, 0]
    got = kernels(backend).lp_pass(
        x[None], None, np.zeros(1, np.int64), np.zeros((1, d)), None, None, p, 1
    )[0, c.LP_EXCESS]
    n, q = int(p), p / (p - 1.0)
    z = -x
    big = np.max(np.abs(z), axis=1, keepdims=True)
    m = np.abs(z * (1.0 / big))
    t = np.zeros(len(m))
    for j in range(d):
        t = t + squares(m[:, j], n)
    a = m * (1.0 / powers(t, 1.0 / p))[:, None]
    s = squares(a, n - 2) * a
    norm = np.sum(s.astype(np.longdouble) ** np.longdouble(q), axis=1) ** (1 / np.longdouble(q))
    assert abs(got - 1.0) < 1e-12  # measured, not bounded a priori
    assert np.max(norm) <= 1.0 + max(got - 1.0, 0.0) + (2 * d + 9) * 2.0**-53
    assert (s == 0).any() or p < 64  # some duals below the cutoff (2^-16 at p = 64)


@pytest.mark.parametrize("p", [1.2, 1.5, 3.0, 4.0, 10.0, 10.5, 256.0])
@pytest.mark.parametrize("d", [2, 3, 8])
def test_gradient_is_within_its_rounding_bound(backend, rng, p, d):
    # The near bound rests on ||g~ - g||_q <= gradient_rounding(G, p): the pass's gradient
    # against the exact duals' sum, redone in long double, on points whose coordinates span
    # 2^-30 .. 2^30 of each other, at y where some ratios are near 1 and some tiny.
    from geomedian._lp.certificate import dual_exponent
    from geomedian._lp.newton import gradient_rounding

    x = rng.standard_normal((300, d)) * np.exp2(rng.uniform(-30, 30, (300, d)))
    w = rng.uniform(0.5, 2.0, 300)
    y = rng.standard_normal((1, d))
    sums = kernels(backend).lp_pass(x[None], w[None], np.zeros(1, np.int64), y, None, None, p, 1)
    g = sums[0, c.LP_HEAD : c.LP_HEAD + d]
    G = sums[:, c.LP_HEAD + 3 * d : c.LP_HEAD + 4 * d]
    ld = np.longdouble
    z = y[0].astype(ld) - x.astype(ld)
    big = np.max(np.abs(z), axis=1, keepdims=True)
    r = np.abs(z) / big
    a = r / np.sum(r ** ld(p), axis=1, keepdims=True) ** (1 / ld(p))
    exact = np.sum(w[:, None].astype(ld) * np.sign(z) * a ** ld(p - 1), axis=0)
    q = dual_exponent(p)
    err = np.sum(np.abs(exact - g.astype(ld)) ** ld(q)) ** (1 / ld(q))
    assert err <= gradient_rounding(G, p)[0], (float(err), float(gradient_rounding(G, p)[0]))


def test_the_python_layer_knows_which_p_go_by_squares():
    # The near bound's dual rounding (norms.by_squares) follows the pass's kind of powers.
    from geomedian._lp.norms import by_squares
    from geomedian._numba.lp_pass import lp_kind

    for p in (1.05, 1.5, 2.5, 3.0, 3.5, 4.0, 4.5, 10.0, 256.0, 512.0, 513.0, 1024.0):
        assert by_squares(p) == (lp_kind.py_func(p) == 3), p  # a kernel: no Python wrapper


def test_nearest_coordinate_ties_keep_the_smaller_value(backend):
    # Rows at y_0 - 1 and y_0 + 1 (in either order, across lanes and chunks): x_i0 = -1.
    y = np.zeros((1, 2))
    for order in (1, -1):
        x = np.zeros((1, 9001, 2))
        x[0, :, 0] = 5.0
        x[0, :, 1] = np.linspace(3, 4, 9001)
        x[0, 4, 0], x[0, 9000, 0] = order, -order
        got = kernels(backend).lp_pass(x, None, np.array([0]), y, None, None, 3.0, 2)[0]
        end = c.LP_HEAD + 6 * 2 + 3
        assert got[end] == 1.0 and got[end + 2] == -1.0
        assert got[end + 1] == 3.0 and got[end + 3] == 3.0


def test_bad_arguments(backend, rng):
    x, w = problems(rng, 2, 10, 3, np.float64)
    k = kernels(backend)
    y = np.zeros((1, 3))
    with pytest.raises(ValueError, match="rows"):
        k.lp_pass(x, w, np.array([2]), y, None, None, 1.5, 1)
    with pytest.raises(ValueError, match="1 < p"):
        k.lp_pass(x, w, np.array([0]), y, None, None, 1.0, 1)
    with pytest.raises(ValueError):
        k.lp_pass(x, w, np.array([0]), np.zeros((1, 2)), None, None, 1.5, 1)
