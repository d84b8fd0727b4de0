/**
 * The commands of the command palette. Each one is thin: it gathers what the
 * user wants (a process, a command line, overrides) and hands it to the
 * profiler, the panel or the client.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { setUpAgent } from "./agentSetup";
import type { CapabilitiesView } from "./capabilities";
import { CAPTURE_EDITOR } from "./captureEditor";
import type { ServerClient } from "./client";
import type { FindingRuns, TraceTarget } from "./findingRuns";
import type { FlameGraphPanel } from "./flameGraphPanel";
import type { TimelinePanel } from "./timelinePanel";
import { comparisonSummary } from "./model/comparison";
import { RECENT_CAPTURES_KEY, remember } from "./model/recentCaptures";
import type { HeatDecorations } from "./heatDecorations";
import { profileOptions, RESULT_KINDS, SHOWN_KINDS_SETTINGS, toggledKinds } from "./model/settings";
import { splitCommandLine } from "./model/processes";
import { lineHitsSummary, linesOfCursors } from "./model/lineHits";
import {
  ServerCommand,
  type CompareResult,
  type LeaksResult,
  type LineHitsResult,
  type OffCpuResult,
  type ProfileResult,
  type SyscallsResult,
  type SystemActivityArguments,
} from "./model/protocol";
import type { ProbeNode } from "./model/probes";
import { countProbe, traceProbe, type CountProbeArgs, type TraceProbeArgs } from "./probeCounter";
import type { ProbeRuns } from "./probeRuns";
import type { ProbeTreeView } from "./probeTree";
import { pickProcess, pickProcessOrLaunch } from "./processPicker";
import { pickTracepoint } from "./tracepointPicker";
import type { Profiler } from "./profiler";
import { readServerSettings } from "./settings";
import type { SystemPanel } from "./systemPanel";

export interface CommandDeps {
  findings: FindingRuns;
  probes: ProbeTreeView;
  probeRuns: ProbeRuns;
  server: ServerClient;
  profiler: Profiler;
  flameGraph: FlameGraphPanel;
  timeline: TimelinePanel;
  heat: HeatDecorations;
  capabilities: CapabilitiesView;
  systemPanel: SystemPanel;
  workspaceState: vscode.Memento;
  /** lineprobe's log, where the set-up's output goes. */
  output: vscode.LogOutputChannel;
}

/** Optional arguments of Profile CPU, for key bindings and other extensions: they override the settings. */
export interface ProfileCpuArgs {
  pid?: number;
  durationMs?: number;
  frequency?: number;
}

export interface LaunchArgs {
  command?: string[] | string;
  cwd?: string;
  durationMs?: number;
  frequency?: number;
  /** The processes the command starts too (default: the `lineprobe.followChildren` setting). */
  followChildren?: boolean;
}

/** Optional arguments of Trace System Calls and Find Leaks: a PID or a command (else a picker), and
 * the length (else the `lineprobe.syscalls.durationMs` / `lineprobe.leaks.durationMs` setting). */
export interface TraceArgs {
  pid?: number;
  command?: string[] | string;
  cwd?: string;
  durationMs?: number;
}

/** publisher.name, as the walkthrough's id needs it. */
const EXTENSION_ID = "lineprobe.lineprobe";
const LAST_LAUNCH_KEY = "lineprobe.lastLaunchCommand";
/** A JVM watched, or a tracepoint traced, from the editor: until stopped (the probe view's Stop
 * button), or a minute. */
const JVM_WATCH_MS = 60_000;

