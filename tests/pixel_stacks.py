"""Pixel time series of surface reflectances, as a satellite stack holds them (tests' data)."""

from __future__ import annotations

import numpy as np


def pixel_stacks(
    rng: np.random.Generator, P: int, n: int = 20, d: int = 6, clouds: float = 0.0
) -> np.ndarray:
    """Return ``(P, n, d)`` float64: per pixel a surface in [0.02, 0.4]^d seen ``n`` times.

    Noise 0.01; a share ``clouds`` of the rows bright (0.3-0.9, noise 0.02), as in the
    benchmarks' batch.
    """
    x = rng.uniform(0.02, 0.4, (P, 1, d)) + rng.normal(0.0, 0.01, (P, n, d))
    if clouds:
        cloudy = rng.random((P, n)) < clouds
        x[cloudy] = rng.uniform(0.3, 0.9, (int(cloudy.sum()), 1)) + rng.normal(0.0, 0.02, (1, d))
    return x
