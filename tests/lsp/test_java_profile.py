"""Java's lines in the editor, without privileges: a recorded 1 s profile of the workshop's Java
program (tests/recordings/profile-slowy.jsonl: HotSpot with `-XX:-Inline`, lineprobe's JVMTI agent
loaded into it as the window ended). The JIT code's frames come from the capture's frame archive
alone (the agent's jitdump was removed once the capture was resolved), and App.java is found under
the workspace by its package path: isDivisible's line is the hottest."""

from __future__ import annotations

from lsprotocol import types

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import Replay

APP_JAVA = WORKLOADS / "slowy" / "slowy" / "App.java"
URI = APP_JAVA.as_uri()
ANY_PID = 4242


async def test_is_divisible_s_line_is_the_hottest_diagnostic_in_app_java(replay: Replay) -> None:
    session = await replay("profile-slowy")
    result = await session.command("lineprobe.profile", {"pid": ANY_PID, "durationMs": 1000})
    assert result["ok"] is True, result
    assert result["files"] == [URI], result["files"]
    top = result["top_lines"][0]
    hot = marked_line(APP_JAVA, "IS-DIVISIBLE")
    assert (top["path"], top["line"], top["function"]) == ("slowy/App.java", hot, "slowy.App.isDivisible")

    diagnostics = session.client.diagnostics[URI]
    hottest = max(diagnostics, key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == hot - 1
    assert hottest.severity == types.DiagnosticSeverity.Information
    assert "of CPU samples (self) in slowy.App.isDivisible" in hottest.message, hottest.message
    calls = marked_line(APP_JAVA, "CALLS-IS-DIVISIBLE") - 1
    related = [(r.location.uri, r.location.range.start.line) for r in hottest.related_information or []]
    assert (URI, calls) in related, related
