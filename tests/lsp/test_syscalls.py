"""System-call traces in the editor, replayed: workloads/build/server's failing fopen of a missing
config file (CONFIG-OPEN), and workloads/build/logger's slow 1 MiB flushes (FLUSH-WRITE) beside its
small appends (APPEND-WRITE)."""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import Replay, Session

SERVER_C = WORKLOADS / "server" / "server.c"
LOGGER_C = WORKLOADS / "logger" / "logger.c"
MISSING_CONFIG = "/etc/tracing-server-example.conf"
ANY_PID = 4242


async def trace(session: Session) -> dict[str, Any]:
    result = await session.command("lineprobe.traceSyscalls", {"pid": ANY_PID, "durationMs": 1000})
    assert result["ok"] is True, result
    return result


async def test_the_failing_open_is_a_warning_on_the_fopen_line(replay: Replay) -> None:
    session = await replay("syscalls-server")
    uri = SERVER_C.as_uri()
    line = marked_line(SERVER_C, "CONFIG-OPEN") - 1
    caller = marked_line(SERVER_C, "for (long tried = 1; !load_config(path); ++tried) {") - 1
    result = await trace(session)
    assert result["files"] == [uri]
    failure = result["failures"][0]
    assert (failure["syscall"], failure["errno"], failure["path"]) == ("openat", "ENOENT", MISSING_CONFIG)
    assert (failure["site"]["line"], failure["site"]["function"]) == (line + 1, "load_config")

    warnings = [d for d in session.client.diagnostics[uri] if d.severity == types.DiagnosticSeverity.Warning]
    (diagnostic,) = [d for d in warnings if d.code == "syscall-failure"]
    assert diagnostic.range.start.line == line and diagnostic.source == "lineprobe"
    assert re.fullmatch(
        rf'openat\("/etc/tracing-server-example\.conf"\) failed with ENOENT [\d,]+ times '
        rf"in {result['duration_s']:.1f} s",
        diagnostic.message,
    ), diagnostic.message
    assert diagnostic.data["count"] == failure["count"] > 100
    related = [
        (r.location.uri, r.location.range.start.line, r.message) for r in diagnostic.related_information or []
    ]
    assert (uri, caller, "called from main") in related, related

    text = await session.hover(uri, line)
    assert text is not None
    assert "ENOENT" in text and "Stack:" in text and "load_config" in text
    assert f"All openat calls: {failure['count']:,}" in text  # every openat of the window failed

    actions = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(line, 0), types.Position(line, 0)),
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    (create,) = [a for a in actions or [] if isinstance(a, types.CodeAction)]
    assert create.title == f"Create the missing file {MISSING_CONFIG}"
    assert create.kind == types.CodeActionKind.QuickFix
    assert session.supports("workspace.workspace_edit.resource_operations")
    operations = session.client.capabilities.workspace.workspace_edit.resource_operations  # type: ignore[union-attr]
    assert types.ResourceOperationKind.Create in operations  # both clients can apply it
    assert create.edit is not None and create.edit.document_changes is not None
    (change,) = create.edit.document_changes
    assert isinstance(change, types.CreateFile) and change.uri == f"file://{MISSING_CONFIG}"

    if session.supports("text_document.inlay_hint"):
        hints = await session.inlay_hints(uri)
        assert any(h.position.line == line and "ENOENT" in str(h.label) for h in hints)


async def test_the_flush_is_the_slow_write(replay: Replay) -> None:
    session = await replay("syscalls-logger")
    uri = LOGGER_C.as_uri()
    flush_line = marked_line(LOGGER_C, "FLUSH-WRITE") - 1
    append_line = marked_line(LOGGER_C, "APPEND-WRITE") - 1
    result = await trace(session)
    by_file = {s["file"].rsplit("/", 1)[-1]: s for s in result["slow"] if s["file"]}
    flush, append = by_file["flush.data"], by_file["log.data"]
    assert flush["p99_us"] > append["p99_us"]
    assert flush["bytes"] == flush["count"] * (1 << 20)

    slow = {d.range.start.line: d for d in session.client.diagnostics[uri] if d.code == "slow-io"}
    assert flush_line in slow, sorted(slow)
    diagnostic = slow[flush_line]
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    assert re.fullmatch(
        rf"pwrite64 to flush\.data: p99 [\d.]+ ms for 1 MiB, {flush['count']} calls", diagnostic.message
    ), diagnostic.message
    assert diagnostic.data["p99_us"] == max(d.data["p99_us"] for d in slow.values())

    flush_text = await session.hover(uri, flush_line)
    assert flush_text is not None
    assert "pwrite64 to " in flush_text and "flush_buffers" in flush_text and "```" in flush_text
    append_text = await session.hover(uri, append_line)
    assert append_text is not None and "write to " in append_text and "append_records" in append_text

    if session.supports("text_document.inlay_hint"):
        hints = {h.position.line: str(h.label) for h in await session.inlay_hints(uri)}
        assert hints[flush_line].startswith("pwrite64 p99 ") and hints[append_line].startswith("write p99 ")


async def test_the_slow_io_threshold_setting_decides_what_is_a_warning(replay: Replay) -> None:
    """Above every call's p99: the I/O is still shown (hover, hints), no longer as a warning."""
    session = await replay("syscalls-logger", settings={"slowIoThresholdMs": 60000})
    uri = LOGGER_C.as_uri()
    flush_line = marked_line(LOGGER_C, "FLUSH-WRITE") - 1
    result = await trace(session)
    assert result["files"] == [uri]
    assert [d for d in session.client.diagnostics.get(uri, []) if d.code == "slow-io"] == []
    text = await session.hover(uri, flush_line)
    assert text is not None and "pwrite64 to " in text
