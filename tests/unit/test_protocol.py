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
