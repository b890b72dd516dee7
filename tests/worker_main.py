"""The child side of ``isolated.Worker``: answer pickled requests until stdin closes.

Requests and replies are length-prefixed pickles on the original stdout; the library's
own output, if any, goes to stderr so that it cannot corrupt a reply.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import traceback

import fuzz_cases

HANDLERS = {"fuzz": fuzz_cases.run_case}


def _read_exactly(stream, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def main() -> None:
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed from here on lands in stderr
    while True:
        header = _read_exactly(requests, 8)
        if header is None:
            return
        name, payload = pickle.loads(_read_exactly(requests, struct.unpack("<Q", header)[0]))
        try:
            reply = pickle.dumps(HANDLERS[name](payload))
        except Exception:  # a bug of the test itself: report it, keep serving
            reply = pickle.dumps({"harness_error": traceback.format_exc()})
        replies.write(struct.pack("<Q", len(reply)) + reply)
        replies.flush()


if __name__ == "__main__":
    main()
