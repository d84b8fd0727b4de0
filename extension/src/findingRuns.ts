/**
 * Running a system-call trace or a leak trace and saying what it found: a progress notification
 * while it runs (its Cancel ends the trace early, keeping what was traced), then a summary with a
 * button to the Findings view, or the failure explained with a button that helps.
 *
 * Every trace goes through `run`, whether started from the palette or by the server's "Trace
 * syscalls" / "Find leaks" code lens (which VS Code executes through the language client's
 * middleware), so both behave alike.
 */
import * as vscode from "vscode";
import type { ActionRunner } from "./actions";
import type { ServerClient } from "./client";
import { checkedResult, clientError, failureMessage, warningMessage } from "./model/failures";
import { leakSummary, syscallSummary } from "./model/findings";
import type { MessageGate } from "./model/messages";
import { baseName } from "./model/processes";
import { ServerCommand, type LeaksResult, type SyscallsResult } from "./model/protocol";
import { readServerSettings } from "./settings";

export type TraceKind = "syscalls" | "leaks";

/** Whom to trace: a running process, or a command launched for the trace (ended with it). */
export type TraceTarget = { pid: number } | { command: string[]; cwd?: string };

export type TraceArguments = TraceTarget & { durationMs: number };

const KINDS = {
  syscalls: { command: ServerCommand.traceSyscalls, doing: "Tracing the system calls of", done: "system calls" },
  leaks: { command: ServerCommand.findLeaks, doing: "Finding leaks in", done: "leaks" },
} as const;

export class FindingRuns {
  constructor(
    private readonly server: ServerClient,
    private readonly actions: ActionRunner,
    private readonly gate: MessageGate,
  ) {}

  /** The server command of a kind, for the middleware that routes code lenses here. */
  static kindOf(command: string): TraceKind | undefined {
    return command === ServerCommand.traceSyscalls ? "syscalls" : command === ServerCommand.findLeaks ? "leaks" : undefined;
  }

  /** Traces through our own request to the server. */
  trace(kind: "syscalls", args: TraceArguments): Promise<SyscallsResult>;
  trace(kind: "leaks", args: TraceArguments): Promise<LeaksResult>;
  trace(kind: TraceKind, args: TraceArguments): Promise<SyscallsResult | LeaksResult> {
    return this.run(kind, args, () => this.server.execute(KINDS[kind].command, args));
  }

  /** Runs one trace with `send` and presents the result. Never rejects: a transport failure
   * becomes a `server-unavailable` failure result. */
  async run(kind: TraceKind, args: Partial<TraceArguments>, send: () => Promise<unknown>): Promise<SyscallsResult | LeaksResult> {
    const what = "pid" in args && typeof args.pid === "number" ? `PID ${args.pid}` : baseName(("command" in args && args.command?.[0]) || "?");
    const seconds = typeof args.durationMs === "number" ? ` for ${(args.durationMs / 1000).toFixed(0)} s` : "";
    this.gate.begin();
    let result: SyscallsResult | LeaksResult;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `lineprobe: ${KINDS[kind].doing} ${what}${seconds}`, cancellable: true },
        async (_progress, cancelled) => {
          const stop = cancelled.onCancellationRequested(() => void this.server.execute(ServerCommand.stop).catch(() => undefined));
          try {
            return checkedResult<SyscallsResult | LeaksResult>(await send());
          } finally {
            stop.dispose();
          }
        },
      );
    } catch (error) {
      result = { ok: false, error: clientError(error instanceof Error ? error.message : String(error)) };
    }
    this.actions.showHeld(this.gate.end(result));
    this.present(kind, what, result, () => void this.run(kind, args, send));
    return result;
  }

  /** `retry`: the same trace again, once a fix the failure offers has worked. */
  private present(kind: TraceKind, what: string, result: SyscallsResult | LeaksResult, retry: () => void): void {
    if (!result.ok) {
      this.actions.show(failureMessage(result.error), retry);
      return;
    }
    const summary =
      kind === "syscalls"
        ? syscallSummary(result as Extract<SyscallsResult, { ok: true }>, readServerSettings().slowIoThresholdMs)
        : leakSummary(result as Extract<LeaksResult, { ok: true }>);
    const text = `lineprobe: ${KINDS[kind].done} of ${what}: ${summary}`;
    vscode.window.setStatusBarMessage(text, 15000);
    const warning = warningMessage(result.warnings ?? []);
    if (warning) {
      this.actions.show(warning);
    }
    const show = "Show Findings";
    void vscode.window.showInformationMessage(text, show).then((choice) => {
      if (choice === show) {
        void vscode.commands.executeCommand("lineprobe.findings.focus");
      }
    });
    this.server.output.info(text);
  }
}
