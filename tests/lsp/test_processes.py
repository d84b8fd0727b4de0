"""What the editor offers before any capture: the process picker and the code lenses that start one.
Neither needs the agent, so a replaying server (which never starts one) shows them as any would."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import Replay

SERVER_C = WORKLOADS / "server" / "server.c"


async def test_running_workspace_programs_come_first_and_get_capture_lenses(
    replay: Replay, workloads: Path, spawn, tmp_path: Path
) -> None:
    config = tmp_path / "server.conf"
    config.write_text("port = 8080\n")
    target = spawn(workloads / "server", config, cwd=tmp_path)  # configured: it sleeps
    session = await replay("syscalls-server")

    found = await session.command("lineprobe.listProcesses")
    ours = next(p for p in found if p["pid"] == target.pid)
    assert ours["inWorkspace"] is True
    assert ours["exe"] == str(workloads / "server")
    assert ours["commandLine"] == [str(workloads / "server"), str(config)]
    flags = [p["inWorkspace"] for p in found]
    assert flags == sorted(flags, reverse=True)

    lenses = await session.code_lenses(SERVER_C.as_uri())
    by_line: dict[int, list[str]] = {}
    for lens in lenses:
        assert lens.command is not None
        by_line.setdefault(lens.range.start.line, []).append(lens.command.title)
    main = marked_line(SERVER_C, "int main(int argc, char **argv)") - 1
    for line in (main, marked_line(SERVER_C, "static int load_config(const char *path)") - 1):
        titles = by_line.get(line, [])
        assert f"Profile for 5 s (pid {target.pid})" in titles, (line, by_line)
        assert "Trace syscalls for 5 s" in titles and "Find leaks for 10 s" in titles, titles
    profile = next(lens for lens in lenses if lens.command and lens.command.command == "lineprobe.profile")
    assert profile.command is not None
    assert list(profile.command.arguments or []) == [{"pid": target.pid, "durationMs": 5000}]
