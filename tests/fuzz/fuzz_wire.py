"""Fuzz what lineprobe reads from others over its two wires, with atheris (libFuzzer):

- the agent's request decoder (``protocol.decode_request`` and the id it salvages from a line it
  cannot decode): what a connected caller, any member of the service's group, may send;
- the server's decoder of the agent's lines (``WireSession.decode``);
- the language server's LSP framing: pygls's ``Content-Length`` reader through lineprobe's
  bound on it, the JSON, and each message structured into lsprotocol's types by lineprobe's
  server (``lsp``); and the same with every message then dispatched to lineprobe's handlers
  (``lsp-dispatch``, forty times slower): what an editor, or anything that can write to the
  server's stdin, may send. (Its first finding: a huge ``Content-Length`` raised
  OverflowError out of pygls's loop; ``lsp/framing.py``.)

Each wire is a harness of its own (``--wire=request|agent|lsp|lsp-dispatch``), so that each
gets its own count of executions. Without ``--wire`` the input's first byte picks the wire.
Seeds start with the byte of their wire (both LSP harnesses read the LSP seeds). Each
decoder's own refusal (a msgspec error, an ``AgentError``) is an answer; any other exception,
a run over the timeout, or runaway memory (``RLIMIT_AS``) is a finding.

    .venv/bin/python tests/fuzz/fuzz_wire.py --wire=lsp -runs=10000000 /tmp/work tests/fuzz/corpus-wire
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
import threading
from pathlib import Path
from typing import Any

MEMORY_LIMIT = 2 << 30
WIRES = ("request", "agent", "lsp", "lsp-dispatch")


class _Framing:
    """The server's protocol up to dispatch: messages are structured as the server structures
    them (lsprotocol's types), then dropped instead of handled."""

    def __init__(self, protocol: Any) -> None:
        self.structure_message = protocol.structure_message

    def handle_message(self, message: Any) -> None:
        pass


class _Sink:
    """Where the server's answers go: nowhere (their encoding still runs)."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def _lsp_server() -> Any:
    from lineprobe.lsp.server import create_server

    server = create_server()
    server.protocol.set_writer(_Sink())
    return server


def one_input(data: bytes, server: Any, wire: int | None = None) -> None:
    import msgspec
    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.capture.wire.convert import WireSession
    from lineprobe.lsp.framing import BoundedInput
    from lineprobe_agent import protocol
    from lineprobe_agent.session import _request_id
    from pygls.io_ import run

    if not data:
        return
    # lsp and lsp-dispatch read the same inputs: their seeds start with byte 2.
    tag = min(wire, 2) if wire is not None else None
    if wire is None:
        kind, body = data[0] % 3, data[1:]
    elif data[0] % 3 == tag:
        kind, body = wire, data[1:]
    else:  # another wire's seed, or a mutation of the byte that names the wire: the whole input
        kind, body = wire, data
    if kind == 0:
        try:
            protocol.decode_request(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            _request_id(body)
    elif kind == 1:
        with contextlib.suppress(AgentError):
            WireSession().decode(body)
    else:
        # One reader per input; the loop ends at the end of the bytes. Handlers that need the
        # event loop fail inside pygls's own error handling: their exceptions are not findings.
        protocol = server.protocol if kind == 3 else _Framing(server.protocol)
        run(threading.Event(), BoundedInput(io.BytesIO(body)), protocol)


def make_corpus() -> None:
    corpus = Path(__file__).resolve().parent / "corpus-wire"
    corpus.mkdir(exist_ok=True)
    requests = [
        {"type": "profile", "id": 1, "pid": 42, "frequency": 99, "duration_s": 1.0},
        {"type": "files", "id": 2, "pid": None, "slow_ms": 10.0},
        {"type": "disk", "id": 3, "pid": 7, "interval_s": 1.0, "max_requests": 10},
        {"type": "wallclock", "id": 4, "pid": 9},
        {"type": "stop", "id": 5, "target": 1},
    ]
    for number, request in enumerate(requests):
        (corpus / f"request-{number}").write_bytes(b"\x00" + json.dumps(request).encode())
    hello = {"type": "hello", "version": 3, "oldest": 3, "features": [], "agent_pid": 1, "euid": 0}
    (corpus / "hello").write_bytes(b"\x01" + json.dumps(hello).encode())
    failure = {"type": "error", "id": None, "code": "busy", "message": "four agents"}
    (corpus / "failure").write_bytes(b"\x01" + json.dumps(failure).encode())
    for name, message in (
        ("initialize", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
        (
            "command",
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "workspace/executeCommand",
                "params": {"command": "lineprobe.systemActivity", "arguments": [{"view": "disk"}]},
            },
        ),
    ):
        body = json.dumps(message).encode()
        (corpus / f"lsp-{name}").write_bytes(b"\x02" + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    print(f"seeds written to {corpus}")


def _take_wire(argv: list[str]) -> int | None:
    """``--wire=NAME`` taken out of ``argv`` (the rest is libFuzzer's): the wire's index."""
    for arg in argv[1:]:
        if arg.startswith("--wire="):
            argv.remove(arg)
            name = arg.split("=", 1)[1]
            if name not in WIRES:
                raise SystemExit(f"fuzz_wire: --wire is one of {', '.join(WIRES)}, not {name!r}")
            return WIRES.index(name)
    return None


def main() -> None:
    if sys.argv[1:] == ["--make-corpus"]:
        make_corpus()
        return
    wire = _take_wire(sys.argv)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # pygls logs each handler failure: the fuzzer's output stays readable
    # Everything the inputs reach is imported here, inside the instrumentation (a module first
    # imported elsewhere would run uninstrumented and its branches would go unseen).
    # LINEPROBE_FUZZ_INSTRUMENT=lineprobe: coverage of lineprobe's own modules alone, pygls and
    # lsprotocol run uninstrumented (their failures are still findings): several times faster.
    ours = os.environ.get("LINEPROBE_FUZZ_INSTRUMENT") == "lineprobe"
    instrumented = ["lineprobe", "lineprobe_agent"] + ([] if ours else ["pygls", "lsprotocol"])
    with atheris.instrument_imports(include=instrumented):
        import lineprobe.capture.wire.convert
        import lineprobe.lsp.framing
        import lineprobe.lsp.server  # noqa: F401
        import lineprobe_agent.protocol
        import lineprobe_agent.session  # noqa: F401
        import pygls.io_  # noqa: F401
    server = _lsp_server()
    atheris.Setup(sys.argv, lambda data: one_input(data, server, wire))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
