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


def plot_demo(x: np.ndarray, median: np.ndarray, gaps: list[float], path: str) -> None:
    """Draw the data (a sample when large), its mean and geometric median, and the gap curve.

    ``gaps[k]`` is the certified relative gap after ``k + 1`` iterations.
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
    ax.set_title("data, mean and geometric median")
    ax.legend(loc="best", fontsize=8)
    it = np.arange(1, len(gaps) + 1)
    g = np.asarray(gaps, dtype=float)
    positive = g > 0  # a gap of exactly 0 (optimum at a data point) has no logarithm
    bx.semilogy(it[positive], g[positive], "o-", color="tab:blue")
    bx.set_xlabel("iteration")
    bx.set_ylabel("certified relative gap")
    bx.set_title("convergence (each point: a certified gap)")
    bx.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bench(rows: list, path: str) -> None:
    """Time against relative objective gap, one panel per dataset, one marker per solver."""
    plt = _pyplot()
    names = list(dict.fromkeys(r.dataset for r in rows))
    solvers = list(dict.fromkeys(r.solver for r in rows))
    cols = 3
    nrows = -(-len(names) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.8 * nrows), squeeze=False)
    markers = "os^vD<>pP*Xh"
    from .bench import REFERENCE_TOL

    # A gap of 0 (within the reference's own accuracy) is drawn on a floor below it.
    floor = REFERENCE_TOL / 10
    top = max([1.0] + [2 * r.gap for r in rows if r.gap is not None and np.isfinite(r.gap)])
    for ax, name in zip(axes.flat, names):
        for k, solver in enumerate(solvers):
            for r in rows:
                if r.dataset == name and r.solver == solver and r.time_s is not None:
                    ax.loglog(
                        r.time_s,
                        max(r.gap, floor),
                        markers[k % len(markers)],
                        color=f"C{k % 10}",
                        label=solver,
                    )
        ax.set_title(name, fontsize=9)
        ax.set_ylim(floor / 3, top)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(f"relative objective gap (0 at {floor:g})", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = {}, []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    fig.legend([handles[lab] for lab in labels], labels, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.04 * (1 + len(labels) // 4), 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
