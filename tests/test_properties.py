"""Equivariances and invariances, checked with hypothesis on both backends.

The geometric median need not be unique (collinear data with an even count), so answers
are compared through the objective: two certified solves of the same problem agree on
``f*`` to within their certified gaps.
"""

from __future__ import annotations

import numpy as np
import reference
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import geomedian

coordinates = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def problems(draw, max_n=25, max_d=5):
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    x = draw(arrays(np.float64, (n, d), elements=coordinates))
    weighted = draw(st.booleans())
    w = draw(arrays(np.float64, n, elements=st.floats(0.0, 10.0))) if weighted else None
    if w is not None and w.max() == 0:
        w[0] = 1.0
    # Points of positive weight closer together than 2**-40 of the data's spread coincide for
    # the solver: it cannot certify an optimum among them (tested on its own below).
    live = x if w is None else x[w > 0]
    spread = np.ptp(x, axis=0).max()
    gaps = np.linalg.norm(live[:, None] - live[None], axis=-1)
    assume(not ((gaps > 0) & (gaps <= 1e-11 * spread)).any())
    # Nor can it see a coordinate 1e-269 beside a spread of 1: the frame's centre rounds it
    # away (a known limit, for mixed scales beyond ~1e30; uniform scales are fine).
    tiny = (np.abs(x) > 0) & (np.abs(x) < 1e-30 * spread)
    assume(not tiny.any())
    return x, w


def certified(x, w, backend, **kwargs):
    res = geomedian.solve(x, w, backend=backend, **kwargs)
    # Hypothesis finds data where float64 cannot reach 1e-10 (huge spread, tiny clusters);
    # a solve may then stall, but its gap must stay honest and small.
    assert res.gap <= 1e-7, res
    assert res.converged or res.status in (1, 2), res  # max_iter, stalled: still honest
    return res


def objective_matches(res_a, res_b, factor=1.0):
    fa, fb = res_a.objective * factor, res_b.objective
    slack = (max(res_a.gap, res_b.gap) + 1e-12) * max(fa, fb)
    # Both are within their gap of the same optimum; near f* = 0 allow absolute rounding.
    assert abs(fa - fb) <= slack + 1e-12 * (1 + fb), (fa, fb, res_a, res_b)


@given(problems(), arrays(np.float64, 5, elements=coordinates))
def test_translation_equivariance(backend, problem, shift):
    x, w = problem
    t = shift[: x.shape[1]]
    a = certified(x, w, backend)
    b = certified(x + t, w, backend)
    objective_matches(a, b)
    # The translated answer is as good on the translated data as b's own.
    f = reference.objective(a.median + t, x + t, w)
    assert f <= b.objective * (1 + max(a.gap, b.gap) + 1e-11) + 1e-9


@given(problems(max_d=4), st.integers(0, 2**32 - 1))
def test_rotation_equivariance(backend, problem, seed):
    x, w = problem
    d = x.shape[1]
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    a = certified(x, w, backend)
    b = certified(x @ q.T, w, backend)
    objective_matches(a, b)
    f = reference.objective(q @ a.median, x @ q.T, w)
    assert f <= b.objective * (1 + max(a.gap, b.gap) + 1e-11) + 1e-9


@given(problems(), st.floats(1e-6, 1e6), st.sampled_from([1.0, -1.0]))
def test_scale_equivariance(backend, problem, factor, sign):
    x, w = problem
    a = certified(x, w, backend)
    b = certified(x * (sign * factor), w, backend)
    objective_matches(a, b, factor=factor)


@given(problems(), st.floats(1e-3, 1e3))
def test_weights_scale_invariance(backend, problem, c):
    x, w = problem
    w = np.ones(len(x)) if w is None else w
    assume((w * c > 0).any())  # 5e-324 * 0.5 is an all-zero weight vector
    a = certified(x, w, backend)
    b = certified(x, w * c, backend)
    objective_matches(a, b, factor=c)


@given(problems(), st.integers(0, 2**32 - 1))
def test_permutation_invariance(backend, problem, seed):
    x, w = problem
    perm = np.random.default_rng(seed).permutation(len(x))
    a = certified(x, w, backend)
    b = certified(x[perm], None if w is None else w[perm], backend)
    objective_matches(a, b)


@given(problems(max_n=12), st.data())
def test_duplicated_points_equal_integer_weights(backend, problem, data):
    x, _ = problem
    counts = np.array(data.draw(st.lists(st.integers(1, 4), min_size=len(x), max_size=len(x))))
    a = certified(x, counts.astype(float), backend)
    b = certified(np.repeat(x, counts, axis=0), None, backend)
    objective_matches(a, b)


@given(problems(max_n=12))
def test_zero_weight_points_are_ignored(backend, problem):
    x, w = problem
    w = np.ones(len(x)) if w is None else w
    keep = w > 0
    a = certified(x, w, backend)
    b = certified(x[keep], w[keep], backend)
    objective_matches(a, b)


@given(problems(), st.sampled_from(["weiszfeld", "gd", "newton"]))
def test_backends_and_methods_agree(problem, method):
    x, w = problem
    results = [certified(x, w, b, method=method) for b in geomedian.backends()]
    results.append(certified(x, w, geomedian.backends()[0], method="gd"))
    for other in results[1:]:
        objective_matches(results[0], other)


@given(problems())
def test_lower_bound_is_below_an_independent_upper_bound(backend, problem):
    x, w = problem
    res = certified(x, w, backend)
    _, hi = reference.optimum_bracket(x, w)
    assert res.lower_bound <= hi * (1 + 1e-12) + 1e-300
    assert res.objective == reference.objective(res.median, x, w) or np.isclose(
        res.objective, reference.objective(res.median, x, w), rtol=1e-13, atol=1e-300
    )


def test_structure_below_the_coincidence_radius_is_reported_not_hidden(backend):
    # The two weighted points are 2.5e-90 apart in data spanning 1: for the solver they sit
    # on top of each other. Any point between them is optimal, but no certificate can tell.
    x = np.array([[2.46823961e-90], [0.0], [1.0]])
    res = geomedian.solve(x, [1.0, 1.0, 0.0], backend=backend)
    assert 0.0 <= res.median[0] <= 2.46823961e-90
    assert not res.converged
    assert res.lower_bound <= res.objective
    assert res.lower_bound <= 2.46823961e-90  # f* is the distance between them
