"""The version, written once.

The build reads it from here (pyproject.toml, ``[tool.scikit-build] metadata.version``), so
the installed metadata always agrees.
"""

__version__ = "0.1.0"
