"""Figures for ``geomedian demo --plot`` and ``geomedian bench --plot`` (matplotlib, optional)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_bench", "plot_demo"]

SCATTER_SAMPLE = 20_000  # points drawn at most; a random sample of larger data


def _pyplot() -> Any:
    """Return ``matplotlib.pyplot`` on a file-only backend, or explain how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'geomedian[plot]'") from None
    matplotlib.use("Agg")  # files only: no display needed, never opens a window
    import matplotlib.pyplot as plt

    return plt


def plot_demo(x: np.ndarray, median: np.ndarray, gaps: list[float], path: str, tol: float) -> Any:
    """Draw the data (a sample when large), its mean and geometric median, and the gap curve.

    ``gaps[k]`` is the certified relative gap after ``k + 1`` iterations; ``tol`` the gap
    the solve had to reach, drawn as a line. Returns the (closed) figure.
    """
    plt = _pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5))
    rng = np.random.default_rng(0)
    shown = x if x.shape[0] <= SCATTER_SAMPLE else x[rng.choice(x.shape[0], SCATTER_SAMPLE)]
    sample = "" if shown is x else f" (random {SCATTER_SAMPLE:,} of {x.shape[0]:,})"
    ax.scatter(shown[:, 0], shown[:, 1], s=2, alpha=0.3, color="0.5", label="data" + sample)
    mean = x.mean(axis=0)
    ax.scatter(*mean, marker="s", s=60, color="tab:red", label="mean")
    ax.scatter(*median[:2], marker="*", s=160, color="tab:blue", label="geometric median")
    ax.set_xlabel("first coordinate")
    ax.set_ylabel("second coordinate")
    ax.set_title("data, mean and geometric median")
    ax.legend(loc="best", fontsize=8)
    it = np.arange(1, len(gaps) + 1)
    g = np.asarray(gaps, dtype=float)
    positive = g > 0  # a gap of exactly 0 (optimum at a data point) has no logarithm
    bx.semilogy(it[positive], g[positive], "o-", color="tab:blue", label="certified gap")
    bx.axhline(tol, color="tab:red", linestyle="--", label=f"tol = {tol:g}")
    bx.set_xlabel("iteration")
    bx.set_ylabel("certified relative gap")
    bx.set_title("convergence (each point: a certified gap)")
    bx.grid(True, which="both", alpha=0.3)
    bx.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig


# Distinct colours, one per solver (tab10 then the darker half of tab20b): no two solvers
# of one figure share a colour up to 20 solvers.
_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
    "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363",
]  # fmt: skip


def _ratio_label(v: float, _pos: int = 0) -> str:
    return f"{v:g}\u00d7"


def plot_bench(rows: list, path: str, facts: dict, threads: int, accurate: float) -> Any:
    """Each solver's time relative to geomedian's default solve, one row per dataset.

    ``rows`` are ``bench.Row``; the baseline of a dataset is its first geomedian row (the
    default method on the first backend). A filled marker is a solver whose relative gap
    against the reference is at most ``accurate``; a hollow one is less accurate, with its
    gap written beside it. ``facts`` (``bench.machine()``) and ``threads`` go in the title.
    Returns the (closed) figure.
    """
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    names = list(dict.fromkeys(r.dataset for r in rows))
    solvers = list(dict.fromkeys(r.solver for r in rows if r.time_s is not None))
    base = {}
    for r in rows:
        if r.solver.startswith("geomedian") and r.time_s is not None:
            base.setdefault(r.dataset, r)
    baseline = next(iter(base.values())).solver if base else "geomedian"
    fig, ax = plt.subplots(figsize=(11, 1.1 + 0.9 * len(names)))
    band = 0.8  # the height of a dataset's row taken by its solvers' markers
    step = band / max(1, len(solvers) - 1)
    markers = "os^vD<>pP*Xh"
    labelled = set()
    for k, solver in enumerate(solvers):
        colour = _COLOURS[k % len(_COLOURS)]
        marker = markers[k % len(markers)]
        for i, name in enumerate(names):
            r = next((r for r in rows if r.dataset == name and r.solver == solver), None)
            if r is None or r.time_s is None or name not in base:
                continue
            ratio = r.time_s / base[name].time_s
            y = i - band / 2 + k * step
            good = r.gap is not None and r.gap <= accurate
            ax.plot(
                ratio, y, marker, color=colour, markersize=7,
                markerfacecolor=colour if good else "white",
                label="_nolegend_" if solver in labelled else solver,
            )  # fmt: skip
            labelled.add(solver)
            if not good:
                gap = "inf" if r.gap is None or not np.isfinite(r.gap) else f"{r.gap:.0e}"
                ax.annotate(
                    gap, (ratio, y), xytext=(6, -3), textcoords="offset points",
                    fontsize=7, color=colour,
                )  # fmt: skip
    for i in range(1, len(names)):
        ax.axhline(i - 0.5, color="0.85", linewidth=0.8)  # between datasets
    ax.axvline(1.0, color="0.3", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_ratio_label))
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=9)
    ax.set_ylim(len(names) - 0.5, -0.5)  # the first dataset on top
    ax.set_xlabel(f"time relative to {baseline} (1\u00d7; left of the line: faster)")
    ax.grid(True, axis="x", which="major", alpha=0.3)
    ax.set_title(
        f"geomedian bench on {facts.get('cpu', 'this machine')}, {threads} "
        f"thread{'s' if threads != 1 else ''}\nfilled: relative gap to the reference at most "
        f"{accurate:g}; hollow: less accurate (its gap written beside it)",
        fontsize=10,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig
