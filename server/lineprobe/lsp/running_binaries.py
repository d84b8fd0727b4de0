"""Code lenses that follow the workspace's programs as they start and end.

The "Profile for 5 s (pid N)" lenses are computed when the editor asks for a file's lenses, which
it does when the file opens or changes, not when a program built from it starts or exits. So the
server looks at which workspace programs run every ``WATCH_INTERVAL_S`` and, when that set changes,
asks the editor to ask again (``workspace/codeLens/refresh``). The first look, right after
initialization, refreshes too when a workspace program already runs: lenses the editor asked for
while the server was still starting (its first answer) are then asked for again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lineprobe.process_list import list_processes

if TYPE_CHECKING:
    from lineprobe.lsp.server import LineprobeServer

WATCH_INTERVAL_S = 2.0
"""How soon a program started from a terminal gets its lenses: a look reads /proc (and the debug
information of binaries not seen before, once), a few milliseconds on a desktop's processes."""

RunningPrograms = frozenset[tuple[int, str]]


def running_workspace_programs(ls: LineprobeServer) -> RunningPrograms:
    """(PID, executable) of each running process that is the workspace's, as the lenses count it."""
    return frozenset(
        (p.pid, p.exe) for p in list_processes(ls.workspace_roots(), ls.state.binaries) if p.in_workspace
    )


def refresh_supported(ls: LineprobeServer) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.code_lens and workspace.code_lens.refresh_support)


async def watch_running_programs(ls: LineprobeServer, interval_s: float = WATCH_INTERVAL_S) -> None:
    """Refreshes the editor's code lenses whenever the running workspace programs change; runs
    until cancelled (at shutdown). A client that cannot be asked to refresh is never watched for."""
    if not refresh_supported(ls):
        return
    seen: RunningPrograms = frozenset()
    while True:
        if ls.state.settings.action_lenses:
            try:
                current = await asyncio.to_thread(running_workspace_programs, ls)
            except OSError as exc:  # /proc unreadable: lenses stay as they are
                logging.getLogger(__name__).info("running programs not listed: %s", exc)
                current = seen
            if current != seen:
                seen = current
                ls.workspace_code_lens_refresh(None)
        await asyncio.sleep(interval_s)
