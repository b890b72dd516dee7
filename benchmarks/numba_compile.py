"""The Numba backend's first use and warm speed: cold compile times, then numba/cpp ratios.

Run from the project root, on an installed geomedian::

    python benchmarks/numba_compile.py            # both parts
    python benchmarks/numba_compile.py --cold     # compile times only
    python benchmarks/numba_compile.py --warm     # ratios only (needs the compiled core)
    python benchmarks/numba_compile.py --profile  # where the first two calls compile

Cold: one fresh process with an empty ``NUMBA_CACHE_DIR`` (as a fresh installation) times
its first calls in order: one problem, a threaded batch, one large problem, then every
other path of ``geomedian warmup`` in both dtypes. Each time is what that call added: the
kernels an earlier call compiled are reused. Warm: the best of a few runs of the same solve
on each backend, after one untimed call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

COLD = """
import json, time
import numpy as np
import geomedian
from geomedian._tools.warmup import warmup

rng = np.random.default_rng(0)
steps = [
    ("one problem, 1000 x 3 (geometric_median)",
     lambda: geomedian.geometric_median(rng.standard_normal((1000, 3)), backend="numba")),
    ("a batch, 1000 x (20 x 6), threaded",
     lambda: geomedian.solve(rng.standard_normal((1000, 20, 6)), backend="numba")),
    ("one large problem, 200000 x 3",
     lambda: geomedian.solve(rng.standard_normal((200_000, 3)), backend="numba")),
    ("every other path, float64 and float32", lambda: warmup(lambda line: None)),
]
times = {}
for name, call in steps:
    t0 = time.perf_counter()
    call()
    times[name] = time.perf_counter() - t0
print(json.dumps(times))
"""


PROFILE = """
import json, time
from numba.core import event

own, stack = {}, []  # seconds compiling each function itself (its callees' not counted)


class Compiles(event.Listener):
    def on_start(self, ev):
        f = ev.data["dispatcher"].py_func
        name = f"{f.__module__.rsplit('.', 1)[-1]}.{f.__qualname__}"
        stack.append([name, time.process_time(), 0.0])

    def on_end(self, ev):
        name, t0, inner = stack.pop()
        took = time.process_time() - t0
        own[name] = own.get(name, 0.0) + took - inner
        if stack:
            stack[-1][2] += took


event.register("numba:compile", Compiles())
""" + COLD.replace("times[name] = time.perf_counter() - t0", "times[name] = dict(own); own.clear()")


def _fresh(script: str) -> dict:
    """Run ``script`` in a fresh process with an empty Numba cache; return its last line."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, GEOMEDIAN_COMPILE_NOTICE="0")
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.splitlines()[-1])


def cold() -> None:
    times = _fresh(COLD)
    print("cold (empty Numba cache), seconds each call added:")
    for name, seconds in times.items():
        print(f"  {name:45} {seconds:7.1f} s")
    print(f"  {'total':45} {sum(times.values()):7.1f} s")


def profile(top: int = 15) -> None:
    """CPU seconds each function took to compile itself, per call of the cold run."""
    script = PROFILE.replace("for name, call in steps:", "for name, call in steps[:2]:")
    for name, own in _fresh(script).items():
        print(f"{name}: {sum(own.values()):.1f} s compiling, the {top} largest:")
        for fn, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {seconds:6.2f} s  {fn}")


def _best(call, repeat: int) -> float:
    call()  # compiles or loads the kernels, starts the threads
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def _masked_stack(rng: np.random.Generator) -> np.ndarray:
    """A (100, 100, 50, 10) float32 stack, 100 x 100 pixels of 50 dates, 30% clouded (NaN)."""
    x = rng.normal(0.3, 0.05, (100, 100, 50, 10)).astype(np.float32)
    x[rng.random((100, 100, 50)) < 0.3] = np.nan
    return x


def warm() -> None:
    from test_batch import pixels

    import geomedian

    rng = np.random.default_rng(0)
    datasets = {
        "1e6 x 2": (rng.standard_normal((1_000_000, 2)), "propagate"),
        "1e6 x 16": (rng.standard_normal((1_000_000, 16)), "propagate"),
        "pixel batch 100000 x (20 x 6)": (pixels(), "propagate"),
        "cloud-masked stack (100, 100, 50, 10) f32": (_masked_stack(rng), "omit"),
    }
    print("warm, best of 5 (ms): cpp, numba, numba / cpp")
    for name, (x, policy) in datasets.items():
        ms = {}
        for backend in ("cpp", "numba"):
            run = lambda x=x, b=backend, p=policy: geomedian.solve(x, backend=b, nan_policy=p)  # noqa: E731
            ms[backend] = 1e3 * _best(run, 5)
        print(f"  {name:44} {ms['cpp']:8.1f} {ms['numba']:8.1f} {ms['numba'] / ms['cpp']:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="compile times only")
    parser.add_argument("--warm", action="store_true", help="numba/cpp ratios only")
    parser.add_argument("--profile", action="store_true", help="compile seconds per function")
    args = parser.parse_args()
    if args.profile:
        profile()
        return
    if not args.warm:
        cold()
    if not args.cold:
        warm()


if __name__ == "__main__":
    main()
