"""``python -m geomedian``: the same command line as ``geomedian``."""

import sys

from .cli import main

sys.exit(main())
