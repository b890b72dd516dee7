"""Memory-mapped points (``np.memmap``) read chunk by chunk, resident memory kept low.

Handing a C-contiguous memmap to the in-memory kernel would not copy it either, but every
page it touches stays mapped in the process: resident memory grows to the file's size
(reclaimable page cache, yet counted against the process and its memory limit). Here each
pass runs the kernel on chunks of ``CHUNK_BYTES`` and then tells the kernel to drop that
chunk's pages from the process (``madvise(MADV_DONTNEED)``: the file's data stays in the
page cache for the next pass, only this process's mapping of it goes), so the peak
resident memory of a solve is a few chunks, whatever the file's size. Mappings opened
copy-on-write (``mode="c"``) may hold private changes, which dropping would discard:
their pages are left alone.
"""

from __future__ import annotations

import mmap
import os
import weakref

import numpy as np

from .._kernels import Kernels
from .chunked import ArrayPoints, sample_runs

__all__ = ["CHUNK_BYTES", "MemmapPoints"]

CHUNK_BYTES = 8 << 20
AROUND_BYTES = 1 << 20  # the reach of a page fault's read-around (see MemmapPoints.take)


class _PageDropper:
    """Drops the pages of row ranges of a memmap from the process (where it can)."""

    def __init__(self, x: np.memmap):
        self.mm = getattr(x, "_mmap", None)
        mode = getattr(x, "mode", "c")
        if self.mm is None or mode == "c" or not hasattr(self.mm, "madvise"):
            self.mm = None
            return
        # The mapping's first byte: read-only mappings refuse a writable ctypes view.
        self.base = np.frombuffer(self.mm, dtype=np.uint8).ctypes.data
        self.size = len(self.mm)

    def drop(self, chunk: np.ndarray) -> None:
        if self.mm is None:
            return
        start = chunk.ctypes.data - self.base
        end = start + chunk.nbytes
        lo = start - start % mmap.PAGESIZE
        hi = min(self.size, end + (-end) % mmap.PAGESIZE)
        if 0 <= lo < hi:
            self.mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


class MemmapPoints(ArrayPoints):
    """A C-contiguous ``(n, d)`` float32/float64 memmap as a ``ChunkedPoints``."""

    def __init__(self, x: np.memmap, w, wscale, k: Kernels, threads: int):
        super().__init__(x, w, wscale, k, threads)
        self.rows = max(1, CHUNK_BYTES // (self.d * x.dtype.itemsize))
        self.pages = _PageDropper(x)
        self._file = None
        name = getattr(x, "filename", None)
        if self.pages.mm is not None and name is not None and hasattr(os, "preadv"):
            # Row 0's place in the file: its place in the mapping, which starts at the
            # memmap's offset rounded down to the allocation granularity.
            offset = int(getattr(x, "offset", 0))
            start = offset - offset % mmap.ALLOCATIONGRANULARITY
            self._origin = x.ctypes.data - self.pages.base + start
            self._file = os.open(name, os.O_RDONLY)
            weakref.finalize(self, os.close, self._file)

    def _chunks(self):
        for lo in range(0, self.n, self.rows):
            hi = min(self.n, lo + self.rows)
            yield lo, hi, self.x[lo:hi]

    def _release(self, chunk) -> None:
        self.pages.drop(chunk)

    def read_rows(self, runs) -> np.ndarray | None:
        """Return the row ranges ``runs`` (``(lo, hi)`` pairs) concatenated, read by pread.

        None where the file cannot be read that way (no file name, or a copy-on-write
        mapping whose private changes only the mapping holds).

        Scattered reads through the mapping would map each fault's read-around (up to about
        a MiB) and keep it, so that SGD's minibatches, visited in random order, would make
        the whole file resident in one epoch; read this way, nothing of it is mapped.
        """
        if self._file is None:
            return None
        itemsize = self.d * self.x.dtype.itemsize
        out = np.empty((sum(hi - lo for lo, hi in runs), self.d), dtype=self.x.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        at = 0
        for lo, hi in runs:
            size = (hi - lo) * itemsize
            got = os.preadv(self._file, [view[at : at + size]], self._origin + lo * itemsize)
            if got != size:
                raise OSError(f"short read from {self.x.filename}: the file changed")
            at += size
        return out

    def sample(self, rows: int, rng: np.random.Generator):
        runs = sample_runs(self.n, rows, rng)
        ws = None if self.w is None else np.concatenate([self.w[a:b] for a, b in runs])
        xs = self.read_rows(runs)
        if xs is not None:
            return xs, ws
        parts = []
        for a, b in runs:  # a fault maps the file's read-ahead too: drop each run at once
            parts.append(np.array(self.x[a:b]))
            self.pages.drop(self.x[a:b])
        return np.concatenate(parts), ws

    def take(self, idx: np.ndarray):
        ws = None if self.w is None else np.array(self.w[idx])
        xs = self.read_rows([(int(i), int(i) + 1) for i in idx])
        if xs is not None:
            return xs, ws
        # Through the mapping, row by row: each fault maps the file's read-around too (about
        # 150 KiB), so 1024 scattered rows would map most of a file of 200 MB at once.
        # Dropping a window of AROUND_BYTES either side of each row keeps the peak to a few
        # of them.
        k = max(1, AROUND_BYTES // (self.d * self.x.dtype.itemsize))
        xs = np.empty((len(idx), self.d), dtype=self.x.dtype)
        for q, i in enumerate(idx):
            xs[q] = self.x[i]
            self.pages.drop(self.x[max(0, i - k) : i + k + 1])
        return xs, ws
