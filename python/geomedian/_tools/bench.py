r"""The standard comparison behind ``geomedian bench`` (and ``benchmarks/compare.py``).

Every solver's answer :math:`y` is scored against one tight reference, a geomedian solve to
a certified relative gap of 1e-13, by its relative objective gap
:math:`(f(y) - f_{ref}) / f_{ref}` (for a batch: the worst problem; 0 below the reference's
own accuracy), so a time is never reported without its accuracy. Times are medians of
repeated runs on this machine.

Peers are imported lazily; one that is not installed is reported as skipped. Solvers that
loop over a batch in Python are timed on a subset of its problems and their time scaled (the
row says so); a single-problem solver whose estimated time (from a run on a 1% subsample)
exceeds the budget is skipped with that estimate.
"""

from __future__ import annotations

import math
import os
import platform
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._api import solve
from .._backends import backends
from .._threads import resolve_threads
from .._validate import METHODS

__all__ = ["ACCURATE_GAP", "Dataset", "Row", "datasets", "machine", "run", "solvers", "table"]

SEED = 20240607
# The certificate's own rounding floor is about 6e-14 (relative): a tighter tol is never
# certified, so this is as tight as a reference can be. Gaps below it are reported as 0.
REFERENCE_TOL = 1e-13
# The plot marks a solver as accurate when its relative gap is at most geomedian's default
# tolerance in float64.
ACCURATE_GAP = 1e-10


@dataclass(frozen=True)
class Dataset:
    """One benchmark problem: ``points`` of shape ``(n, d)``, or ``(P, n, d)`` for a batch."""

    name: str
    points: np.ndarray
    description: str

    @property
    def batch(self) -> bool:
        return self.points.ndim == 3

    @property
    def missing(self) -> bool:
        """Whether some points are missing (NaN): pixels under clouds."""
        return bool(np.isnan(self.points).any())


def _far_outliers(rng: np.random.Generator, x: np.ndarray, fraction: float) -> np.ndarray:
    """Move ``fraction`` of the rows 100 units away, each in a random direction."""
    n, d = x.shape
    k = rng.choice(n, round(fraction * n), replace=False)
    u = rng.standard_normal((k.size, d))
    x[k] += 100.0 * u / np.linalg.norm(u, axis=1, keepdims=True)
    return x


