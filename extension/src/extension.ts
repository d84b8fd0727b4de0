/**
 * Entry point: builds the parts and wires them together. Each part lives in
 * its own module (client lifecycle, commands, process picker, heat, status
 * bar, flame graph, settings); this file only connects their events.
 */
import * as vscode from "vscode";
import { ActionRunner } from "./actions";
import { CapabilitiesView } from "./capabilities";
import { ServerClient } from "./client";
import { registerCommands } from "./commands";
import { FindingRuns } from "./findingRuns";
import { FindingsView } from "./findingsView";
import { FlameGraphPanel } from "./flameGraphPanel";
import { TimelinePanel } from "./timelinePanel";
import { CAPTURE_EDITOR, CaptureEditorProvider } from "./captureEditor";
import { HeatDecorations } from "./heatDecorations";
import { ServerCommand, type ProfileArguments } from "./model/protocol";
import { ProbeRuns } from "./probeRuns";
import { ProbeTreeView } from "./probeTree";
import { Profiler } from "./profiler";
import { configurationImpact } from "./settings";
import { StatusBar } from "./statusBar";
import { SystemPanel } from "./systemPanel";

let server: ServerClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("lineprobe", { log: true });
  const status = new StatusBar();
  const actions = new ActionRunner(output);
  // The profiler needs the client and the client's hooks need the profiler:
  // the hooks look it up when they run, after both exist.
  let profiler: Profiler | undefined;
  let findingRuns: FindingRuns | undefined;
  const client = new ServerClient(output, {
    interceptCommand: (command, args, next) => {
      // The server's "Profile for 5 s" code lens (and any other caller of
      // the server's own command) goes through the same path as ours.
      if (command === ServerCommand.profile && profiler && isProfileArguments(args[0])) {
        return profiler.run(args[0], () => next(command, args));
      }
      const trace = FindingRuns.kindOf(command);
      if (trace && findingRuns && args[0] && typeof args[0] === "object") {
        return findingRuns.run(trace, args[0], () => next(command, args));
      }
      return next(command, args);
    },
    showMessage: (message) => profiler?.gate.offer(message) ?? true,
  });
  server = client;
  profiler = new Profiler(client, status, actions);
  // One gate for profiles and traces: a message a result explains is shown once, with its buttons.
  findingRuns = new FindingRuns(client, actions, profiler.gate);
  const findingsView = new FindingsView();
  const heat = new HeatDecorations(context.extensionUri);
  const flameGraph = new FlameGraphPanel(context.extensionUri, client, profiler);
  const timeline = new TimelinePanel(context.extensionUri, client, flameGraph);
  const capabilities = new CapabilitiesView(client, actions);
  const probes = new ProbeTreeView(client);
  const probeRuns = new ProbeRuns(client, context.extensionUri);
  const systemPanel = new SystemPanel(context.extensionUri, client);
  const activeProfiler = profiler;

  context.subscriptions.push(
    output,
    status,
    client,
    heat,
    flameGraph,
    timeline,
    capabilities,
    probes,
    probeRuns,
    systemPanel,
    findingsView,
    client.onHeat((params) => heat.update(params)),
    vscode.window.registerCustomEditorProvider(CAPTURE_EDITOR, new CaptureEditorProvider()),
    // The panels open when the window was reloaded come back, asking the server anew.
    vscode.window.registerWebviewPanelSerializer("lineprobe.flameGraph", {
      deserializeWebviewPanel: async (panel) => flameGraph.restore(panel),
    }),
    vscode.window.registerWebviewPanelSerializer("lineprobe.timeline", {
      deserializeWebviewPanel: async (panel) => timeline.restore(panel),
    }),
    client.onState((state) => {
      if (state.kind === "starting") {
        status.set({ kind: "starting" });
      } else if (state.kind === "stopped") {
        status.set({ kind: "serverStopped", reason: state.reason });
      } else if (status.current.kind === "starting" || status.current.kind === "serverStopped") {
        status.set({ kind: "idle", target: activeProfiler.target });
      }
    }),
    activeProfiler.onFinished((result) => {
      if (result.ok) {
        void flameGraph.refresh();
        void timeline.refresh();
      }
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("lineprobe.showHeat")) {
        heat.refresh();
      }
      const impact = configurationImpact(event);
      if (impact === "restart") {
        heat.clear();
        void client.restartIfLaunchChanged();
      } else if (impact === "forward") {
        void client.sendSettings();
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => void client.restartIfLaunchChanged()),
    ...registerCommands({
      findings: findingRuns,
      server: client,
      profiler: activeProfiler,
      flameGraph,
      timeline,
      heat,
      capabilities,
      probes,
      probeRuns,
      systemPanel,
      workspaceState: context.workspaceState,
      output,
    }),
  );
  await client.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
}

function isProfileArguments(value: unknown): value is ProfileArguments {
  if (!value || typeof value !== "object") {
    return false;
  }
  const v = value as Record<string, unknown>;
  return (typeof v.pid === "number" || Array.isArray(v.command)) && typeof v.durationMs === "number";
}
