"""Kernel tracepoints in the editor, without privileges: the sched tracepoints' formats and
sched_switch's records in workloads/naps (a program that naps a thousand times a second),
replayed from tests/recordings/tracepoints-sched.jsonl and tracepoint-naps.jsonl."""

from __future__ import annotations

import re

from tests.lsp.conftest import Replay

ANY_PID = 4242


async def test_the_pick_list_has_each_tracepoint_with_its_fields(replay: Replay) -> None:
    session = await replay("tracepoints-sched")
    result = await session.command("lineprobe.tracepointList", {"pattern": "sched:*"})
    assert result["ok"] is True, result
    switch = next(t for t in result["tracepoints"] if t["name"] == "sched:sched_switch")
    assert [f["name"] for f in switch["fields"]] == [
        "prev_comm",
        "prev_pid",
        "prev_prio",
        "prev_state",
        "next_comm",
        "next_pid",
        "next_prio",
    ]
    bad = await session.command("lineprobe.tracepointList", {"pattern": ""})
    assert bad["ok"] is False and "pattern must be a glob" in bad["error"]["message"]


async def test_a_trace_streams_records_with_their_fields(replay: Replay) -> None:
    session = await replay("tracepoint-naps")
    result = await session.command(
        "lineprobe.tracepointTrace",
        {"pid": ANY_PID, "tracepoint": "sched:sched_switch", "durationMs": 1000, "rateLimit": 150},
    )
    assert result["ok"] is True, result
    assert result["tracepoint"] == "sched:sched_switch"
    assert result["hits"] == result["recorded"] + result["rate_limited"] > result["recorded"] > 0
    naps = [line for line in result["lines"] if line["fields"]["prev_comm"] == "naps"]
    assert naps and all(line["fields"]["prev_state"] in (0, 1) for line in naps)
    assert session.probe_live == []  # tracepoint reports have a notification of their own
    live = session.tracepoint_live
    assert live and all(report["tracepoint"] == "sched:sched_switch" for report in live)
    text = live[0]["records"][0]["text"]
    assert re.match(r"prev_comm=naps prev_pid=\d+ prev_prio=\d+ prev_state=\d+ next_comm=\S+", text), text


async def test_trace_arguments_are_checked_before_anything_runs(replay: Replay) -> None:
    session = await replay("tracepoint-naps")
    for arguments, words in (
        ({"pid": ANY_PID}, 'needs a "tracepoint"'),
        ({"pid": ANY_PID, "tracepoint": "sched:sched_switch", "rateLimit": 0}, "rateLimit must be in"),
        ({"command": ["true"], "tracepoint": "sched:sched_switch"}, "give its pid"),
    ):
        result = await session.command("lineprobe.tracepointTrace", arguments)
        assert result["ok"] is False and words in result["error"]["message"], (arguments, result)
