"""Precision of one fused pass: every slot against a NumPy float64 computation.

Covers every loop shape of ``csrc/geomedian/fused_pass.hpp`` (rows across the vector for
d <= 4, compile-time row lengths up to 16, those of them summed in four lanes (8, 12,
16), run-time lengths beyond, buffered or read twice), chunk and block edges (n
around 64 and the block size), both dtypes, with and without weights, and a point
sitting exactly on the iterate. The relative error of f,
the Weiszfeld denominator and the gradient R / inv stays at a few ulp of the sums: 1e-14
with room to spare for the compiled kernels. Numba adds the rows of a chunk one after the
other, whose rounding grows like sqrt(n) ulp: its bound gets that allowance on top.
"""

from __future__ import annotations

import numpy as np
import pytest

from geomedian._backends import load_backend

# Rows of run-time length: up to 128 (BUFFERED_ROW_MAX) buffered, four rows a sweep or more;
# beyond, formed again from the rows, in blocks of 124 rows (129), 52 (300), 20 (700) and
# 4 (2500).
DIMS = (1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 16, 17, 32, 100, 128, 129, 300, 700, 2500)
SIZES = (1, 3, 63, 64, 65, 1000, 100003)
RTOL = 1e-14


def _backends():
    import geomedian

    return [b for b in ("cpp", "numba") if b in geomedian.backends()]


