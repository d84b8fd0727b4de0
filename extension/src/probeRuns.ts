/**
 * A USDT count or trace while it runs and after: its live output in the "lineprobe: USDT"
 * channel, and its probe sites' lines marked with their hit rates (a pin in the gutter, the
 * rate after the line), from `lineprobe/probeLive` about once a second and from the result at
 * the end. A watched JVM's GC pauses and class loads go to the same channel and to a status
 * bar item (`lineprobe/jvmLive`). One run at a time, as the server runs one trace at a time;
 * the "lineprobe.probeRunning" context shows the Stop button in the probe view while one runs.
 */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { jvmLiveLines, jvmStatusText, liveLines, siteMarks, tracepointLiveLines, type SiteMark } from "./model/probeLive";
import {
  ServerCommand,
  type Failure,
  type JvmEventsResult,
  type JvmLiveParams,
  type ProbeLiveParams,
  type ProbeSite,
  type TracepointLiveParams,
  type TracepointTraceResult,
} from "./model/protocol";

/** Records of a tracepoint shown a second, at most: a scheduler tracepoint fires thousands of
 * times a second, more than anyone reads; every one over is still counted. */
const TRACEPOINT_RATE_LIMIT = 100;

export type ProbeMode = "count" | "trace" | "jvm" | "tracepoint";

interface Run {
  mode: ProbeMode;
  pid: number;
  probe: string;
}

interface RunResult {
  ok: boolean;
  events?: number;
  site_hits?: ProbeSite[];
  lines?: { t: number; tid: number; values: (number | string)[] }[];
  warnings?: string[];
}

export class ProbeRuns implements vscode.Disposable {
  private readonly output = vscode.window.createOutputChannel("lineprobe: USDT");
  private readonly decoration: vscode.TextEditorDecorationType;
  private marks = new Map<string, SiteMark[]>();
  private running: Run | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly jvmStatus = vscode.window.createStatusBarItem("lineprobe.jvm", vscode.StatusBarAlignment.Left, 90);
  private lastPauseMs: number | undefined;

