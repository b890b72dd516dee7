"""The standard comparison as one script that prints a table (the same as ``geomedian bench``).

Run from anywhere once geomedian is installed::

    python benchmarks/compare.py            # full sizes: minutes
    python benchmarks/compare.py --quick    # small sizes: seconds
    python benchmarks/compare.py --json out.json --plot out.png

Datasets, solver adapters and the reference scoring live in ``geomedian/_bench.py``; this
script only forwards its arguments to the command line.
"""

import sys

from geomedian._tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
