"""The rows a file reader yields, checked and gathered block by block for ``geomedian solve``.

Every reader (text, parquet, arrays) hands its rows here in blocks, with the index of each
block's first row, so that every problem is reported where it is in the file (see
``Where``) and no whole-file temporary is ever built:

- missing values (NaN, an empty or ``NA`` cell, the ``--nodata`` value) are an error under
  ``--nan-policy raise``, dropped and counted under ``omit``, kept as NaN under ``propagate``;
- inf is an error under every policy, and so is a negative, infinite or (except under
  ``omit``, which drops its row) missing weight;
- with ``--float32``, a value beyond float32's range is an error instead of an inf;
- the rows kept go to memory, or to a temporary file (in ``TMPDIR``) once they pass
  ``SPILL_BYTES``, returned as a read-only ``np.memmap`` that the solver reads chunk by
  chunk: a text file larger than memory is solved with bounded memory.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["SPILL_BYTES", "Gathered", "RowError", "Rows", "Rules"]

SPILL_BYTES = 128 << 20  # rows kept in memory at most; past this they go to a temporary file

Where = Callable[[int], str]  # 0-based row index -> "FILE: row N" as the user counts rows


class RowError(ValueError):
    """A value the solve cannot use, with the file, row and column where it is."""


@dataclass(frozen=True)
class Rules:
    """What the user asked of the values: ``--nan-policy``, ``--nodata``, ``--float32``."""

    nan_policy: str = "raise"
    nodata: float | None = None
    float32: bool = False


@dataclass(frozen=True)
class Gathered:
    """The rows kept: ``points`` (n, d), ``weights`` (n,) or None, and what was left out."""

    points: np.ndarray
    weights: np.ndarray | None
    rows_read: int
    omitted: int
    has_missing: bool  # NaN left in the points (``propagate``)


class _Sink:
    """Blocks of rows appended in order; in memory up to ``SPILL_BYTES``, then a file."""

    def __init__(self, dtype: np.dtype):
        self.dtype = np.dtype(dtype)
        self.blocks: list[np.ndarray] = []
        self.nbytes = 0
        self.rows = 0
        self.shape_tail: tuple[int, ...] = ()
        self.file = None

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        self.shape_tail = block.shape[1:]
        self.rows += block.shape[0]
        try:
            if self.file is None and self.nbytes + block.nbytes > SPILL_BYTES:
                self.file = tempfile.TemporaryFile(prefix="geomedian-")
                for kept in self.blocks:
                    self._write(kept)
                self.blocks = []
            if self.file is not None:
                self._write(block)
                return
        except OSError as err:
            raise RowError(
                f"cannot write the temporary file that holds a large input in "
                f"{tempfile.gettempdir()} ({err.strerror or err}); set TMPDIR to a "
                "directory with room"
            ) from None
        self.blocks.append(block)
        self.nbytes += block.nbytes

    def _write(self, block: np.ndarray) -> None:
        if block.size:
            self.file.write(memoryview(block).cast("B"))

    def array(self) -> np.ndarray:
        shape = (self.rows, *self.shape_tail)
        if self.file is None:
            if len(self.blocks) == 1:
                return self.blocks[0]
            return np.concatenate(self.blocks) if self.blocks else np.empty(shape, self.dtype)
        self.file.flush()
        # Read-only: the solver may drop the pages it has read. The mapping keeps the
        # (already unlinked) file alive; the file object is no longer needed.
        with self.file:
            return np.memmap(self.file, dtype=self.dtype, mode="r", shape=shape)


def _nodata_hits(x: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """Where ``x`` holds ``nodata``, compared in ``x``'s own dtype (None: nowhere possible)."""
    if nodata is None:
        return None
    if x.dtype.kind == "f":
        return x == x.dtype.type(nodata)
    info = np.iinfo(x.dtype)
    if float(nodata).is_integer() and info.min <= nodata <= info.max:
        return x == int(nodata)
    return None


