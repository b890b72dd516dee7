"""Models as points: pytrees in, the same structure out, never concatenated."""

from __future__ import annotations

import collections
import tracemalloc

import numpy as np
import pytest
import reference

import geomedian


def _models(rng, n, offset=0.0):
    return [
        {
            "layer": [rng.standard_normal((30, 20)).astype(np.float32) + offset,
                      rng.standard_normal(20).astype(np.float32)],
            "head": (rng.standard_normal((4, 5)), 2.0 + rng.standard_normal()),
        }
        for _ in range(n)
    ]  # fmt: skip


def _flat(model) -> np.ndarray:
    leaves = [model["layer"][0], model["layer"][1], model["head"][0], model["head"][1]]
    return np.concatenate([np.ravel(leaf) for leaf in leaves]).astype(np.float64)


def _check_same_optimum(res, X, w):
    """The tree's median certifies the flat problem's optimum (independent evaluation)."""
    f = reference.objective(_flat(res.median), X, w)
    assert res.lower_bound <= f * (1 + 1e-12)
    W = X.shape[0] if w is None else np.sum(w)
    assert f - res.lower_bound <= res.gap * W * res.scale * (1 + 1e-9) + 1e-9 * f
    direct = geomedian.solve(X, w, method="newton")
    assert abs(f - direct.objective) <= (res.gap + direct.gap) * W * res.scale + 1e-6 * f


@pytest.mark.parametrize("method", ["gram", "auto", "newton"])
def test_joint_median_of_mixed_leaves(backend, rng, method):
    models = _models(rng, 9)
    w = rng.uniform(1, 3, 9)
    res = geomedian.tree_solve(models, w, method=method, backend=backend)
    assert res.converged
    assert res.method == ("newton" if method == "auto" else method)  # d = 645 < 1024 n
    m = res.median
    assert sorted(m) == ["head", "layer"] and isinstance(m["layer"], list)
    assert isinstance(m["head"], tuple) and isinstance(m["head"][1], float)
    assert m["layer"][0].shape == (30, 20) and m["layer"][0].dtype == np.float32
    assert m["head"][0].dtype == np.float64
    _check_same_optimum(res, np.stack([_flat(x) for x in models]), w)


def test_per_component(backend, rng):
    models = _models(rng, 7)
    res = geomedian.tree_solve(models, per_component=True, backend=backend)
    assert res.status.shape == (4,) and res.converged.all()
    for j, leaf in enumerate(
        [lambda m: m["layer"][0], lambda m: m["layer"][1], lambda m: m["head"][0]]
    ):
        X = np.stack([np.ravel(leaf(m)) for m in models]).astype(np.float64)
        f = reference.objective(np.ravel(leaf(res.median)), X)
        assert res.lower_bound[j] <= f * (1 + 1e-12)
        assert f == pytest.approx(geomedian.solve(X).objective, rel=1e-5)
    scalars = np.array([m["head"][1] for m in models])
    assert res.median["head"][1] == pytest.approx(float(np.median(scalars)))


def test_gram_per_component_and_joint_agree_with_concatenation(backend, rng):
    models = [[rng.standard_normal(3000), rng.standard_normal((40, 50))] for _ in range(6)]
    res = geomedian.tree_solve(models, method="gram", backend=backend)
    assert res.method == "gram" and res.n_passes == 3 and res.converged
    X = np.stack([np.concatenate([a, b.ravel()]) for a, b in models])
    f = reference.objective(np.concatenate([res.median[0], res.median[1].ravel()]), X)
    assert f == pytest.approx(geomedian.solve(X).objective, rel=1e-12)
    per = geomedian.tree_solve(models, per_component=True, method="gram", backend=backend)
    assert per.method == "gram" and per.converged.all()
    np.testing.assert_array_equal(per.n_passes, [3, 3])


@pytest.mark.parametrize("n", [1, 2])
def test_one_and_two_models(backend, rng, n):
    models = _models(rng, n)
    res = geomedian.tree_solve(models, method="gram", backend=backend)
    assert res.converged
    if n == 1:
        np.testing.assert_array_equal(res.median["layer"][0], models[0]["layer"][0])
        assert res.median["head"][1] == models[0]["head"][1]


def test_duplicate_models(backend, rng):
    one = _models(rng, 1)[0]
    res = geomedian.tree_solve([one] * 5 + _models(rng, 2), method="gram", backend=backend)
    assert res.converged
    np.testing.assert_array_equal(res.median["layer"][0], one["layer"][0])  # Kuhn: a vertex