def _at_data_point(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """30% of the rows at one point c, the rest a Gaussian cloud centred 0.5 away from c.

    Kuhn's test holds at c (the unit vectors from the cloud towards c sum to well under
    0.3 n in norm), so c itself is the exact minimiser.
    """
    x = rng.standard_normal((n, d))
    x[:, 0] += 0.5
    x[: round(0.3 * n)] = 0.0
    return x[rng.permutation(n)]


def _pixels(rng: np.random.Generator, P: int, n: int, d: int) -> np.ndarray:
    """Per pixel a reflectance spectrum, noise 0.01 and 20% bright clouds."""
    surface = rng.uniform(0.02, 0.4, (P, 1, d))
    x = surface + rng.normal(0.0, 0.01, (P, n, d))
    clouds = rng.random((P, n)) < 0.2
    x[clouds] = rng.uniform(0.3, 0.9, (int(clouds.sum()), 1)) + rng.normal(
        0.0, 0.02, (int(clouds.sum()), d)
    )
    return x


def _cloudy_stack(rng: np.random.Generator, P: int, n: int, d: int) -> np.ndarray:
    """float32 pixels as geomad's benchmark makes them, 40 % of each pixel's dates NaN."""
    x = rng.random((P, n, d), dtype=np.float32)
    x[rng.random((P, n)) < 0.4] = np.nan
    return x


# name: (full size, quick size, builder(rng, size)); sizes are (n, d) or (P, n, d). The
# points are float64 unless the builder makes float32.
_SPECS: dict[str, tuple[tuple, tuple, Callable, str]] = {
    "gauss": (
        (1_000_000, 2),
        (2_000, 2),
        lambda rng, s: rng.standard_normal(s),
        "Gaussian",
    ),
    "outliers": (
        (1_000_000, 16),
        (2_000, 16),
        lambda rng, s: _far_outliers(rng, rng.standard_normal(s), 0.05),
        "Gaussian, 5% far outliers",
    ),
    "wide": ((100_000, 128), (500, 128), lambda rng, s: rng.standard_normal(s), "Gaussian"),
    "wider": ((10_000, 1_000), (100, 1_000), lambda rng, s: rng.standard_normal(s), "Gaussian"),
    "batch": ((100_000, 20, 6), (200, 20, 6), lambda rng, s: _pixels(rng, *s), "pixels"),
    "composite": (
        (10_000, 50, 10),
        (200, 50, 10),
        lambda rng, s: _cloudy_stack(rng, *s),
        "float32 pixels, 40% of dates missing",
    ),
    "vertex": (
        (100_000, 3),
        (1_000, 3),
        lambda rng, s: _at_data_point(rng, *s),
        "optimum at a data point",
    ),
}


def _size_name(shape: tuple) -> str:
    if len(shape) == 3:
        return f"{shape[0]:,} x ({shape[1]} x {shape[2]})"
    return f"{shape[0]:,} x {shape[1]}"


def datasets(quick: bool = False) -> list[Dataset]:
    """Build the comparison's datasets (seeded), at full or ``quick`` (small) size."""
    out = []
    for key, (full, small, build, what) in _SPECS.items():
        shape = small if quick else full
        rng = np.random.default_rng([SEED, len(out)])
        x = build(rng, shape)
        x = np.ascontiguousarray(x, dtype=np.float32 if x.dtype == np.float32 else np.float64)
        out.append(Dataset(f"{_size_name(shape)} {key}", x, what))
    return out


# ----------------------------------------------------------------------------- solvers
# A solver maps points (n, d) -> (median, passes over the data or None). ``batched`` ones
# also take (P, n, d) and return (P, d); the others are looped over a batch's problems.


@dataclass(frozen=True)
class Solver:
    """A named solver adapter; ``requires`` is the module whose absence skips it."""

    name: str
    fn: Callable[[np.ndarray], tuple[np.ndarray, float | None]]
    batched: bool = False
    requires: str | None = None
    certified: bool = False
    missing: bool = False  # leaves out missing (NaN) points


def _omit(x: np.ndarray) -> str:
    """Batches of pixels leave out missing dates; the kernels skip them at no extra cost."""
    return "omit" if x.ndim == 3 else "raise"


def _ours(method: str, backend: str, threads: int | None) -> Callable:
    def run(x):
        res = solve(x, method=method, backend=backend, threads=threads, nan_policy=_omit(x))
        uncertified = int(np.size(res.converged) - np.count_nonzero(res.converged))
        return res.median, float(np.mean(res.n_passes)), (np.max(res.gap), uncertified)

    return run


def numpy_weiszfeld(x: np.ndarray, tol: float = 1e-10, max_iter: int = 1000):
    r"""Plain Weiszfeld, vectorised in NumPy over points (and over problems of a batch).

    :math:`y^+ = \sum_i x_i / d_i \,/\, \sum_i 1 / d_i` with :math:`d_i = \lVert y - x_i
    \rVert` clamped below at 1e-12 times the data's spread; starts at the mean and stops
    when no coordinate moves by more than ``tol`` times the spread. Returns the median and
    the number of passes over the data.
    """
    y = x.mean(axis=-2)
    spread = float(np.ptp(x, axis=-2).max()) or 1.0
    k = 0
    while k < max_iter:
        k += 1
        dist = np.sqrt(((x - y[..., None, :]) ** 2).sum(axis=-1))
        inv = 1.0 / np.maximum(dist, 1e-12 * spread)
        y_new = (x * inv[..., None]).sum(axis=-2) / inv.sum(axis=-1)[..., None]
        step = float(np.abs(y_new - y).max())
        y = y_new
        if step <= tol * spread:
            break
    return y, float(k)


def scipy_lbfgs(x: np.ndarray):
    """``scipy.optimize.minimize`` (L-BFGS-B) from the mean with the analytic gradient."""
    from scipy.optimize import minimize

    def f_and_grad(y):
        diff = y - x
        dist = np.sqrt((diff**2).sum(axis=1))
        safe = np.where(dist > 0, dist, 1.0)
        return dist.sum(), (diff / safe[:, None]).sum(axis=0)

    res = minimize(f_and_grad, x.mean(axis=0), jac=True, method="L-BFGS-B")
    return res.x, float(res.nfev)


def torch_sgd(x: np.ndarray, lr: float = 0.05, steps: int = 100):
    """Run SGD on the mean distance as a beginner writes it in PyTorch (lr 0.05, 100 steps)."""
    import torch

    pts = torch.as_tensor(x)
    y = pts.mean(dim=-2).clone().requires_grad_(True)
    opt = torch.optim.SGD([y], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.linalg.norm(pts - y.unsqueeze(-2), dim=-1).mean(dim=-1).sum()
        loss.backward()
        opt.step()
    return y.detach().numpy(), float(steps)


def _hdmedians(x):
    import hdmedians

    return np.asarray(hdmedians.geomedian(x, axis=0)), None


def _geomad(x, threads):
    import geomad

    # geomad reduces the last axis of (rows, cols, bands, dates): one row of P pixels.
    xb = x if x.ndim == 3 else x[None]
    arr = np.ascontiguousarray(xb.transpose(0, 2, 1)[None], dtype=np.float32)
    out = geomad.nangeomedian_pcm(arr, num_threads=threads)[0]
    return (out if x.ndim == 3 else out[0]).astype(np.float64), None


def _geom_median(x):
    from geom_median.numpy import compute_geometric_median

    return np.asarray(compute_geometric_median(x).median), None


def solvers(threads: int | None = None) -> list[Solver]:
    """Every method x backend of geomedian, then the peers and the plain baselines.

    ``threads`` goes to the solvers that take a thread count (geomedian, geomad); default
    every core.
    """
    nthreads = resolve_threads(threads)
    ours = [
        Solver(f"geomedian {m} {b}", _ours(m, b, nthreads), True, certified=True, missing=True)
        for b in backends()
        for m in ("auto", *METHODS)
    ]

    def plain(fn):
        return lambda x: (*fn(x), None)

    return [
        *ours,
        Solver("hdmedians geomedian", plain(_hdmedians), requires="hdmedians"),
        Solver(
            "geomad nangeomedian_pcm",
            plain(lambda x: _geomad(x, nthreads)),
            batched=True,
            requires="geomad",
            missing=True,
        ),
        Solver("geom_median (numpy)", plain(_geom_median), requires="geom_median"),
        Solver("scipy L-BFGS-B", plain(scipy_lbfgs), requires="scipy"),
        Solver("numpy Weiszfeld", plain(numpy_weiszfeld), batched=True),
        Solver("torch SGD (lr 0.05, 100 steps)", plain(torch_sgd), batched=True, requires="torch"),
    ]


# ----------------------------------------------------------------------------- scoring


@dataclass
class Row:
    """One (dataset, solver) result; ``time_s`` is None when skipped (``note`` says why)."""

    dataset: str
    solver: str
    time_s: float | None = None
    repeats: int = 0
    passes: float | None = None
    gap: float | None = None
    certified_gap: float | None = None
    note: str = ""


def _objective(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """f(y) per problem, in float64, computed directly in NumPy (chunked over rows).

    Missing (NaN) points of a batch are left out, as the solvers that take them do.
    """
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 2:
        total = 0.0
        for s in range(0, x.shape[0], 1 << 16):
            total += float(np.sqrt(((x[s : s + (1 << 16)] - y) ** 2).sum(axis=1)).sum())
        return np.array(total)
    return np.nansum(np.sqrt(((x - y[:, None, :]) ** 2).sum(axis=-1)), axis=-1)


def reference(x: np.ndarray) -> np.ndarray:
    """Return the reference objective per problem: geomedian at tol 1e-13, certified."""
    res = solve(x, tol=REFERENCE_TOL, max_iter=10_000, nan_policy=_omit(x))
    return _objective(x, res.median)


def relative_gap(x: np.ndarray, y: np.ndarray, f_ref: np.ndarray) -> float:
    """Return ``(f(y) - f_ref) / f_ref``, the worst over a batch's problems.

    Differences below the reference's own accuracy (``REFERENCE_TOL``) are reported as 0.
    """
    f = _objective(x, y)
    if not np.all(np.isfinite(f)):
        return math.inf
    gap = float(np.max((f - f_ref) / f_ref))
    return gap if gap > REFERENCE_TOL else 0.0


def _available(module: str | None) -> bool:
    if module is None:
        return True
    try:
        __import__(module)
    except Exception:  # a peer that fails to import for any reason is absent
        return False
    return True


def _time(fn: Callable, x: np.ndarray, repeats: int, budget_s: float):
    """Median wall time of up to ``repeats`` runs (fewer once ``budget_s`` is spent)."""
    times, out = [], None
    while len(times) < repeats:
        t0 = time.perf_counter()
        out = fn(x)
        times.append(time.perf_counter() - t0)
        if sum(times) > budget_s:
            break
    return float(np.median(times)), len(times), out


def run_one(
    ds: Dataset,
    solver: Solver,
    f_ref: np.ndarray,
    *,
    repeats: int,
    budget_s: float,
    loop_subset: int,
) -> Row:
    """Time ``solver`` on ``ds`` and score its answer against ``f_ref``."""
    row = Row(ds.name, solver.name)
    if not _available(solver.requires):
        row.note = f"skipped: {solver.requires} not installed"
        return row
    if ds.missing and not solver.missing:
        row.note = "skipped: does not leave out missing points"
        return row
    x, ref, scale = ds.points, f_ref, 1.0
    if ds.batch and not solver.batched:
        k = min(loop_subset, x.shape[0])
        x, ref, scale = x[:k], f_ref[:k], x.shape[0] / k
        fn = solver.fn

        def looped(xs):
            outs = [fn(xk) for xk in xs]
            passes = [o[1] for o in outs]
            mean_passes = None if None in passes else float(np.mean(passes))
            return np.array([o[0] for o in outs]), mean_passes, None

        call = looped
        row.note = f"Python loop over {k:,} of {ds.points.shape[0]:,} problems, time scaled"
    else:
        call = solver.fn
        if not ds.batch and x.shape[0] >= 100_000 and not solver.certified:
            # Estimate from a 1% subsample before committing to a possibly very long run.
            sub = x[::100]
            t0 = time.perf_counter()
            call(sub)
            estimate = (time.perf_counter() - t0) * 100
            if estimate > budget_s:
                row.note = f"skipped: estimated {estimate:,.0f} s > budget {budget_s:g} s"
                return row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(x[: min(64, x.shape[0])])  # JIT compilation, thread start-up, imports
        t, reps, (y, passes, cert) = _time(call, x, repeats, budget_s)
    row.time_s, row.repeats, row.passes = t * scale, reps, passes
    row.gap = relative_gap(x, y, ref)
    if cert is not None:
        row.certified_gap, uncertified = float(cert[0]), cert[1]
        if uncertified:
            total = 1 if x.ndim == 2 else x.shape[0]
            row.note = f"{uncertified:,} of {total:,} problems not certified to the default tol"
    return row


def run(
    quick: bool = False,
    *,
    repeats: int | None = None,
    budget_s: float | None = None,
    threads: int | None = None,
    progress: Callable[..., None] | None = None,
) -> list[Row]:
    """Run the whole comparison; ``progress(**info)`` is called after each row."""
    repeats = repeats or (3 if quick else 5)
    budget_s = budget_s or (0.5 if quick else 60.0)
    loop_subset = 5 if quick else 2_000
    rows = []
    every = solvers(threads)
    for ds in datasets(quick):
        f_ref = reference(ds.points)
        for solver in every:
            row = run_one(
                ds, solver, f_ref, repeats=repeats, budget_s=budget_s, loop_subset=loop_subset
            )
            rows.append(row)
            if progress is not None:
                progress(dataset=ds.name.split()[-1], solver=solver.name)
    return rows


def n_runs() -> int:
    """Rows :func:`run` produces (for a progress bar)."""
    return len(_SPECS) * len(solvers())


def machine() -> dict:
    """Facts about where the comparison ran: CPU model, cores, Python, NumPy, geomedian."""
    from .._version import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "geomedian": __version__,
        "backends": backends(),
        "threads": resolve_threads(None),
        # Other processes share the cores: the load when the comparison ran says how much.
        "load_average": (
            [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
        ),
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[Row]) -> str:
    """Format rows as a fixed-width text table, one block per dataset."""
    head = (
        f"{'dataset':<28} {'solver':<32} {'time':>10} {'passes':>7} "
        f"{'rel. gap':>9} {'certified':>9}  note"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        t = "-" if r.time_s is None else _fmt_time(r.time_s)
        lines.append(
            f"{r.dataset:<28} {r.solver:<32} {t:>10} {_fmt(r.passes, '.1f'):>7} "
            f"{_fmt(r.gap, '.1e'):>9} {_fmt(r.certified_gap, '.1e'):>9}  {r.note}".rstrip()
        )
    return "\n".join(lines)


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
