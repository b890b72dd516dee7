"""np.memmap input: solved exactly chunk by chunk, with resident memory far below the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import geomedian


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    rng = np.random.default_rng(21)
    x = rng.standard_normal((300_000, 3)) * [1.0, 3.0, 0.5] + [1e6, -5.0, 2.0]
    x[:30_000] += 1e3 * rng.standard_normal((30_000, 3))
    path = tmp_path_factory.mktemp("memmap") / "points.npy"
    np.save(path, x)
    np.save(path.with_name("points32.npy"), x.astype(np.float32) - np.float32(1e6))
    return path


@pytest.mark.parametrize("method", ["auto", "weiszfeld"])
def test_memmap_matches_in_memory(backend, mapped, method):
    m = np.load(mapped, mmap_mode="r")
    res = geomedian.solve(m, backend=backend, method=method)
    ref = geomedian.solve(np.array(m), backend=backend, method=method)
    assert res.converged and res.gap <= 1e-10
    assert res.objective == pytest.approx(ref.objective, rel=1e-10)
    np.testing.assert_allclose(res.median, ref.median, rtol=0, atol=1e-6)
    assert res.n_passes <= ref.n_passes + 2  # the warm start keeps full passes few


def test_memmap_read_from_the_file_or_through_the_mapping(backend, mapped):
    """The start's rows come from the file (read-only map) or through a copy-on-write map,
    whose private changes only the mapping holds: the same rows, the same answer."""
    r = np.load(mapped, mmap_mode="r")
    c = np.load(mapped, mmap_mode="c")
    a = geomedian.solve(r, backend=backend)
    b = geomedian.solve(c, backend=backend)
    assert np.array_equal(a.median, b.median) and a.n_passes == b.n_passes
    c[:1000] += 50.0  # in this mapping only, not in the file
    moved = geomedian.solve(c, backend=backend)
    ref = geomedian.solve(np.array(c), backend=backend)
    assert moved.converged and not np.array_equal(moved.median, a.median)
    np.testing.assert_allclose(moved.median, ref.median, rtol=0, atol=1e-6)


@pytest.mark.parametrize("far", [0, 3], ids=["offset", "offset-far"])
@pytest.mark.parametrize("method", ["auto", "weiszfeld"])
@pytest.mark.parametrize("source", ["memmap", "dask"])
def test_optimum_between_two_float64_points(backend, tmp_path, source, method, far):
    """Rows at 1e12 + noise: float64 spaces 1e12 by 1.2e-4, so the optimum lies between two
    representable points. The chunked iteration runs in the frame's offset z, as in memory,
    and stops where the in-memory solve does (the rounding floor), with its answer; passes
    at the rounded point alternated between the two neighbours until max_iter. Far points
    (1e200) leave only Weiszfeld steps, accepted without a test of f."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2000, 3)) + np.array([1e12, -3.0, 0.0])
    x[:far] *= 1e188
    np.save(tmp_path / "x.npy", x)
    if source == "memmap":
        src = np.load(tmp_path / "x.npy", mmap_mode="r")
    else:
        da = pytest.importorskip("dask.array")
        src = da.from_array(x, chunks=(600, 3))
    ref = geomedian.solve(x, backend=backend, method=method)
    res = geomedian.solve(src, backend=backend, method=method, max_iter=200)
    assert res.status == ref.status == 2, (res.message, res.n_passes)
    assert res.n_passes <= ref.n_passes + 5
    assert res.gap <= 2 * ref.gap and res.lower_bound <= ref.objective
    np.testing.assert_allclose(res.median, ref.median, rtol=0, atol=1e-6)


def test_memmap_weighted_float32_progress(backend, mapped):
    m = np.load(mapped.with_name("points32.npy"), mmap_mode="r")
    w = np.random.default_rng(0).random(m.shape[0])
    seen = []
    res = geomedian.solve(m, w, backend=backend, progress=lambda *a: seen.append(a))
    ref = geomedian.solve(np.array(m), w, backend=backend)
    assert res.median.dtype == np.float32 and res.converged and res.gap <= 1e-6
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)
    assert [s[0] for s in seen] == list(range(res.n_iter + 1))
    assert seen[-1][2] <= 1e-6


