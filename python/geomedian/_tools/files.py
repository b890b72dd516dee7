"""Read points (and weights) from files for ``geomedian solve``.

Formats, chosen by the file's extension:

- ``.npy``: memory-mapped (``np.load(mmap_mode="r")``), so a file larger than memory is
  read by the solver page by page instead of being loaded first;
- ``.npz``: one named array, ``FILE.npz:name`` (or ``array=``); a file holding a single
  array needs no name;
- ``.csv`` / ``.tsv``: text with an optional header line, read block by block by pyarrow
  (:mod:`.text`);
- ``.parquet``: via pyarrow, read batch by batch.

pyarrow comes with the ``cli`` extra (``pip install 'geomedian[cli]'``): the Python API
needs no file reader, and pyarrow has no wheel on every platform geomedian installs on.

Every block of rows is checked and gathered by :mod:`.rows` (missing values under
``nan_policy``, inf, weights, the float32 range, the rows kept in memory or in a temporary
file). Every problem with the user's input raises :class:`InputError`, whose message names
the file and, when known, the row (the line number of a text file, the 0-based row
otherwise) and the column.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass, field
from tokenize import TokenError
from typing import Callable

import numpy as np

from .rows import Gathered, Rows, Rules

__all__ = ["SUFFIXES", "WEIGHT_NAMES", "InputError", "Table", "read_table", "read_weights"]

SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet")
CHUNK_ROWS = 1 << 16  # rows of an array file checked at a time
WEIGHT_NAMES = ("w", "weight", "weights")  # a column so named is not silently a coordinate

Progress = Callable[[int], None]


class InputError(ValueError):
    """A file that cannot be used as input: missing, unreadable, malformed or non-numeric."""


@dataclass(frozen=True)
class Table:
    """Points read from a file.

    Attributes
    ----------
    points : ndarray, shape (n, d)
        float64 (or the ``.npy``/``.npz`` file's own real dtype, possibly memory-mapped;
        float32 when asked for), the rows kept.
    columns : list of str
        A name per coordinate: the header's, or ``"0"``, ``"1"``, ... without one.
    weights : ndarray of shape (n,) or None
    rows_read : int
        Data rows in the file.
    omitted : int
        Rows left out for a missing value (``nan_policy="omit"``).
    has_missing : bool
        NaN left in ``points`` (``nan_policy="propagate"``).
    notes : list of str
        Warnings for the user (a column named like a weight taken as a coordinate).
    """

    points: np.ndarray
    columns: list[str]
    weights: np.ndarray | None
    rows_read: int
    omitted: int = 0
    has_missing: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Weights:
    """Weights read from their own file, and how to name one of its rows."""

    values: np.ndarray
    where: Callable[[int], str]
    spec: str


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
        if w and w in names:
            picked.append(names.index(w))
        elif w.lstrip("-").isdigit() and -len(names) <= int(w) < len(names):
            picked.append(int(w) % len(names))
        else:
            shown = ", ".join(n or "(unnamed index)" for n in names)
            raise InputError(f"{path}: no column {w!r} (columns: {shown})")
    return picked


def _layout(
    names: list[str],
    default: list[int],
    columns: list[str] | None,
    weights_column: str | None,
    path: str,
) -> tuple[list[int], int | None, list[str]]:
    """Return the coordinate columns, the weights column (or None) and any warnings."""
    wcol = None if weights_column is None else _pick(names, [weights_column], path)[0]
    notes = []
    if columns is None:
        used = [j for j in default if j != wcol]
        if wcol is None:
            notes = [
                f"{path}: column {names[j]!r} is taken as a coordinate; pass --weights "
                f"{names[j]} to use it as the weights, or --columns to choose the coordinates"
                for j in used
                if names[j].lower() in WEIGHT_NAMES
            ]
    else:
        used = _pick(names, columns, path)
    if not used:
        raise InputError(f"{path}: no coordinate columns left")
    return used, wcol, notes


def _pyarrow_error(path: str, what: str) -> InputError:
    return InputError(f"{path}: reading {what} needs pyarrow: pip install 'geomedian[cli]'")


def read_table(
    spec: str,
    *,
    columns: list[str] | None = None,
    weights_column: str | None = None,
    weights: Weights | None = None,
    array: str | None = None,
    rules: Rules | None = None,
    progress: Progress | None = None,
) -> Table:
    """Read the points of ``spec`` (a path, or ``FILE.npz:name``).

    Parameters
    ----------
    spec : str
        The file; its extension picks the reader.
    columns : list of str, optional
        The coordinates to use, by header name or 0-based index. Default: every column
        except ``weights_column`` (and a text file's unnamed index column).
    weights_column : str, optional
        A column holding the weights (tabular files).
    weights : Weights, optional
        Weights read from their own file (:func:`read_weights`), one per row.
    array : str, optional
        The array of an ``.npz`` file.
    rules : Rules, optional
        Missing values, ``nodata`` and float32 (default: NaN is an error, float64).
    progress : callable, optional
        Called with the bytes (text) or rows (parquet) read since the last call.

    Returns
    -------
    Table

    Raises
    ------
    InputError
        Missing file, unknown extension, malformed or non-numeric content, no rows, a
        value the rules refuse.
    """
    from .rows import RowError

    path, array = _split_spec(spec, array)
    suffix = _suffix(path)
    if array is not None and suffix != ".npz":
        raise InputError(f"{path}: --array names an array of an .npz file, not of a {suffix} file")
    rules = rules or Rules()
    try:
        if suffix in (".npy", ".npz"):
            if weights_column is not None:
                raise InputError(
                    f"{path}: an array file has no weights column; pass --weights FILE"
                )
            table = _read_array(path, suffix, array, columns, weights, rules)
        elif suffix == ".parquet":
            table = _read_parquet(path, columns, weights_column, weights, rules, progress)
        else:
            table = _read_text(
                path,
                "\t" if suffix == ".tsv" else ",",
                columns,
                weights_column,
                weights,
                rules,
                progress,
            )
    except RowError as err:
        raise InputError(str(err)) from None
    if table.rows_read == 0:
        raise InputError(f"{path}: no data rows")
    return table


def _weights_block(weights: Weights | None, start: int, m: int) -> np.ndarray | None:
    return None if weights is None else weights.values[start : start + m]


def _gather(blocks, rows: Rows, weights: Weights | None, wcol: bool) -> None:
    """Feed ``blocks`` (the coordinates, then the weights column if ``wcol``) to ``rows``."""
    n = 0
    matched = True
    for block in blocks:
        m = block.shape[0]
        w = block[:, -1] if wcol else _weights_block(weights, n, m)
        x = block[:, :-1] if wcol else block
        n += m
        if not matched or (w is not None and w.shape[0] != m):
            matched = False  # count the remaining rows for the message, check nothing
            continue
        rows.add(x, w)
    if weights is not None and n != weights.values.shape[0]:
        matched = False
    if not matched:
        raise InputError(f"{weights.spec}: {weights.values.shape[0]} weights for {n} points")


def _table(got: Gathered, columns: list[str], notes: list[str] | None = None) -> Table:
    return Table(
        got.points, columns, got.weights, got.rows_read, got.omitted, got.has_missing, notes or []
    )


def _where(path: str) -> Callable[[int], str]:
    """Name a row by its 0-based index (files without line numbers)."""
    return lambda i: f"{path}: row {i}"


def _rows(
    rules: Rules, names: list[str], where, weights: Weights | None, wname: str | None, **kw
) -> Rows:
    """Return a :class:`Rows` naming the coordinates ``names`` and the weights column ``wname``."""
    where_w = weights.where if weights is not None else where
    if wname is not None:
        where_w = lambda i: f"{where(i)}, column {wname}"  # noqa: E731
    return Rows(rules, names, where, where_w, **kw)


def _read_text(
    path: str,
    delimiter: str,
    columns: list[str] | None,
    weights_column: str | None,
    weights: Weights | None,
    rules: Rules,
    progress: Progress | None,
) -> Table:
    from .text import TextError, TextFile

    try:
        text = TextFile(path, delimiter)
    except ImportError:
        raise _pyarrow_error(path, "a text file") from None
    except TextError as err:
        raise InputError(str(err)) from None
    names = text.names
    used, wcol, notes = _layout(names, text.default_columns(), columns, weights_column, path)
    want = used + ([wcol] if wcol is not None else [])

    def where(i: int) -> str:
        return f"{path}: row {text.line_of(i)}"

    rows = _rows(
        rules,
        [names[j] for j in used],
        where,
        weights,
        None if wcol is None else names[wcol],
        missing_word="an empty, NA or NaN cell",
    )
    try:
        _gather(text.blocks(want, progress), rows, weights, wcol is not None)
    except TextError as err:
        raise InputError(str(err)) from None
    return _table(rows.result(), [names[j] for j in used], notes)


def _read_parquet(
    path: str,
    columns: list[str] | None,
    weights_column: str | None,
    weights: Weights | None,
    rules: Rules,
    progress: Progress | None,
) -> Table:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise _pyarrow_error(path, ".parquet") from None
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"{path}: not a readable parquet file ({err})") from None
    names = list(pf.schema_arrow.names)
    used, wcol, notes = _layout(names, list(range(len(names))), columns, weights_column, path)
    want = used + ([wcol] if wcol is not None else [])
    for j in want:
        kind = pf.schema_arrow.field(names[j]).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise InputError(f"{path}: column {names[j]}: type {kind} is not numeric")

    def blocks():
        try:
            for batch in pf.iter_batches(columns=[names[j] for j in want]):
                # Nulls become NaN: missing values, as nan_policy says.
                cols = [c.to_numpy(zero_copy_only=False).astype(np.float64) for c in batch.columns]
                yield np.column_stack(cols) if cols else np.empty((batch.num_rows, 0))
                if progress is not None:
                    progress(batch.num_rows)
        except (OSError, pa.ArrowException) as err:
            raise InputError(f"{path}: not a readable parquet file ({err})") from None

    wname = None if wcol is None else names[wcol]
    rows = _rows(rules, [names[j] for j in used], _where(path), weights, wname)
    _gather(blocks(), rows, weights, wcol is not None)
    return _table(rows.result(), [names[j] for j in used], notes)


def _load_array(path: str, suffix: str, name: str | None) -> np.ndarray:
    """Return the array of an .npy (memory-mapped) or .npz file."""
    if suffix == ".npy":
        if zipfile.is_zipfile(path):
            raise InputError(f"{path}: is a zip archive (an .npz file?), not an .npy array")
        return np.load(path, mmap_mode="r", allow_pickle=False)
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
            raise InputError(f"{path}: no array {name!r} (arrays: {', '.join(names) or 'none'})")
        return npz[name]


def _read_array(
    path: str,
    suffix: str,
    name: str | None,
    columns: list[str] | None,
    weights: Weights | None,
    rules: Rules,
) -> Table:
    try:
        arr = _load_array(path, suffix, name)
    except InputError:
        raise
    except (
        OSError,
        ValueError,
        EOFError,
        SyntaxError,
        TokenError,
        zipfile.BadZipFile,
        zlib.error,
    ) as err:
        # Not an .npy/.npz, truncated, pickled, a damaged member or header (NumPy parses
        # the header as a Python literal: its damage surfaces as a syntax error).
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
    names = [names[j] for j in picked]

    def blocks():
        for start in range(0, arr.shape[0], CHUNK_ROWS):
            yield arr[start : start + CHUNK_ROWS]

    # First only check, so that an array the solver can read as it is is not copied.
    rows = _rows(rules, names, _where(path), weights, None, gather=False)
    _gather(blocks(), rows, weights, False)
    if rows.needs_copy:
        rows = _rows(rules, names, _where(path), weights, None)
        _gather(blocks(), rows, weights, False)
        got = rows.result()
    else:
        got = rows.result(arr, None if weights is None else weights.values)
    return _table(got, names)


def read_weights(spec: str, progress: Progress | None = None) -> Weights:
    """Read the weights held by a file of one column (or a 1-D array), unchecked."""
    table = read_table(spec, rules=Rules(nan_policy="propagate"), progress=progress)
    w = np.asarray(table.points, dtype=np.float64)
    if w.shape[1] != 1:
        raise InputError(f"{spec}: a weights file must hold one column, found {w.shape[1]}")
    path = _split_spec(spec, None)[0]
    if path.lower().endswith((".csv", ".tsv")):
        from .text import TextFile

        text = TextFile(path, "\t" if path.lower().endswith(".tsv") else ",")
        where = lambda i: f"{path}: row {text.line_of(i)}"  # noqa: E731
    else:
        where = _where(path)
    return Weights(w[:, 0], where, spec)