export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const { server, profiler } = deps;
  const register = (id: string, run: (...args: never[]) => unknown): vscode.Disposable =>
    vscode.commands.registerCommand(id, run as (...args: unknown[]) => unknown);

  return [
    register("lineprobe.attach", async (): Promise<boolean> => {
      const target = await pickProcess(server, { forProfile: true });
      if (!target) {
        return false;
      }
      profiler.attach(target);
      vscode.window.setStatusBarMessage(`lineprobe: attached to PID ${target.pid}; run 'lineprobe: Profile CPU' to sample it`, 5000);
      return true;
    }),

    register("lineprobe.profileCpu", async (args?: ProfileCpuArgs): Promise<ProfileResult | undefined> => {
      let pid = typeof args?.pid === "number" ? args.pid : profiler.target?.pid;
      if (pid === undefined) {
        const target = await pickProcess(server, { forProfile: true });
        if (!target) {
          return undefined;
        }
        profiler.attach(target);
        pid = target.pid;
      }
      const options = profileOptions(readServerSettings(), args);
      return profiler.profile({ pid, durationMs: options.durationMs, frequency: options.frequency });
    }),

    register("lineprobe.launchAndProfile", async (args?: LaunchArgs): Promise<ProfileResult | undefined> => {
      let argv = typeof args?.command === "string" ? splitCommandLine(args.command) : args?.command;
      if (!argv || argv.length === 0) {
        argv = await askCommandLine(deps.workspaceState, "lineprobe: Launch and Profile", "Command to run and profile (it is stopped when the profile ends)");
        if (!argv) {
          return undefined;
        }
      }
      const options = profileOptions(readServerSettings(), args);
      const cwd = args?.cwd ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      const followChildren = args?.followChildren ?? vscode.workspace.getConfiguration("lineprobe").get<boolean>("followChildren", false);
      return profiler.profile({
        command: argv,
        cwd,
        durationMs: options.durationMs,
        frequency: options.frequency,
        ...(followChildren ? { followChildren: true } : {}),
      });
    }),

    register("lineprobe.traceSystemCalls", async (args?: TraceArgs): Promise<SyscallsResult | undefined> => {
      const target = await traceTarget(deps, args, "lineprobe: Trace System Calls", "system calls");
      return target ? deps.findings.trace("syscalls", { ...target, durationMs: traceDuration(args, "syscalls.durationMs", 5000) }) : undefined;
    }),

    register("lineprobe.findMemoryLeaks", async (args?: TraceArgs): Promise<LeaksResult | undefined> => {
      const target = await traceTarget(deps, args, "lineprobe: Find Leaks", "allocations");
      return target ? deps.findings.trace("leaks", { ...target, durationMs: traceDuration(args, "leaks.durationMs", 10000) }) : undefined;
    }),

    register("lineprobe.getStarted", () =>
      vscode.commands.executeCommand("workbench.action.openWalkthrough", `${EXTENSION_ID}#lineprobe.start`, false),
    ),

    register("lineprobe.openCaptureFile", async (args?: { path?: string; showReport?: boolean }): Promise<{ ok: boolean } | undefined> => {
      let file = args?.path;
      if (!file) {
        const picked = await vscode.window.showOpenDialog({
          title: "lineprobe: Open Capture",
          canSelectMany: false,
          filters: { "lineprobe captures": ["lpcap"], pprof: ["pb.gz", "pb", "pprof"], "All files": ["*"] },
        });
        file = picked?.[0]?.fsPath;
      }
      if (!file) {
        return undefined;
      }
      const result = await server.execute<{ ok: boolean; report?: string; error?: { message: string } }>(ServerCommand.openCapture, { path: file });
      if (result.ok) {
        const recent = deps.workspaceState.get<string[]>(RECENT_CAPTURES_KEY, []);
        await deps.workspaceState.update(RECENT_CAPTURES_KEY, remember(recent, file));
        if (typeof result.report === "string") {
          // A kind without per-line results: its report, in the capture editor (unless asked by it).
          if (args?.showReport !== false) {
            await vscode.commands.executeCommand("vscode.openWith", vscode.Uri.file(file), CAPTURE_EDITOR);
          }
        } else {
          await deps.flameGraph.refresh();
          await deps.timeline.refresh();
        }
        vscode.window.setStatusBarMessage(`lineprobe: opened ${file}`, 4000);
      }
      return result;
    }),

    register(
      "lineprobe.compareCaptureFiles",
      async (args?: { before?: string; after?: string }): Promise<CompareResult | undefined> => {
        const before = args?.before ?? (await pickCapture(deps.workspaceState, "the capture BEFORE the change"));
        if (!before) {
          return undefined;
        }
        const after = args?.after ?? (await pickCapture(deps.workspaceState, `the capture AFTER the change (compared with ${path.basename(before)})`, before));
        if (!after) {
          return undefined;
        }
        const result = await server.execute<CompareResult>(ServerCommand.compareCaptures, { before, after });
        if (result.ok) {
          const recent = deps.workspaceState.get<string[]>(RECENT_CAPTURES_KEY, []);
          await deps.workspaceState.update(RECENT_CAPTURES_KEY, remember(remember(recent, before), after));
          await deps.flameGraph.refresh();
          await deps.timeline.refresh();
          void vscode.window.showInformationMessage(
            `lineprobe: ${path.basename(before)} → ${path.basename(after)}: ${comparisonSummary(result)}`,
          );
        }
        return result;
      },
    ),

    ...SHOWN_KINDS_SETTINGS.map((key) =>
      register(`lineprobe.toggle${key.slice("show".length)}`, async (): Promise<string[]> => {
        const config = vscode.workspace.getConfiguration("lineprobe");
        const kinds = toggledKinds(config.get<string[]>(key, [...RESULT_KINDS]));
        await config.update(key, kinds, vscode.ConfigurationTarget.Global);
        vscode.window.setStatusBarMessage(`lineprobe: ${key.slice("show".length)} ${kinds.length > 0 ? "shown" : "hidden"}`, 4000);
        return kinds;
      }),
    ),

    register("lineprobe.toggleHeat", async (): Promise<boolean> => {
      const config = vscode.workspace.getConfiguration("lineprobe");
      const shown = !config.get<boolean>("showHeat", true);
      await config.update("showHeat", shown, vscode.ConfigurationTarget.Global);
      vscode.window.setStatusBarMessage(`lineprobe: heat ${shown ? "shown" : "hidden"}`, 4000);
      return shown;
    }),

    register("lineprobe.openRecentCapture", async (): Promise<{ ok: boolean } | undefined> => {
      const recent = deps.workspaceState.get<string[]>(RECENT_CAPTURES_KEY, []).filter((file) => existsSync(file));
      if (recent.length === 0) {
        void vscode.window.showInformationMessage("lineprobe: no captures opened in this workspace yet: use 'Open Capture…'.");
        return undefined;
      }
      const picked = await vscode.window.showQuickPick(
        recent.map((file) => ({ label: path.basename(file), description: path.dirname(file), file })),
        { title: "lineprobe: Open Recent Capture", placeHolder: "captures opened in this workspace, latest first" },
      );
      return picked ? vscode.commands.executeCommand("lineprobe.openCaptureFile", { path: picked.file }) : undefined;
    }),

    register("lineprobe.clearEditorResults", async (): Promise<string[] | undefined> => {
      try {
        const result = await server.execute<{ ok: boolean; cleared: string[] }>(ServerCommand.clearResults);
        deps.heat.clear();
        await deps.flameGraph.refresh();
        vscode.window.setStatusBarMessage(
          result.cleared.length > 0 ? `lineprobe: cleared ${result.cleared.join(", ")}` : "lineprobe: no results to clear",
          4000,
        );
        return result.cleared;
      } catch (error) {
        void vscode.window.showErrorMessage(`lineprobe: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      }
    }),

    register("lineprobe.setUpAgent", () => setUpAgent(server, deps.output, false)),

    register("lineprobe.removeAgent", () => setUpAgent(server, deps.output, true)),

    register("lineprobe.stopProfile", async (): Promise<void> => {
      try {
        const result = await server.execute<{ ok: boolean; stopped: boolean }>(ServerCommand.stop);
        vscode.window.setStatusBarMessage(result.stopped ? "lineprobe: stopping; the samples so far are kept" : "lineprobe: no profile is running", 4000);
      } catch (error) {
        void vscode.window.showErrorMessage(`lineprobe: ${error instanceof Error ? error.message : String(error)}`);
      }
    }),

    register("lineprobe.countProbe", (args?: CountProbeArgs) => countProbe(server, deps.probeRuns, args)),

    register("lineprobe.traceProbe", (args?: TraceProbeArgs) => traceProbe(server, deps.probeRuns, args)),

    register("lineprobe.probes.stop", () => deps.probeRuns.stop()),

    register("lineprobe.watchJvm", async (args?: { pid?: number; durationMs?: number }) => {
      const pid = typeof args?.pid === "number" ? args.pid : (await pickProcess(server))?.pid;
      return pid === undefined ? undefined : deps.probeRuns.watchJvm(pid, args?.durationMs ?? JVM_WATCH_MS);
    }),

    register("lineprobe.countHitsOfLine", (args?: { pid?: number; lines?: string[]; durationMs?: number }) =>
      countHitsOfLine(deps, args),
    ),

    register("lineprobe.measureOffCpu", (args?: { pid?: number; durationMs?: number }) => measureWaiting(deps, false, args)),

    register("lineprobe.measureWallClock", (args?: { pid?: number; durationMs?: number }) => measureWaiting(deps, true, args)),

    register("lineprobe.traceTracepoint", async (args?: { pid?: number; tracepoint?: string; durationMs?: number }) => {
      const pid = typeof args?.pid === "number" ? args.pid : (await pickProcess(server))?.pid;
      if (pid === undefined) {
        return undefined;
      }
      const tracepoint = args?.tracepoint ?? (await pickTracepoint(server));
      return tracepoint ? deps.probeRuns.traceTracepoint(pid, tracepoint, args?.durationMs ?? JVM_WATCH_MS) : undefined;
    }),

    register("lineprobe.probes.watchJvm", () =>
      deps.probes.pid !== undefined ? deps.probeRuns.watchJvm(deps.probes.pid, JVM_WATCH_MS) : undefined,
    ),

    register("lineprobe.probes.pickProcess", () => deps.probes.pick()),

    register("lineprobe.probes.count", (node?: ProbeNode) =>
      node?.kind === "probe" && deps.probes.pid !== undefined
        ? countProbe(server, deps.probeRuns, { pid: deps.probes.pid, probe: node.probe, groupings: node.groupings })
        : undefined,
    ),

    register("lineprobe.probes.trace", (node?: ProbeNode) =>
      node?.kind === "probe" && deps.probes.pid !== undefined
        ? traceProbe(server, deps.probeRuns, {
            pid: deps.probes.pid,
            probe: node.probe,
            groupings: node.groupings,
            argumentCount: node.argumentCount,
          })
        : undefined,
    ),

    register("lineprobe.showSystemActivity", (args?: Partial<SystemActivityArguments>) => deps.systemPanel.pickAndRun(args)),

    register("lineprobe.showCapabilities", () => deps.capabilities.show()),

    register("lineprobe.restartServer", async (): Promise<void> => {
      // The new server has no profile: its heat would be stale.
      deps.heat.clear();
      await server.restart();
    }),

    register("lineprobe.showFlameGraph", () => deps.flameGraph.show()),

    register("lineprobe.showTimeline", () => deps.timeline.show()),

    register("lineprobe.resetHeatScope", () => deps.flameGraph.resetScope()),
  ];
}

/** Off-CPU time (or, with `wallClock`, all of the time: on the CPU too) of a picked process, as
 * heat in the waiting palette, with hovers, lenses and the flame graph in durations. */
async function measureWaiting(
  deps: CommandDeps,
  wallClock: boolean,
  args?: { pid?: number; durationMs?: number },
): Promise<OffCpuResult | undefined> {
  const server = deps.server;
  const pid = typeof args?.pid === "number" ? args.pid : (await pickProcess(server))?.pid;
  if (pid === undefined) {
    return undefined;
  }
  const durationMs = args?.durationMs ?? vscode.workspace.getConfiguration("lineprobe").get<number>("durationMs", 5000);
  const what = wallClock ? "wall-clock time" : "off-CPU time";
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: `lineprobe: measuring ${what} of PID ${pid}` },
    () => server.execute<OffCpuResult>(ServerCommand.offCpu, wallClock ? { pid, durationMs, wallClock } : { pid, durationMs }),
  );
  if (result.ok) {
    vscode.window.setStatusBarMessage(`lineprobe: ${what} of PID ${pid} on ${result.files.length} file(s), in blue`, 15000);
    void deps.flameGraph.refresh(); // the panel shows the latest profile, whatever its cost
  }
  return result;
}

/** How many times the lines under the cursors run in the attached process (else one picked):
 * uprobes where each line's code begins, counted for the `durationMs` setting; the counts are
 * said, and the lines and their callers get heat as stack counts do. */
async function countHitsOfLine(
  deps: CommandDeps,
  args?: { pid?: number; lines?: string[]; durationMs?: number },
): Promise<LineHitsResult | undefined> {
  const editor = vscode.window.activeTextEditor;
  const lines =
    args?.lines ??
    (editor && editor.document.uri.scheme === "file"
      ? linesOfCursors(editor.document.uri.fsPath, editor.selections.map((selection) => selection.active.line))
      : []);
  if (lines.length === 0) {
    void vscode.window.showInformationMessage("lineprobe: put the cursor on a line of a source file to count its hits.");
    return undefined;
  }
  let pid = typeof args?.pid === "number" ? args.pid : deps.profiler.target?.pid;
  if (pid === undefined) {
    const target = await pickProcess(deps.server, { forProfile: true });
    if (!target) {
      return undefined;
    }
    deps.profiler.attach(target);
    pid = target.pid;
  }
  const durationMs = args?.durationMs ?? vscode.workspace.getConfiguration("lineprobe").get<number>("durationMs", 5000);
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: `lineprobe: counting hits of ${lines.length === 1 ? lines[0] : `${lines.length} lines`} in PID ${pid}` },
    () => deps.server.execute<LineHitsResult>(ServerCommand.countLineHits, { pid, lines, durationMs }),
  );
  if (result.ok) {
    vscode.window.setStatusBarMessage(`lineprobe: ${lineHitsSummary(result.line_hits)}`, 15000);
    void deps.flameGraph.refresh(); // the panel shows the latest profile: the stacks that reached the lines
  }
  return result;
}

/** Whom a system-call or leak trace is of: the arguments' PID or command, else a process picked
 * (or a command typed, from the picker's "Launch a Command…"). Undefined when the user cancels. */
async function traceTarget(deps: CommandDeps, args: TraceArgs | undefined, title: string, what: string): Promise<TraceTarget | undefined> {
  if (typeof args?.pid === "number") {
    return { pid: args.pid };
  }
  const given = typeof args?.command === "string" ? splitCommandLine(args.command) : args?.command;
  const cwd = args?.cwd ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (given && given.length > 0) {
    return { command: given, ...(cwd ? { cwd } : {}) };
  }
  const picked = await pickProcessOrLaunch(deps.server, title);
  if (picked !== "launch") {
    return picked ? { pid: picked.pid } : undefined;
  }
  const argv = await askCommandLine(deps.workspaceState, title, `Command to run, tracing its ${what} (it is stopped when the trace ends)`);
  return argv ? { command: argv, ...(cwd ? { cwd } : {}) } : undefined;
}

/** A trace's length: the arguments', else its setting (milliseconds). */
function traceDuration(args: TraceArgs | undefined, setting: string, fallback: number): number {
  const given = args?.durationMs;
  if (typeof given === "number" && Number.isFinite(given) && given > 0) {
    return Math.round(given);
  }
  return vscode.workspace.getConfiguration("lineprobe").get<number>(setting, fallback);
}

/** A command line typed by the user (the last one offered again), split as a shell would; undefined
 * when cancelled. */
async function askCommandLine(state: vscode.Memento, title: string, prompt: string): Promise<string[] | undefined> {
  const typed = await vscode.window.showInputBox({
    title,
    prompt,
    placeHolder: "./build/server --port 8080",
    value: state.get<string>(LAST_LAUNCH_KEY, ""),
    validateInput: (text) => {
      try {
        return splitCommandLine(text).length > 0 ? undefined : "Type a command";
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    },
  });
  if (typed === undefined) {
    return undefined;
  }
  await state.update(LAST_LAUNCH_KEY, typed);
  return splitCommandLine(typed);
}

/** A capture to compare: one of the workspace's recent captures (not `exclude`), or one browsed
 * to. Undefined when the user cancels. */
async function pickCapture(state: vscode.Memento, which: string, exclude?: string): Promise<string | undefined> {
  const recent = state.get<string[]>(RECENT_CAPTURES_KEY, []).filter((file) => file !== exclude && existsSync(file));
  const browse = { label: "$(folder-opened) Browse…", description: "a capture (.lpcap) or a pprof file", file: undefined };
  const picked =
    recent.length === 0
      ? browse
      : await vscode.window.showQuickPick(
          [...recent.map((file) => ({ label: path.basename(file), description: path.dirname(file), file })), browse],
          { title: `lineprobe: Compare Captures: ${which}`, placeHolder: "captures opened in this workspace, latest first" },
        );
  if (!picked) {
    return undefined;
  }
  if (picked.file) {
    return picked.file;
  }
  const chosen = await vscode.window.showOpenDialog({
    title: `lineprobe: Compare Captures: ${which}`,
    canSelectMany: false,
    filters: { "lineprobe captures": ["lpcap"], pprof: ["pb.gz", "pb", "pprof"], "All files": ["*"] },
  });
  return chosen?.[0]?.fsPath;
}
