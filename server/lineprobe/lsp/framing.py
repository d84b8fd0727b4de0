"""The language server's input, bounded: pygls reads each message's body with the length its
``Content-Length`` header announces, whatever it is, so a client that sends a huge or absurd one
makes it ask for gigabytes or overflow (OverflowError out of its loop: a traceback and a dead
server). Here such a length ends the session with a message saying what the client sent: the
framing is lost and nothing after it can be trusted to be LSP."""

from __future__ import annotations

import sys
from typing import BinaryIO

MAX_MESSAGE_BYTES = 256 << 20
"""The largest message read (a didOpen of a very large file is a few MiB)."""


class BoundedInput:
    """``stdin`` as pygls reads it (``readline``, ``read``), refusing a body over the bound."""

    def __init__(self, stdin: BinaryIO, limit: int = MAX_MESSAGE_BYTES) -> None:
        self.stdin = stdin
        self.limit = limit

    def readline(self) -> bytes:
        return self.stdin.readline()

    def read(self, size: int) -> bytes:
        if size > self.limit:
            sys.stderr.write(
                f"lineprobe: the client announced a message of {size:,} bytes (Content-Length), more"
                f" than the {self.limit:,} lineprobe reads: its stream is not LSP; ending the session\n"
            )
            sys.stderr.flush()
            return b""  # pygls ends its loop at an empty body
        return self.stdin.read(size)