class Rows:
    """Check blocks of rows against :class:`Rules` and gather the rows kept.

    Parameters
    ----------
    rules : Rules
    names : list of str
        The name of each coordinate column, for messages.
    where, where_weights : callable
        Turn a 0-based row index into ``"FILE: row N"`` for the points and the weights.
    gather : bool
        False: only check (an array file the solver can read as it is); ``needs_copy``
        then says whether the rows must be gathered after all (a row dropped, a value
        replaced or converted).
    missing_word : str
        How a missing value is described ("NaN", or the cells of a text file).
    """

    def __init__(
        self,
        rules: Rules,
        names: list[str],
        where: Where,
        where_weights: Where,
        *,
        gather: bool = True,
        missing_word: str = "NaN",
    ):
        self.rules = rules
        self.names = names
        self.where = where
        self.where_weights = where_weights
        self.gather = gather
        self.missing_word = missing_word
        self.points: _Sink | None = None
        self.weights = _Sink(np.float64)
        self.rows_read = 0
        self.omitted = 0
        self.has_missing = False
        self.needs_copy = False

    def add(self, x: np.ndarray, w: np.ndarray | None) -> None:
        """Check and keep the block ``x`` (m, d) with its weights ``w`` (m,) or None."""
        start = self.rows_read
        self.rows_read += x.shape[0]
        missing = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
        hits = _nodata_hits(x, self.rules.nodata)
        if hits is not None and hits.any():
            missing = missing | hits
        else:
            hits = None
        w_missing = None if w is None else np.isnan(w)
        errors = self._errors(start, x, missing, hits, w, w_missing)
        if errors:
            raise RowError(min(errors)[1])  # the first row's
        drop = None
        if self.rules.nan_policy == "omit":
            drop = missing.any(axis=1) if w_missing is None else missing.any(axis=1) | w_missing
            self.omitted += int(drop.sum())
            if not drop.any():
                drop = None
        elif hits is not None or missing.any():
            self.has_missing = True
            if hits is not None:
                # A copy (the caller's block is never changed), in the dtype kept.
                x = np.where(hits, np.nan, x).astype(self._dtype(x), copy=False)
        if drop is not None or hits is not None or self._converts(x):
            self.needs_copy = True
        if not self.gather:
            return
        if drop is not None:
            x = x[~drop]
            w = None if w is None else w[~drop]
        if self.points is None:
            self.points = _Sink(self._dtype(x))
        self.points.append(x)
        if w is not None:
            self.weights.append(w)

    def _dtype(self, x: np.ndarray) -> np.dtype:
        """Return the dtype to keep the points in: float32 if asked, else the solver's own."""
        from .._validate import compute_dtype

        return np.dtype(np.float32 if self.rules.float32 else compute_dtype(x.dtype))

    def _converts(self, x: np.ndarray) -> bool:
        return self._dtype(x) != x.dtype

    def _errors(self, start, x, missing, hits, w, w_missing) -> list[tuple[int, str]]:
        """Return (row in the block, message) of the first problem of each kind."""
        errors = []
        if x.dtype.kind == "f":
            inf = np.isinf(x)
            if inf.any():
                i, j = _first(inf)
                what = f"{x[i, j]} (inf is an error under every --nan-policy)"
                errors.append((i, self._at(start + i, j, what)))
        if self.rules.nan_policy == "raise" and missing.any():
            i, j = _first(missing)
            if hits is not None and hits[i, j]:
                what = f"the --nodata value {x[i, j]}"
            else:
                what = f"a missing value ({self.missing_word})"
            what += "; --nan-policy omit leaves such rows out"
            errors.append((i, self._at(start + i, j, what)))
        if self.rules.float32 and x.dtype.kind == "f" and x.dtype != np.float32:
            with np.errstate(over="ignore"):
                big = np.isinf(x.astype(np.float32)) & np.isfinite(x)
            if big.any():
                i, j = _first(big)
                largest = float(np.finfo(np.float32).max)
                what = f"{x[i, j]} is beyond float32's range (largest {largest:.4g})"
                errors.append((i, self._at(start + i, j, what + "; leave out --float32")))
        if w is not None:
            bad = np.isinf(w) | (w < 0)
            if self.rules.nan_policy != "omit":
                bad |= w_missing
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                if w_missing[i]:
                    what = "a missing weight (NaN); --nan-policy omit leaves such rows out"
                else:
                    what = f"weight {w[i]}: weights must be finite and non-negative"
                errors.append((i, f"{self.where_weights(start + i)}: {what}"))
        return errors

    def _at(self, row: int, j: int, what: str) -> str:
        return f"{self.where(row)}, column {self.names[j]}: {what}"

    def result(
        self, points: np.ndarray | None = None, weights: np.ndarray | None = None
    ) -> Gathered:
        """Return the rows kept (when only checking: ``points`` and ``weights`` as given)."""
        if self.gather:
            points = (
                self.points.array() if self.points is not None else np.empty((0, len(self.names)))
            )
            weights = self.weights.array() if self.weights.rows else None
        return Gathered(points, weights, self.rows_read, self.omitted, self.has_missing)


def _first(mask: np.ndarray) -> tuple[int, int]:
    """Return the first (row, column) of a 2-D mask, in row-major order."""
    k = int(np.flatnonzero(mask)[0])
    return divmod(k, mask.shape[1])
