"""The version is written once (``__version__``) and the installed metadata agrees with it."""

import importlib.metadata

import geomedian


def test_version_matches_metadata():
    # pyproject.toml takes the version from _version.py at build time: a mismatch means a
    # stale install (rebuild) or a second place that writes the version (remove it).
    assert geomedian.__version__ == importlib.metadata.version("geomedian")
