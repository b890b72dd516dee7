"""Read points (and weights) from files for ``geomedian solve``.

Formats, chosen by the file's extension:

- ``.npy``: memory-mapped (``np.load(mmap_mode="r")``), so a file larger than memory is
  read by the solver page by page instead of being loaded first;
- ``.npz``: one named array, ``FILE.npz:name`` (or ``array=``); a file holding a single
  array needs no name;
- ``.csv`` / ``.tsv``: text with an optional header line (detected: a first line that is
  not all numbers names the columns), read in chunks of lines;
- ``.parquet``: via pyarrow (the ``parquet`` extra), read batch by batch.

Every problem with the user's input raises :class:`InputError`, whose message names the
file and, when known, the row (1-based line of a text file, 0-based row otherwise) and the
column.
"""

from __future__ import annotations

import csv
import itertools
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["SUFFIXES", "InputError", "Table", "read_table", "read_weights"]

SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet")
CHUNK_LINES = 1 << 16  # text rows parsed per np.loadtxt call

Progress = Callable[[int], None]


class InputError(ValueError):
    """A file that cannot be used as input: missing, unreadable, malformed or non-numeric."""


@dataclass(frozen=True)
class Table:
    """Points read from a file.

    Attributes
    ----------
    points : ndarray, shape (n, d)
        float64 (or the ``.npy``/``.npz`` file's own real dtype, possibly memory-mapped).
    columns : list of str
        A name per coordinate: the header's, or ``"0"``, ``"1"``, ... without one.
    weights : ndarray of shape (n,) or None
        The ``weights`` column when one was named.
    first_row : int
        What the first point's row is called in messages (2 for a text file with a
        header: its line number; otherwise 1 for text, 0 for arrays).
    """

    points: np.ndarray
    columns: list[str]
    weights: np.ndarray | None
    first_row: int


def _split_spec(spec: str, array: str | None) -> tuple[str, str | None]:
    """``FILE.npz:name`` -> ``(FILE.npz, name)``; any other path is left alone."""
    if array is None and ".npz:" in spec and not os.path.exists(spec):
        path, _, name = spec.rpartition(":")
        return path, name
    return spec, array


def _suffix(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type {suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(SUFFIXES)}"
        )
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
    return suffix


def _pick(names: list[str], wanted: list[str] | None, path: str) -> list[int]:
    """Return the indices of the ``wanted`` columns, given by name or by 0-based index."""
    if wanted is None:
        return list(range(len(names)))
    picked = []
    for w in wanted:
        if w in names:
            picked.append(names.index(w))
        elif w.lstrip("-").isdigit() and -len(names) <= int(w) < len(names):
            picked.append(int(w) % len(names))
        else:
            raise InputError(f"{path}: no column {w!r} (columns: {', '.join(names)})")
    return picked


def _layout(
    names: list[str], columns: list[str] | None, weights_column: str | None, path: str
) -> tuple[list[int], int | None]:
    """Return the coordinate columns and the weights column (or None) to read."""
    wcol = None if weights_column is None else _pick(names, [weights_column], path)[0]
    if columns is None:
        used = [j for j in range(len(names)) if j != wcol]
    else:
        used = _pick(names, columns, path)
    if not used:
        raise InputError(f"{path}: no coordinate columns left")
    return used, wcol


def _split(data: np.ndarray, used: list[int], wcol: int | None) -> tuple[np.ndarray, Any]:
    """Split the columns read (coordinates, then the weights if any)."""
    points = np.ascontiguousarray(data[:, : len(used)])
    return points, (data[:, -1].copy() if wcol is not None else None)


def read_table(
    spec: str,
    *,
    columns: list[str] | None = None,
    weights_column: str | None = None,
    array: str | None = None,
    progress: Progress | None = None,
) -> Table:
    """Read the points of ``spec`` (a path, or ``FILE.npz:name``).

    Parameters
    ----------
    spec : str
        The file; its extension picks the reader.
    columns : list of str, optional
        The coordinates to use, by header name or 0-based index. Default: every column
        except ``weights_column``.
    weights_column : str, optional
        A column holding the weights (tabular files).
    array : str, optional
        The array of an ``.npz`` file.
    progress : callable, optional
        Called with the bytes (text) or rows (parquet) read since the last call.

    Returns
    -------
    Table

    Raises
    ------
    InputError
        Missing file, unknown extension, malformed or non-numeric content, no rows.
    """
    path, array = _split_spec(spec, array)
    suffix = _suffix(path)
    if suffix in (".npy", ".npz"):
        if weights_column is not None:
            raise InputError(f"{path}: an array file has no weights column; pass --weights FILE")
        table = _read_array(path, suffix, array, columns)
    elif suffix == ".parquet":
        table = _read_parquet(path, columns, weights_column, progress)
    else:
        table = _read_text(
            path, "\t" if suffix == ".tsv" else ",", columns, weights_column, progress
        )
    if table.points.shape[0] == 0:
        raise InputError(f"{path}: no data rows")
    return table


