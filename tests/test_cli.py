"""The ``geomedian`` command line, run as a user runs it: a subprocess on files in tmp_path."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import geomedian
from geomedian._tools.cli import main
from geomedian._tools.progress import ProgressBar


def run(*args: str, separate: bool = False) -> subprocess.CompletedProcess:
    """Run ``geomedian ARGS``: in a separate process, or (faster) through ``cli.main``.

    In-process, an exception escaping ``main`` fails the test, as a traceback would.
    """
    argv = [str(a) for a in args]
    if separate:
        return subprocess.run(
            [sys.executable, "-m", "geomedian", *argv],
            capture_output=True,
            text=True,
            timeout=600,
        )
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: --help, usage errors
            code = exit_.code
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def solve_json(*args: str, separate: bool = False) -> dict:
    proc = run("solve", *args, "--json", separate=separate)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, one line on stderr naming the problem, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("geomedian: error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((301, 3)) * [1.0, 2.0, 0.5] + [1.0, -2.0, 3.0]
    x[:30] += 40.0  # outliers: median and mean differ clearly
    return x


@pytest.fixture(scope="module")
def weights(points) -> np.ndarray:
    return np.random.default_rng(8).uniform(0.5, 2.0, points.shape[0])


def write_csv(path, x, header=("a", "b", "c"), delimiter=",", extra=None):
    lines = [delimiter.join(header)] if header else []
    for k, row in enumerate(x):
        cells = [repr(float(v)) for v in row]
        if extra is not None:
            cells.append(repr(float(extra[k])))
        lines.append(delimiter.join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def expected(x, w=None, **kw) -> np.ndarray:
    return geomedian.solve(x, w, **kw).median


# ------------------------------------------------------------------ every format, both backends


def test_npy(tmp_path, points, backend):
    np.save(tmp_path / "x.npy", points)
    out = solve_json(tmp_path / "x.npy", "--backend", backend, separate=True)
    # A .npy file is read in place: the chunked solver, whose Newton iterate may be certified
    # by the pass that reached it. The promise is the objective's gap; the median is then
    # within about sqrt(gap) of the data's spread of the optimum.
    best = geomedian.solve(points, tol=0.0).objective
    assert geomedian.objective(out["median"], points) <= best * (1 + 1e-10)
    np.testing.assert_allclose(out["median"], expected(points), rtol=0, atol=1e-5 * np.ptp(points))
    assert out["backend"] == backend
    assert out["converged"] and out["gap"] <= 1e-10
    assert (out["n"], out["d"], out["columns"]) == (301, 3, ["0", "1", "2"])


def test_npz_named_array(tmp_path, points, backend):
    np.savez(tmp_path / "x.npz", pts=points, other=np.zeros(3))
    by_suffix = solve_json(f"{tmp_path / 'x.npz'}:pts", "--backend", backend)
    by_option = solve_json(tmp_path / "x.npz", "--array", "pts", "--backend", backend)
    np.testing.assert_allclose(by_suffix["median"], expected(points), rtol=1e-8, atol=1e-9)
    assert by_suffix["median"] == by_option["median"]
    assert_user_error(run("solve", tmp_path / "x.npz"), "x.npz", "pts", "other")
    assert_user_error(run("solve", f"{tmp_path / 'x.npz'}:nope"), "no array 'nope'")


def test_npz_single_array_needs_no_name(tmp_path, points):
    np.savez(tmp_path / "one.npz", points)
    np.testing.assert_allclose(
        solve_json(tmp_path / "one.npz")["median"], expected(points), rtol=1e-8, atol=1e-9
    )


def test_csv_header_columns_and_weights_column(tmp_path, points, weights, backend):
    path = write_csv(tmp_path / "x.csv", points, header=("a", "b", "c", "w"), extra=weights)
    out = solve_json(path, "--weights", "w", "--backend", backend)
    assert out["columns"] == ["a", "b", "c"]
    np.testing.assert_allclose(out["median"], expected(points, weights), rtol=1e-8, atol=1e-9)
    # Columns by name and by 0-based index pick the same coordinates.
    by_name = solve_json(path, "--columns", "c,a", "--backend", backend)
    by_index = solve_json(path, "--columns", "2,0", "--backend", backend)
    assert by_name["columns"] == ["c", "a"]
    np.testing.assert_allclose(by_name["median"], expected(points[:, [2, 0]]), rtol=1e-8)
    assert by_name["median"] == by_index["median"]


def test_csv_without_header_and_weights_file(tmp_path, points, weights, backend):
    path = write_csv(tmp_path / "x.csv", points, header=None)
    np.save(tmp_path / "w.npy", weights)
    out = solve_json(path, "--weights", tmp_path / "w.npy", "--backend", backend)
    assert out["columns"] == ["0", "1", "2"]
    np.testing.assert_allclose(out["median"], expected(points, weights), rtol=1e-8, atol=1e-9)


def test_tsv(tmp_path, points, backend):
    path = write_csv(tmp_path / "x.tsv", points, delimiter="\t")
    out = solve_json(path, "--backend", backend)
    np.testing.assert_allclose(out["median"], expected(points), rtol=1e-8, atol=1e-9)


def test_parquet(tmp_path, points, weights, backend):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"x": points[:, 0], "y": points[:, 1], "z": points[:, 2], "w": weights})
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=100)  # several batches
    out = solve_json(tmp_path / "x.parquet", "--weights", "w", "--backend", backend)
    assert out["columns"] == ["x", "y", "z"]
    np.testing.assert_allclose(out["median"], expected(points, weights), rtol=1e-8, atol=1e-9)
    bad = pa.table({"x": points[:, 0], "label": ["p"] * points.shape[0]})
    pq.write_table(bad, tmp_path / "bad.parquet")
    assert_user_error(run("solve", tmp_path / "bad.parquet"), "bad.parquet", "column label")


def test_float32_and_table_output(tmp_path, points, backend):
    np.save(tmp_path / "x.npy", points)
    out = solve_json(tmp_path / "x.npy", "--float32", "--backend", backend)
    assert out["dtype"] == "float32"
    assert out["gap"] <= 1e-6
    np.testing.assert_allclose(
        out["median"], expected(points.astype(np.float32)), rtol=1e-5, atol=1e-5
    )
    proc = run("solve", tmp_path / "x.npy", "--backend", backend, "--method", "weiszfeld")
    assert proc.returncode == 0, proc.stderr
    for label in ("median", "objective", "certified gap", "iterations", "weiszfeld", backend):
        assert label in proc.stdout


def test_not_certified_exits_1(tmp_path, points, backend):
    np.save(tmp_path / "x.npy", points)
    proc = run("solve", tmp_path / "x.npy", "--max-iter", "1", "--tol", "0", "--backend", backend)
    assert proc.returncode == 1, proc.stderr
    assert "max_iter reached" in proc.stdout


def test_nan_rows(tmp_path, points, backend):
    x = points.copy()
    x[4, 1] = np.nan
    path = write_csv(tmp_path / "nan.csv", x)
    assert_user_error(run("solve", path), "nan.csv", "row 6", "column b", "--nan-policy omit")
    out = solve_json(path, "--nan-policy", "omit", "--backend", backend)
    np.testing.assert_allclose(
        out["median"], expected(np.delete(points, 4, axis=0)), rtol=1e-8, atol=1e-9
    )
    x[7, 0] = np.inf  # inf is an error under every policy
    np.save(tmp_path / "inf.npy", x)
    proc = run("solve", tmp_path / "inf.npy", "--nan-policy", "omit")
    assert_user_error(proc, "inf.npy", "row 7", "column 0", "inf")


# ------------------------------------------------------------------ malformed input


def test_text_in_numeric_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n5,oops\n")
    proc = run("solve", tmp_path / "t.csv", separate=True)
    assert_user_error(proc, "t.csv", "row 4", "column b", "oops")


def test_bad_header(tmp_path):
    (tmp_path / "h.csv").write_text("a,b\n1,2,3\n4,5,6\n")
    assert_user_error(run("solve", tmp_path / "h.csv"), "h.csv", "row 2", "3 fields")
    (tmp_path / "dup.csv").write_text("a,a\n1,2\n")
    assert_user_error(run("solve", tmp_path / "dup.csv"), "dup.csv", "header")


def test_ragged_rows(tmp_path):
    (tmp_path / "r.csv").write_text("a,b,c\n1,2,3\n4,5\n")
    assert_user_error(run("solve", tmp_path / "r.csv", "--columns", "a"), "row 3", "2 fields")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty file"),
        ("blank.tsv", "\n\n", "empty file"),
        ("header_only.csv", "a,b\n", "no data rows"),
        ("notes.txt", "1,2\n", "unsupported file type '.txt'"),
        ("noext", "1,2\n", "unsupported file type"),
        ("garbage.npy", "not an array", "not a readable .npy"),
        ("garbage.parquet", "not parquet", "parquet"),
    ],
)
def test_unusable_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    assert_user_error(run("solve", tmp_path / name, separate=True), name, message)


def test_missing_file_and_bad_options(tmp_path, points):
    proc = run("solve", tmp_path / "nope.csv", separate=True)
    assert_user_error(proc, "nope.csv", "no such file")
    np.save(tmp_path / "x.npy", points)
    assert_user_error(run("solve", tmp_path / "x.npy", "--columns", "7"), "no column '7'")
    assert_user_error(run("solve", tmp_path / "x.npy", "--weights", "w"), "no weights column")
    np.save(tmp_path / "w.npy", -np.ones(points.shape[0]))
    assert_user_error(run("solve", tmp_path / "x.npy", "--weights", tmp_path / "w.npy"), "weights")
    np.save(tmp_path / "short.npy", np.ones(3))
    proc = run("solve", tmp_path / "x.npy", "--weights", tmp_path / "short.npy")
    assert_user_error(proc, "3 weights for 301 points")
    np.save(tmp_path / "text.npy", np.array([["a", "b"]]))
    assert_user_error(run("solve", tmp_path / "text.npy"), "non-numeric dtype")
    np.save(tmp_path / "cube.npy", np.ones((2, 3, 4)))
    assert_user_error(run("solve", tmp_path / "cube.npy"), "shape (2, 3, 4)")
    assert_user_error(run("solve", tmp_path / "x.npy", "--tol", "-1"), "tol")


def test_damaged_array_files(tmp_path, points):
    np.savez(tmp_path / "x.npz", pts=points)
    data = (tmp_path / "x.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert_user_error(
        run("solve", tmp_path / "cut.npz", separate=True), "cut.npz", "not a readable"
    )
    (tmp_path / "zip.npy").write_bytes(data)  # an .npz saved under the wrong name
    assert_user_error(run("solve", tmp_path / "zip.npy", separate=True), "zip.npy", "zip archive")


def test_weight_errors_name_the_weights_file_line(tmp_path, points):
    np.save(tmp_path / "x.npy", points[:3])
    (tmp_path / "w.csv").write_text("w\n1\nNA\n2\n")
    proc = run("solve", tmp_path / "x.npy", "--weights", tmp_path / "w.csv")
    assert_user_error(proc, "w.csv: row 3", "missing weight")
    (tmp_path / "neg.csv").write_text("1\n2\n-3\n")
    proc = run("solve", tmp_path / "x.npy", "--weights", tmp_path / "neg.csv")
    assert_user_error(proc, "neg.csv: row 3", "weight -3.0")


def test_float32_overflow_names_the_line_without_a_warning(tmp_path):
    (tmp_path / "big.csv").write_text("x,y\n0,0\n1,2\n3,1e39\n")
    # In-process, pytest turns any RuntimeWarning into an error: none may be emitted.
    proc = run("solve", tmp_path / "big.csv", "--float32")
    assert_user_error(proc, "big.csv", "row 4", "column y", "1e+39", "float32")
    proc = run("solve", tmp_path / "big.csv", "--float32", separate=True)
    assert_user_error(proc, "row 4")
    assert "Warning" not in proc.stderr


def test_version_and_grammar(tmp_path):
    proc = run("--version", separate=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"geomedian {geomedian.__version__}"
    np.save(tmp_path / "one.npy", np.arange(5.0))
    proc = run("solve", tmp_path / "one.npy")
    assert proc.returncode == 0, proc.stderr
    assert "5 points in 1 dimension (float64)" in proc.stdout


def test_mistyped_option_shows_the_command_usage(tmp_path, points):
    np.save(tmp_path / "x.npy", points)
    proc = run("solve", tmp_path / "x.npy", "--colums", "0", separate=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: geomedian solve ")
    assert "--columns" in proc.stderr and "unrecognized arguments: --colums" in proc.stderr


# ------------------------------------------------------------------ help, demo, bench


@pytest.mark.parametrize("command", [[], ["solve"], ["demo"], ["bench"], ["config"]])
def test_help_has_examples(command):
    proc = run(*command, "--help", separate=not command)
    assert proc.returncode == 0
    assert "examples:" in proc.stdout
    assert "geomedian " + (command[0] if command else "demo") in proc.stdout


def test_demo_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo.png"
    proc = run("demo", "--n", "3000", "--threads", "1", "--plot", out, separate=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plot written" in proc.stdout


def _no_overlap(labels) -> bool:
    boxes = [t.get_window_extent() for t in labels if t.get_text()]
    return not any(a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1 :])


def test_bench_plot_compares_time_to_geomedian_and_marks_accuracy(tmp_path):
    pytest.importorskip("matplotlib")
    from geomedian._tools.bench import Row
    from geomedian._tools.plots import plot_bench

    solvers = ["geomedian auto cpp", "geomedian gd cpp", "scipy L-BFGS-B", "numpy Weiszfeld"]
    rows = []
    for k, dataset in enumerate(["1,000,000 x 2 gauss", "100,000 x 3 vertex"]):
        for j, solver in enumerate(solvers):
            gap = 3e-9 if (k, solver) == (1, "scipy L-BFGS-B") else 0.0
            rows.append(Row(dataset, solver, time_s=0.01 * (j + 1) * (k + 1), gap=gap))
        rows.append(Row(dataset, "hdmedians geomedian", note="skipped: not installed"))
    facts = {"cpu": "Example CPU 9000"}
    fig = plot_bench(rows, tmp_path / "bench.png", facts, threads=2, accurate=1e-10)
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    (ax,) = [a for a in fig.axes if a.get_legend() is not None]
    assert "Example CPU 9000" in ax.get_title() and "2 threads" in ax.get_title()
    assert "relative to geomedian auto cpp" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "1,000,000 x 2 gauss",
        "100,000 x 3 vertex",
    ]
    assert _no_overlap(ax.get_yticklabels()) and _no_overlap(ax.get_xticklabels())
    points = [ln for ln in ax.lines if ln.get_marker() not in ("None", None, "")]
    # One colour per solver, none repeated; the skipped solver draws nothing.
    colours = {ln.get_label(): ln.get_color() for ln in points if ln.get_label() in solvers}
    assert sorted(colours) == sorted(solvers) and len(set(colours.values())) == len(solvers)
    # Times relative to the first geomedian row: gd took 2x, scipy 3x, in both datasets.
    ratios = sorted({round(float(ln.get_xdata()[0]), 9) for ln in points})
    assert ratios == [1.0, 2.0, 3.0, 4.0]
    hollow = [ln for ln in points if ln.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and hollow[0].get_color() == colours["scipy L-BFGS-B"]
    assert [t.get_text() for t in ax.texts] == ["3e-09"]


def test_demo_plot_labels_axes_and_draws_tol(tmp_path):
    pytest.importorskip("matplotlib")
    from geomedian._tools.demo import demo_points
    from geomedian._tools.plots import plot_demo

    x = demo_points(500)
    fig = plot_demo(x, np.median(x, axis=0), [1e-3, 1e-6, 1e-11], tmp_path / "d.png", tol=1e-10)
    data, conv = fig.axes
    assert data.get_xlabel() and data.get_ylabel()
    assert conv.get_xlabel() == "iteration" and "gap" in conv.get_ylabel()
    tol_lines = [ln for ln in conv.lines if list(ln.get_ydata()) == [1e-10, 1e-10]]
    assert len(tol_lines) == 1 and tol_lines[0].get_label() == "tol = 1e-10"


def test_convergence_gaps_are_the_certificates_of_each_iterate(backend):
    from geomedian._tools.demo import convergence_gaps, demo_points

    x = demo_points(2000)
    res = geomedian.solve(x, backend=backend, method="weiszfeld")
    gaps = convergence_gaps(x, res.n_iter, backend=backend, method="weiszfeld")
    assert len(gaps) == res.n_iter
    assert gaps[-1] == res.gap
    assert gaps[0] > 100 * gaps[-1]


def test_bench_quick_json(tmp_path):
    from geomedian._options import SolveOptions
    from geomedian._tools.bench import datasets, solvers

    out = tmp_path / "bench.json"
    proc = run("bench", "--quick", "--threads", "1", "--repeats", "1", "--json", out, separate=True)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["threads"] == 1
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"]
    rows = data["rows"]
    names = [s.name for s in solvers()]
    # A row per solver for every dataset, in order; absent peers are skipped, not errors.
    assert [r["solver"] for r in rows] == names * len(datasets(quick=True))
    for r in rows:
        if r["time_s"] is None:
            assert r["note"].startswith("skipped:")
        else:
            assert r["time_s"] > 0 and r["gap"] >= 0
    ours = [r for r in rows if r["solver"].startswith("geomedian")]
    # Certified to the default tolerance of each dataset's dtype (float32 pixels: 1e-6).
    tol = {ds.name: SolveOptions().tol_for(ds.points.dtype) for ds in datasets(quick=True)}
    assert ours and all(r["gap"] <= 1e-9 for r in ours)
    assert all(r["certified_gap"] <= tol[r["dataset"]] for r in ours)
    assert "rel. gap" in proc.stdout and "skipped" not in proc.stderr


def test_progress_bar_draws_only_when_enabled():
    stream = io.StringIO()
    with ProgressBar(4, "work", enabled=True, stream=stream) as bar:
        for _ in range(4):
            bar.update(1, step="x")
    assert "work [" in stream.getvalue() and "100%" in stream.getvalue()
    quiet = io.StringIO()  # not a terminal: nothing is drawn by default
    with ProgressBar(4, "work", stream=quiet) as bar:
        bar.update(4)
    assert quiet.getvalue() == ""


def test_a_closed_pipe_ends_quietly():
    """``geomedian config | head -0``: the reader goes away; no traceback, status 1."""
    proc = subprocess.Popen([sys.executable, "-m", "geomedian", "config"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    proc.stdout.close()  # before the child writes anything: its first flush finds no reader
    _, err = proc.communicate(timeout=600)
    assert b"Traceback" not in err and b"Exception ignored" not in err, err.decode()
    assert proc.returncode == 1


def test_p_option(tmp_path, points, backend):
    np.save(tmp_path / "x.npy", points)
    for p in ("1", "1.5", "inf"):
        out = solve_json(tmp_path / "x.npy", "--p", p, "--backend", backend, separate=True)
        res = geomedian.solve(points, p=float(p), backend=backend)
        np.testing.assert_allclose(out["median"], res.median, rtol=1e-12)
        assert out["converged"]
    assert_user_error(run("solve", tmp_path / "x.npy", "--p", "0.5"), "p must be >= 1")