  constructor(
    private readonly server: ServerClient,
    extensionUri: vscode.Uri,
  ) {
    this.decoration = vscode.window.createTextEditorDecorationType({
      gutterIconPath: vscode.Uri.joinPath(extensionUri, "dist", "probe-site.svg"),
      gutterIconSize: "contain",
      overviewRulerLane: vscode.OverviewRulerLane.Left,
      overviewRulerColor: "rgba(47, 155, 214, 0.8)",
      after: { margin: "0 0 0 2em", color: new vscode.ThemeColor("editorCodeLens.foreground") },
    });
    this.subscriptions.push(
      this.server.onProbeLive((params) => this.onLive(params)),
      this.server.onJvmLive((params) => this.onJvmLive(params)),
      this.server.onTracepointLive((params) => this.onTracepointLive(params)),
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => this.apply(e))),
    );
  }

  get current(): Run | undefined {
    return this.running;
  }

  /** Runs `command` (usdtCount or usdtTrace) with `request`, showing what it sees as it runs. */
  async execute<T extends RunResult | Failure>(mode: ProbeMode, request: { pid: number; probe: string }): Promise<T> {
    const run: Run = { mode, pid: request.pid, probe: request.probe };
    this.running = run;
    this.setMarks(new Map());
    void vscode.commands.executeCommand("setContext", "lineprobe.probeRunning", true);
    this.output.show(true);
    this.output.appendLine(`${mode === "count" ? "Counting" : "Tracing"} ${run.probe} in PID ${run.pid}…`);
    const command = mode === "count" ? ServerCommand.usdtCount : ServerCommand.usdtTrace;
    try {
      const result = await this.server.execute<T>(command, request);
      this.finish(run, result);
      return result;
    } finally {
      if (this.running === run) {
        this.running = undefined;
        void vscode.commands.executeCommand("setContext", "lineprobe.probeRunning", false);
      }
    }
  }

  /** Watches a JVM's GC pauses and class loads: live in the status bar and the output channel,
   * until stopped or `durationMs` ends. */
  async watchJvm(pid: number, durationMs: number): Promise<JvmEventsResult> {
    const run: Run = { mode: "jvm", pid, probe: "GC and class loading" };
    this.running = run;
    this.lastPauseMs = undefined;
    void vscode.commands.executeCommand("setContext", "lineprobe.probeRunning", true);
    this.jvmStatus.text = `$(sync~spin) JVM ${pid}: watching GC and class loading…`;
    this.jvmStatus.tooltip = "lineprobe: HotSpot's gc__begin/gc__end and class__loaded probes; Stop in the USDT Probes view";
    this.jvmStatus.command = "lineprobe.probes.stop";
    this.jvmStatus.show();
    this.output.show(true);
    this.output.appendLine(`Watching GC and class loading in JVM ${pid}…`);
    try {
      const result = await this.server.execute<JvmEventsResult>(ServerCommand.jvmEvents, { pid, durationMs });
      if (result.ok) {
        const p = result.pauses;
        this.output.appendLine(
          `Done: JVM ${pid} over ${result.duration_s.toFixed(1)} s: ${result.gc_count.toLocaleString("en-US")} GC pauses ` +
            `(${p.total_ms.toFixed(1)} ms in all, longest ${p.max_ms.toFixed(2)} ms), ${result.classes_loaded.toLocaleString("en-US")} classes loaded`,
        );
        result.warnings.forEach((warning) => this.output.appendLine(`  warning: ${warning}`));
        this.jvmStatus.text = `$(pulse) JVM ${pid}: ${result.gc_count.toLocaleString("en-US")} GCs, longest ${p.max_ms.toFixed(1)} ms · ${result.classes_loaded.toLocaleString("en-US")} classes loaded`;
        this.jvmStatus.command = "lineprobe.watchJvm";
      } else {
        this.output.appendLine(`Failed: ${result.error.message}`);
        this.jvmStatus.hide();
      }
      return result;
    } finally {
      if (this.running === run) {
        this.running = undefined;
        void vscode.commands.executeCommand("setContext", "lineprobe.probeRunning", false);
      }
    }
  }

  /** Traces a kernel tracepoint in a process: each record in the output as it comes, until
   * stopped or `durationMs` ends. */
  async traceTracepoint(pid: number, tracepoint: string, durationMs: number): Promise<TracepointTraceResult> {
    const run: Run = { mode: "tracepoint", pid, probe: tracepoint };
    this.running = run;
    void vscode.commands.executeCommand("setContext", "lineprobe.probeRunning", true);
    this.output.show(true);
    this.output.appendLine(`Tracing ${tracepoint} in PID ${pid}…`);
    try {
      const request = { pid, tracepoint, durationMs, rateLimit: TRACEPOINT_RATE_LIMIT };
      const result = await this.server.execute<TracepointTraceResult>(ServerCommand.tracepointTrace, request);
      if (result.ok) {
        this.output.appendLine(
          `Done: ${tracepoint} in PID ${pid}: ${result.hits.toLocaleString("en-US")} hits, ${result.recorded.toLocaleString("en-US")} recorded`,
        );
        result.warnings.forEach((warning) => this.output.appendLine(`  warning: ${warning}`));
      } else {
        this.output.appendLine(`Failed: ${result.error.message}`);
      }
      return result;
    } finally {
      if (this.running === run) {
        this.running = undefined;
        void vscode.commands.executeCommand("setContext", "lineprobe.probeRunning", false);
      }
    }
  }

  /** Ends the running count or trace early; its result (what was seen so far) still comes. */
  async stop(): Promise<void> {
    if (this.running) {
      this.output.appendLine(`Stopping ${this.running.probe}…`);
    }
    await this.server.execute(ServerCommand.stop);
  }

  private onLive(params: ProbeLiveParams): void {
    const run = this.running;
    if (!run || run.probe !== params.probe || run.pid !== params.pid) {
      return;
    }
    liveLines(params).forEach((line) => this.output.appendLine(line));
    this.setMarks(siteMarks(params.probe, params.sites, true));
  }

  private onTracepointLive(params: TracepointLiveParams): void {
    const run = this.running;
    if (!run || run.mode !== "tracepoint" || run.pid !== params.pid || run.probe !== params.tracepoint) {
      return;
    }
    tracepointLiveLines(params).forEach((line) => this.output.appendLine(line));
  }

  private onJvmLive(params: JvmLiveParams): void {
    const run = this.running;
    if (!run || run.mode !== "jvm" || run.pid !== params.pid) {
      return;
    }
    jvmLiveLines(params).forEach((line) => this.output.appendLine(line));
    const last = params.newGcs.at(-1);
    if (last) {
      this.lastPauseMs = last.durationMs;
    }
    this.jvmStatus.text = `$(pulse) ${jvmStatusText(params, this.lastPauseMs)}`;
  }

  private finish(run: Run, result: RunResult | Failure): void {
    if (!result.ok) {
      this.output.appendLine(`Failed: ${"error" in result ? result.error.message : "see the lineprobe output"}`);
      return;
    }
    const kept = result.lines ? `, ${result.lines.length.toLocaleString("en-US")} recorded` : "";
    this.output.appendLine(`Done: ${run.probe} in PID ${run.pid}: ${(result.events ?? 0).toLocaleString("en-US")} hits${kept}`);
    for (const site of result.site_hits ?? []) {
      const where = site.path && site.line ? `${site.path}:${site.line}` : `${site.binary} +0x${site.offset.toString(16)}`;
      this.output.appendLine(`  at ${where}: ${site.hits.toLocaleString("en-US")} hits (${Math.round(site.per_s).toLocaleString("en-US")}/s)`);
    }
    for (const warning of result.warnings ?? []) {
      this.output.appendLine(`  warning: ${warning}`);
    }
    this.setMarks(siteMarks(run.probe, result.site_hits ?? [], false));
  }

  private setMarks(marks: Map<string, SiteMark[]>): void {
    this.marks = new Map([...marks].map(([uri, list]) => [vscode.Uri.parse(uri).toString(), list]));
    vscode.window.visibleTextEditors.forEach((editor) => this.apply(editor));
  }

  private apply(editor: vscode.TextEditor): void {
    const document = editor.document;
    const marks = (this.marks.get(document.uri.toString()) ?? []).filter((mark) => mark.line < document.lineCount);
    editor.setDecorations(
      this.decoration,
      marks.map((mark) => ({
        // The whole line, so that the rate comes after its end.
        range: document.lineAt(mark.line).range,
        hoverMessage: mark.hover,
        renderOptions: { after: { contentText: mark.text } },
      })),
    );
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    this.decoration.dispose();
    this.jvmStatus.dispose();
    this.output.dispose();
  }
}
