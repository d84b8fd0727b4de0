"""What the editor offers before any capture: the process picker and the code lenses that start one.
Neither needs the agent, so a replaying server (which never starts one) shows them as any would."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from lsprotocol import types

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


async def lens_titles_after_refresh(session, uri: str, refreshes: int, deadline_s: float = 15) -> list[str]:
    """The file's lens titles once the server asked the editor to refresh them again."""
    deadline = time.monotonic() + deadline_s
    while session.refreshes.count(types.WORKSPACE_CODE_LENS_REFRESH) <= refreshes:
        assert time.monotonic() < deadline, "the server never asked for the lenses again"
        await asyncio.sleep(0.1)
    return [lens.command.title for lens in await session.code_lenses(uri) if lens.command]


async def test_a_program_started_or_ended_while_its_source_is_open_gets_or_loses_its_lenses(
    replay: Replay, workloads: Path, spawn, tmp_path: Path
) -> None:
    """The editor asks for lenses when a file opens or changes, not when a program starts: the
    server tells it to ask again when the workspace's running programs change."""
    session = await replay("syscalls-server")
    uri = SERVER_C.as_uri()
    before = [lens.command.title for lens in await session.code_lenses(uri) if lens.command]
    await asyncio.sleep(1)  # the server's first look at the running programs
    refreshes = session.refreshes.count(types.WORKSPACE_CODE_LENS_REFRESH)
    config = tmp_path / "server.conf"
    config.write_text("port = 8080\n")
    target = spawn(workloads / "server", config, cwd=tmp_path)
    lens = f"Profile for 5 s (pid {target.pid})"
    assert lens not in before
    if not session.supports("workspace.code_lens.refresh_support"):
        await asyncio.sleep(3)
        assert session.refreshes.count(types.WORKSPACE_CODE_LENS_REFRESH) == refreshes  # never asked
        return
    assert lens in await lens_titles_after_refresh(session, uri, refreshes)

    refreshes = session.refreshes.count(types.WORKSPACE_CODE_LENS_REFRESH)
    target.terminate()
    target.wait(5)
    assert lens not in await lens_titles_after_refresh(session, uri, refreshes)
