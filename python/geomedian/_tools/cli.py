"""The ``geomedian`` command (also ``python -m geomedian``).

User mistakes (a missing or malformed file, NaN in the data, a bad option value) end in one
line ``geomedian: error: ...`` and exit status 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time

__all__ = ["main"]

PROG = "geomedian"
LARGE_FILE_BYTES = 64 << 20  # reading more than this shows a progress bar (on a terminal)

MAIN_EPILOG = """\
examples:
  geomedian demo
  geomedian solve points.csv --columns x,y --weights w
  geomedian bench --quick
  python -m geomedian config
"""

DEMO_HELP = """\
Solve a built-in dataset (1,000,000 points in 2-D, 20% gross outliers) on every
available backend and print the median, objective, certified gap, iterations and
wall time of each. --plot draws the data (a sample when large), the mean, the
geometric median and the certified gap per iteration (needs matplotlib: the
'plot' extra).

examples:
  geomedian demo
  geomedian demo --n 100000 --threads 1 --method weiszfeld
  geomedian demo --plot demo.png
"""

SOLVE_HELP = """\
Compute the geometric median of the points in FILE, one point per row, and print it
with its objective, certified relative gap, iterations, method, backend and time.

FILE formats (by extension):
  .npy            a 2-D array (n, d), memory-mapped: files larger than memory work
  .npz            one named array: FILE.npz:NAME or --array NAME (optional when the
                  file holds a single array)
  .csv, .tsv      numbers separated by ',' or TAB; a first line that is not all
                  numbers is a header naming the columns (an unnamed first column,
                  pandas' index, is left out); empty cells and NA are missing values
  .parquet        numeric columns
CSV, TSV and parquet files are read by pyarrow: pip install 'geomedian[cli]'.

Missing values (NaN, an empty or NA cell, the --nodata value) are an error under
--nan-policy raise (the default), left out and counted under omit, and give a NaN
median under propagate.

Exit status: 0 when the gap is certified, 1 when it is not (max_iter reached, the
iterate stalled, or a NaN result under --nan-policy propagate), 2 on an error; errors
name the file, the row (the line number of a text file; the 0-based row otherwise)
and the column.

examples:
  geomedian solve points.npy
  geomedian solve stack.npz:pixels --method weiszfeld --tol 1e-12
  geomedian solve survey.csv --columns lon,lat --weights population
  geomedian solve survey.tsv --weights weights.npy --json
  geomedian solve big.parquet --columns 0,1,2 --float32 --nan-policy omit
  geomedian solve pixels.npy --nodata -9999 --nan-policy omit --method sgd
  geomedian solve points.npy --p 1          (coordinate-wise median; --p inf: Chebyshev)
"""

BENCH_HELP = """\
Run the standard comparison on this machine and print one row per dataset and
solver: time (median of repeats), passes over the data, and the relative objective
gap (f(y) - f_ref) / f_ref against a tight geomedian reference (tol 1e-13), plus
geomedian's own certified gap. Datasets: 1e6 x 2 Gaussian; 1e6 x 16 with 5% far
outliers; 1e5 x 128; 1e4 x 1000; a batch of 1e5 problems of 20 x 6; a case whose
optimum is a data point. Solvers: every geomedian method x backend, hdmedians,
geomad, geom_median, scipy L-BFGS-B, a NumPy Weiszfeld and a PyTorch SGD loop;
peers that are not installed are listed as skipped. The full run takes minutes;
--quick uses small sizes and takes seconds.

examples:
  geomedian bench --quick
  geomedian bench --json bench.json --plot bench.png
  geomedian bench --threads 1
"""

WARMUP_HELP = """\
Compile the Numba kernels ahead of time: every public path once, on small data, in
float64 and float32. Numba caches them on disk, so later processes (a container started
from an image built with this step) load them instead of compiling. The compiled core
needs no warm-up.

examples:
  geomedian warmup
"""

CONFIG_HELP = """\
Print how geomedian was built and what it will run on: the backends, compiler,
OpenMP, SIMD clones and active instruction set, Numba, default threads.

examples:
  geomedian config
"""


class UserError(Exception):
    """A problem with what the user asked for: reported in one line, exit status 2."""


def _method_choices() -> list[str]:
    from .._validate import METHODS, SGD_METHOD

    return ["auto", *METHODS, SGD_METHOD]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _sub(sub, name: str, help: str, description: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(p)
    return p


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """Return the parser and its subcommands' parsers by name."""
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fast, certified geometric medians.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    methods = _method_choices()

    solve = _sub(sub, "solve", "geometric median of the points in a file", SOLVE_HELP)
    solve.add_argument("file", metavar="FILE", help="the points (.npy .npz .csv .tsv .parquet)")
    solve.add_argument(
        "--weights", metavar="COLUMN|FILE", help="a column of FILE, or a file of n weights"
    )
    solve.add_argument(
        "--columns", metavar="a,b,c", help="coordinate columns by name or 0-based index"
    )
    solve.add_argument("--array", metavar="NAME", help="the array of an .npz file")
    solve.add_argument("--method", default="auto", choices=methods, help="solver (default auto)")
    solve.add_argument(
        "--backend", default="auto", choices=["auto", "cpp", "numba"], help="kernels"
    )
    solve.add_argument("--tol", type=float, help="certified relative gap (default 1e-10; f32 1e-6)")
    solve.add_argument("--max-iter", type=int, help="maximum iterations (default 1000)")
    solve.add_argument(
        "--p", type=float, default=2, help="the Lp norm, 1 <= p <= inf (default 2: Euclidean)"
    )
    solve.add_argument("--threads", type=int, help="threads (default: all cores)")
    solve.add_argument("--float32", action="store_true", help="compute in float32")
    solve.add_argument(
        "--nan-policy",
        default="raise",
        choices=["raise", "omit", "propagate"],
        help="rows with a missing value: an error (default), left out, or a NaN result",
    )
    solve.add_argument(
        "--nodata", type=float, metavar="VALUE", help="a value marking missing data, e.g. -9999"
    )
    solve.add_argument("--json", action="store_true", help="print the result as JSON")

    demo = _sub(sub, "demo", "solve a built-in dataset on every backend", DEMO_HELP)
    demo.add_argument("--n", type=int, default=1_000_000, help="number of points (default 1e6)")
    demo.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    demo.add_argument("--method", default="auto", choices=methods, help="solver")
    demo.add_argument("--plot", metavar="OUT.png", help="draw the data and the convergence")

    bench = _sub(sub, "bench", "compare solvers on this machine", BENCH_HELP)
    bench.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    bench.add_argument("--json", metavar="OUT.json", help="also write the rows and machine facts")
    bench.add_argument("--plot", metavar="OUT.png", help="time against gap, one panel per dataset")
    bench.add_argument("--threads", type=int, help="threads for geomedian and geomad")
    bench.add_argument("--repeats", type=int, help="timed runs per row (default 5; quick 3)")

    config = _sub(sub, "config", "print build and backend facts (show_config)", CONFIG_HELP)
    warmup = _sub(sub, "warmup", "compile the Numba kernels ahead of time", WARMUP_HELP)
    return parser, {"solve": solve, "demo": demo, "bench": bench, "config": config,
                    "warmup": warmup}  # fmt: skip


def _progress(args, total: float, label: str):
    from .progress import ProgressBar

    return ProgressBar(total, label, enabled=False if args.quiet else None)


def _read(args):
    """Read the points and weights the ``solve`` arguments name, checked by the rules."""
    from .files import SUFFIXES, InputError, read_table, read_weights
    from .rows import Rules

    columns = None if args.columns is None else [c.strip() for c in args.columns.split(",")]
    weights_column = weights_file = None
    if args.weights is not None:
        is_file = os.path.exists(args.weights) or args.weights.lower().endswith(SUFFIXES)
        weights_file, weights_column = (args.weights, None) if is_file else (None, args.weights)
    rules = Rules(nan_policy=args.nan_policy, nodata=args.nodata, float32=args.float32)
    size = os.path.getsize(args.file) if os.path.isfile(args.file) else 0
    with _progress(args, size, f"reading {args.file}") as bar:
        update = bar.update if size > LARGE_FILE_BYTES else None
        if args.file.lower().endswith(".parquet"):
            update = None  # counts rows, not bytes: no honest fraction of the file size
        try:
            weights = None if weights_file is None else read_weights(weights_file)
            return read_table(
                args.file,
                columns=columns,
                weights_column=weights_column,
                weights=weights,
                array=args.array,
                rules=rules,
                progress=update,
            )
        except InputError as err:
            raise UserError(str(err)) from None


def _finite_or_none(value):
    """JSON has no NaN or inf: such a number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _solve(args) -> int:
    import numpy as np

    from .._api import solve

    t0 = time.perf_counter()
    table = _read(args)
    read_s = time.perf_counter() - t0
    for note in table.notes:
        print(f"{PROG}: warning: {note}", file=sys.stderr)
    x = table.points
    if args.p != 2 and isinstance(x, np.memmap):  # the Lp solvers work in memory
        x = np.array(x)
    t0 = time.perf_counter()
    try:
        res = solve(
            x,
            table.weights,
            # Missing values were left out (omit) or refused (raise) while reading: only
            # "propagate" can leave any, and without them "raise" lets a large file stream.
            nan_policy="propagate" if table.has_missing else "raise",
            method=args.method,
            backend=args.backend,
            tol=args.tol,
            max_iter=args.max_iter,
            threads=args.threads,
            p=args.p,
        )
    except (ValueError, TypeError, ImportError) as err:
        # The input was read fine but is not a valid problem (option values, a backend
        # this installation lacks): the API's message says which.
        raise UserError(f"{args.file}: {err}") from None
    solve_s = time.perf_counter() - t0
    n, d = x.shape
    out = {
        "file": args.file,
        "n": n,
        "d": d,
        "omitted": table.omitted,
        "columns": table.columns,
        "median": [float(v) for v in np.asarray(res.median, dtype=np.float64)],
        "objective": res.objective,
        "lower_bound": res.lower_bound,
        "gap": res.gap,
        "converged": res.converged,
        "n_iter": res.n_iter,
        "n_passes": res.n_passes,
        "status": res.status,
        "message": res.message,
        "method": res.method,
        "backend": res.backend,
        "dtype": str(x.dtype),
        "read_s": read_s,
        "solve_s": solve_s,
    }
    if args.json:
        clean = {
            k: [_finite_or_none(v) for v in val] if isinstance(val, list) else _finite_or_none(val)
            for k, val in out.items()
        }
        print(json.dumps(clean, indent=2, allow_nan=False))
    else:
        _print_solve(out)
    return 0 if res.converged else 1


def _print_solve(out: dict) -> None:
    width = max(len(c) for c in out["columns"])
    n, d = out["n"], out["d"]
    print(
        f"{out['file']}: {n:,} point{'s' if n != 1 else ''} in {d} "
        f"dimension{'s' if d != 1 else ''} ({out['dtype']})"
    )
    if out["omitted"]:
        rows = "row" if out["omitted"] == 1 else "rows"
        print(f"  omitted          {out['omitted']:,} {rows} with a missing value")
    print("  median")
    for name, value in zip(out["columns"], out["median"]):
        print(f"    {name:<{width}}  {value:.12g}")
    print(f"  objective        {out['objective']:.12g}")
    print(f"  certified gap    {out['gap']:.3e}   ({out['message']})")
    print(f"  iterations       {out['n_iter']}   (passes over the data: {out['n_passes']})")
    print(f"  method, backend  {out['method']}, {out['backend']}")
    print(
        f"  time             {out['solve_s'] * 1e3:.2f} ms solve, {out['read_s'] * 1e3:.1f} ms read"
    )


@contextlib.contextmanager
def _writing(path: str | None):
    """Turn a failure to write an output file (bad directory, full disk) into a user error."""
    try:
        yield
    except OSError as err:
        raise UserError(f"{path}: cannot write ({err.strerror or err})") from None


def _plots_or_error():
    from . import plots as _plots

    try:
        _plots._pyplot()
    except ImportError as err:
        raise UserError(str(err)) from None
    return _plots


def _bench(args) -> int:
    from dataclasses import asdict

    from .._threads import resolve_threads
    from . import bench

    plots = _plots_or_error() if args.plot else None
    with _progress(args, bench.n_runs(), "bench") as bar:
        rows = bench.run(
            args.quick, repeats=args.repeats, threads=args.threads, progress=bar.update
        )
    facts = bench.machine()
    print(
        f"geomedian bench{' --quick' if args.quick else ''}: {facts['cpu']}, "
        f"{facts['cores']} cores, load average {facts['load_average']}"
    )
    print(bench.table(rows))
    if args.json:
        payload = {
            "quick": args.quick,
            "threads": resolve_threads(args.threads),
            "machine": facts,
            "rows": [asdict(r) for r in rows],
        }
        with _writing(args.json):
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(payload, f, indent=2)
        print(f"rows written to {args.json}")
    if plots is not None:
        with _writing(args.plot):
            plots.plot_bench(
                rows, args.plot, facts, resolve_threads(args.threads), bench.ACCURATE_GAP
            )
        print(f"plot written to {args.plot}")
    return 0


def _demo(args, parser) -> int:
    from .demo import run_demo

    if args.n < 1:
        parser.error("--n must be >= 1")
    if args.plot:
        _plots_or_error()
    with _writing(args.plot):
        run_demo(n=args.n, threads=args.threads, method=args.method, plot=args.plot)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser, commands = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # The command's own usage, not the top-level one: it lists the options meant.
        commands.get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        code = _run(args, parser)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return code
    except UserError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``geomedian solve big.csv | head``): stop quietly, as Unix
        # tools do, instead of a traceback. Standard output now points at devnull, so the
        # interpreter's own flush at exit does not fail on the closed pipe a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _warmup() -> int:
    from .. import backends

    if "numba" not in backends():
        raise UserError("the Numba backend is not installed: nothing to compile")
    from .warmup import warmup

    print("geomedian warmup: the Numba kernels, every path, float64 and float32")
    print(f"done in {warmup():.1f} s; later processes load them from Numba's cache")
    return 0


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the command ``args`` names; return its exit status."""
    if args.command == "solve":
        return _solve(args)
    if args.command == "demo":
        return _demo(args, parser)
    if args.command == "bench":
        return _bench(args)
    if args.command == "config":
        from .._config import show_config

        show_config()
        return 0
    if args.command == "warmup":
        return _warmup()
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
