"""The parameter names of a pybind11 function, read from the signature line of its docstring."""

from __future__ import annotations

import re


def parameters(fn) -> list[str]:
    """Return the parameter names pybind11 writes first in ``fn.__doc__``, in order."""
    head = fn.__doc__.splitlines()[0]
    inside = head[head.index("(") + 1 : head.rindex(") ->")]
    depth, names, token = 0, [], ""
    for ch in inside + ",":
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            if token.strip():
                names.append(re.match(r"\s*(\w+)", token).group(1))
            token = ""
        else:
            token += ch
    return names
