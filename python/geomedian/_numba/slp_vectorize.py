"""LLVM's SLP vectoriser for the kernels here, and for nothing else in the process.

Numba runs LLVM's loop vectoriser but not its SLP (superword) vectoriser unless
``NUMBA_SLP_VECTORIZE=1`` is set before Numba is imported, for every function the process
compiles. The kernels here write a few independent lanes by hand where C++ uses vector
types (the four lanes of a row's squares in ``fused_pass.center_lanes``): without SLP
each lane is scalar code. Numba reads the setting
(``numba.core.config.SLP_VECTORIZE``) each time it builds an optimisation pipeline, and
compiles under one global lock, inside which it fires the ``"numba:compile"`` event. So
this listener turns SLP on from the start of a compile of a function defined here (and the
compiles nested in it) to its end, and puts the process's own setting back after it: a
user's functions compile as their settings say.

SLP packs isomorphic operations into vectors; it reorders no additions the flags of a
kernel do not already allow, so the bits stay what the scalar code gives.
``GEOMEDIAN_SLP_VECTORIZE=0`` turns it off (with a fresh cache: Numba does not key its
cache on this setting).
"""

from __future__ import annotations

from numba.core import config, event

__all__ = ["KernelSLP"]

_PACKAGE = __name__.rpartition(".")[0] + "."


class KernelSLP(event.Listener):
    """SLP on for the outermost compile of a kernel here and everything it compiles."""

    def __init__(self) -> None:
        # Compiles nest (a kernel compiles its callees) and all run under Numba's global
        # compiler lock, so one stack of the settings to restore needs no lock of its own.
        self.saved: list[int | None] = []

    def on_start(self, ev) -> None:
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if module.startswith(_PACKAGE) or (self.saved and self.saved[-1] is not None):
            self.saved.append(config.SLP_VECTORIZE)
            config.SLP_VECTORIZE = 1
        else:
            self.saved.append(None)

    def on_end(self, ev) -> None:
        previous = self.saved.pop()
        if previous is not None:
            config.SLP_VECTORIZE = previous
