"""Shared fixtures for the geomedian benchmarks: seeded datasets, backends, a summary table.

The benchmarks are skipped by the project's default pytest options (``--benchmark-disable``,
``testpaths = ["tests"]``); run them explicitly from the project root::

    python -m pytest benchmarks --benchmark-enable --benchmark-only \
        --benchmark-min-rounds=5 --benchmark-columns=min,median,max,rounds -q

Every dataset is generated once per session from a fixed seed. Each backend is warmed up
(Numba JIT compilation or cache load, OpenMP thread start-up) on small data before any
timed call. At the end of the run a table of medians is printed: bytes/s for one pass and
time per pass for the full solves, with the numba/cpp ratio, all taken from that run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import geomedian
from geomedian._backends import load_backend

SEED = 20240607
N = 1_000_000
OUTLIER_FRACTION = 0.05
OUTLIER_SHIFT = 100.0

DATASETS = ("1e6x2", "1e6x16")
BACKENDS = ("cpp", "numba")


@dataclass(frozen=True)
class Dataset:
    """One benchmark dataset: float64 points, a float32 copy and NumPy reference sums at y."""

    name: str
    points: np.ndarray  # (n, d) float64, C-contiguous
    points32: np.ndarray  # (n, d) float32, C-contiguous
    y: np.ndarray  # (d,) float64: the mean of ``points``, where one pass is evaluated
    ref_f: float  # sum_i ||y - x_i|| over the float64 points
    ref_inv: float  # sum_i 1 / ||y - x_i||
    ref_f32: float  # the same two sums over the float32 points (widened to float64)
    ref_inv32: float

    @property
    def n(self) -> int:
        return self.points.shape[0]

    @property
    def d(self) -> int:
        return self.points.shape[1]

    def get(self, dtype: str) -> np.ndarray:
        return self.points32 if dtype == "f32" else self.points


def _reference(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    dist = np.sqrt(((x.astype(np.float64) - y) ** 2).sum(axis=1))
    return float(dist.sum()), float((1.0 / dist).sum())


def _make(name: str, x: np.ndarray) -> Dataset:
    x = np.ascontiguousarray(x, dtype=np.float64)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    y = x.mean(axis=0)
    f, inv = _reference(x, y)
    f32, inv32 = _reference(x32, y)
    return Dataset(name, x, x32, y, f, inv, f32, inv32)


@pytest.fixture(scope="session")
def data_1e6x2() -> Dataset:
    """1,000,000 standard Gaussian points in the plane."""
    rng = np.random.default_rng([SEED, 2])
    return _make("1e6x2", rng.standard_normal((N, 2)))


@pytest.fixture(scope="session")
def data_1e6x16() -> Dataset:
    """1,000,000 standard Gaussian points in R^16, 5% shifted by 100 in a random direction."""
    rng = np.random.default_rng([SEED, 16])
    x = rng.standard_normal((N, 16))
    k = rng.choice(N, int(OUTLIER_FRACTION * N), replace=False)
    u = rng.standard_normal((k.size, 16))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    x[k] += OUTLIER_SHIFT * u
    return _make("1e6x16", x)


@pytest.fixture(params=DATASETS)
def dataset(request) -> Dataset:
    """Each dataset in turn; the data itself is built once per session."""
    return request.getfixturevalue("data_" + request.param)


_warm: set[str] = set()


def _warm_up(name: str) -> None:
    """Compile (Numba) or start (OpenMP) every entry point the benchmarks call."""
    impl = load_backend(name)
    rng = np.random.default_rng(0)
    for d in (2, 16):
        x = rng.standard_normal((4096, d))
        x32 = x.astype(np.float32)
        y = x.mean(axis=0)
        for threads in (1, 2):
            impl.fused_pass_f64(x, None, 1.0, y, 1.0, threads)
            impl.fused_pass_f32(x32, None, 1.0, y, 1.0, threads)
        for method in ("gd", "weiszfeld"):
            geomedian.solve(x, backend=name, method=method)
            geomedian.solve(x32, backend=name, method=method)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each installed backend, warmed up once per session outside any timed region."""
    name = request.param
    if name not in geomedian.backends():
        pytest.skip(f"backend {name!r} is not available")
    if name not in _warm:
        _warm_up(name)
        _warm.add(name)
    return name


