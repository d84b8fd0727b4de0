"""A profile sliced by time and thread in the editor, replayed: a recorded 2.5 s profile of
workloads/build/phases, which runs churn_alpha for a second, then churn_beta, in turn."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import Replay, Session

PHASES_C = WORKLOADS / "phases" / "phases.c"
URI = PHASES_C.as_uri()
ALPHA = marked_line(PHASES_C, "ALPHA-LINE") - 1
BETA = marked_line(PHASES_C, "BETA-LINE") - 1


def body_of(function: str) -> set[int]:
    """The 0-based lines of a function of phases.c, from its name to its closing brace (at -O0
    samples fall on its loop's header as well as on the marked line)."""
    lines = PHASES_C.read_text().splitlines()
    first = next(i for i, text in enumerate(lines) if f" {function}(uint64_t x)" in text)
    last = next(i for i in range(first, len(lines)) if lines[i] == "}")
    return set(range(first, last + 1))


ALPHA_BODY, BETA_BODY = body_of("churn_alpha"), body_of("churn_beta")


async def profiled(session: Session) -> dict[str, Any]:
    result = await session.command("lineprobe.profile", {"pid": 4242, "durationMs": 2500})
    assert result["ok"] is True, result
    return result


def heat_lines(session: Session) -> dict[int, float]:
    heat = [h for h in session.heat if h["uri"] == URI][-1]
    return {entry["line"]: entry["self_percent"] for entry in heat["lines"]}


async def test_a_time_slice_moves_the_heat_to_the_function_that_ran_then(replay: Replay) -> None:
    session = await replay("profile-phases")
    whole = await profiled(session)
    timeline = await session.command("lineprobe.timeline")
    assert timeline["ok"] is True and timeline["bucketMs"] == 100 and timeline["selection"] == ""
    (thread,) = timeline["threads"]
    assert thread["samples"] == whole["samples"] == sum(thread["counts"])
    both = heat_lines(session)
    assert both.get(ALPHA, 0) > 0 and both.get(BETA, 0) > 0

    # Bucket by bucket, the heat is on one function's line (two only where a phase ends within
    # the bucket), and the function changes no more often than the phases do (2.5 s hold three
    # phase ends at most): a slice shows what ran then, not the whole profile.
    ran: list[int] = []
    for bucket, count in enumerate(thread["counts"]):
        session.heat.clear()
        start = bucket / 10
        part = await session.command("lineprobe.sliceProfile", {"startS": start, "endS": start + 0.1})
        assert part["ok"] is True, part
        assert part["selection"] == f"from {start:g} s to {start + 0.1:g} s"
        assert part["samples"] == count
        if count == 0:
            continue
        lines = heat_lines(session)
        hot = [
            marker
            for marker, body in ((ALPHA, ALPHA_BODY), (BETA, BETA_BODY))
            if any(lines.get(line, 0) > 0 for line in body)
        ]
        assert hot, (bucket, lines)
        ran += hot if len(hot) == 1 else []
    changes = sum(1 for before, after in itertools.pairwise(ran) if before != after)
    assert set(ran) == {ALPHA, BETA} and changes <= 3, ran

    flame = await session.command("lineprobe.flameGraph")
    assert flame["root"]["value"] == part["samples"]  # the flame graph follows the slice

    session.heat.clear()
    again = await session.command("lineprobe.sliceProfile", {})
    assert again["samples"] == whole["samples"] and again["selection"] == ""
    assert heat_lines(session) == both
    assert (await session.command("lineprobe.timeline"))["threads"] == timeline["threads"]


async def test_bad_slices_are_refused_with_the_reason(replay: Replay) -> None:
    session = await replay("profile-phases")
    assert (await session.command("lineprobe.sliceProfile", {"startS": 1}))["ok"] is False  # no profile yet
    await profiled(session)
    for arguments, message in (
        ({"startS": 2, "endS": 1}, "ends before it starts"),
        ({"threads": [1]}, "no thread '1' in this capture"),
        ({"threads": "all"}, "Expected `array"),
        ({"from": 1}, "unknown field"),
    ):
        result = await session.command("lineprobe.sliceProfile", arguments)
        assert result["ok"] is False and message in result["error"]["message"], (arguments, result)