def test_memmap_nan_is_located(backend, tmp_path):
    x = np.random.default_rng(3).standard_normal((1000, 2))
    x[700, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(ValueError, match="row 700, column 1"):
        geomedian.solve(np.load(tmp_path / "nan.npy", mmap_mode="r"), backend=backend)


RSS_SCRIPT = """
import sys, numpy as np, geomedian

def peak():  # VmHWM, the peak resident set, in bytes
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

path, backend = sys.argv[1], sys.argv[2]
geomedian.solve(np.ones((70_000, 8)) + np.arange(8), backend=backend)  # JIT / warm-up
m = np.load(path, mmap_mode="r")
# The streamed path's first use imports its modules (and numba, some 60 MB): not the data's.
geomedian.solve(m[:70_000], backend=backend)
reset_peak()
base = peak()
res = geomedian.solve(m, backend=backend)
streamed = peak() - base
assert res.converged, res
# Control: one kernel pass over the whole mapping keeps every page resident.
impl = geomedian._backends.load_backend(backend)
impl.fused_pass_f64(m, None, 1.0, res.median, 1.0, 1)
mapped = peak() - base
print(streamed, mapped, m.nbytes)
"""


def test_memmap_resident_memory_stays_low(backend, tmp_path):
    n, d = 3_000_000, 8  # 192 MB
    path = tmp_path / "big.npy"
    m = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    rng = np.random.default_rng(0)
    for a in range(0, n, 500_000):
        m[a : a + 500_000] = rng.standard_normal((500_000, d))
    m.flush()
    del m
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RSS_SCRIPT), str(path), backend],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    streamed, whole, size = (int(v) for v in out.stdout.split()[-3:])
    assert whole > 0.8 * size  # the measurement sees a whole-file mapping
    assert streamed < size / 4  # the streamed solve stays far below the file size


def test_sgd_on_memmap_equals_sgd_in_memory(backend, mapped):
    m = np.load(mapped, mmap_mode="r")
    res = geomedian.solve(m, method="sgd", backend=backend, random_state=1)
    ref = geomedian.solve(np.array(m), method="sgd", backend=backend, random_state=1)
    assert np.array_equal(res.median, ref.median)  # the same kernel over the same rows
    assert res.converged and res.gap <= 1e-3
    assert res.objective == pytest.approx(ref.objective, rel=1e-12)


def test_progress_bar_only_on_a_terminal(mapped, capsys):
    import io

    from geomedian._tools.progress import GapProgress

    m = np.load(mapped, mmap_mode="r")
    geomedian.solve(m, progress=True)  # stderr is captured here: not a terminal, silent
    assert capsys.readouterr().err == ""
    stream = io.StringIO()
    report = GapProgress(1e-10, enabled=True, stream=stream)
    for it, gap in enumerate([1e-2, 1e-6, 1e-11]):
        report(it, 123.0, gap)
    draws = [line for line in stream.getvalue().split("\r") if line.strip()]
    assert draws[0].startswith("geomedian [" + " " * 28 + "]   0%")
    assert draws[0].endswith("iteration=0 objective=123 gap=1.00e-02")
    assert draws[-1].startswith("geomedian [" + "#" * 28 + "] 100%")
    assert draws[-1].endswith("iteration=2 objective=123 gap=1.00e-11")
    report.close()


def test_memmap_from_init(backend, mapped):
    m = np.load(mapped, mmap_mode="r")
    res = geomedian.solve(m, backend=backend, init=[1e6 + 1.0, 0.0, 0.0], method="gd")
    ref = geomedian.solve(np.array(m), backend=backend)
    assert res.converged and res.gap <= 1e-10
    assert res.objective == pytest.approx(ref.objective, rel=1e-10)
