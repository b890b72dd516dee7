"""When ``method="sgd"`` hands a problem to the exact solver instead.

SGD learns its frame and step scale from a first sample of ``SAMPLE_ROWS`` rows. Where
that sample is the whole data, the exact solver reads no more than SGD already has: its
few passes cost less than one epoch, and it reaches what SGD cannot on tiny problems (an
optimum at a data point, which averaged SGD only creeps towards). Kept apart from
``sgd.py`` so that routing a call does not import the SGD driver.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as v
from .._result import NONFINITE

__all__ = ["SAMPLE_ROWS", "exact_is_cheaper", "refuse_omit", "to_exact"]

SAMPLE_ROWS = 1024  # SGD's first sample: its frame and step scale


def exact_is_cheaper(n: int) -> bool:
    """Whether ``n`` points go to the exact solver under ``method="sgd"``."""
    return n <= SAMPLE_ROWS


def refuse_omit(options: Any) -> None:
    """Refuse ``nan_policy="omit"``, which SGD's minibatches of consecutive rows cannot honour."""
    if options.nan_policy == "omit":
        raise ValueError("method='sgd' does not support nan_policy='omit'")


def to_exact(batch: v.Batch, options: Any) -> Any:
    """Return the options of the exact solve that stands in for ``method="sgd"``.

    The data is refused as SGD would refuse it (``nan_policy="omit"``, NaN under
    ``"raise"``), so that the answer does not depend on which solver ran.
    """
    refuse_omit(options)
    if not np.isfinite(batch.x).all():
        v.report_nonfinite(batch, options.nan_policy, np.array([NONFINITE]), sgd=True)
    return options.replace(method="auto", batch_size=None, random_state=None)