def _reference(x, w, y, eps):
    r = x.astype(np.float64) - y
    dist = np.sqrt(np.einsum("ij,ij->i", r, r))
    wi = np.ones(len(x)) if w is None else w
    far = dist > eps
    t = np.where(far, wi / np.where(far, dist, 1.0), 0.0)
    return {
        "f": float(np.sum(wi * dist)),
        "inv": float(np.sum(t)),
        "eta": float(np.sum(np.where(far, 0.0, wi))),
        "R": t @ r,
        "M": wi @ r,
        "max_term": float(t.max()),
        "scale_R": float(np.abs(t[:, None] * r).sum(axis=0).max()),
        "scale_M": float(np.abs(wi[:, None] * r).sum(axis=0).max()),
    }


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", ["f64", "f32"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("d", DIMS)
def test_fused_pass_matches_numpy(backend, dtype, weighted, d):
    impl = load_backend(backend)
    kernel = impl.fused_pass_f32 if dtype == "f32" else impl.fused_pass_f64
    rng = np.random.default_rng([d, int(weighted), int(dtype == "f32")])
    for n in SIZES:
        if n * d > (2_000_000 if backend == "numba" else 4_000_000):
            continue
        x = rng.standard_normal((n, d)) * 3.0 + 0.5
        if n > 3:
            x[n // 2] = 0.0  # one point exactly on the iterate y = 0 ...
            x[n // 3] = 1e-9  # ... and one at a tiny distance, above the coincidence radius
        x = x.astype(np.float32 if dtype == "f32" else np.float64)
        w = rng.uniform(0.1, 1.0, n) if weighted else None
        y = np.zeros(d)
        sums = kernel(x, w, 1.0, y, 1.0, 1)
        ref = _reference(x, w, y, 2.0**-40)
        ctx = f"n={n} d={d}"
        tol = RTOL + (2.0**-53 * np.sqrt(n) if backend == "numba" else 0.0)
        assert sums[0] == pytest.approx(ref["f"], rel=tol, abs=0), ctx
        assert sums[1] == pytest.approx(ref["inv"], rel=tol, abs=0), ctx
        assert sums[2] == pytest.approx(ref["eta"], rel=tol, abs=0), ctx
        assert sums[4] == pytest.approx(ref["max_term"], rel=RTOL, abs=0), ctx
        # Slots (fused_pass.hpp): f, inv, eta, f_coinc, max_term, w_far, f_near, then R and M.
        assert sums[5] == 0.0, ctx  # near = +inf by default: no point is far
        R, M = sums[7 : 7 + d], sums[7 + d :]
        # R and M are sums of signed terms: compare against the size of those terms.
        np.testing.assert_allclose(R, ref["R"], rtol=0, atol=tol * ref["scale_R"], err_msg=ctx)
        np.testing.assert_allclose(M, ref["M"], rtol=0, atol=tol * ref["scale_M"], err_msg=ctx)


@pytest.mark.parametrize("backend", _backends())
def test_fused_pass_is_deterministic(backend):
    impl = load_backend(backend)
    x = np.random.default_rng(7).standard_normal((300_001, 16))
    y = x.mean(axis=0)
    for threads in (1, 2):
        first = impl.fused_pass_f64(x, None, 1.0, y, 1.0, threads)
        for _ in range(3):
            np.testing.assert_array_equal(impl.fused_pass_f64(x, None, 1.0, y, 1.0, threads), first)


def _every_distance_sums(sums, x, w, eps, near, tol):
    """Every slot of a pass over x (at the iterate 0) against NumPy; rows with a NaN are
    left out of the reference, and the slots they reach must be NaN."""
    d = x.shape[1]
    r = x.astype(np.float64)
    bad = np.isnan(r).any(axis=1)
    r[bad] = 0.0
    dist = np.sqrt(np.einsum("ij,ij->i", r, r))
    wi = np.ones(len(x)) if w is None else w
    hit, far = (dist <= eps) & ~bad, (dist > near) & ~bad
    t = np.where(hit | bad, 0.0, wi / np.where(hit | bad, 1.0, dist))
    keep = ~bad
    ref = [np.sum((wi * dist)[keep]), t.sum(), wi[hit].sum(), np.sum((wi * dist)[hit]), t.max(),
           wi[far].sum(), np.sum((wi * dist)[keep & ~far])]  # fmt: skip
    R, M = sums[7 : 7 + d], sums[7 + d :]
    if bad.any():
        # NaN reaches the objective, the denominator, the near share and the gradient (the
        # certificate then never converges); the counts of coincident and far weight and the
        # largest term keep the other rows' values. f_coinc is not asserted: the passes that
        # form it as hit * w * d give NaN, the reciprocal square root's masked sum does not.
        assert np.isnan([sums[0], sums[1], sums[6]]).all()
        assert np.isnan(R).all()
        assert np.isnan(M[np.isnan(x).any(axis=0)]).all()
        for k in (2, 5):
            assert sums[k] == pytest.approx(ref[k], rel=tol, abs=0), k
        return
    for k, value in enumerate(ref):
        assert sums[k] == pytest.approx(value, rel=tol, abs=0), k
    scale_R = np.abs(t[:, None] * r).sum(axis=0).max()
    scale_M = np.abs(wi[:, None] * r).sum(axis=0).max()
    np.testing.assert_allclose(R, t @ r, rtol=0, atol=tol * scale_R)
    np.testing.assert_allclose(M, wi @ r, rtol=0, atol=tol * scale_M)


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", ["f64", "f32"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("d", [1, 2, 3, 4, 5, 8, 12, 13, 16, 17, 100])
def test_rows_at_every_distance(backend, dtype, weighted, d):
    # Every loop shape's per-row terms (on AVX-512 a reciprocal square root refined twice,
    # the exact root for rows within eps, with d^2 beyond 2^900, or NaN): rows on the
    # iterate, within eps, just below and just above eps, at ordinary distances and far
    # out, spread over the lanes, the blocks and the tail. Every slot against NumPy.
    impl = load_backend(backend)
    kernel = impl.fused_pass_f32 if dtype == "f32" else impl.fused_pass_f64
    eps, near = 2.0**-40, 1e6
    rng = np.random.default_rng([d, int(weighted)])
    scales = [0.0, eps / 4, eps * (1 - 2.0**-20), eps * (1 + 2.0**-20), 1e-9, 1.0, 3.0, 1e3]
    scales += [1e30]
    if dtype == "f64":
        scales += [2.0**300, 2.0**455]  # the second squared beyond 2^900: the exact root
    n = 8 * 128 * 2 + 5
    u = rng.standard_normal((n, d))
    u /= np.sqrt(np.einsum("ij,ij->i", u, u))[:, None]  # the distance is the scale
    x = (u * rng.choice(scales, size=(n, 1))).astype(np.float32 if dtype == "f32" else np.float64)
    w = rng.uniform(0.1, 1.0, n) if weighted else None
    tol = RTOL + (2.0**-53 * np.sqrt(n) if backend == "numba" else 0.0)
    _every_distance_sums(kernel(x, w, 1.0, np.zeros(d), 1.0, 1, eps, near), x, w, eps, near, tol)
    x[[5, 8 * 128 + 3, n - 1], d // 2] = np.nan  # in a block, in the second, in the tail
    _every_distance_sums(kernel(x, w, 1.0, np.zeros(d), 1.0, 1, eps, near), x, w, eps, near, tol)
