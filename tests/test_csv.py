"""The CSV and TSV files people have, through ``geomedian solve`` (pyarrow's reader).

Every file is written here, byte for byte as its producer writes it (pandas' ``to_csv``,
Excel's byte-order mark, quoted cells), and solved as a user would.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli import assert_user_error, expected, run, solve_json

pytest.importorskip("pyarrow")

from geomedian._tools import rows as rows_module
from geomedian._tools.files import read_table
from geomedian._tools.rows import Rules

# Four points whose median differs from the median of any three of them.
FOUR = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0], [5.0, 5.0]])


def strict_json(text: str) -> dict:
    """``json.loads`` that refuses NaN and Infinity, which are not JSON."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def test_empty_and_na_cells_are_missing_values(tmp_path, backend):
    path = tmp_path / "gaps.csv"
    path.write_text(lines("x,y", "0,0", "4,", "NA,3", "4,0", "0,3", "5,5"))
    proc = run("solve", path)
    assert_user_error(proc, "gaps.csv", "row 3", "column y", "missing value", "--nan-policy omit")
    out = solve_json(path, "--nan-policy", "omit", "--backend", backend)
    assert out["omitted"] == 2 and out["n"] == 4
    np.testing.assert_allclose(out["median"], expected(FOUR), rtol=1e-8, atol=1e-9)
    text = run("solve", path, "--nan-policy", "omit", "--backend", backend)
    assert text.returncode == 0, text.stderr
    assert "omitted          2 rows with a missing value" in text.stdout
    # propagate: a NaN median, written as null (valid JSON), and exit status 1.
    proc = run("solve", path, "--nan-policy", "propagate", "--json", "--backend", backend)
    assert proc.returncode == 1, proc.stderr
    out = strict_json(proc.stdout)
    assert out["median"] == [None, None] and out["objective"] is None


def test_pandas_index_column_is_not_a_coordinate(tmp_path, backend):
    # What pd.DataFrame({"x": ..., "y": ...}).to_csv(path) writes: an unnamed index first.
    body = [f"{i},{x!r},{y!r}" for i, (x, y) in enumerate(FOUR.tolist())]
    path = tmp_path / "pandas.csv"
    path.write_text(lines(",x,y", *body))
    out = solve_json(path, "--backend", backend)
    assert out["columns"] == ["x", "y"]
    np.testing.assert_allclose(out["median"], expected(FOUR), rtol=1e-8, atol=1e-9)
    # Asked for by its index, it is a coordinate like any other.
    asked = solve_json(path, "--columns", "0,x", "--backend", backend)
    assert asked["columns"] == ["", "x"]
    np.testing.assert_allclose(
        asked["median"], expected(np.column_stack([np.arange(4.0), FOUR[:, 0]])), rtol=1e-8
    )


@pytest.mark.parametrize("header", [True, False])
def test_utf8_byte_order_mark(tmp_path, backend, header):
    rows = [f"{x!r},{y!r}" for x, y in FOUR.tolist()]
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + lines(*(["x,y"] if header else []), *rows).encode())
    out = solve_json(path, "--backend", backend)
    assert out["columns"] == (["x", "y"] if header else ["0", "1"])
    assert out["n"] == 4  # the first point is kept, BOM or not
    np.testing.assert_allclose(out["median"], expected(FOUR), rtol=1e-8, atol=1e-9)


def test_quoted_numbers_and_blanks(tmp_path, backend):
    path = tmp_path / "quoted.csv"
    body = [f'"{x!r}",  {y!r} ' for x, y in FOUR.tolist()]
    path.write_text(lines('"x","y"', *body))
    out = solve_json(path, "--backend", backend)
    assert out["columns"] == ["x", "y"]
    np.testing.assert_allclose(out["median"], expected(FOUR), rtol=1e-8, atol=1e-9)


