/**
 * Saved captures (`*.lpcap`, the CLI's `--save`) open as documents of their own: opening one
 * replays it through the server (`lineprobe.openCapture`: no agent, no privileges), so its heat,
 * diagnostics and flame graph land on the source files, and the editor shows what it holds with
 * the next steps one click away. A capture of a kind without per-line results (USDT counts,
 * tracepoints, the system views) shows the report `lineprobe open` prints of it. Read-only: a
 * capture is a record of what the kernel saw.
 */
import * as vscode from "vscode";
import { captureSummary } from "./model/recentCaptures";

export const CAPTURE_EDITOR = "lineprobe.capture";

export class CaptureEditorProvider implements vscode.CustomReadonlyEditorProvider {
  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    panel.webview.options = { enableScripts: false, enableCommandUris: true, localResourceRoots: [] };
    const file = document.uri.fsPath;
    panel.webview.html = page(file, ["Opening…"], false);
    const result = (await vscode.commands.executeCommand<Record<string, unknown> | undefined>(
      "lineprobe.openCaptureFile",
      { path: file, showReport: false },
    )) ?? { ok: false, error: { message: "the capture was not opened" } };
    if (result.ok === true && typeof result.report === "string") {
      // A kind without per-line results (USDT, tracepoints, system views): its report.
      panel.webview.html = page(file, [`a capture of lineprobe ${String(result.command)}`], false, result.report);
    } else if (result.ok === true) {
      panel.webview.html = page(file, captureSummary(result), true);
    } else {
      const error = result.error as { message?: string } | undefined;
      panel.webview.html = page(file, [`Not opened: ${error?.message ?? "unknown error"}`], false);
    }
  }
}

function page(file: string, lines: string[], opened: boolean, report?: string): string {
  const escape = (text: string): string =>
    text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const actions = opened
    ? `<p><a href="command:lineprobe.showFlameGraph">Show Flame Graph</a> · <a href="command:lineprobe.showTimeline">Show Timeline</a> · <a href="command:lineprobe.clearEditorResults">Clear Results</a></p>`
    : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
  <title>${escape(file)}</title>
  <style>body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 8px 16px; } li { margin: 2px 0; } pre { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }</style>
</head>
<body>
  <h2>lineprobe capture</h2>
  <p>${escape(file)}</p>
  <ul id="summary">${lines.map((line) => `<li>${escape(line)}</li>`).join("")}</ul>
  ${actions}
  ${report === undefined ? "" : `<pre id="report">${escape(report)}</pre>`}
</body>
</html>`;
}
