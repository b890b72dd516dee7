"""OnlineGeometricMedian as a scikit-learn estimator, and a stream whose start misleads.

scikit-learn is a test dependency only: the estimator API is the class's own.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import geomedian
from geomedian import OnlineGeometricMedian
from geomedian._paths.online import NotFittedError

# scikit-learn's checks that do not apply, and why.
EXPECTED_FAILED_CHECKS = {
    "check_complex_data": "complex input is a TypeError (the wrong kind of thing), "
    "as in every geomedian function; scikit-learn expects a ValueError",
    "check_dtype_object": "object arrays are refused with a TypeError, as in every "
    "geomedian function; scikit-learn converts object arrays of numbers",
}

try:
    from sklearn.utils.estimator_checks import parametrize_with_checks
except ImportError:  # the checks need scikit-learn; the rest of this file does not
    parametrize_with_checks = None

if parametrize_with_checks is not None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Estimator OnlineGeometricMedian does not inherit")

        @parametrize_with_checks(
            [OnlineGeometricMedian(backend=b) for b in geomedian.backends()],
            expected_failed_checks=lambda _: EXPECTED_FAILED_CHECKS,
        )
        @pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
        def test_scikit_learn_checks(estimator, check):
            check(estimator)


def test_parameters_round_trip():
    est = OnlineGeometricMedian(batch_size=8, backend="numba")
    assert est.get_params() == {"backend": "numba", "batch_size": 8, "p": 2}
    assert est.set_params(batch_size=32) is est and est.batch_size == 32
    with pytest.raises(ValueError, match="Invalid parameter 'tol'"):
        est.set_params(tol=1e-3)
    assert repr(OnlineGeometricMedian()) == "OnlineGeometricMedian()"
    # In get_params' (sorted) order, as scikit-learn's estimators.
    assert repr(est) == "OnlineGeometricMedian(backend='numba', batch_size=32)"


def test_clone_and_pipeline(backend):
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    est = OnlineGeometricMedian(batch_size=4, backend=backend)
    assert clone(est).get_params() == est.get_params()
    x = np.random.default_rng(1).normal(size=(400, 2)) + np.array([3.0, -1.0])
    pipe = make_pipeline(FunctionTransformer(lambda a: 2 * a), est).fit(x)
    fitted = pipe[-1]
    assert fitted is est and fitted.n_features_in_ == 2 and fitted.n_seen_ == 400
    assert np.linalg.norm(fitted.median_ - [6.0, -2.0]) < 0.3


def test_fit_starts_over_and_partial_fit_continues(backend):
    r = np.random.default_rng(2)
    a, b = r.normal(size=(300, 3)), r.normal(size=(200, 3)) + 50.0
    est = OnlineGeometricMedian(backend=backend)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        _ = est.median_
    assert isinstance(NotFittedError(), (ValueError, AttributeError))
    est.fit(a).partial_fit(b)
    assert est.n_seen_ == 500
    again = OnlineGeometricMedian(backend=backend).fit(b)
    est.fit(b, y=np.zeros(200))  # y is ignored
    assert est.n_seen_ == 200 and est.n_steps_ == again.n_steps_
    np.testing.assert_array_equal(est.median_, again.median_)
    text = repr(est)
    assert text.startswith(f"OnlineGeometricMedian(backend='{backend}'): 200 rows of 3 features")
    assert "median_=[" in text
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.partial_fit(a).median_, est.partial_fit(a).median_)


def test_sample_weight_and_the_deprecated_keyword(backend):
    r = np.random.default_rng(3)
    x, w = r.normal(size=(640, 2)), r.uniform(0.5, 2.0, 640)
    new = OnlineGeometricMedian(backend=backend).fit(x, sample_weight=w)
    with pytest.warns(DeprecationWarning, match="use sample_weight="):
        old = OnlineGeometricMedian(backend=backend).partial_fit(x, weights=w)
    np.testing.assert_array_equal(new.median_, old.median_)
    with pytest.raises(TypeError, match="pass sample_weight only"):
        new.partial_fit(x, sample_weight=w, weights=w)


def test_dataframe_columns_name_the_features(backend):
    pd = pytest.importorskip("pandas")
    r = np.random.default_rng(4)
    df = pd.DataFrame(r.normal(size=(100, 2)), columns=["a", "b"]).assign(w=1.0)
    est = OnlineGeometricMedian(backend=backend).fit(df, sample_weight="w")
    assert list(est.feature_names_in_) == ["a", "b"] and est.n_features_in_ == 2
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        est.partial_fit(df[["b", "a"]])
    with pytest.raises(ValueError, match="X is a pandas Series"):
        est.partial_fit(df["a"])


@pytest.mark.parametrize("chunk", [None, 997])
def test_a_degenerate_first_batch_is_left_behind(backend, chunk):
    # A sensor's first 16 readings nearly identical: their spread (1e-9) set the step
    # scale for ever, and the estimate stayed at (5, 5) (issue 20).
    r = np.random.default_rng(20)
    first = 5.0 + 1e-9 * r.standard_normal((16, 2))
    rest = np.array([100.0, -50.0]) + 10.0 * r.standard_normal((200_000, 2))
    est = OnlineGeometricMedian(backend=backend).partial_fit(first)
    pieces = [rest] if chunk is None else np.array_split(rest, len(rest) // chunk)
    for piece in pieces:
        est.partial_fit(piece)
    assert est.n_steps_ == 200_016 // 16
    assert np.linalg.norm(est.median_ - [100.0, -50.0]) < 0.5


def test_a_first_batch_far_too_spread_is_rescaled(backend):
    # The opposite: a first minibatch 1e6 times wider than the rest would take steps
    # of 1e6 for thousands of steps; the re-estimated scale brings them down.
    r = np.random.default_rng(21)
    first = 1e6 * r.standard_normal((16, 2))
    rest = np.array([1.0, 2.0]) + r.standard_normal((100_000, 2))
    est = OnlineGeometricMedian(backend=backend).partial_fit(np.concatenate([first, rest]))
    assert np.linalg.norm(est.median_ - [1.0, 2.0]) < 0.05
