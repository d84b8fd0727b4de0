"""`lineprobe serve` on recorded captures, as VS Code and as Neovim: no root, no agent.

Every test here starts the language server with ``LINEPROBE_REPLAY`` set to a
recording of ``tests/recordings/`` (made by ``tests/recordings/record.py``), so
each capture command is answered from what the real agent once answered,
resolved against the archived workload binaries. The recordings' DWARF names
the checkout they were made in (``manifest.json``'s ``root``); the session maps
it to this checkout with the ``pathMappings`` setting, so the findings land on
this checkout's sources wherever it is cloned.

Each test runs once per client: the capabilities pytest-lsp ships for VS Code
and for Neovim, so what the server may send depends on what the client said it
supports (refresh requests, inlay hints). A session's server must never start
an agent: ``replay`` checks that it has no child process before it shuts down.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.capabilities import get_capability
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import ROOT
from tests.lsp_values import as_plain

RECORDINGS = ROOT / "tests" / "recordings"
MANIFEST = json.loads((RECORDINGS / "manifest.json").read_text())
RECORDED_ROOT: str = MANIFEST["root"]
"""The checkout the recordings were made in: the DWARF paths of their archived binaries start with it."""
CLIENTS = ("visual-studio-code", "neovim")
SERVE = [sys.executable, "-m", "lineprobe.cli", "serve"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            # A server result the client's capabilities rule out is a failure, not a warning.
            item.add_marker(pytest.mark.filterwarnings("error::pytest_lsp.checks.LspSpecificationWarning"))


@dataclass
class Session:
    """A language server replaying one recording, and what its client received."""

    client: LanguageClient
    name: str
    """The client whose capabilities were sent: ``visual-studio-code`` or ``neovim``."""
    recording: Path
    heat: list[dict[str, Any]] = field(default_factory=list)
    probe_live: list[dict[str, Any]] = field(default_factory=list)
    """``lineprobe/probeLive`` notifications, in order."""
    tracepoint_live: list[dict[str, Any]] = field(default_factory=list)
    system_live: list[dict[str, Any]] = field(default_factory=list)
    """``lineprobe/tracepointLive`` notifications, in order."""
    refreshes: list[str] = field(default_factory=list)
    """Refresh requests the server sent (``workspace/inlayHint/refresh``...), in order."""

    def supports(self, capability: str) -> bool:
        return bool(get_capability(self.client.capabilities, capability, None))

    async def command(self, command: str, *arguments: Any) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=list(arguments))
        )

    async def hover(self, uri: str, line: int, character: int = 4) -> str | None:
        hover = await self.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line, character),
            )
        )
        if hover is None:
            return None
        assert isinstance(hover.contents, types.MarkupContent)
        return hover.contents.value

    async def inlay_hints(self, uri: str) -> list[types.InlayHint]:
        hints = await self.client.text_document_inlay_hint_async(
            types.InlayHintParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(0, 0), types.Position(1000, 0)),
            )
        )
        return list(hints or [])

    async def code_lenses(self, uri: str) -> list[types.CodeLens]:
        lenses = await self.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        return list(lenses or [])

    def progress(self) -> list[list[Any]]:
        """Each progress token's reports, in order."""
        return [list(reports) for reports in self.client.progress_reports.values()]


def server_children(client: LanguageClient) -> list[int]:
    """PIDs of the server process's children (an agent would be one)."""
    server = client._server
    assert server is not None
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or not ours to read
        if int(stat.rsplit(")", 1)[1].split()[1]) == server.pid:  # the field after the state: ppid
            children.append(int(entry.name))
    return children


def system_libraries_replaced(recording: Path) -> list[str]:
    """The system libraries a recording's targets mapped that this machine has in another build.

    A recording archives the workload's own binary only; its stacks pass through the system's
    libraries (libc's fopen, libstdc++'s operator new), unwound with the CFI of the copy found
    here, which must be the one that ran."""
    from lineprobe.capture.recorded import SYSTEM_PREFIXES
    from lineprobe.symbolization.elf_image import ElfImage

    recorded: set[tuple[str, str]] = set()
    for line in recording.read_bytes().splitlines()[1:]:
        if b'"header"' not in line:
            continue
        result = json.loads(line)["message"].get("result") or {}
        for mapping in result.get("header", {}).get("maps", []):
            if mapping["path"].startswith(SYSTEM_PREFIXES) and mapping.get("build_id"):
                recorded.add((mapping["path"], mapping["build_id"]))
    replaced = []
    for path, build_id in sorted(recorded):
        image = ElfImage(path) if os.path.exists(path) else None
        here = image.build_id if image is not None else "missing"
        if image is not None:
            image.close()
        if here != build_id:
            replaced.append(f"{path} (recorded {build_id[:12]}, here {(here or 'none')[:12]})")
    return replaced


Replay = Callable[..., Awaitable[Session]]


@pytest.fixture(params=CLIENTS)
async def replay(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Replay]:
    """Start sessions: ``await replay("profile-primes")`` is a server answering from that recording,
    initialized with this test's client capabilities; every session is shut down after the test."""
    name = str(request.param)
    sessions: list[Session] = []

    async def start(
        recording: str,
        workspace: Path = ROOT,
        settings: dict[str, Any] | None = None,
    ) -> Session:
        path = RECORDINGS / f"{recording}.jsonl"
        replaced = system_libraries_replaced(path)
        assert not replaced, (
            f"{path.name} was recorded on a system with other builds of {', '.join(replaced)}: "
            "record the fixtures on this system (sudo make record-fixtures)"
        )
        env = {k: v for k, v in os.environ.items() if k not in ("LINEPROBE_RECORD", "LINEPROBE_REPLAY")}
        env["LINEPROBE_REPLAY"] = str(path)
        env["LINEPROBE_CACHE_DIR"] = str(tmp_path / "cache")
        client = await ClientServerConfig(server_command=SERVE, server_env=env).start()
        session = Session(client, name, path)
        sessions.append(session)

        @client.feature("lineprobe/heat")
        def on_heat(client: LanguageClient, params: Any) -> None:
            session.heat.append(as_plain(params))

        @client.feature("lineprobe/probeLive")
        def on_probe_live(client: LanguageClient, params: Any) -> None:
            session.probe_live.append(as_plain(params))

        @client.feature("lineprobe/tracepointLive")
        def on_tracepoint_live(client: LanguageClient, params: Any) -> None:
            session.tracepoint_live.append(as_plain(params))

        @client.feature("lineprobe/systemLive")
        def on_system_live(client: LanguageClient, params: Any) -> None:
            session.system_live.append(as_plain(params))

        @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
        def on_code_lens_refresh(client: LanguageClient, params: None) -> None:
            session.refreshes.append(types.WORKSPACE_CODE_LENS_REFRESH)

        @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
        def on_inlay_hint_refresh(client: LanguageClient, params: None) -> None:
            session.refreshes.append(types.WORKSPACE_INLAY_HINT_REFRESH)

        options = {
            "diagnosticThreshold": 1.0,
            "pathMappings": [{"from": RECORDED_ROOT, "to": str(ROOT)}],
            **(settings or {}),
        }
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(name),
                workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="lineprobe")],
                root_uri=workspace.as_uri(),
                initialization_options=options,
            )
        )
        return session

    yield start
    for session in sessions:
        if session.client.error is None:
            assert server_children(session.client) == [], "a replaying server started a process"
        await session.client.shutdown_session()
        await session.client.stop()
