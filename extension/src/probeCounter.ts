/**
 * "lineprobe: Count USDT Probe…": pick a process, one of its USDT probes (listed by the server
 * from the files it maps), and how to group the hits (a known runtime's groupings, such as
 * HotSpot's "by method", or by call stack); the server counts them and shows the result where
 * it belongs (Java methods' call rates as code lenses, stacks as heat).
 */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { ServerCommand, type ProbeCountResult, type ProbeListing, type ProbeTraceResult } from "./model/protocol";
import type { ProbeRuns } from "./probeRuns";
import { pickProcess } from "./processPicker";

/** Optional arguments, for key bindings and tests: each one given skips its question. */
export interface CountProbeArgs {
  pid?: number;
  probe?: string;
  /** A grouping the probe's runtime names ("method"), or "stack". */
  by?: string;
  /** The groupings to offer when `by` is not given (the probe tree knows them). */
  groupings?: string[];
  durationMs?: number;
}

interface ProbeItem extends vscode.QuickPickItem {
  probe: string;
  groupings: string[];
  argumentCount: number;
}

async function pickProbe(server: ServerClient, pid: number): Promise<ProbeItem | undefined> {
  const listing = await server.execute<ProbeListing>(ServerCommand.usdtList, { pid });
  if (!listing.ok) {
    void vscode.window.showErrorMessage(`lineprobe: ${listing.error.message}`);
    return undefined;
  }
  if (listing.probes.length === 0) {
    void vscode.window.showInformationMessage(`lineprobe: PID ${pid} maps no file with USDT probes`);
    return undefined;
  }
  const items: ProbeItem[] = listing.probes.map((probe) => ({
    label: `${probe.provider}:${probe.name}`,
    description: probe.binary.split("/").pop(),
    detail: probe.arguments.map((a, i) => `arg${i + 1}: ${a.meaning ?? a.type}`).join(", ") || "no arguments",
    probe: `${probe.provider}:${probe.name}`,
    groupings: probe.groupings,
    argumentCount: probe.arguments.length,
  }));
  return vscode.window.showQuickPick(items, {
    title: `lineprobe: USDT probes of PID ${pid}`,
    placeHolder: "Probe to count (type to filter: hotspot:method__entry)",
    matchOnDescription: true,
  });
}

interface ProbeTarget {
  pid: number;
  probe: string;
  groupings: string[];
  argumentCount: number;
}

/** The process and the probe, each asked unless given. The process is always asked for (unless
 * given): the one attached for CPU profiles is seldom the runtime whose probes are wanted. */
async function pickTarget(server: ServerClient, args: CountProbeArgs & { argumentCount?: number }): Promise<ProbeTarget | undefined> {
  const pid = typeof args.pid === "number" ? args.pid : (await pickProcess(server))?.pid;
  if (pid === undefined) {
    return undefined;
  }
  if (args.probe) {
    return { pid, probe: args.probe, groupings: args.groupings ?? [], argumentCount: args.argumentCount ?? 2 };
  }
  const item = await pickProbe(server, pid);
  return item && { pid, probe: item.probe, groupings: item.groupings, argumentCount: item.argumentCount };
}

async function pickGrouping(groupings: string[]): Promise<string | undefined> {
  const items = [
    ...groupings.map((name) => ({ label: `by ${name}`, value: name })),
    { label: "by call stack", value: "stack", description: "heat on the lines that fire it" },
  ];
  const chosen = await vscode.window.showQuickPick(items, { title: "lineprobe: count the hits", placeHolder: "How to group the hits" });
  return chosen?.value;
}

export async function countProbe(server: ServerClient, runs: ProbeRuns, args: CountProbeArgs = {}): Promise<ProbeCountResult | undefined> {
  const target = await pickTarget(server, args);
  if (!target) {
    return undefined;
  }
  const { pid, probe, groupings } = target;
  const by = args.by ?? (await pickGrouping(groupings));
  if (!by) {
    return undefined;
  }
  const durationMs = args.durationMs ?? vscode.workspace.getConfiguration("lineprobe").get<number>("durationMs", 5000);
  const request = by === "stack" ? { pid, probe, durationMs, stack: true } : { pid, probe, durationMs, by };
  // By call stack the result is heat (no live output); by arguments it runs with live output
  // and marks on the probe's sites.
  const result =
    by === "stack"
      ? await server.execute<ProbeCountResult>(ServerCommand.usdtCount, request)
      : await runs.execute<ProbeCountResult>("count", request);
  if (!result.ok) {
    return result; // the server showed the error
  }
  if (result.groups) {
    const top = result.groups
      .slice(0, 3)
      .map((group) => `${group.values.join(".")} ${Math.round(group.per_s).toLocaleString("en-US")}/s`)
      .join(", ");
    vscode.window.setStatusBarMessage(`lineprobe: ${probe}: ${result.events.toLocaleString("en-US")} hits; ${top}`, 15000);
  }
  return result;
}

/** Optional arguments of "Trace USDT Probe…", as for counting. */
export interface TraceProbeArgs {
  pid?: number;
  probe?: string;
  /** Arguments shown with each hit: a grouping the runtime names ("method"); else the first two. */
  by?: string;
  groupings?: string[];
  argumentCount?: number;
  durationMs?: number;
}

/** Traces a probe: each hit with its arguments in the "lineprobe: USDT" output as it comes. */
export async function traceProbe(server: ServerClient, runs: ProbeRuns, args: TraceProbeArgs = {}): Promise<ProbeTraceResult | undefined> {
  const target = await pickTarget(server, args);
  if (!target) {
    return undefined;
  }
  const { pid, probe, groupings, argumentCount } = target;
  const by = args.by ?? (groupings.includes("method") ? "method" : undefined);
  const durationMs = args.durationMs ?? TRACE_DURATION_MS;
  const shown = Array.from({ length: Math.min(argumentCount, 2) }, (_, i) => ({ number: i + 1 }));
  // A thousand hits a second at most: a minute of them is kept (the server keeps 100,000), and
  // every one over is still counted.
  const rateLimit = TRACE_RATE_LIMIT;
  const request = by ? { pid, probe, durationMs, rateLimit, by } : { pid, probe, durationMs, rateLimit, groupBy: shown };
  return runs.execute<ProbeTraceResult>("trace", request);
}

/** A trace started from the editor runs until stopped (the probe view's Stop button), or a minute. */
const TRACE_DURATION_MS = 60_000;
const TRACE_RATE_LIMIT = 1000;