def test_array_option_is_refused_for_text(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(lines("x,y", "1,2"))
    assert_user_error(run("solve", path, "--array", "pts"), "x.csv", "--array", ".npz")


@pytest.mark.parametrize("name", ["weight", "weights", "w", "Weight"])
def test_weight_named_column_warns_or_is_used(tmp_path, backend, name):
    w = np.array([1.0, 1.0, 1.0, 10.0])
    path = tmp_path / "weighted.csv"
    path.write_text(
        lines(
            f"x,y,{name}", *(f"{x!r},{y!r},{v!r}" for (x, y), v in zip(FOUR.tolist(), w.tolist()))
        )
    )
    proc = run("solve", path, "--backend", backend)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {path}: column '{name}' is taken as a coordinate" in proc.stderr
    assert f"--weights {name}" in proc.stderr
    used = run("solve", path, "--weights", name, "--json", "--backend", backend)
    assert used.returncode == 0 and used.stderr == ""
    out = json.loads(used.stdout)
    assert out["columns"] == ["x", "y"]
    np.testing.assert_allclose(out["median"], expected(FOUR, w), rtol=1e-8, atol=1e-9)
    # Chosen coordinates are the user's decision: no warning.
    chosen = run("solve", path, "--columns", f"x,{name}", "--backend", backend)
    assert chosen.returncode == 0 and chosen.stderr == ""


def test_missing_weight_is_omitted_with_its_row(tmp_path, backend):
    path = tmp_path / "w.csv"
    path.write_text(lines("x,y,w", "0,0,1", "4,0,1", "9,9,", "0,3,1", "5,5,1"))
    assert_user_error(run("solve", path, "--weights", "w"), "row 4", "column w", "missing weight")
    out = solve_json(path, "--weights", "w", "--nan-policy", "omit", "--backend", backend)
    assert out["omitted"] == 1
    np.testing.assert_allclose(out["median"], expected(FOUR), rtol=1e-8, atol=1e-9)


def test_errors_name_the_line(tmp_path):
    # Blank lines and a quoted cell: pyarrow's own errors name no line; ours do.
    path = tmp_path / "bad.tsv"
    path.write_text(lines("x\ty", "1\t2", "", '"3"\t4', "5\toops"))
    assert_user_error(run("solve", path), "bad.tsv", "row 5", "column y", "'oops'")
    path.write_text(lines("x\ty", "1\t2", "", "3\t4", "-inf\t6"))
    assert_user_error(run("solve", path, "--nan-policy", "omit"), "row 5", "column x", "inf")


def test_nodata_value(tmp_path, backend):
    path = tmp_path / "fill.csv"
    path.write_text(lines("x,y", "0,0", "4,0", "-9999,7", "0,3", "5,5"))
    assert_user_error(run("solve", path, "--nodata", "-9999"), "row 4", "--nodata value")
    out = solve_json(path, "--nodata", "-9999", "--nan-policy", "omit", "--backend", backend)
    assert out["omitted"] == 1
    np.testing.assert_allclose(out["median"], expected(FOUR), rtol=1e-8, atol=1e-9)
    # In an array file too, compared in the array's own dtype (float32 here).
    x = np.vstack([FOUR, [[-9999.9, 1.0]]]).astype(np.float32)
    np.save(tmp_path / "fill.npy", x)
    out = solve_json(
        tmp_path / "fill.npy", "--nodata", "-9999.9", "--nan-policy", "omit", "--backend", backend
    )
    assert out["omitted"] == 1 and out["dtype"] == "float32"
    np.testing.assert_allclose(out["median"], expected(x[:4]), rtol=1e-5, atol=1e-5)


def test_sgd_method(tmp_path, backend):
    x = np.random.default_rng(3).standard_normal((4000, 2)) + np.array([2.0, -1.0])
    np.save(tmp_path / "x.npy", x)
    out = solve_json(tmp_path / "x.npy", "--method", "sgd", "--backend", backend)
    assert out["method"] == "sgd"
    np.testing.assert_allclose(out["median"], expected(x), atol=0.05)


def test_large_text_goes_to_a_temporary_file(tmp_path, monkeypatch, backend):
    """Past SPILL_BYTES the rows read go to a file the solver maps: memory stays bounded."""
    x = np.random.default_rng(5).standard_normal((5000, 3))
    x[17, 1] = np.nan
    path = tmp_path / "big.csv"
    path.write_text(lines("a,b,c", *(",".join(repr(float(v)) for v in row) for row in x)))
    monkeypatch.setattr(rows_module, "SPILL_BYTES", 4096)
    table = read_table(str(path), rules=Rules(nan_policy="omit"))
    assert isinstance(table.points, np.memmap) and table.points.mode == "r"
    assert table.points.shape == (4999, 3) and table.omitted == 1
    np.testing.assert_array_equal(table.points, np.delete(x, 17, axis=0))
    out = solve_json(path, "--nan-policy", "omit", "--backend", backend)
    np.testing.assert_allclose(
        out["median"], expected(np.delete(x, 17, axis=0)), rtol=1e-8, atol=1e-9
    )


def test_without_pyarrow_text_files_say_what_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    path = tmp_path / "x.csv"
    path.write_text(lines("x,y", "1,2"))
    assert_user_error(run("solve", path), "x.csv", "pip install 'geomedian[cli]'")


def test_no_room_for_the_temporary_file_is_one_line(tmp_path, monkeypatch):
    import tempfile

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    path = tmp_path / "big.csv"
    path.write_text(lines("a,b", *(f"{k},{-k}" for k in range(2000))))
    monkeypatch.setattr(rows_module, "SPILL_BYTES", 1024)
    monkeypatch.setattr(tempfile, "TemporaryFile", full)
    assert_user_error(run("solve", path), "No space left on device", "TMPDIR")
