"""``geomedian/_core.pyi`` describes the compiled core: every export, every parameter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pybind_signature import parameters

import geomedian

STUB = Path(geomedian.__file__).parent / "_core.pyi"


def _stub() -> tuple[dict[str, list[str]], set[str]]:
    """Functions (name -> parameter names) and attributes the stub declares, public only."""
    functions, attributes = {}, set()
    for node in ast.parse(STUB.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef):
            functions[node.name] = [a.arg for a in node.args.args]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            attributes.add(node.target.id)
    return functions, {a for a in attributes if not a.startswith("_")}


def test_cpp_stub_declares_every_export_with_itsparameters():
    core = pytest.importorskip("geomedian._core")
    functions, attributes = _stub()
    exported = {name for name in dir(core) if not name.startswith("_")}
    assert set(functions) | attributes == exported
    for name, params in functions.items():
        assert callable(getattr(core, name)), name
        assert params == parameters(getattr(core, name)), name
    for name in attributes:
        assert not callable(getattr(core, name)), name


def test_the_stub_is_shipped_with_a_typed_marker():
    assert STUB.is_file() and (STUB.parent / "py.typed").is_file()
