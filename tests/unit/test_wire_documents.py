"""The documents that describe the wire are held to it: PROTOCOL.md, and the extension's settings.

As rust-analyzer ties ``lsp-extensions.md`` to its code by a hash, PROTOCOL.md
carries the hash of the agent's wire schema: a change to the schema fails
here until the document is read again, changed to match, and given the new
hash. Every request and message type and every header field must be named in
it. The extension's ``package.json`` offers settings whose bounds and defaults
must be those of the parameters the agent enforces.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import msgspec
import pytest
from lineprobe.capture.wire import parameters
from lineprobe.capture.wire.parameters import Parameter
from lineprobe.lsp.settings import DIAGNOSTIC_THRESHOLD
from lineprobe_agent import protocol

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_MD = (ROOT / "PROTOCOL.md").read_text()


def schema_hash() -> str:
    schema = msgspec.json.schema_components([protocol.Request, protocol.AgentMessage])
    return hashlib.sha256(msgspec.json.encode(schema, order="sorted")).hexdigest()[:16]


def test_protocol_md_was_updated_with_the_schema() -> None:
    documented = re.search(r"wire schema sha256: ([0-9a-f]{16})", PROTOCOL_MD)
    assert documented, "PROTOCOL.md lost its schema hash line"
    assert documented.group(1) == schema_hash(), (
        "the agent's wire schema changed: update PROTOCOL.md section 1 to say what is now true, "
        f"then set its hash to {schema_hash()}"
    )
    assert f"## 1. Agent protocol (version {protocol.PROTOCOL_VERSION})" in PROTOCOL_MD


def test_every_type_and_header_field_is_documented() -> None:
    union_members = [*protocol.Request.__args__, *protocol.AgentMessage.__args__]  # type: ignore[attr-defined]
    for kind in union_members:
        assert f"`{protocol.tag_of(kind)}`" in PROTOCOL_MD, kind
    for field in protocol.TraceHeader.__struct_fields__:
        assert f"`{field}`" in PROTOCOL_MD, field


def test_requests_refuse_unknown_fields_and_out_of_bounds_values() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `freq`"):
        protocol.decode_request(b'{"type":"profile","id":1,"pid":2,"freq":5}')
    with pytest.raises(msgspec.ValidationError, match="frequency"):
        protocol.decode_request(b'{"type":"profile","id":1,"pid":2,"frequency":10001}')
    with pytest.raises(msgspec.ValidationError, match="duration_s"):
        protocol.decode_request(b'{"type":"trace-syscalls","id":1,"pid":2,"duration_s":0}')
    request = protocol.decode_request(b'{"type":"find-leaks","id":1,"pid":2}')
    assert isinstance(request, protocol.LeaksRequest)
    assert request.duration_s == parameters.LEAKS_DURATION_S.default
    assert request.budget_percent == parameters.BUDGET_PERCENT.default


def test_messages_from_a_newer_agent_may_carry_more_fields() -> None:
    line = b'{"type":"progress","id":1,"phase":"sampling","elapsed_s":1,"duration_s":2,"samples":3,"new":1}'
    assert isinstance(protocol.decode_message(line), protocol.Progress)


SETTINGS: dict[str, tuple[Parameter, float]] = {
    "lineprobe.durationMs": (parameters.DURATION_S, 1000.0),
    "lineprobe.frequency": (parameters.FREQUENCY, 1.0),
    "lineprobe.diagnosticThreshold": (DIAGNOSTIC_THRESHOLD, 1.0),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_the_extension_offers_the_bounds_and_defaults_the_agent_enforces(name: str) -> None:
    manifest = json.loads((ROOT / "extension" / "package.json").read_text())
    setting = manifest["contributes"]["configuration"]["properties"][name]
    parameter, scale = SETTINGS[name]
    assert setting["default"] == parameters.default(parameter) * scale
    assert setting["maximum"] == parameter.high * scale
    low = parameter.low * scale
    if not parameter.low_open:
        assert setting["minimum"] == low
    elif setting["type"] == "integer":
        assert setting["minimum"] == int(low) + 1  # the least whole number above an open bound
    else:
        assert setting["exclusiveMinimum"] == low
