"""OnlineGeometricMedian: streaming averaged SGD over chunks of any size."""

from __future__ import annotations

import numpy as np
import pytest

import geomedian
from geomedian import OnlineGeometricMedian


@pytest.fixture(scope="module")
def stream():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((60_000, 3)) + np.array([1.0, -2.0, 30.0])
    x[:6000] += 100.0 * rng.standard_normal((6000, 3))  # outliers the median ignores
    return x[rng.permutation(len(x))]


def test_chunking_does_not_change_the_estimate(backend, stream):
    whole = OnlineGeometricMedian(backend=backend).partial_fit(stream)
    parts = OnlineGeometricMedian(backend=backend)
    cuts = np.sort(np.random.default_rng(0).integers(0, len(stream), size=40))
    for piece in np.split(stream, cuts):
        if len(piece):
            assert parts.partial_fit(piece) is parts
    assert np.array_equal(whole.median_, parts.median_)
    assert whole.n_seen_ == parts.n_seen_ == len(stream)
    assert whole.n_steps_ == parts.n_steps_ == len(stream) // 16


def test_estimate_is_close_to_the_median(backend, stream):
    est = OnlineGeometricMedian(batch_size=32, backend=backend)
    for piece in np.array_split(stream, 7):
        est.partial_fit(piece.astype(np.float32))
    exact = geomedian.solve(stream).median
    assert np.linalg.norm(est.median_ - exact) < 0.05
    assert est.median_.dtype == np.float64


def test_weights(backend, stream):
    w = np.where(np.arange(len(stream)) % 3 == 0, 4.0, 1.0)
    est = OnlineGeometricMedian(backend=backend)
    for a in range(0, len(stream), 5000):
        est.partial_fit(stream[a : a + 5000], sample_weight=w[a : a + 5000])
    exact = geomedian.solve(stream, w).median
    assert np.linalg.norm(est.median_ - exact) < 0.05


def test_backends_agree_bitwise(stream):
    if "cpp" not in geomedian.backends():
        pytest.skip("needs both backends")
    a = OnlineGeometricMedian(backend="cpp").partial_fit(stream[:5000])
    b = OnlineGeometricMedian(backend="numba").partial_fit(stream[:5000])
    assert np.array_equal(a.median_, b.median_)


def test_before_the_first_minibatch_and_errors(backend):
    est = OnlineGeometricMedian(batch_size=4, backend=backend)
    assert not hasattr(est, "median_")
    est.partial_fit([[0.0, 0.0], [2.0, 10.0], [1.0, 5.0]])
    assert est.n_seen_ == 3 and est.n_steps_ == 0
    np.testing.assert_array_equal(est.median_, [1.0, 5.0])  # coordinate-wise median
    est.partial_fit([[1.0, 4.0]])
    assert est.n_steps_ == 1
    with pytest.raises(ValueError, match="X has 3 features, but OnlineGeometricMedian is expect"):
        est.partial_fit(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        est.partial_fit([[np.nan, 1.0]])
    with pytest.raises(ValueError, match="non-negative"):
        est.partial_fit([[1.0, 1.0]], sample_weight=[-1.0])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        OnlineGeometricMedian(batch_size=0).partial_fit([[1.0]])


def test_docstring_example():
    import doctest

    from geomedian._paths import online as _online

    result = doctest.testmod(_online, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
