"""One contract: the values C++ and Python share are defined once on each side, and agree.

``csrc/geomedian/contract.hpp`` defines them for the core, which exports them as
``_core.contract``; ``geomedian/_contract.py`` mirrors them for the Numba kernels and the
Python layer. A value changed on one side only fails here, not as a mismatch of bits.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from geomedian import _contract, _result, _validate

PACKAGE = Path(_contract.__file__).parent

# The status codes under the names the Python layer uses for them (_result.py).
STATUS_ALIASES = {
    "CONVERGED": "STATUS_CONVERGED",
    "MAX_ITER": "STATUS_MAX_ITER",
    "STALLED": "STATUS_STALLED",
    "INTERRUPTED": "STATUS_INTERRUPTED",
    "NONFINITE": "STATUS_NONFINITE",
    "EMPTY": "STATUS_EMPTY",
    "RANGE": "STATUS_RANGE",
}

# Literal definitions that its owner has yet to replace by imports: Numba's solver.py still
# spells out the status and method codes (this test then checks their values).
NOT_YET_IMPORTED = {
    "_numba/solver.py": {*STATUS_ALIASES, "METHOD_WEISZFELD", "METHOD_GD", "METHOD_NEWTON"},
}


def test_cpp_contract_matches_the_python_mirror():
    core = pytest.importorskip("geomedian._core")
    compiled, mirror = core.contract, _contract.shared_values()
    assert sorted(compiled) == sorted(mirror)
    for name, value in compiled.items():
        assert type(value) is type(mirror[name]), name  # an int slot is not a float
        assert value == mirror[name], name
        if isinstance(value, float):
            assert value.hex() == mirror[name].hex(), name


def test_the_mirror_is_plain_numbers():
    values = _contract.shared_values()
    assert len(values) > 40
    for name, value in values.items():
        assert isinstance(value, (int, float)) and not isinstance(value, bool), name
        assert isinstance(value, int) or (math.isfinite(value) and value > 0), name
    # Slots index the pass sums: consecutive, with the head after the last one.
    slots = [values[n] for n in values if n.startswith("SLOT_")]
    assert slots == list(range(len(slots)))


def _spelled_out(path: Path, names: set[str]) -> set[str]:
    """Names of ``names`` that a module assigns a literal (a number, or arithmetic of them)."""

    allowed = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.operator, ast.unaryop)

    def literal(node: ast.AST) -> bool:
        return all(isinstance(n, (*allowed, ast.expr_context)) for n in ast.walk(node))

    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and literal(node.value):
            for target in node.targets:
                found |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} & names
    return found


def test_no_module_spells_out_a_shared_value():
    names = set(_contract.shared_values()) | set(STATUS_ALIASES)
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_contract.py":
            continue
        rel = path.relative_to(PACKAGE).as_posix()
        extra = _spelled_out(path, names) - NOT_YET_IMPORTED.get(rel, set())
        assert not extra, f"{rel} defines {sorted(extra)}: import them from geomedian._contract"


def test_python_layer_codes_are_the_contract():
    for alias, name in STATUS_ALIASES.items():
        assert getattr(_result, alias) == getattr(_contract, name)
    assert _validate.METHODS == {
        "weiszfeld": _contract.METHOD_WEISZFELD,
        "gd": _contract.METHOD_GD,
        "newton": _contract.METHOD_NEWTON,
    }


def test_numba_modules_read_the_contract():
    pytest.importorskip("numba")
    from geomedian._numba import (
        certificate,
        fused_pass,
        gradient_descent,
        newton,
        packed_newton,
        robust_frame,
        small_pass,
        solver,
    )

    # Floats are separate objects unless imported: `is` proves there is one definition.
    assert solver.COINCIDENCE_RADIUS is _contract.COINCIDENCE_RADIUS
    assert robust_frame.NEAR_FACTOR is _contract.NEAR_FACTOR
    assert certificate.SUM_ROUNDING is _contract.SUM_ROUNDING
    assert gradient_descent.F_NOISE is _contract.F_NOISE
    assert newton.NEWTON_PIVOT is _contract.NEWTON_PIVOT
    assert packed_newton.NEAR_MARGIN is _contract.NEAR_MARGIN
    for module in (fused_pass, small_pass, packed_newton, robust_frame, solver):
        for name, value in _contract.shared_values().items():
            if hasattr(module, name):
                assert getattr(module, name) == value, (module.__name__, name)
    for alias, name in STATUS_ALIASES.items():  # see NOT_YET_IMPORTED
        assert getattr(solver, alias) == getattr(_contract, name)
