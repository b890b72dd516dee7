"""A cloud-free composite and its EMAD map from a synthetic scene with moving clouds.

Builds a uint16 reflectance stack (dates, y, x, bands), scale 1e-4, over 30 dates: fields
with their own spectra, a river, seasonal green-up, sensor noise, and clouds that drift
across the scene from date to date. Most clouds are masked (nodata 0, as a cloud mask
would), some thin edges are not. One :func:`geomedian.geomad` call gives the per-pixel
geometric median of the valid dates and the three MADs; the figure shows the RGB of one
cloudy date, the composite's RGB and the EMAD (where the surface changed or clouds slipped
through the mask, the dates disagree most).

Needs matplotlib (``pip install "geomedian[examples]"``)::

    python examples/cloud_free.py                       # 300 x 300 pixels, cloud_free.png
    python examples/cloud_free.py --size 200 --out /tmp/cloud_free.png
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import geomedian

BANDS = ("blue", "green", "red", "nir")
SPECTRA = np.array(  # surface reflectance of a few land covers
    [
        [0.03, 0.06, 0.04, 0.40],  # crop
        [0.05, 0.08, 0.11, 0.25],  # bare soil
        [0.02, 0.04, 0.03, 0.30],  # forest
        [0.10, 0.12, 0.14, 0.22],  # built-up
    ]
)
WATER = np.array([0.06, 0.05, 0.03, 0.02])
NODATA = 0
SCALE = 1e-4


def scene(size: int, dates: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return the uint16 stack (dates, size, size, 4) and the cloud cover (dates, size, size)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    # Fields: each pixel takes the land cover of its nearest field centre.
    centres = rng.uniform(0, 1, (40, 2))
    nearest = np.argmin(
        (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2, -1
    )
    surface = SPECTRA[rng.integers(0, len(SPECTRA), 40)[nearest]]
    river = np.abs(yy - 0.5 - 0.15 * np.sin(6 * xx)) < 0.025
    surface[river] = WATER
    season = 1.0 + 0.3 * np.sin(np.linspace(0, np.pi, dates))
    stack = np.repeat(surface[None], dates, axis=0)
    stack[..., 3] *= season[:, None, None]
    stack += rng.normal(0, 0.004, stack.shape)
    # Clouds: a few soft blobs per date that drift east with the wind.
    cover = np.zeros((dates, size, size))
    blobs = rng.uniform(0, 1, (6, 2))
    for t in range(dates):
        for k, (cy, cx) in enumerate(blobs):
            x0 = (cx + 0.07 * t * (1 + k % 3)) % 1.3 - 0.15
            cover[t] += np.exp(-((yy - cy) ** 2 + (xx - x0) ** 2) / 0.012)
    cover = np.clip(cover, 0, 1)
    bright = rng.uniform(0.5, 0.8, (dates, 1, 1, 1))
    stack = stack * (1 - cover[..., None]) + bright * cover[..., None]
    raw = np.clip(np.rint(stack / SCALE), 1, 65535).astype(np.uint16)
    raw[cover > 0.3] = NODATA  # the cloud mask; thinner edges slip through
    return raw, cover


def rgb(bands: np.ndarray) -> np.ndarray:
    """Return red, green and blue of (..., 4) reflectance, stretched for display."""
    return np.clip(bands[..., [2, 1, 0]] / 0.15, 0, 1)


def main() -> None:
    """Build the scene, compute its GeoMAD and save the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--out", default="cloud_free.png")
    args = parser.parse_args()

    raw, cover = scene(args.size)
    start = time.perf_counter()
    res = geomedian.geomad(raw, axis=0, coord_axis=-1, nodata=NODATA, scale=SCALE)
    elapsed = time.perf_counter() - start
    print(f"{raw.shape[1] * raw.shape[2]} pixels x {raw.shape[0]} dates: {elapsed:.2f} s")
    print(res)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    date = int(np.argmax(cover.mean(axis=(1, 2))))  # the cloudiest date
    shown = np.where(raw[date] == NODATA, 1.0, raw[date] * SCALE)  # masked: white
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.3), constrained_layout=True)
    axes[0].imshow(rgb(shown))
    axes[0].set_title(f"date {date}: clouds (masked: white)")
    axes[1].imshow(rgb(np.nan_to_num(res.median)))
    axes[1].set_title("geometric median composite")
    image = axes[2].imshow(res.emad, cmap="magma")
    axes[2].set_title("EMAD (Euclidean MAD)")
    fig.colorbar(image, ax=axes[2], shrink=0.8)
    for ax in axes:
        ax.set_axis_off()
    fig.savefig(args.out, dpi=64)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
