"""Run test code in child processes, so that a crash fails a test, not the run.

``run_script`` runs one script in a fresh interpreter (for what must start clean: signals,
fork, memory measurements).

A ``Worker`` starts ``python -m worker_main`` (``tests/worker_main.py``) once, sends it one
pickled request per case over its stdin and reads one pickled reply per case from its
stdout. Starting an interpreter and loading Numba's kernels costs seconds; a case costs
microseconds, so hundreds of cases share one process. If the child dies (a segfault, an
abort) or does not answer within the time limit, the call raises ``WorkerDied`` naming the
request, and the next call starts a fresh child.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

# Prepended to a child's code: the compiled core does not import there (as in an install
# without it), whatever this environment has.
HIDE_CORE = """
import importlib.abc, sys

class HideCore(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "geomedian._core":
            raise ModuleNotFoundError("No module named 'geomedian._core'", name=name)
        return None

sys.meta_path.insert(0, HideCore())
"""

TESTS = Path(__file__).resolve().parent


def run_script(code: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """Run ``python -c code *args`` in a fresh interpreter; output captured as text."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )


def last_json_line(proc: subprocess.CompletedProcess) -> Any:
    """The JSON value a script printed last (its report)."""
    return json.loads(proc.stdout.strip().splitlines()[-1])


class WorkerDied(AssertionError):
    """The child crashed or hung on a request."""


def _read_exactly(fd: int, size: int, deadline_s: float) -> bytes:
    chunks, got = [], 0
    while got < size:
        ready, _, _ = select.select([fd], [], [], deadline_s)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, size - got)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class Worker:
    """One child interpreter answering requests ``(function name, payload)``."""

    def __init__(self, env: dict[str, str] | None = None, timeout_s: float = 120.0):
        self.env = {**os.environ, **(env or {})}
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = {**self.env, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
        return subprocess.Popen(
            [sys.executable, "-m", "worker_main"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )

    def call(self, name: str, payload: Any) -> Any:
        """Run ``worker_main.HANDLERS[name](payload)`` in the child and return its reply."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        data = pickle.dumps((name, payload))
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
            fd = self.proc.stdout.fileno()
            size = struct.unpack("<Q", _read_exactly(fd, 8, self.timeout_s))[0]
            reply = _read_exactly(fd, size, self.timeout_s)
        except (BrokenPipeError, EOFError, TimeoutError) as err:
            self.close()
            raise WorkerDied(
                f"the worker process {'hung' if isinstance(err, TimeoutError) else 'died'} "
                f"(exit code {self.proc_returncode}) on {name}({payload!r})\n"
                f"stderr:\n{self.stderr_tail}"
            ) from None
        return pickle.loads(reply)

    proc_returncode: int | None = None
    stderr_tail: str = ""

    def close(self) -> None:
        """Stop the child (killed if it hangs) and keep its exit code and stderr tail."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.proc_returncode = proc.returncode
        self.stderr_tail = proc.stderr.read().decode(errors="replace")[-3000:]
        proc.stdout.close()
        proc.stderr.close()
