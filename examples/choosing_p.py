"""Draw the Lp medians of one skewed cloud for p = 1, 1.5, 2, 3 and inf beside their unit balls.

Run ``python examples/choosing_p.py OUT.png`` (needs matplotlib); the user guide's figure
"Choosing p" is this script's output.
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import geomedian

P_VALUES = [1, 1.5, 2, 3, np.inf]
COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]


def unit_ball(p: float, k: int = 400) -> np.ndarray:
    """Points on the boundary of the unit ball of the p-norm in the plane."""
    t = np.linspace(0, 2 * np.pi, k)
    c, s = np.cos(t), np.sin(t)
    if p == np.inf:
        r = 1.0 / np.maximum(np.abs(c), np.abs(s))
    else:
        r = (np.abs(c) ** p + np.abs(s) ** p) ** (-1.0 / p)
    return np.column_stack([r * c, r * s])


def main(out: str) -> None:
    """Draw the figure into ``out``."""
    rng = np.random.default_rng(7)
    x = rng.standard_exponential((400, 2)) @ np.array([[1.0, 0.6], [0.0, 0.5]])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6))
    left.scatter(x[:, 0], x[:, 1], s=6, c="0.7", label="points")
    right.axhline(0, c="0.85", lw=0.8)
    right.axvline(0, c="0.85", lw=0.8)
    for p, colour in zip(P_VALUES, COLOURS):
        res = geomedian.solve(x, p=p)
        name = "inf" if p == np.inf else f"{p:g}"
        left.scatter(*res.median, s=60, c=colour, edgecolors="k", zorder=3,
                     label=f"p = {name} (gap {res.gap:.0e})")  # fmt: skip
        ball = unit_ball(p)
        right.plot(ball[:, 0], ball[:, 1], c=colour, label=f"p = {name}")
    left.set(title="Lp medians of a skewed cloud", xlabel="x1", ylabel="x2")
    left.set_xlim(-0.2, 3.5)
    left.set_ylim(-0.2, 3.0)
    left.legend(fontsize=8, loc="upper right")
    right.set(title="unit balls ||z||_p = 1", xlabel="z1", ylabel="z2", aspect="equal")
    right.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "choosing-p.png")
