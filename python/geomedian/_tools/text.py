"""CSV and TSV files for ``geomedian solve``, read by pyarrow's streaming CSV reader.

pyarrow parses in parallel, block by block (``pyarrow.csv.open_csv``), so a file is never
held whole: each block's numbers go to :mod:`.rows`, which checks them and keeps them in
memory or in a temporary file. pyarrow handles a UTF-8 byte-order mark, quoted cells and
the null markers pandas writes (an empty cell, ``NA``, ``NaN``, ``null``, ...: missing
values). This module decides what pyarrow cannot know:

- whether the first line is a header (it is unless every cell is a number or a null marker);
- a first column with an empty header name is the index pandas' ``to_csv()`` writes: it is
  not a coordinate unless asked for by its index (``--columns 0``);
- where a problem is, as a line number: pyarrow's errors name no row, so on an error the
  file is read again with the :mod:`csv` module up to the first bad line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

__all__ = ["TextFile"]

BLOCK_BYTES = 1 << 20  # bytes pyarrow parses per block (its resident memory grows with it)
# The numbers pyarrow's float64 conversion accepts (after trimming blanks and quotes).
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.I)


class TextError(ValueError):
    """A text file that cannot be read as numbers; the message names file, line and column."""


def _pyarrow_csv() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.csv as pc
    except ImportError:
        raise ImportError("pip install 'geomedian[cli]' (pyarrow)") from None
    return pa, pc


class TextFile:
    r"""A ``.csv`` (``delimiter=","``) or ``.tsv`` (``"\t"``) file of numbers.

    Attributes
    ----------
    names : list of str
        A name per column: the header's, or ``"0"``, ``"1"``, ... without one.
    header : bool
    index_column : bool
        The first column is an unnamed index (pandas' ``to_csv()``).
    """

    def __init__(self, path: str, delimiter: str):
        self.path = path
        self.delimiter = delimiter
        self.pa, self.pc = _pyarrow_csv()
        self.nulls = frozenset(self.pc.ConvertOptions().null_values)
        skipped, first = self._first_line()
        cells = self._cells(first)
        self.header = not all(self._is_value(c) for c in cells)
        if self.header:
            self.names = [c.strip() for c in cells]
            self.index_column = self.names[0] == "" and len(self.names) > 1
            named = self.names[1:] if self.index_column else self.names
            if len(set(self.names)) != len(self.names) or "" in named:
                raise TextError(
                    f"{path}: row {skipped + 1}: header names must be distinct and "
                    "non-empty (an empty first name marks an index column)"
                )
        else:
            self.names = [str(j) for j in range(len(cells))]
            self.index_column = False
        self.skip = skipped + self.header  # lines before the first data row
        self.first_line = self.skip + 1

    def _first_line(self) -> tuple[int, str]:
        """Return (blank lines before it, the first non-blank line without its BOM)."""
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as f:
                for skipped, line in enumerate(f):
                    if line.strip():
                        return skipped, line
        except UnicodeDecodeError:
            raise TextError(f"{self.path}: not a UTF-8 text file") from None
        except OSError as err:
            raise TextError(f"{self.path}: cannot open ({err.strerror})") from None
        raise TextError(f"{self.path}: empty file")

    def _cells(self, line: str) -> list[str]:
        return next(csv.reader([line], delimiter=self.delimiter))

    def _is_value(self, cell: str) -> bool:
        cell = cell.strip()
        return cell in self.nulls or _NUMBER.fullmatch(cell) is not None

    def default_columns(self) -> list[int]:
        """Return the columns that are coordinates when none are named (not the index column)."""
        return list(range(1 if self.index_column else 0, len(self.names)))

    def blocks(
        self, want: list[int], progress: Callable[[int], None] | None = None
    ) -> Iterator[np.ndarray]:
        """Yield the ``want`` columns (0-based indices) as float64 blocks of shape (m, k)."""
        pa, pc = self.pa, self.pc
        # Columns named by position: header names may repeat nothing but may be empty.
        keys = [f"c{j}" for j in range(len(self.names))]
        unique = list(dict.fromkeys(want))
        read = pc.ReadOptions(column_names=keys, skip_rows=self.skip, block_size=BLOCK_BYTES)
        parse = pc.ParseOptions(delimiter=self.delimiter)
        convert = pc.ConvertOptions(
            include_columns=[keys[j] for j in unique],
            column_types={keys[j]: pa.float64() for j in unique},
        )
        order = [unique.index(j) for j in want]
        with open(self.path, "rb") as f:
            done = 0
            try:
                reader = pc.open_csv(
                    f, read_options=read, parse_options=parse, convert_options=convert
                )
                for batch in reader:
                    # Nulls (empty cells, NA, ...) become NaN: missing values.
                    cols = [c.to_numpy(zero_copy_only=False) for c in batch.columns]
                    block = np.empty((batch.num_rows, len(want)))
                    for k, u in enumerate(order):
                        block[:, k] = cols[u]
                    yield block
                    if progress is not None:
                        here = f.tell()
                        progress(here - done)
                        done = here
            except pa.ArrowInvalid as err:
                raise self._locate(want, err) from None

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """Yield (line number, cells) of each non-blank data row, as the csv module reads."""
        with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=self.delimiter)
            for cells in reader:
                line = reader.line_num
                if line > self.skip and any(c.strip() for c in cells):
                    yield line, cells

    def line_of(self, row: int) -> int:
        """Return the line number of data row ``row`` (0-based, blank lines not counted)."""
        for k, (line, _) in enumerate(self._records()):
            if k == row:
                return line
        return self.first_line + row

    def _locate(self, want: list[int], err: Exception) -> TextError:
        """Return the error for the first line pyarrow refused (its own errors name no line)."""
        n = len(self.names)
        for line, cells in self._records():
            if len(cells) != n:
                return TextError(
                    f"{self.path}: row {line}: {len(cells)} fields, expected {n} "
                    f"(as in the {'header' if self.header else 'first row'})"
                )
            for j in want:
                if not self._is_value(cells[j]):
                    return TextError(
                        f"{self.path}: row {line}, column {self.names[j]}: "
                        f"{cells[j].strip()!r} is not a number"
                    )
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return TextError(f"{self.path}: could not be read as numbers ({reason})")
