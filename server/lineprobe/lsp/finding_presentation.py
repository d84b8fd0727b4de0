"""Findings (system calls, leaks) as LSP values: diagnostics, inlay hints, code actions."""

from __future__ import annotations

from lsprotocol import types

from lineprobe.lsp.findings import Finding
from lineprobe.lsp.source_locator import uri_of

SOURCE = "lineprobe"
OPEN_FILE_COMMAND = "lineprobe.openFile"


def _range(line: int, length: int) -> types.Range:
    return types.Range(types.Position(line - 1, 0), types.Position(line - 1, max(length, 0)))


def _length(lines: list[str], line: int) -> int:
    return len(lines[line - 1]) if 0 < line <= len(lines) else 0


def diagnostics(findings: list[Finding], lines: list[str]) -> list[types.Diagnostic]:
    result = []
    for finding in findings:
        if finding.severity is None:
            continue
        related = [
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=uri_of(path), range=_range(line, 0)), message=message
            )
            for path, line, message in finding.related
        ]
        result.append(
            types.Diagnostic(
                range=_range(finding.line, _length(lines, finding.line)),
                message=finding.message,
                severity=finding.severity,
                source=SOURCE,
                code=finding.code,
                related_information=related or None,
                data=finding.data,
            )
        )
    return result


def inlay_hints(findings: list[Finding], lines: list[str], visible: types.Range) -> list[types.InlayHint]:
    return [
        types.InlayHint(
            position=types.Position(f.line - 1, _length(lines, f.line)),
            label=f.hint,
            padding_left=True,
            tooltip=f.message,
        )
        for f in findings
        if visible.start.line <= f.line - 1 <= visible.end.line
    ]


def code_actions(findings: list[Finding]) -> list[types.CodeAction]:
    actions = []
    for finding in findings:
        if finding.create_file:
            actions.append(
                types.CodeAction(
                    title=f"Create the missing file {finding.create_file}",
                    kind=types.CodeActionKind.QuickFix,
                    edit=types.WorkspaceEdit(
                        document_changes=[
                            types.CreateFile(
                                uri=uri_of(finding.create_file),
                                options=types.CreateFileOptions(ignore_if_exists=True),
                            )
                        ]
                    ),
                )
            )
        if finding.open_file:
            actions.append(
                types.CodeAction(
                    title=f"Open {finding.open_file}",
                    kind=types.CodeActionKind.QuickFix,
                    command=types.Command(
                        title=f"Open {finding.open_file}",
                        command=OPEN_FILE_COMMAND,
                        arguments=[{"path": finding.open_file}],
                    ),
                )
            )
    return actions
