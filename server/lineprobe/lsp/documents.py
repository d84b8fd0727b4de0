"""Per-document features: diagnostics and heat after a profile, inlay hints,
code lenses and hovers on request."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from lineprobe.capture.wire import parameters
from lineprobe.lsp import comparison_presentation, finding_presentation, presentation
from lineprobe.lsp.findings import Finding
from lineprobe.lsp.leak_view import LeakView
from lineprobe.lsp.probe_view import ProbeView
from lineprobe.lsp.profile_view import ProfileView
from lineprobe.lsp.server import LineprobeServer
from lineprobe.lsp.settings import RESULT_KINDS
from lineprobe.lsp.syscall_view import SyscallView
from lineprobe.process_list import list_processes

HEAT_NOTIFICATION = "lineprobe/heat"
PROFILE_LENS_DURATION_MS = int(1000 * parameters.default(parameters.DURATION_S))
LEAKS_LENS_DURATION_MS = int(1000 * parameters.default(parameters.LEAKS_DURATION_S))


def _document_lines(ls: LineprobeServer, uri: str) -> list[str]:
    try:
        return list(ls.workspace.get_text_document(uri).lines)
    except (OSError, UnicodeDecodeError):
        return []


def publish_diagnostics(ls: LineprobeServer) -> None:
    """Publish every file's diagnostics from the current CPU profile and syscall trace together.

    ``publishDiagnostics`` replaces a file's diagnostics, so both sources are
    merged here; files that had ours before and have none now are cleared.
    """
    state = ls.state
    shown = state.settings.show_diagnostics
    cpu = state.view if "profile" in shown else None
    comparison = cpu.comparison if cpu else None
    uris = cpu.shown_uris if cpu else set()
    for view in _finding_views(ls, shown):
        uris |= set(view)
    threshold = state.settings.diagnostic_threshold
    for uri in sorted(uris):
        lines = [line.rstrip("\r\n") for line in _document_lines(ls, uri)]
        diagnostics: list[types.Diagnostic] = []
        if comparison is not None and uri in comparison.documents:
            doc = comparison.documents[uri]
            diagnostics += comparison_presentation.diagnostics(comparison, doc, threshold, lines)
        elif cpu is not None and uri in cpu.documents:
            diagnostics += presentation.diagnostics(cpu, cpu.documents[uri], threshold, lines)
        diagnostics += finding_presentation.diagnostics(_findings_at(ls, uri, shown), lines)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))
    for uri in state.published - uris:
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    state.published = uris
    _refresh(ls)


def _refresh(ls: LineprobeServer) -> None:
    workspace = ls.client_capabilities.workspace
    if workspace and workspace.inlay_hint and workspace.inlay_hint.refresh_support:
        ls.workspace_inlay_hint_refresh(None)
    if workspace and workspace.code_lens and workspace.code_lens.refresh_support:
        ls.workspace_code_lens_refresh(None)


def publish(ls: LineprobeServer, view: ProfileView) -> None:
    """Replace the previous CPU profile's results with ``view``'s, everywhere."""
    previous = ls.state.view
    ls.state.view = view
    publish_diagnostics(ls)
    for uri in sorted(view.shown_uris):
        ls.protocol.notify(HEAT_NOTIFICATION, _heat(view, uri))
    _cool(ls, (previous.shown_uris if previous else set()) - view.shown_uris)


def _heat(view: ProfileView, uri: str) -> dict[str, Any]:
    """The ``lineprobe/heat`` params of one shown document: a profile's, or a comparison's."""
    if view.comparison is not None:
        return comparison_presentation.heat(view.comparison, view.comparison.documents[uri])
    return presentation.heat(view, view.documents[uri])


def _cool(ls: LineprobeServer, uris: set[str]) -> None:
    """Take the heat off files no profile covers any longer."""
    for uri in sorted(uris):
        ls.protocol.notify(HEAT_NOTIFICATION, {"uri": uri, "samples": 0, "lines": []})


def clear(ls: LineprobeServer, kinds: tuple[str, ...] = RESULT_KINDS) -> list[str]:
    """Forget the latest results of ``kinds`` and take them off every file (diagnostics, heat,
    hints, lenses and hovers follow the state); returns the kinds that had results."""
    state = ls.state
    had = {"profile": state.view, "syscalls": state.syscalls, "leaks": state.leaks, "probes": state.probes}
    cleared = [kind for kind in RESULT_KINDS if kind in kinds and had[kind] is not None]
    previous = state.view
    if "profile" in cleared:
        state.view = None
    if "syscalls" in cleared:
        state.syscalls = None
    if "leaks" in cleared:
        state.leaks = None
    if "probes" in cleared:
        state.probes = None
    if cleared:
        publish_diagnostics(ls)  # clears the files that had ours; refreshes hints and lenses
    if previous is not None and state.view is None:
        _cool(ls, previous.shown_uris)
    return cleared


def publish_probes(ls: LineprobeServer, view: ProbeView) -> None:
    ls.state.probes = view
    _refresh(ls)


def publish_syscalls(ls: LineprobeServer, view: SyscallView) -> None:
    ls.state.syscalls = view
    publish_diagnostics(ls)


def publish_leaks(ls: LineprobeServer, view: LeakView) -> None:
    ls.state.leaks = view
    publish_diagnostics(ls)


def _finding_views(
    ls: LineprobeServer, kinds: frozenset[str] = frozenset(RESULT_KINDS)
) -> list[dict[str, list[Finding]]]:
    """The per-document findings of the latest syscall trace and leak trace (of ``kinds``)."""
    views = (("syscalls", ls.state.syscalls), ("leaks", ls.state.leaks))
    return [view.documents for kind, view in views if view is not None and kind in kinds]


def _findings_at(
    ls: LineprobeServer, uri: str, kinds: frozenset[str] = frozenset(RESULT_KINDS)
) -> list[Finding]:
    return [f for documents in _finding_views(ls, kinds) for f in documents.get(uri, [])]


def publish_heat(ls: LineprobeServer, view: ProfileView, scope: list[str], by_function: bool = False) -> int:
    """Re-send ``lineprobe/heat`` for every profiled file, scoped to a call path (names of frames
    by line, or ``by_function``); returns its samples."""
    in_scope, notifications = presentation.scoped_heat(view, scope, by_function)
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
        if view is not None and params.text_document.uri in view.shown_uris:
            ls.protocol.notify(HEAT_NOTIFICATION, _heat(view, params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def inlay_hint(ls: LineprobeServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        uri = params.text_document.uri
        shown = ls.state.settings.show_inlay_hints
        view = ls.state.view if "profile" in shown else None
        findings = _findings_at(ls, uri, shown)
        hints: list[types.InlayHint] = []
        if (view is None or uri not in view.shown_uris) and not findings:
            return hints
        lines = [line.rstrip("\r\n") for line in _document_lines(ls, uri)]
        if view is not None and view.comparison is not None and uri in view.comparison.documents:
            doc = view.comparison.documents[uri]
            hints += comparison_presentation.inlay_hints(view.comparison, doc, lines, params.range)
        elif view is not None and uri in view.documents:
            hints += presentation.inlay_hints(view, view.documents[uri], lines, params.range)
        hints += finding_presentation.inlay_hints(findings, lines, params.range)
        return hints

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: LineprobeServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        line = params.position.line + 1
        parts: list[str] = []
        view = ls.state.view
        if view is not None and view.comparison is not None:
            compared = view.comparison.documents.get(uri)
            change = compared.lines.get(line) if compared is not None else None
            if change is not None:
                parts.append(comparison_presentation.hover_markdown(view.comparison, change))
        elif view is not None and uri in view.documents:
            stat = view.documents[uri].lines.get(line)
            if stat is not None:
                parts.append(presentation.hover_markdown(view, stat))
        parts += [f.hover for f in _findings_at(ls, uri) if f.line == line]
        if not parts:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts))
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(
        ls: LineprobeServer, params: types.CodeActionParams
    ) -> list[types.CodeAction | types.Command]:
        uri = params.text_document.uri
        first, last = params.range.start.line + 1, params.range.end.line + 1
        findings = [f for f in _findings_at(ls, uri) if first <= f.line <= last]
        actions: list[types.CodeAction | types.Command] = [*finding_presentation.code_actions(findings)]
        count = _count_hits_action(ls, uri, first) if first == last else None
        return [*actions, count] if count is not None else actions

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: LineprobeServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        uri = params.text_document.uri
        lenses: list[types.CodeLens] = []
        shown = ls.state.settings.show_code_lenses
        view = ls.state.view if "profile" in shown else None
        if view is not None and view.comparison is not None:
            compared = view.comparison.documents.get(uri)
            if compared is not None:
                lenses.extend(comparison_presentation.function_lenses(view.comparison, compared))
        elif view is not None and uri in view.documents:
            lenses.extend(presentation.function_lenses(view, view.documents[uri]))
        if ls.state.probes is not None and "probes" in shown:
            lenses.extend(ls.state.probes.lenses(uri))
        path = to_fs_path(uri)
        if path and ls.state.settings.action_lenses:
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
            lens_range = types.Range(types.Position(line - 1, 0), types.Position(line - 1, 0))
            lenses.append(
                types.CodeLens(
                    range=lens_range,
                    command=types.Command(
                        title=f"Find leaks for {LEAKS_LENS_DURATION_MS // 1000} s",
                        command="lineprobe.findLeaks",
                        arguments=[{"pid": process.pid, "durationMs": LEAKS_LENS_DURATION_MS}],
                    ),
                    data={"function": name},
                )
            )
            lenses.append(
                types.CodeLens(
                    range=lens_range,
                    command=types.Command(
                        title=f"Trace syscalls for {PROFILE_LENS_DURATION_MS // 1000} s",
                        command="lineprobe.traceSyscalls",
                        arguments=[argument],
                    ),
                    data={"function": name},
                )
            )
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


COUNT_LINE_HITS = "lineprobe.countLineHits"


def _count_hits_action(ls: LineprobeServer, uri: str, line: int) -> types.Command | None:
    """Count a line's hits in the process of the profile shown, where that process has code in
    this file and still runs: the line named by its DWARF path, which the sites are found by.
    A command, not a CodeAction with one: a client tells the two apart by the type of their
    ``command`` field, and lsprotocol's reader takes an action without a kind for a command."""
    view = ls.state.view
    if view is None or view.comparison is not None or uri not in view.documents:
        return None
    pid = view.profile.header.pid
    replaying = ls.state.runner.replay is not None  # a recording's process is not on this machine
    if not pid or not (replaying or os.path.exists(f"/proc/{pid}")):
        return None
    local = view.documents[uri].path
    dwarf = next((path for path, mapped in view.local_paths.items() if mapped == local), local)
    return types.Command(
        title=f"Count hits of line {line} in pid {pid}",
        command=COUNT_LINE_HITS,
        arguments=[{"pid": pid, "lines": [f"{dwarf}:{line}"]}],
    )
