"""Ctrl-C during a long solve raises KeyboardInterrupt within a second, on both backends.

Each case runs in a child process that sends SIGINT to itself half a second into a solve
that would otherwise run for minutes (Weiszfeld beside a point that nearly holds the
optimum, ``tol=0`` and a huge ``max_iter``), measures the time from the signal to the
KeyboardInterrupt, and checks that the next call works.
"""

from __future__ import annotations

import json

import pytest
from isolated import last_json_line, run_script

CHILD = r"""
import json, os, signal, sys, threading, time
import numpy as np
import geomedian

# A process started in the background by a shell without job control (as some CI
# runners are) inherits SIGINT ignored, and Python then installs no handler: restore it.
signal.signal(signal.SIGINT, signal.default_int_handler)
backend, shape, threads = sys.argv[1], tuple(json.loads(sys.argv[2])), int(sys.argv[3])
# Points around the origin, and the origin weighted just below what would make it the
# optimum (Kuhn's test): the optimum lies a hair from it, where Weiszfeld's steps shrink
# towards nothing, so the gap stays far above the rounding floor for thousands of steps.
x = np.random.default_rng(0).normal(size=shape)
x[..., 0, :] = 0.0
u = x[..., 1:, :] / np.linalg.norm(x[..., 1:, :], axis=-1, keepdims=True)
w = np.ones(shape[:-1])
w[..., 0] = 0.999 * np.linalg.norm(u.sum(axis=-2), axis=-1)
geomedian.solve(x[..., :50, :], backend=backend, threads=threads)  # load the kernels first
sent = []


def interrupt_me():
    time.sleep(0.5)
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)


threading.Thread(target=interrupt_me, daemon=True).start()
try:
    geomedian.solve(
        x, w, backend=backend, method="weiszfeld", tol=0, max_iter=10**12, threads=threads
    )
except KeyboardInterrupt:
    latency = time.monotonic() - sent[0]
else:
    sys.exit("the solve finished before the interrupt")
after = geomedian.solve([[0, 0], [4, 0], [0, 3]], backend=backend, threads=threads)
print(json.dumps({"latency": latency, "next_converged": bool(after.converged)}))
"""

CASES = {
    # one large problem, each pass over the threads / on the calling thread
    "one-problem-2-threads": ((200_000, 8), 2),
    "one-problem-1-thread": ((200_000, 8), 1),
    # a batch of small problems spread over the threads: every thread must stop
    "batch-2-threads": ((4_000, 16, 2), 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_sigint_raises_keyboardinterrupt_within_a_second(backend, case):
    shape, threads = CASES[case]
    proc = run_script(CHILD, backend, json.dumps(shape), str(threads), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = last_json_line(proc)
    assert out["latency"] < 1.0, out
    assert out["next_converged"], out


# The worker that runs the Numba kernels for the main thread (so that Ctrl-C reaches the
# caller) is one thread for the process: OpenMP gives every thread that opens a parallel
# region a team of its own, and a new worker per call started a new team each time.
def test_main_thread_kernels_run_on_one_worker_thread():
    pytest.importorskip("numba")
    import threading

    import numpy as np

    from geomedian._numba.interruptible import new_stop_flag, run_interruptible

    seen = []
    for _ in range(3):
        run_interruptible(lambda: seen.append(threading.get_ident()), new_stop_flag())
    assert len(set(seen)) == 1 and seen[0] != threading.get_ident()

    def fail():
        raise ValueError("from the kernel")

    with pytest.raises(ValueError, match="from the kernel"):
        run_interruptible(fail, new_stop_flag())
    run_interruptible(lambda: seen.append(threading.get_ident()), new_stop_flag())
    assert seen[-1] == seen[0]  # the worker outlives a kernel that raised

    # Off the main thread no signal can arrive: the kernel runs on the calling thread.
    other = []

    def caller():
        run_interruptible(lambda: other.append(threading.get_ident()), np.zeros(1, np.int32))
        other.append(threading.get_ident())

    t = threading.Thread(target=caller)
    t.start()
    t.join()
    assert other[0] == other[1]