# Medians collected by the benchmarks of this run, printed as one table at the end.
RESULTS: list[dict] = []


def _record(benchmark, **row) -> dict | None:
    """Add the median of a finished benchmark to the summary (no-op when timing is disabled)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return None
    row["median_s"] = stats.stats.median
    RESULTS.append(row)
    return row


@pytest.fixture
def record():
    """``record(benchmark, **row)``: put this benchmark's median in the end-of-run table."""
    return _record


@pytest.fixture
def record_row():
    """``record_row(**row)``: a row timed outside pytest-benchmark (it carries ``median_s``)."""
    return lambda **row: RESULTS.append(row)


def _ratio(rows: list[dict], row: dict, keys: tuple[str, ...], value: str) -> str:
    if row["backend"] != "numba":
        return ""
    for other in rows:
        if other["backend"] == "cpp" and all(other[k] == row[k] for k in keys):
            return f"{row[value] / other[value]:.2f}"
    return ""


def _roofline(tr, passes: list[dict], bounds: list[dict]) -> None:
    """Each pass of this run against the bounds of benchmarks/test_roofline.py (same run)."""
    per_pass = {}
    for b in bounds:
        per_pass[(b["bound"], b["dataset"], b["dtype"], b["threads"])] = b["median_s"] * b["scale"]
    tr.write_sep("-", "roofline: one pass against this machine's bounds, medians of this run")
    tr.write_line(
        f"{'dataset':<8} {'dtype':<5} {'backend':<7} {'thr':>3} {'pass ms':>8} {'read ms':>8} "
        f"{'arith ms':>8} {'/read':>6} {'/arith':>6} {'/bound':>6}"
    )
    for r in sorted(passes, key=lambda r: (r["dataset"], r["dtype"], r["threads"], r["backend"])):
        key = (r["dataset"], r["dtype"], r["threads"])
        read, arith = per_pass.get(("read", *key)), per_pass.get(("arith", *key))
        if read is None and arith is None:
            continue
        t = r["median_s"]
        cells = [f"{v * 1e3:>8.3f}" if v else f"{'':>8}" for v in (read, arith)]
        ratios = [f"{t / v:>6.2f}" if v else f"{'':>6}" for v in (read, arith)]
        # Rows longer than 4 are not arithmetic-bound (the arith loop then runs one row at
        # a time and is no bound at all): their bound is the read.
        short = int(r["dataset"].split("x")[1]) <= 4
        bound = max(v for v in (read, arith if short else None) if v)
        tr.write_line(
            f"{r['dataset']:<8} {r['dtype']:<5} {r['backend']:<7} {r['threads']:>3} "
            f"{t * 1e3:>8.3f} {cells[0]} {cells[1]} {ratios[0]} {ratios[1]} {t / bound:>6.2f}"
        )
    tr.write_line(
        "bound = max(read, arith) for d <= 4, read otherwise; read: a plain compiled sum over "
        "the same array; "
        "arith: distance + sqrt + division per row on cached rows, scaled to n rows."
    )


def _batch_summary(tr, rows: list[dict]) -> None:
    """Table for benchmarks/test_batch.py: problems/s and ratios to geomedian cpp float64."""
    base = next((r for r in rows if r["name"] == "geomedian cpp" and r["dtype"] == "f64"), None)
    tr.write_sep("-", "batch of 100,000 pixel problems: medians of this run")
    tr.write_line(f"{'what':<58} {'dtype':<5} {'median s':>9} {'problems/s':>11} {'x cpp f64':>9}")
    for r in sorted(rows, key=lambda r: r["median_s"]):
        ratio = f"{r['median_s'] / base['median_s']:.2f}" if base else ""
        tr.write_line(
            f"{r['name']:<58} {r['dtype']:<5} {r['median_s']:>9.3f} "
            f"{r['problems'] / r['median_s']:>11,.0f} {ratio:>9}"
        )


