"""The Examples sections of the public docstrings run as doctests (on the default backend)."""

import doctest

import pytest

import geomedian
from geomedian import _api, _backends, _config


@pytest.mark.parametrize("module", [geomedian, _api, _backends, _config], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
