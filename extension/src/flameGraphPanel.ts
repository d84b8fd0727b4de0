/**
 * The flame graph next to the editor: a webview running d3-flame-graph on
 * the server's `lineprobe.flameGraph` tree. Clicking a frame opens its file
 * at its line and, unless turned off, limits the editor's heat to the
 * samples under that frame (`lineprobe.scopeHeat`); clicking the root or
 * "Reset" shows all samples again.
 */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { flameTitle } from "./model/flame";
import { ServerCommand, type FlameGraphResult, type ScopeHeatResult } from "./model/protocol";
import type { Profiler } from "./profiler";
import { scopeToSelectedFrame } from "./settings";
import { PanelSlot, webviewHtml } from "./webviewPage";

type FromWebview =
  | { type: "ready"; byFunction?: boolean }
  | { type: "mode"; byFunction: boolean }
  | { type: "select"; name: string; stack: string[]; uri: string | null; line: number | null };

export class FlameGraphPanel implements vscode.Disposable {
  private readonly slot: PanelSlot<FromWebview>;
  /** A comparison is shown: its heat is the change, which a frame does not scope. */
  private differential = false;
  /** Frames merged by function (the default, as perf and hotspot draw them), or one per line. */
  private byFunction = true;

  constructor(
    extensionUri: vscode.Uri,
    private readonly server: ServerClient,
    private readonly profiler: Profiler,
  ) {
    this.slot = new PanelSlot<FromWebview>(extensionUri, {
      viewType: "lineprobe.flameGraph",
      title: "lineprobe: Flame Graph",
      html: (webview, root) => this.html(webview, root),
      onMessage: (message) => void this.onMessage(message),
    });
  }

  /** Opens (or reveals) the panel beside the editor; its script asks for data when ready. */
  show(): void {
    if (!this.slot.open()) {
      void this.refresh();
    }
  }

  /** The panel VS Code kept across a window reload, shown again (its data asked anew). */
  restore(panel: vscode.WebviewPanel): void {
    this.slot.restore(panel);
  }

  /** Re-reads the tree after a new profile, when the panel is open. */
  async refresh(): Promise<void> {
    const panel = this.slot.panel;
    if (!panel) {
      return;
    }
    let result: FlameGraphResult;
    try {
      result = await this.server.execute<FlameGraphResult>(ServerCommand.flameGraph, { byFunction: this.byFunction });
    } catch (error) {
      await panel.webview.postMessage({ type: "empty", message: `The server is not running: ${String(error)}` });
      return;
    }
    if (!result.ok) {
      await panel.webview.postMessage({
        type: "empty",
        message: "No profile yet: run 'lineprobe: Profile CPU' or 'lineprobe: Attach to Process…'.",
      });
      return;
    }
    const title = flameTitle(result.samples, result.event, result.unit, this.profiler.lastProfiled);
    this.differential = result.differential !== undefined;
    await panel.webview.postMessage({
      type: "profile",
      samples: result.samples,
      root: result.root,
      title,
      byFunction: this.byFunction,
      differential: result.differential,
    });
  }

  /** Back to heat from all samples. */
  async resetScope(): Promise<void> {
    await this.scope([]);
  }

  dispose(): void {
    this.slot.dispose();
  }

  private async onMessage(message: FromWebview): Promise<void> {
    if (message.type === "ready" || message.type === "mode") {
      this.byFunction = message.byFunction ?? true;
      // Heat scoped to a frame of the other kind would name frames the graph no longer has.
      if (message.type === "mode") {
        await this.scope([]);
      }
      await this.refresh();
      return;
    }
    if (message.type !== "select") {
      return;
    }
    // Scope first, without waiting on the editor: the heat shows up while the file opens.
    const scoping =
      !this.differential && (scopeToSelectedFrame() || message.stack.length === 0) ? this.scope(message.stack) : Promise.resolve();
    if (message.uri && message.line) {
      await this.open(vscode.Uri.parse(message.uri), message.line);
    } else if (message.stack.length > 0) {
      vscode.window.setStatusBarMessage(`lineprobe: ${message.name} has no source file on this machine`, 5000);
    }
    await scoping;
  }

  private async open(uri: vscode.Uri, line: number): Promise<void> {
    const zeroBased = Math.max(0, line - 1);
    const position = new vscode.Position(zeroBased, 0);
    // Reuse the column where the file is already shown, else the first one: never the panel's.
    const shown = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri.toString());
    const column = shown?.viewColumn ?? vscode.ViewColumn.One;
    const editor = await vscode.window.showTextDocument(uri, {
      viewColumn: column,
      selection: new vscode.Range(position, position),
      preserveFocus: false,
      preview: false,
    });
    editor.revealRange(new vscode.Range(position, position), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  private async scope(stack: string[]): Promise<void> {
    try {
      const result = await this.server.execute<ScopeHeatResult>(ServerCommand.scopeHeat, { stack, byFunction: this.byFunction });
      if (result.ok) {
        this.profiler.setScope(stack.length > 0 ? stack : undefined);
        await this.slot.panel?.webview.postMessage({ type: "scope", names: stack });
      }
    } catch (error) {
      this.server.output.warn(`scoping heat: ${String(error)}`);
    }
  }

  private html(webview: vscode.Webview, root: vscode.Uri): string {
    return webviewHtml(webview, root, {
      title: "lineprobe: Flame Graph",
      styles: ["d3-flamegraph.css", "panel.css", "flamegraph.css"],
      script: "flamegraph.js",
      body: `  <header>
    <div id="summary">Loading…</div>
    <input id="search" type="search" placeholder="Search frames (Ctrl+F)" aria-label="Search frames">
    <label title="One frame per source line instead of one per function"><input id="byLine" type="checkbox"> Lines</label>
    <label title="Callers on top, as an icicle"><input id="icicle" type="checkbox"> Icicle</label>
    <button id="reset" title="Show the whole graph and heat from all samples">Reset</button>
  </header>
  <div class="hint" id="hint">Click a frame to open its line; the editor's heat then counts only the samples under it.</div>
  <div id="details"></div>
  <div id="selection"></div>
  <div id="chart"></div>`,
    });
  }
}
