"""The package's import graph: no cycles, and no numba where the compiled core serves."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import geomedian

PACKAGE = Path(geomedian.__file__).parent


def _module_imports(path: Path, known: set[str]) -> set[str]:
    """Return the package modules ``path`` imports, at module level or inside functions."""
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if name.endswith(".__init__"):
        name = name[: -len(".__init__")]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = f"{base}.{node.module}" if node.module else base
            for alias in node.names:  # a submodule, or a name defined in the module
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return found


def test_no_import_cycle():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "_numba" in path.parts:
            continue  # the kernels' mirror: imports only itself and the contract
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    known = set(modules)
    graph = {m: {t for t in _module_imports(p, known) if t in known} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, m, t]))
            if t not in state:
                visit(t, [*stack, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


@pytest.mark.skipif("cpp" not in geomedian.backends(), reason="needs the compiled core")
def test_compiled_calls_never_import_numba():
    code = (
        "import sys, numpy as np, geomedian\n"
        "x = np.random.default_rng(0).normal(size=(300, 3))\n"
        "geomedian.geometric_median(x)\n"
        "geomedian.solve(x, weights=np.ones(300), tol=1e-8)\n"
        "geomedian.solve(x.reshape(3, 100, 3), nan_policy='omit')\n"
        "geomedian.objective(x[0], x), geomedian.gradient(x[0], x)\n"
        "assert 'numba' not in sys.modules, 'numba was imported'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**__import__("os").environ, "GEOMEDIAN_BACKEND": "cpp"},
    )
    assert out.returncode == 0, out.stderr
