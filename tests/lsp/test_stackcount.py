"""Stack counts at a tracepoint in the editor, replayed: workloads/build/logger's O_SYNC writes
issue block requests in its own system calls, so `block:block_rq_issue` is hit under its two
writing lines (APPEND-WRITE, FLUSH-WRITE), below `ext4_sync_file` in the kernel."""

from __future__ import annotations

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import Replay

LOGGER_C = WORKLOADS / "logger" / "logger.c"
URI = LOGGER_C.as_uri()
TRACEPOINT = "block:block_rq_issue"
ANY_PID = 4242


async def test_hits_are_shown_on_the_writing_lines_in_their_own_words(replay: Replay) -> None:
    session = await replay("stackcount-logger")
    result = await session.command(
        "lineprobe.stackCount", {"pid": ANY_PID, "durationMs": 2200, "tracepoint": TRACEPOINT}
    )
    assert result["ok"] is True, result
    assert result["event"] == TRACEPOINT and result["samples"] > 0
    assert result["files"] == [URI]

    for marker in ("APPEND-WRITE", "FLUSH-WRITE"):
        text = await session.hover(URI, marked_line(LOGGER_C, marker) - 1)
        assert text is not None, marker
        assert f"**lineprobe: {TRACEPOINT}**" in text and " hits of pid " in text, text
        assert "CPU" not in text, text  # hits of a tracepoint, not CPU samples

    lenses = [str(lens.command.title) for lens in await session.code_lenses(URI) if lens.command]
    assert any(title.startswith(f"{TRACEPOINT} ") and "% total" in title for title in lenses), lenses

    graph = await session.command("lineprobe.flameGraph")
    assert graph["ok"] is True and graph["samples"] == result["samples"]
    assert (graph["event"], graph["unit"]) == (TRACEPOINT, "hits")

    def names(node: dict) -> set[str]:
        return {node["name"], *(n for child in node.get("children", []) for n in names(child))}

    assert any(name.startswith("blk_mq_start_request") for name in names(graph["root"]))


async def test_a_missing_tracepoint_is_a_bad_request(replay: Replay) -> None:
    session = await replay("stackcount-logger")
    result = await session.command("lineprobe.stackCount", {"pid": ANY_PID, "durationMs": 1000})
    assert result["ok"] is False and result["error"]["code"] == "bad-request", result
    assert "tracepoint" in result["error"]["message"]
