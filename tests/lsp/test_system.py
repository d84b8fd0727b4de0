"""The system views in the editor, without privileges: workloads/blocker's file I/O (64 KiB
written and fsynced each round) replayed from tests/recordings/files-blocker.jsonl, with the
running totals the system panel charts while it runs, and every request's scope checked."""

from __future__ import annotations

from tests.lsp.conftest import Replay

ANY_PID = 4242


async def test_files_view_ranks_the_data_file_and_streams_its_totals(replay: Replay) -> None:
    session = await replay("files-blocker")
    result = await session.command(
        "lineprobe.systemActivity",
        {"view": "files", "scope": "process", "pid": ANY_PID, "durationMs": 2500, "slowMs": 2},
    )
    assert result["ok"] is True, result
    assert result["view"] == "files" and result["scope"] == "process"
    busiest = result["files"][0]
    assert busiest["process"] == "blocker" and busiest["file"].endswith("/data")
    assert busiest["writes"] >= 50 and busiest["syncs"] >= 50 and busiest["write_bytes"] >= 50 * 65536
    fsyncs = next(h for h in result["latency"] if h["file"] == busiest["file"] and h["call"] == "fsync")
    assert fsyncs["calls"] == busiest["syncs"] == sum(row["count"] for row in fsyncs["latency_us"])
    assert all(call["latency_ms"] >= 2 for call in result["slow"])
    assert result["cannot_measure"], "the view says what it cannot measure"
    live = session.system_live
    assert len(live) >= 2 and all(r["view"] == "files" and r["unit"] == "ns" for r in live)
    series = [next(t["value"] for t in r["totals"] if t["name"].endswith("/data")) for r in live]
    assert series == sorted(series) and series[-1] > series[0]  # running totals only grow


async def test_scope_is_explicit_and_checked_before_anything_runs(replay: Replay) -> None:
    session = await replay("files-blocker")
    for arguments, words in (
        ({"view": "files", "pid": ANY_PID}, "scope"),
        ({"view": "files", "scope": "process"}, 'scope "process" needs a pid'),
        ({"view": "files", "scope": "system", "pid": ANY_PID}, "takes no pid"),
        ({"view": "irqs", "scope": "process", "pid": ANY_PID}, "use scope system"),
        ({"view": "cpu", "scope": "system"}, "needs"),
        ({"view": "files", "scope": "process", "pid": ANY_PID, "slowMs": -1}, "slowMs must be"),
        ("garbage", "takes one object"),
    ):
        result = await session.command("lineprobe.systemActivity", arguments)
        assert result["ok"] is False and words in result["error"]["message"], (arguments, result)