def _call_summary(tr, rows: list[dict]) -> None:
    """Table for benchmarks/test_hot_loop.py: microseconds per call, ratio to hdmedians."""
    base = next((r for r in rows if r["name"] == "hdmedians.geomedian"), None)
    tr.write_sep("-", "one 20 x 3 problem per call: medians of this run")
    tr.write_line(f"{'what':<40} {'us/call':>9} {'x hdmedians':>11}")
    for r in sorted(rows, key=lambda r: r["median_s"]):
        ratio = f"{r['median_s'] / base['median_s']:.2f}" if base else ""
        tr.write_line(f"{r['name']:<40} {r['median_s'] * 1e6:>9.1f} {ratio:>11}")


def _ratio_summary(tr, rows: list[dict]) -> None:
    """Table for benchmarks/test_limits.py: each ratio of two alternated medians, its goal."""
    tr.write_sep("-", "one pass against the hardware's limits: ratios of alternated medians")
    tr.write_line(
        f"{'ratio':<20} {'what':<28} {'dataset':<8} {'thr':>3} {'num ms':>8} {'den ms':>8} "
        f"{'ratio':>6} {'goal':>5} {'met':>4}"
    )
    for r in sorted(rows, key=lambda r: (r["ratio_name"], r["dataset"], r["what"], r["threads"])):
        met = "yes" if r["ratio"] <= r["goal"] else "no"
        tr.write_line(
            f"{r['ratio_name']:<20} {r['what']:<28} {r['dataset']:<8} {r['threads']:>3} "
            f"{r['numerator_s'] * 1e3:>8.3f} {r['denominator_s'] * 1e3:>8.3f} "
            f"{r['ratio']:>6.2f} {r['goal']:>5.2f} {met:>4}"
        )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    passes = [r for r in RESULTS if r["kind"] == "pass"]
    solves = [r for r in RESULTS if r["kind"] == "solve"]
    bounds = [r for r in RESULTS if r["kind"] == "bound"]
    batches = [r for r in RESULTS if r["kind"] == "batch"]
    calls = [r for r in RESULTS if r["kind"] == "call"]
    ratios = [r for r in RESULTS if r["kind"] == "ratio"]
    if ratios:
        _ratio_summary(terminalreporter, ratios)
    if batches:
        _batch_summary(terminalreporter, batches)
    if calls:
        _call_summary(terminalreporter, calls)
    if not (passes or solves):
        return
    tr = terminalreporter
    if passes:
        tr.write_sep("-", "one fused pass: medians of this run")
        tr.write_line(
            f"{'dataset':<8} {'dtype':<5} {'backend':<7} {'thr':>3} {'median ms':>10} "
            f"{'GB/s':>7} {'numba/cpp':>9}"
        )
        keys = ("dataset", "dtype", "threads")
        for r in sorted(passes, key=lambda r: (r["dataset"], r["dtype"], r["threads"])):
            tr.write_line(
                f"{r['dataset']:<8} {r['dtype']:<5} {r['backend']:<7} {r['threads']:>3} "
                f"{r['median_s'] * 1e3:>10.3f} {r['bytes_read'] / r['median_s'] / 1e9:>7.2f} "
                f"{_ratio(passes, r, keys, 'median_s'):>9}"
            )
    if bounds:
        _roofline(tr, passes, bounds)
    if solves:
        tr.write_sep("-", "full solves: medians of this run")
        tr.write_line(
            f"{'dataset':<8} {'dtype':<5} {'method':<9} {'backend':<7} {'median ms':>10} "
            f"{'passes':>6} {'iter':>4} {'ms/pass':>8} {'numba/cpp':>9} {'(per pass)':>10}"
        )
        keys = ("dataset", "dtype", "method")
        for r in solves:
            r["per_pass_s"] = r["median_s"] / r["n_passes"]
        for r in sorted(solves, key=lambda r: (r["dataset"], r["dtype"], r["method"])):
            tr.write_line(
                f"{r['dataset']:<8} {r['dtype']:<5} {r['method']:<9} {r['backend']:<7} "
                f"{r['median_s'] * 1e3:>10.2f} {r['n_passes']:>6} {r['n_iter']:>4} "
                f"{r['per_pass_s'] * 1e3:>8.3f} {_ratio(solves, r, keys, 'median_s'):>9} "
                f"{_ratio(solves, r, keys, 'per_pass_s'):>10}"
            )
