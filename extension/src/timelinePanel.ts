/**
 * The timeline beside the editor: the latest CPU profile's threads and their samples over time
 * (`lineprobe.timeline`). A range dragged or typed there, and the threads ticked, become the
 * slice the editor shows (`lineprobe.sliceProfile`): heat, diagnostics, hints, lenses, hovers and
 * the flame graph then count only those samples, until "Whole Profile".
 */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import type { FlameGraphPanel } from "./flameGraphPanel";
import { ServerCommand, type SliceArguments, type SliceResult, type TimelineResult } from "./model/protocol";
import { PanelSlot, webviewHtml } from "./webviewPage";

type FromWebview = { type: "ready" } | { type: "slice"; request: SliceArguments };

export class TimelinePanel implements vscode.Disposable {
  private readonly slot: PanelSlot<FromWebview>;

  constructor(
    extensionUri: vscode.Uri,
    private readonly server: ServerClient,
    private readonly flameGraph: FlameGraphPanel,
  ) {
    this.slot = new PanelSlot<FromWebview>(extensionUri, {
      viewType: "lineprobe.timeline",
      title: "lineprobe: Timeline",
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

  /** Re-reads the threads after a new profile, when the panel is open. */
  async refresh(): Promise<void> {
    const panel = this.slot.panel;
    if (!panel) {
      return;
    }
    let result: TimelineResult;
    try {
      result = await this.server.execute<TimelineResult>(ServerCommand.timeline);
    } catch (error) {
      await panel.webview.postMessage({ type: "empty", message: `The server is not running: ${String(error)}` });
      return;
    }
    if (!result.ok) {
      // The server says why: no profile yet, or a comparison (which has no one timeline).
      const why = result.error.message.includes("comparison")
        ? "A comparison of two captures is shown: open one of them to see its timeline."
        : "No profile yet: run 'lineprobe: Profile CPU' or open a saved capture.";
      await panel.webview.postMessage({ type: "empty", message: why });
      return;
    }
    const title = `${result.samples} ${result.unit} in ${result.threads.length} thread(s)`;
    await panel.webview.postMessage({
      type: "timeline",
      title,
      bucketMs: result.bucketMs,
      threads: result.threads,
      selection: result.selection,
    });
  }

  dispose(): void {
    this.slot.dispose();
  }

  private async onMessage(message: FromWebview): Promise<void> {
    if (message.type === "ready") {
      await this.refresh();
      return;
    }
    let result: SliceResult;
    try {
      result = await this.server.execute<SliceResult>(ServerCommand.sliceProfile, message.request);
    } catch (error) {
      await this.slot.panel?.webview.postMessage({ type: "problem", message: String(error) });
      return;
    }
    if (!result.ok) {
      await this.slot.panel?.webview.postMessage({ type: "problem", message: result.error.message });
      return;
    }
    await this.slot.panel?.webview.postMessage({ type: "sliced", selection: result.selection, samples: result.samples });
    vscode.window.setStatusBarMessage(
      result.selection ? `lineprobe: showing ${result.selection}` : "lineprobe: showing the whole profile",
      5000,
    );
    await this.flameGraph.refresh();
  }

  private html(webview: vscode.Webview, root: vscode.Uri): string {
    return webviewHtml(webview, root, {
      title: "lineprobe: Timeline",
      styles: ["panel.css", "timeline.css"],
      script: "timeline.js",
      body: `  <header>
    <div id="summary">Loading…</div>
    <label>from <input id="from" class="seconds" type="text" inputmode="decimal" aria-label="From (seconds)"></label>
    <label>to <input id="to" class="seconds" type="text" inputmode="decimal" aria-label="To (seconds)"></label>
    <button id="apply" title="Show the samples of this range in the editor">Apply</button>
    <button id="whole" title="Show every thread and all of the time again">Whole Profile</button>
  </header>
  <div id="problem" role="alert"></div>
  <div id="rows"></div>
  <div class="hint">Drag across a row to pick a time range; untick a thread to leave it out. The editor's heat, diagnostics and the flame graph follow.</div>`,
    });
  }
}