def test_inputs_untouched_and_never_concatenated(backend, rng):
    models = [[rng.standard_normal(200_000).astype(np.float32),
               rng.standard_normal((100, 1000)).astype(np.float32)] for _ in range(10)]  # fmt: skip
    before = [[a.copy() for a in m] for m in models]
    geomedian.tree_solve(models[:2], method="gram", backend=backend)  # warm: imports, kernels
    tracemalloc.start()
    res = geomedian.tree_solve(models, method="gram", backend=backend)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert res.method == "gram" and res.converged
    one_model = 300_000 * 4
    assert peak < 3 * one_model  # the data is 10 models: a concatenation would be 10x
    for m, b in zip(models, before):
        for x, y in zip(m, b):
            np.testing.assert_array_equal(x, y)


def test_structures_that_differ_are_refused(rng):
    a = {"enc": [np.ones(3), np.ones((2, 2))], "dec": np.ones(4)}

    def variant(**change):
        m = {"enc": [np.ones(3), np.ones((2, 2))], "dec": np.ones(4)}
        m.update(change)
        return m

    cases = [
        (variant(dec=np.ones(5)), r"models\[2\]\['dec'\] has shape \(5,\) but models\[0\]"),
        (variant(enc=[np.ones(3)]), r"models\[2\]\['enc'\] is a list of length 1 but models\[0\]"
                                    r"\['enc'\] is a list of length 2"),
        ({"enc": a["enc"]}, r"models\[2\] has no key 'dec'"),
        (variant(extra=np.ones(1)), r"models\[2\] has a key 'extra'"),
        (variant(dec={"x": np.ones(4)}), r"models\[2\]\['dec'\] is a dict but models\[0\]\['dec'\] "
                                         r"is a leaf"),
        ([np.ones(3)], r"models\[2\] is a list of length 1 but models\[0\] is a dict"),
    ]  # fmt: skip
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            geomedian.tree_median([a, variant(), bad])
    with pytest.raises(ValueError, match=r"models\[1\]\['enc'\]\[1\] has shape \(2, 3\)"):
        geomedian.tree_median([a, variant(enc=[np.ones(3), np.ones((2, 3))], dec=np.ones(5))])


def test_bad_input(rng):
    with pytest.raises(ValueError, match="models is empty"):
        geomedian.tree_median([])
    with pytest.raises(TypeError, match="list or tuple of models"):
        geomedian.tree_median({"a": np.ones(3)})
    with pytest.raises(TypeError, match=r"models\[0\]\['a'\] must hold real numbers"):
        geomedian.tree_median([{"a": np.ones(3, dtype=bool)}])
    bad = [{"a": np.ones(3)}, {"a": np.array([1.0, np.nan, 1.0])}]
    for method in ("gram", "newton"):
        with pytest.raises(ValueError, match=r"got nan in models\[1\]\['a'\] at index \(1,\)"):
            geomedian.tree_median(bad, method=method)
    with pytest.raises(ValueError, match="weights has length 3 but points has n=2"):
        geomedian.tree_median([{"a": np.ones(3)}] * 2, weights=[1, 2, 3])
    with pytest.raises(ValueError, match="method='sgd' is not available"):
        geomedian.tree_median([{"a": np.ones(3)}] * 2, method="sgd")
    with pytest.raises(TypeError, match="per_component must be a bool"):
        geomedian.tree_median([{"a": np.ones(3)}] * 2, per_component="yes")


def test_containers_and_stacked_models(backend, rng):
    Pair = collections.namedtuple("Pair", "w b")
    models = [collections.OrderedDict(p=Pair(rng.standard_normal(4), rng.standard_normal(2)))
              for _ in range(5)]  # fmt: skip
    m = geomedian.tree_median(models, backend=backend)
    assert type(m) is collections.OrderedDict and type(m["p"]) is Pair
    stacked = rng.standard_normal((5, 3, 4))
    out = geomedian.tree_median(stacked, backend=backend)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out.ravel(), geomedian.geometric_median(stacked.reshape(5, 12)),
                               rtol=1e-8)  # fmt: skip


def test_not_certified_warns(rng):
    models = [[rng.standard_normal(50)] for _ in range(7)]
    with pytest.warns(geomedian.ConvergenceWarning, match="not certified"):
        geomedian.tree_median(models, method="weiszfeld", max_iter=1, tol=0)
