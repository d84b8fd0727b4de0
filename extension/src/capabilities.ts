/**
 * Show Capabilities: the server's report of what this kernel and these
 * privileges allow, as a read-only Markdown document (kept in a virtual
 * document provider so closing it never asks to save).
 */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import type { ActionRunner } from "./actions";
import { failureMessage } from "./model/failures";
import { ServerCommand, type CapabilitiesResult } from "./model/protocol";

const SCHEME = "lineprobe-capabilities";

export class CapabilitiesView implements vscode.Disposable {
  private text = "";
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly registration: vscode.Disposable;
  private readonly uri = vscode.Uri.parse(`${SCHEME}:/lineprobe capabilities.md`);

  constructor(
    private readonly server: ServerClient,
    private readonly actions: ActionRunner,
  ) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(SCHEME, {
      onDidChange: this.changed.event,
      provideTextDocumentContent: () => this.text,
    });
  }

  async show(): Promise<void> {
    let result: CapabilitiesResult;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: "lineprobe: checking capabilities" },
        () => this.server.execute<CapabilitiesResult>(ServerCommand.capabilities),
      );
    } catch (error) {
      void vscode.window.showErrorMessage(`lineprobe: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (!result.ok) {
      this.actions.show(failureMessage(result.error));
      return;
    }
    const lines = [
      `# lineprobe capabilities (kernel ${result.kernel_release})`,
      "",
      "| capability | available | detail |",
      "|---|---|---|",
      ...result.capabilities.map((c) => `| ${c.name} | ${c.available ? "yes" : "**no**"} | ${c.detail.replace(/\|/g, "\\|")} |`),
      "",
      "## Works",
      ...result.works.map((w) => `- ${w}`),
      "",
      "## Missing",
      ...(result.missing.length > 0 ? result.missing.map((m) => `- ${m}`) : ["- nothing"]),
    ];
    this.text = lines.join("\n") + "\n";
    this.changed.fire(this.uri);
    const document = await vscode.workspace.openTextDocument(this.uri);
    await vscode.languages.setTextDocumentLanguage(document, "markdown");
    await vscode.window.showTextDocument(document, { preview: true });
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}
