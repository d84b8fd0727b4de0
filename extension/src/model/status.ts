/** The status bar's text for each state of the client and of the last profile. */
import { baseName } from "./processes";

export type State =
  | { kind: "starting" }
  | { kind: "serverStopped"; reason: string }
  | { kind: "idle"; target?: { pid: number; exe: string } }
  | { kind: "profiling"; what: string; durationMs: number }
  | {
      kind: "done";
      pid: number;
      exe: string;
      samples: number;
      lost: number;
      warnings: number;
      targetExited: boolean;
      scope?: string[];
    }
  | { kind: "failed"; message: string };

export interface StatusView {
  text: string;
  tooltip: string;
  /** Theme colour id for the background, for states that need attention. */
  background?: "statusBarItem.errorBackground" | "statusBarItem.warningBackground";
  /** What clicking the item runs. */
  command: string;
}

export function statusView(state: State): StatusView {
  switch (state.kind) {
    case "starting":
      return { text: "$(loading~spin) lineprobe", tooltip: "lineprobe: starting the language server", command: "lineprobe.showCapabilities" };
    case "serverStopped":
      return {
        text: "$(error) lineprobe: server stopped",
        tooltip: `lineprobe: the language server is not running (${state.reason}). Click to restart it.`,
        background: "statusBarItem.errorBackground",
        command: "lineprobe.restartServer",
      };
    case "idle":
      return state.target
        ? {
            text: `$(flame) lineprobe: ${baseName(state.target.exe)} (${state.target.pid})`,
            tooltip: `lineprobe: attached to PID ${state.target.pid} (${state.target.exe}). Click to profile it.`,
            command: "lineprobe.profileCpu",
          }
        : { text: "$(flame) lineprobe", tooltip: "lineprobe: click to attach to a process", command: "lineprobe.attach" };
    case "profiling":
      return {
        text: `$(sync~spin) lineprobe: profiling ${state.what}`,
        tooltip: `lineprobe: sampling ${state.what} for ${(state.durationMs / 1000).toFixed(1)} s. Click to stop early.`,
        command: "lineprobe.stopProfile",
      };
    case "done": {
      const parts = [`${state.samples} samples`];
      if (state.lost > 0) {
        parts.push(`${state.lost} lost`);
      }
      if (state.scope && state.scope.length > 0) {
        parts.push(`scoped to ${state.scope[state.scope.length - 1]}`);
      }
      const attention = state.lost > 0 || state.warnings > 0 || state.samples === 0;
      const tooltip = [
        `lineprobe: ${state.samples} CPU samples of PID ${state.pid} (${state.exe})`,
        state.lost > 0 ? `${state.lost} samples were lost` : "no samples were lost",
        state.warnings > 0 ? `${state.warnings} warning(s): see the notification or the log` : "",
        state.targetExited ? "the process exited during sampling" : "",
        state.scope && state.scope.length > 0 ? `heat limited to ${state.scope.join(" → ")}` : "",
        "Click to show the flame graph.",
      ]
        .filter((line) => line !== "")
        .join("\n");
      return {
        text: `${attention ? "$(warning)" : "$(flame)"} lineprobe: ${parts.join(", ")}`,
        tooltip,
        background: attention ? "statusBarItem.warningBackground" : undefined,
        command: "lineprobe.showFlameGraph",
      };
    }
    case "failed":
      return {
        text: "$(error) lineprobe: failed",
        tooltip: `${state.message}\nClick to attach to a process.`,
        background: "statusBarItem.errorBackground",
        command: "lineprobe.attach",
      };
  }
}
