"""Off-CPU time in the editor, replayed (tests/recordings/offcpu-blocker.jsonl: workloads/blocker
naps 5 ms at NAP-LINE and fsyncs at FSYNC-LINE each round): the waiting lines get heat, hovers
and lenses worded in time, and the flame graph's unit is nanoseconds."""

from __future__ import annotations

import re

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import Replay

BLOCKER_C = WORKLOADS / "blocker" / "blocker.c"
URI = BLOCKER_C.as_uri()
ANY_PID = 4242


async def test_the_waiting_lines_carry_their_off_cpu_time(replay: Replay) -> None:
    session = await replay("offcpu-blocker")
    result = await session.command("lineprobe.offCpu", {"pid": ANY_PID, "durationMs": 1000})
    assert result["ok"] is True, result
    assert result["event"] == "off-CPU time" and result["files"] == [URI]
    nap = await session.hover(URI, marked_line(BLOCKER_C, "NAP-LINE") - 1)
    assert nap is not None and "**lineprobe: off-CPU time**" in nap, nap
    assert re.search(r"\d+(\.\d+)? (ms|s)\b", nap), nap  # a duration, not a count of samples
    assert "CPU samples" not in nap
    heat = {entry["uri"]: entry for entry in session.heat}
    nap_line = marked_line(BLOCKER_C, "NAP-LINE") - 1
    assert (heat[URI]["event"], heat[URI]["unit"]) == ("off-CPU time", "ns")  # drawn in its own palette
    shares = {line["line"]: line["total_percent"] for line in heat[URI]["lines"]}
    assert shares[nap_line] > 80  # the naps are most of the waiting
    graph = await session.command("lineprobe.flameGraph")
    assert (graph["event"], graph["unit"]) == ("off-CPU time", "ns")


async def test_wall_clock_time_puts_running_and_waiting_on_the_lines(replay: Replay) -> None:
    session = await replay("wallclock-blocker")
    result = await session.command(
        "lineprobe.offCpu", {"pid": ANY_PID, "durationMs": 1000, "wallClock": True}
    )
    assert result["ok"] is True, result
    assert result["event"] == "wall-clock time" and result["files"] == [URI]
    nap = await session.hover(URI, marked_line(BLOCKER_C, "NAP-LINE") - 1)
    assert nap is not None and "wall-clock time" in nap and "off-CPU time" in nap, nap
    heat = {entry["uri"]: entry for entry in session.heat}
    assert (heat[URI]["event"], heat[URI]["unit"]) == ("wall-clock time", "ns")
    bad = await session.command("lineprobe.offCpu", {"pid": ANY_PID, "wallClock": "yes"})
    assert bad["ok"] is False and "wallClock must be true or false" in bad["error"]["message"]
