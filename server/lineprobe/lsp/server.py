"""The language server: state, start-up, and registration of every feature.

All state lives on the ``LineprobeServer`` instance (no module globals);
``create_server`` builds one and registers the features of ``commands`` and
``documents``. Blocking work (agent requests, DWARF) runs in worker threads;
the event loop only sends and receives messages.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.runner import CaptureRunner
from lineprobe.capture.spawned import starts_without_asking
from lineprobe.lsp.cancellation import CancellableCommandsProtocol
from lineprobe.lsp.framing import BoundedInput
from lineprobe.lsp.leak_view import LeakView
from lineprobe.lsp.probe_view import ProbeView
from lineprobe.lsp.profile_view import ProfileView
from lineprobe.lsp.settings import Settings, update_settings
from lineprobe.lsp.syscall_view import SyscallView
from lineprobe.process_list import BinarySourceCache

VERSION = "0.1.0"


@dataclass
class ServerState:
    settings: Settings = field(default_factory=Settings)
    runner: CaptureRunner = field(default_factory=CaptureRunner)
    view: ProfileView | None = None
    syscalls: SyscallView | None = None
    leaks: LeakView | None = None
    probes: ProbeView | None = None
    """The latest USDT count (Java methods' call rates as lenses)."""
    published: set[str] = field(default_factory=set)
    """URIs that currently carry our diagnostics, to clear them on the next profile."""
    binaries: BinarySourceCache = field(default_factory=BinarySourceCache)
    profiling: bool = False
    winding_down: asyncio.Future[Any] | None = None
    """The work of a cancelled trace, still ending: the next trace waits for it instead of `busy`."""
    program_watch: asyncio.Task[None] | None = None
    """Refreshes code lenses as workspace programs start and end (lsp/running_binaries)."""


class LineprobeServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "lineprobe",
            VERSION,
            protocol_cls=CancellableCommandsProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
        )
        self.state = ServerState()

    def workspace_roots(self) -> list[str]:
        roots: list[str] = []
        try:
            folders = self.workspace.folders
        except RuntimeError:
            return roots
        for folder in folders.values():
            path = to_fs_path(folder.uri)
            if path:
                roots.append(path)
        if not roots and self.workspace.root_path:
            roots.append(self.workspace.root_path)
        return roots

    def apply_settings(self, raw: object) -> None:
        settings, problems = update_settings(self.state.settings, raw)
        if settings.launcher != self.state.settings.launcher:
            self.state.runner.close()
            self.state.runner = CaptureRunner(launcher=settings.launcher)
        self.state.settings = settings
        for problem in problems:
            self.window_show_message(
                types.ShowMessageParams(types.MessageType.Warning, f"lineprobe: {problem}")
            )

    def supports_progress(self) -> bool:
        window = self.client_capabilities.window
        return bool(window and window.work_done_progress)


def create_server() -> LineprobeServer:
    from lineprobe.capture import kinds
    from lineprobe.lsp import commands, documents, running_binaries

    server = LineprobeServer()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: LineprobeServer, params: types.InitializedParams) -> None:
        ls.state.program_watch = asyncio.create_task(running_binaries.watch_running_programs(ls))
        if not ls.state.settings.prepare_agent or not starts_without_asking(ls.state.settings.launcher):
            # Nothing privileged is tried before the user asks for a trace: without privileges,
            # the service or a chosen launcher, that would be `sudo -n` at every editor start.
            return
        # Start the agent and compile the CPU sampler now, off the event loop, so that the
        # user's first profile starts at once. A failure here (a launcher refused...) is
        # reported when a command needs the agent, with the reason and a fix.
        try:
            await asyncio.to_thread(ls.state.runner.prepare, (kinds.PROFILE.program,))
        except AgentError as exc:
            logging.getLogger(__name__).info("agent not prepared: %s", exc)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: LineprobeServer, params: types.DidChangeConfigurationParams) -> None:
        ls.apply_settings(params.settings)
        # What is shown may have changed (kinds of diagnostics, hints, lenses): publish again.
        documents.publish_diagnostics(ls)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: LineprobeServer, params: None) -> None:
        if ls.state.program_watch is not None:
            ls.state.program_watch.cancel()
        ls.state.runner.stop()
        ls.state.runner.close()

    commands.register(server)
    documents.register(server)
    return server


def run_stdio() -> None:
    """Serve LSP on stdin/stdout, keeping stdout for LSP framing alone.

    Anything else that writes to fd 1 (a library, a subprocess that inherits
    it) would corrupt the framing, so the server writes to a private duplicate
    and fd 1 is pointed at stderr.
    """
    lsp_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server = create_server()
    try:
        server.start_io(BoundedInput(sys.stdin.buffer), lsp_out)  # type: ignore[arg-type]
    finally:
        server.state.runner.close()
