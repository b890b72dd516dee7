"""The ``geomedian`` command (also ``python -m geomedian``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]

DEMO_HELP = """\
Solve a built-in dataset (1,000,000 points in 2-D, 20% gross outliers) on every
available backend and print the median, objective, certified gap, iterations and
wall time of each.

examples:
  geomedian demo
  geomedian demo --n 100000 --threads 1 --method weiszfeld
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geomedian",
        description="Fast, certified geometric medians.",
        epilog="examples:\n  geomedian demo\n  python -m geomedian demo --threads 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="solve a built-in dataset on every backend",
        description=DEMO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--n", type=int, default=1_000_000, help="number of points (default 1e6)")
    demo.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    demo.add_argument(
        "--method", default="auto", choices=["auto", "gd", "weiszfeld"], help="solver"
    )
    sub.add_parser("config", help="print build and backend facts (show_config)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        if args.n < 1:
            parser.error("--n must be >= 1")
        run_demo(n=args.n, threads=args.threads, method=args.method)
        return 0
    if args.command == "config":
        from ._config import show_config

        show_config()
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
