"""Per-document features: diagnostics and heat after a profile, inlay hints,
code lenses and hovers on request."""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from lineprobe.lsp import presentation
from lineprobe.lsp.profile_view import ProfileView
from lineprobe.lsp.server import LineprobeServer
from lineprobe.process_list import list_processes

HEAT_NOTIFICATION = "lineprobe/heat"
PROFILE_LENS_DURATION_MS = 5000


def _document_lines(ls: LineprobeServer, uri: str) -> list[str]:
    try:
        return list(ls.workspace.get_text_document(uri).lines)
    except (OSError, UnicodeDecodeError):
        return []


def publish(ls: LineprobeServer, view: ProfileView) -> None:
    """Replace the previous profile's results with ``view``'s, everywhere."""
    state = ls.state
    state.view = view
    threshold = state.settings.diagnostic_threshold
    for uri, doc in view.documents.items():
        lines = [line.rstrip("\r\n") for line in _document_lines(ls, uri)]
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, diagnostics=presentation.diagnostics(view, doc, threshold, lines)
            )
        )
        ls.protocol.notify(HEAT_NOTIFICATION, presentation.heat(view, doc))
    for uri in state.published - set(view.documents):
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        ls.protocol.notify(HEAT_NOTIFICATION, {"uri": uri, "samples": 0, "lines": []})
    state.published = set(view.documents)
    workspace = ls.client_capabilities.workspace
    if workspace and workspace.inlay_hint and workspace.inlay_hint.refresh_support:
        ls.workspace_inlay_hint_refresh(None)
    if workspace and workspace.code_lens and workspace.code_lens.refresh_support:
        ls.workspace_code_lens_refresh(None)


def publish_heat(ls: LineprobeServer, view: ProfileView, scope: list[str]) -> int:
    """Re-send ``lineprobe/heat`` for every profiled file, scoped to a call path; returns its samples."""
    in_scope, notifications = presentation.scoped_heat(view, scope)
    for params in notifications:
        ls.protocol.notify(HEAT_NOTIFICATION, params)
    return in_scope


def register(server: LineprobeServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: LineprobeServer, params: types.InitializeParams) -> None:
        ls.apply_settings(params.initialization_options)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LineprobeServer, params: types.DidOpenTextDocumentParams) -> None:
        view = ls.state.view
        if view is not None and params.text_document.uri in view.documents:
            ls.protocol.notify(
                HEAT_NOTIFICATION, presentation.heat(view, view.documents[params.text_document.uri])
            )

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def inlay_hint(ls: LineprobeServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        view = ls.state.view
        uri = params.text_document.uri
        if view is None or uri not in view.documents:
            return []
        lines = [line.rstrip("\r\n") for line in _document_lines(ls, uri)]
        return presentation.inlay_hints(view, view.documents[uri], lines, params.range)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: LineprobeServer, params: types.HoverParams) -> types.Hover | None:
        view = ls.state.view
        uri = params.text_document.uri
        if view is None or uri not in view.documents:
            return None
        stat = view.documents[uri].lines.get(params.position.line + 1)
        if stat is None:
            return None
        return presentation.hover(view, stat)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: LineprobeServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        uri = params.text_document.uri
        lenses: list[types.CodeLens] = []
        view = ls.state.view
        if view is not None and uri in view.documents:
            lenses.extend(presentation.function_lenses(view, view.documents[uri]))
        path = to_fs_path(uri)
        if path:
            lenses.extend(await asyncio.to_thread(_profile_lenses, ls, path))
        return lenses


def _profile_lenses(ls: LineprobeServer, path: str) -> list[types.CodeLens]:
    """ "Profile for 5 s" on each function of ``path`` whose binary is running now."""
    state = ls.state
    lenses: list[types.CodeLens] = []
    placed: set[int] = set()
    for process in list_processes(ls.workspace_roots(), state.binaries):
        if not process.in_workspace:
            break  # listed workspace processes first
        functions = state.binaries.functions_by_file(process.exe).get(path, [])
        for name, line in functions:
            if line in placed:
                continue
            placed.add(line)
            argument: dict[str, Any] = {"pid": process.pid, "durationMs": PROFILE_LENS_DURATION_MS}
            lenses.append(
                types.CodeLens(
                    range=types.Range(types.Position(line - 1, 0), types.Position(line - 1, 0)),
                    command=types.Command(
                        title=f"Profile for {PROFILE_LENS_DURATION_MS // 1000} s (pid {process.pid})",
                        command="lineprobe.profile",
                        arguments=[argument],
                    ),
                    data={"function": name},
                )
            )
    return lenses
