"""``show_config()``: what this installation was built with and what a call would use."""

from __future__ import annotations

import os
import platform
import sys
import warnings

import numpy as np

from ._backends import BACKENDS, load_backend
from ._threads import default_threads

__all__ = ["config", "show_config"]


def config() -> dict:
    """Return the facts :func:`show_config` prints, as a dictionary."""
    facts: dict = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "default_threads": default_threads(),
        "GEOMEDIAN_BACKEND": os.environ.get("GEOMEDIAN_BACKEND"),
        "backends": {},
    }
    for name in BACKENDS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                facts["backends"][name] = load_backend(name).build_info()
        except ImportError as err:
            facts["backends"][name] = {"available": False, "reason": str(err)}
    return facts


def show_config() -> None:
    """Print how geomedian was built and what it will run on.

    Lists each backend with its build facts: for the compiled core the compiler, OpenMP
    (and its version), the instruction-set clones compiled and the one this CPU runs; for
    Numba its version, threading layer and cache directory.

    Examples
    --------
    >>> import geomedian
    >>> geomedian.show_config()  # doctest: +ELLIPSIS
    geomedian ...
    """
    from ._version import __version__

    facts = config()
    print(f"geomedian {__version__}")
    for key in ("python", "numpy", "platform", "default_threads", "GEOMEDIAN_BACKEND"):
        print(f"  {key}: {facts[key]}")
    for name, info in facts["backends"].items():
        print(f"  backend {name}:")
        for key, value in info.items():
            print(f"    {key}: {value}")