def _read_array(path: str, suffix: str, name: str | None, columns: list[str] | None) -> Table:
    try:
        if suffix == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as npz:
                names = list(npz.files)
                if name is None:
                    if len(names) != 1:
                        raise InputError(
                            f"{path}: holds arrays {', '.join(names) or '(none)'}; name one as "
                            f"{path}:NAME or with --array NAME"
                        )
                    name = names[0]
                if name not in names:
                    raise InputError(
                        f"{path}: no array {name!r} (arrays: {', '.join(names) or 'none'})"
                    )
                arr = npz[name]
    except InputError:
        raise
    except (OSError, ValueError, EOFError) as err:  # not an .npy/.npz, truncated, pickled
        raise InputError(f"{path}: not a readable {suffix} file ({err})") from None
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{path}: array has non-numeric dtype {arr.dtype}; expected real numbers")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise InputError(
            f"{path}: array has shape {arr.shape}; the command line solves one problem of "
            "shape (n, d) (use geomedian.solve in Python for a batch)"
        )
    names = [str(j) for j in range(arr.shape[1])]
    picked = _pick(names, columns, path)
    if picked != list(range(arr.shape[1])):
        arr = np.ascontiguousarray(arr[:, picked])
    return Table(arr, [names[j] for j in picked], None, 0)


def _cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _locate_bad_cell(
    path: str, lines: list[str], first: int, delimiter: str, used: list[int], names: list[str]
) -> InputError:
    """Return the error for the first row of ``lines`` that np.loadtxt refused."""
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        cells = _cells(line, delimiter)
        row = first + k
        if len(cells) != len(names):
            return InputError(
                f"{path}: row {row}: {len(cells)} fields, expected {len(names)} "
                f"(as in the {'header' if first > 1 else 'first row'})"
            )
        for j in used:
            if not _is_number(cells[j]):
                return InputError(
                    f"{path}: row {row}, column {names[j]}: {cells[j].strip()!r} is not a number"
                )
    return InputError(f"{path}: rows {first}-{first + len(lines) - 1}: could not be parsed")


def _read_text(
    path: str,
    delimiter: str,
    columns: list[str] | None,
    weights_column: str | None,
    progress: Progress | None,
) -> Table:
    try:
        f = open(path, encoding="utf-8", newline="")
    except OSError as err:
        raise InputError(f"{path}: cannot open ({err.strerror})") from None
    with f:
        try:
            head = f.readline()
            while head and not head.strip():
                head = f.readline()
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a UTF-8 text file") from None
        if not head:
            raise InputError(f"{path}: empty file")
        cells = _cells(head, delimiter)
        header = not all(_is_number(c) for c in cells)
        names = [c.strip() for c in cells] if header else [str(j) for j in range(len(cells))]
        if header and (len(set(names)) != len(names) or "" in names):
            raise InputError(f"{path}: row 1: header names must be distinct and non-empty")
        used, wcol = _layout(names, columns, weights_column, path)
        want = used + ([wcol] if wcol is not None else [])
        first = 2 if header else 1
        pending = [] if header else [head]
        if progress is not None:
            progress(len(head.encode()))
        parts = []
        row = first
        while True:
            try:
                lines = pending + list(itertools.islice(f, CHUNK_LINES))
            except UnicodeDecodeError:
                raise InputError(f"{path}: not a UTF-8 text file") from None
            pending = []
            if not lines:
                break
            try:
                block = np.loadtxt(
                    lines, delimiter=delimiter, usecols=want, ndmin=2, dtype=np.float64
                )
            except ValueError:
                raise _locate_bad_cell(path, lines, row, delimiter, want, names) from None
            # loadtxt only checks the columns it uses: a row with missing or extra fields
            # is still malformed (counted cheaply; the csv module re-reads a bad chunk).
            if any(ln.count(delimiter) + 1 != len(names) for ln in lines if ln.strip()):
                raise _locate_bad_cell(path, lines, row, delimiter, want, names)
            parts.append(block)
            row += len(lines)
            if progress is not None:
                progress(sum(len(ln.encode()) for ln in lines))
    if not parts:
        raise InputError(f"{path}: no data rows")
    data = np.concatenate(parts) if len(parts) > 1 else parts[0]
    points, weights = _split(data, used, wcol)
    return Table(points, [names[j] for j in used], weights, first)


def _read_parquet(
    path: str, columns: list[str] | None, weights_column: str | None, progress: Progress | None
) -> Table:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f"{path}: reading .parquet needs pyarrow: pip install 'geomedian[parquet]'"
        ) from None
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"{path}: not a readable parquet file ({err})") from None
    names = list(pf.schema_arrow.names)
    wcol = None if weights_column is None else _pick(names, [weights_column], path)[0]
    used = (
        [j for j in range(len(names)) if j != wcol]
        if columns is None
        else _pick(names, columns, path)
    )
    want = used + ([wcol] if wcol is not None else [])
    for j in want:
        kind = pf.schema_arrow.field(names[j]).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise InputError(f"{path}: column {names[j]}: type {kind} is not numeric")
    parts = []
    try:
        for batch in pf.iter_batches(columns=[names[j] for j in want]):
            # Nulls become NaN, which nan_policy then handles like any missing value.
            cols = [c.to_numpy(zero_copy_only=False).astype(np.float64) for c in batch.columns]
            parts.append(np.column_stack(cols) if cols else np.empty((batch.num_rows, 0)))
            if progress is not None:
                progress(batch.num_rows)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"{path}: not a readable parquet file ({err})") from None
    data = np.concatenate(parts) if parts else np.empty((0, len(want)))
    points, weights = _split(data, used, wcol)
    return Table(points, [names[j] for j in used], weights, 0)


def read_weights(spec: str, n: int, progress: Progress | None = None) -> np.ndarray:
    """Read ``n`` weights from a file holding one column (or a 1-D array)."""
    table = read_table(spec, progress=progress)
    w = np.asarray(table.points, dtype=np.float64)
    if w.shape[1] != 1:
        raise InputError(f"{spec}: a weights file must hold one column, found {w.shape[1]}")
    if w.shape[0] != n:
        raise InputError(f"{spec}: {w.shape[0]} weights for {n} points")
    return w[:, 0]
