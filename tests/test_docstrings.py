"""The Examples sections of the public docstrings, and the ``>>>`` examples of the documentation
pages in docs/, run as doctests (on the default backend)."""

import doctest
from pathlib import Path

import pytest

import geomedian
from geomedian import _api, _backends, _config, _geomad
from geomedian._tools import progress as _progress

MODULES = [geomedian, _api, _backends, _config, _geomad, _progress]


@pytest.mark.parametrize("module", [*MODULES, "geomedian.xarray"], ids=str)
def test_docstring_examples(module):
    if isinstance(module, str):  # needs the optional xarray
        pytest.importorskip("xarray")
        module = __import__(module, fromlist=["_"])
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if ">>>" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_documentation_examples(page):
    result = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0
    assert result.failed == 0
