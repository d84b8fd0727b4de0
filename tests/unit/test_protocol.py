"""The agent's wire format and request loop, without privileges."""

from __future__ import annotations

import io
import os

import msgspec
import pytest
from lineprobe_agent import protocol
from lineprobe_agent.access import AccessCheck, Caller
from lineprobe_agent.session import Agent, Channel


def test_requests_round_trip() -> None:
    for request in (
        protocol.CapabilitiesRequest(1),
        protocol.ProfileRequest(2, pid=42, frequency=999, duration_s=1.5),
        protocol.StopRequest(2),
        protocol.ShutdownRequest(),
    ):
        line = protocol.encode(request)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert protocol.decode_request(line) == request


@pytest.mark.parametrize(
    "line",
    [
        b"garbage",
        b"{}",
        b'{"type":"profile"}',
        b'{"type":"profile","id":1,"pid":"x"}',
        b'{"type":"nope","id":1}',
    ],
)
def test_malformed_requests_are_rejected(line: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        protocol.decode_request(line)


def run_agent(stdin: bytes) -> list[protocol.AgentMessage]:
    out = io.BytesIO()
    caller = Caller(os.getpid(), os.getuid(), os.getgid(), ())
    agent = Agent(Channel(out), started_at=0.0, access=AccessCheck(caller))
    agent.read_requests(io.BytesIO(stdin))  # runs to EOF, then queues the end
    agent.serve()
    return [protocol.decode_message(line) for line in out.getvalue().splitlines()]


def test_agent_answers_garbage_with_an_error_and_keeps_serving() -> None:
    messages = run_agent(b"not json\n\n" + protocol.encode(protocol.CapabilitiesRequest(7)))
    assert isinstance(messages[0], protocol.Failure)
    assert messages[0].code == "bad-request" and messages[0].id is None
    assert isinstance(messages[1], protocol.CapabilitiesResult) and messages[1].id == 7
    names = {c.name for c in messages[1].report.capabilities}
    assert {
        "privileges",
        "bcc",
        "kernel-headers",
        "kprobes",
        "kfunc",
        "function-tracer",
        "btf",
        "tracefs",
    } <= names


def test_agent_validates_profile_requests_before_touching_the_kernel() -> None:
    bad = [
        protocol.ProfileRequest(1, pid=1, frequency=0),
        protocol.ProfileRequest(2, pid=1, duration_s=-1),
        protocol.ProfileRequest(3, pid=-5),
    ]
    messages = run_agent(b"".join(protocol.encode(r) for r in bad))
    assert [type(m) for m in messages] == [protocol.Failure] * 3
    assert [m.code for m in messages if isinstance(m, protocol.Failure)] == [
        "bad-request",
        "bad-request",
        "no-such-process",
    ]


def test_an_undecodable_request_is_answered_with_its_id() -> None:
    """A duration of NaN is sent as null: the error must name the request, or its caller waits forever."""
    messages = run_agent(
        b'{"type":"profile","id":3,"pid":1,"duration_s":null}\n{"type":"trace-syscalls","id":"4"}\n'
    )
    assert [(type(m), getattr(m, "id", None)) for m in messages] == [
        (protocol.Failure, 3),
        (protocol.Failure, None),  # an id that is not an integer names no request
    ]


WEDGED_AGENT = """
import io, os, sys, threading, time
from lineprobe_agent import protocol
from lineprobe_agent.access import AccessCheck, Caller
from lineprobe_agent.session import Agent, Channel

agent = Agent(Channel(io.BytesIO()), 0.0, AccessCheck(Caller(os.getpid(), os.getuid(), os.getgid(), ())))
agent.handle = lambda request: time.sleep(3600)  # a collection that never ends
read_end, write_end = os.pipe()
os.write(write_end, protocol.encode(protocol.CapabilitiesRequest(1)))
os.close(write_end)  # end of input while the request is under way
threading.Thread(target=agent.read_then_exit, args=(os.fdopen(read_end, "rb"),), daemon=True).start()
agent.serve()
"""


def test_the_agent_ends_on_end_of_input_even_while_a_request_never_ends() -> None:
    """A collection of millions of blocks kept the agent alive for 12 minutes after its caller left."""
    import subprocess
    import sys
    import time

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", WEDGED_AGENT], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20


class _ResetAfterOneLine:
    """A socket whose peer died with answers unread: reading it fails with ECONNRESET."""

    def __init__(self, first: bytes) -> None:
        self.lines = [first]

    def __iter__(self) -> _ResetAfterOneLine:
        return self

    def __next__(self) -> bytes:
        if self.lines:
            return self.lines.pop()
        raise ConnectionResetError(104, "Connection reset by peer")


def test_a_connection_reset_ends_the_agent_like_end_of_input() -> None:
    """A caller killed mid-request reset the socket; the reader thread died of it without telling
    the loop, and the agent waited for requests forever (found as orphaned agents)."""
    out = io.BytesIO()
    caller = Caller(os.getpid(), os.getuid(), os.getgid(), ())
    agent = Agent(Channel(out), started_at=0.0, access=AccessCheck(caller))
    agent.read_requests(_ResetAfterOneLine(protocol.encode(protocol.CapabilitiesRequest(5))))  # type: ignore[arg-type]
    agent.serve()  # returns: the reset queued the end
    messages = [protocol.decode_message(line) for line in out.getvalue().splitlines()]
    assert [type(m) for m in messages] == [protocol.CapabilitiesResult]
