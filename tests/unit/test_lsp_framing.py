"""The language server against a client that breaks LSP's framing: a ``Content-Length`` too large
to read (pygls reads it as asked: a huge one raised OverflowError out of its loop, a traceback
and a dead server) ends the session with a message that says what the client sent."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("length", [10**30, 3 << 30])
def test_an_impossible_content_length_ends_the_session_with_a_clear_message(length: int) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "lineprobe.cli", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = server.communicate(f"Content-Length: {length}\r\n\r\n{{}}".encode(), timeout=60)
    text = err.decode(errors="replace")
    assert "Traceback" not in text and "OverflowError" not in text, text
    assert f"announced a message of {length:,} bytes" in text, text
