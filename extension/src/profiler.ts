/**
 * Running `lineprobe.profile` and showing its outcome: the status bar while
 * it samples, then samples and loss, an explained error with a button that
 * helps, warnings, and a fresh flame graph.
 *
 * Every profile goes through `run`, whether it was started by one of our
 * commands or by the server's "Profile for 5 s" code lens (which VS Code
 * executes through the language client's middleware), so both behave alike.
 */
import * as vscode from "vscode";
import type { ActionRunner } from "./actions";
import type { ServerClient } from "./client";
import { checkedResult, clientError, failureMessage, warningMessage } from "./model/failures";
import { MessageGate } from "./model/messages";
import { baseName } from "./model/processes";
import { ServerCommand, type ProfileArguments, type ProfileResult } from "./model/protocol";
import type { StatusBar } from "./statusBar";

export interface Target {
  pid: number;
  exe: string;
}

export class Profiler {
  /** The process chosen with Attach to Process, profiled by Profile CPU. */
  target: Target | undefined;
  /** The process of the last successful profile (attached or launched), for titles. */
  lastProfiled: Target | undefined;
  /** Server messages held while a profile runs (see model/messages). */
  readonly gate = new MessageGate();
  private readonly finishedEmitter = new vscode.EventEmitter<ProfileResult>();
  /** Fires after every profile, successful or not. */
  readonly onFinished = this.finishedEmitter.event;

  constructor(
    private readonly server: ServerClient,
    private readonly status: StatusBar,
    private readonly actions: ActionRunner,
  ) {}

  attach(target: Target): void {
    this.target = target;
    this.status.set({ kind: "idle", target });
  }

  /** Shows in the status bar which flame graph frame the heat is limited to. */
  setScope(scope: string[] | undefined): void {
    const current = this.status.current;
    if (current.kind === "done") {
      this.status.set({ ...current, scope });
    }
  }

  /** Profiles through our own request to the server. */
  profile(args: ProfileArguments): Promise<ProfileResult> {
    return this.run(args, () => this.server.execute<ProfileResult>(ServerCommand.profile, args));
  }

  /**
   * Runs one profile with `send` (our request, or the client's own command
   * execution for code lenses) and presents the result. Never rejects: a
   * transport failure becomes a `server-unavailable` failure result.
   */
  async run(args: ProfileArguments, send: () => Promise<unknown>): Promise<ProfileResult> {
    const what = "pid" in args ? `PID ${args.pid}` : baseName(args.command[0] ?? "?");
    this.status.set({ kind: "profiling", what, durationMs: args.durationMs });
    this.gate.begin();
    let result: ProfileResult;
    try {
      result = checkedResult<ProfileResult>(await send());
    } catch (error) {
      result = { ok: false, error: clientError(error instanceof Error ? error.message : String(error)) };
    }
    this.actions.showHeld(this.gate.end(result));
    this.present(args, result, () => void this.run(args, send));
    this.finishedEmitter.fire(result);
    return result;
  }

  /** `retry`: the same profile again, once a fix the failure offers has worked. */
  private present(args: ProfileArguments, result: ProfileResult, retry: () => void): void {
    if (!result.ok) {
      this.status.set({ kind: "failed", message: `lineprobe: ${result.error.message}` });
      this.actions.show(failureMessage(result.error), retry);
      return;
    }
    this.lastProfiled = { pid: result.target.pid, exe: result.target.exe };
    if ("pid" in args) {
      // A code lens or an explicit PID also becomes the process Profile CPU samples next.
      this.target = this.lastProfiled;
    }
    this.status.set({
      kind: "done",
      pid: result.target.pid,
      exe: result.target.exe,
      samples: result.samples,
      lost: result.lost,
      warnings: result.warnings.length,
      targetExited: result.target_exited,
    });
    const warning = warningMessage(result.warnings);
    if (warning) {
      this.actions.show(warning);
    } else if (result.samples === 0) {
      this.actions.show({
        severity: "warning",
        text: `lineprobe: no CPU samples: PID ${result.target.pid} did not run on a CPU while it was sampled`,
        buttons: [{ title: "Attach to Another Process…", action: "attachAnother" }],
      });
    } else if (result.files.length === 0) {
      this.actions.show({
        severity: "warning",
        text: `lineprobe: ${result.samples} samples, but none on a source file of this workspace. If the program was built elsewhere, map its source paths.`,
        buttons: [
          { title: "Edit Path Mappings…", action: "openPathMappingsSetting" },
          { title: "Show Log", action: "showLog" },
        ],
      });
    }
    const timings = Object.entries(result.timings)
      .map(([name, value]) => `${name}=${value}`)
      .join(" ");
    this.server.output.info(`profile of PID ${result.target.pid}: ${result.samples} samples, ${result.lost} lost; ${timings}`);
  }
}
