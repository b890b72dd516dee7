"""``python -m geomedian``: the same command line as ``geomedian``."""

import sys

from ._tools.cli import main

sys.exit(main())
