/**
 * The system panel: disk, file, page-cache and interrupt activity (workshop lab 6) in a webview
 * beside the editor, for one process or the whole machine, the scope chosen each time and named
 * in the request. While the trace runs a live chart plots the rates of its running totals
 * (`lineprobe/systemLive`); at the end the view's tables, its latency histogram and what it
 * cannot measure on this kernel. Chart.js draws; it is bundled into dist/webview (no network).
 */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { ServerCommand, type SystemActivityArguments, type SystemActivityResult, type SystemLiveParams } from "./model/protocol";
import { pickProcess } from "./processPicker";
import { openBesideEditor, webviewHtml } from "./webviewPage";

type FromWebview = { type: "stop" } | { type: "again" };

const VIEWS: { view: SystemActivityArguments["view"]; label: string; detail: string; machineOnly?: boolean }[] = [
  { view: "disk", label: "Disk I/O", detail: "block requests by process and disk latency (biotop, biolatency)" },
  { view: "files", label: "File I/O", detail: "reads, writes and syncs by file and thread, slow calls (filetop, fileslower)" },
  { view: "pagecache", label: "Page Cache", detail: "pages added, removed, dirtied and written back by file" },
  { view: "irqs", label: "Interrupts", detail: "hard and soft IRQ time by vector (hardirqs, softirqs)", machineOnly: true },
];
const DEFAULT_MS = 10_000;

export class SystemPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private running: SystemActivityArguments | undefined;
  private last: SystemActivityArguments | undefined;
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly server: ServerClient,
  ) {
    this.subscription = server.onSystemLive((params) => this.onLive(params));
  }

  /** Asks what to watch (unless given) and where, then runs it in the panel. */
  async pickAndRun(given?: Partial<SystemActivityArguments>): Promise<SystemActivityResult | undefined> {
    const view =
      given?.view ??
      (
        await vscode.window.showQuickPick(
          VIEWS.map((v) => ({ label: v.label, detail: v.detail, view: v.view })),
          { title: "lineprobe: System Activity", placeHolder: "What to watch" },
        )
      )?.view;
    if (!view) {
      return undefined;
    }
    let scope = given?.scope;
    let pid = given?.pid;
    if (!scope) {
      const machineOnly = VIEWS.find((v) => v.view === view)?.machineOnly ?? false;
      const choices = [
        { label: "Every task on this machine", detail: "system-wide: needs root", scope: "system" as const },
        ...(machineOnly ? [] : [{ label: "One process…", detail: "its own activity", scope: "process" as const }]),
      ];
      scope = (await vscode.window.showQuickPick(choices, { title: "lineprobe: System Activity", placeHolder: "Whose activity" }))?.scope;
    }
    if (scope === "process" && pid === undefined) {
      pid = (await pickProcess(this.server))?.pid;
    }
    if (!scope || (scope === "process" && pid === undefined)) {
      return undefined;
    }
    const request: SystemActivityArguments = { view, scope, durationMs: given?.durationMs ?? DEFAULT_MS };
    if (scope === "process") {
      request.pid = pid;
    }
    if (given?.slowMs !== undefined) {
      request.slowMs = given.slowMs;
    }
    return this.run(request);
  }

  async run(request: SystemActivityArguments): Promise<SystemActivityResult> {
    const panel = this.show();
    this.running = request;
    this.last = request;
    const label = VIEWS.find((v) => v.view === request.view)?.label ?? request.view;
    const whose = request.scope === "system" ? "every task" : `PID ${request.pid}`;
    await panel.webview.postMessage({ type: "start", view: request.view, title: `${label} of ${whose}`, durationS: (request.durationMs ?? DEFAULT_MS) / 1000 });
    let result: SystemActivityResult;
    try {
      result = await this.server.execute<SystemActivityResult>(ServerCommand.systemActivity, request);
    } catch (error) {
      result = { ok: false, error: { code: "internal", message: String(error), hint: null } };
    } finally {
      this.running = undefined;
    }
    await this.panel?.webview.postMessage(result.ok ? { type: "result", view: request.view, result } : { type: "error", message: result.error.message + (result.error.hint ? `. ${result.error.hint}` : "") });
    return result;
  }

  dispose(): void {
    this.subscription.dispose();
    this.panel?.dispose();
  }

  private show(): vscode.WebviewPanel {
    if (this.panel) {
      this.panel.reveal(undefined, true);
      return this.panel;
    }
    const panel = openBesideEditor<FromWebview>(this.extensionUri, {
      viewType: "lineprobe.systemActivity",
      title: "lineprobe: System Activity",
      html: (webview, root) => this.html(webview, root),
      onMessage: (message) => void this.onMessage(message),
      onDispose: () => {
        this.panel = undefined;
      },
    });
    this.panel = panel;
    return panel;
  }

  private onLive(params: SystemLiveParams): void {
    if (this.running && params.view === this.running.view) {
      void this.panel?.webview.postMessage({ type: "live", report: params });
    }
  }

  private async onMessage(message: FromWebview): Promise<void> {
    if (message.type === "stop" && this.running) {
      await this.server.execute(ServerCommand.stop);
    } else if (message.type === "again" && this.last && !this.running) {
      await this.run(this.last);
    }
  }

  private html(webview: vscode.Webview, root: vscode.Uri): string {
    return webviewHtml(webview, root, {
      title: "lineprobe: System Activity",
      styles: ["panel.css", "system.css"],
      script: "system.js",
      body: `  <header>
    <div id="summary">Choose a view: 'lineprobe: Show System Activity…'</div>
    <button id="stop" disabled title="End the trace now and show what it found">Stop</button>
    <button id="again" disabled title="Run the same view and scope again">Run Again</button>
  </header>
  <div id="status" role="status"></div>
  <div id="warnings"></div>
  <section><h3 id="live-title">Live</h3><div class="chart"><canvas id="live" aria-label="live rates"></canvas></div></section>
  <section id="tables"></section>
  <section id="histogram-section" hidden><h3 id="histogram-title"></h3><div class="chart"><canvas id="histogram"></canvas></div></section>
  <section><h3>Not measured on this kernel</h3><ul id="limits"></ul></section>`,
    });
  }
}
