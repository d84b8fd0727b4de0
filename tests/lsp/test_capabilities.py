"""``lineprobe.capabilities`` replayed: the editor's "Show Capabilities" gets the agent's report of
the machine as the agent gave it (tests/recordings/capabilities.jsonl), without privileges."""

from __future__ import annotations

import json

from tests.lsp.conftest import RECORDINGS, Replay


def recorded_report() -> dict:
    for line in (RECORDINGS / "capabilities.jsonl").read_text().splitlines()[1:]:
        message = json.loads(line)["message"]
        if message.get("type") == "capabilities-result":
            return message["report"]
    raise AssertionError("the recording holds no capabilities-result")


async def test_the_agents_report_reaches_the_editor(replay: Replay) -> None:
    session = await replay("capabilities")
    result = await session.command("lineprobe.capabilities")
    assert result["ok"] is True, result
    recorded = recorded_report()
    assert result["kernel_release"] == recorded["kernel_release"]
    assert result["capabilities"] == recorded["capabilities"]
    names = {c["name"]: c["available"] for c in result["capabilities"]}
    assert names["privileges"] is True and names["bcc"] is True, names
    # Asked again (the extension asks on every "Show Capabilities"), it answers again.
    again = await session.command("lineprobe.capabilities")
    assert again["capabilities"] == result["capabilities"]
