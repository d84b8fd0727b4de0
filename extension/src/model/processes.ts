/** Ordering and labels of the process picker (Attach to Process). */
import type { ProcessInfo } from "./protocol";

export interface ProcessItem {
  label: string;
  description: string;
  detail: string;
  pid: number;
  inWorkspace: boolean;
  /** Said before attaching: what the profile would miss, and what would help. */
  runtimeHint?: string;
  /** The command line again, with the flags that give its JIT code lines. */
  restartCommand?: string;
  /** The same, as arguments, and where it ran: what a relaunch runs (model/relaunch.ts). */
  restartArgv?: string[];
  cwd?: string;
  exe?: string;
  startTime?: number;
}

/**
 * Workspace processes first (the server lists them first already, but the
 * picker must not depend on it), then by executable name, then PID; our own
 * tooling (the language server, the agent) last, since profiling it is
 * rarely what the user wants.
 */
export function processItems(processes: ProcessInfo[], ownPids: ReadonlySet<number> = new Set()): ProcessItem[] {
  const rank = (p: ProcessInfo): number => (ownPids.has(p.pid) ? 2 : p.inWorkspace ? 0 : 1);
  return [...processes]
    .sort((a, b) => rank(a) - rank(b) || baseName(a.exe).localeCompare(baseName(b.exe)) || a.pid - b.pid)
    .map((p) => ({
      label: `${baseName(p.exe) || "?"}`,
      description: `PID ${p.pid}${p.inWorkspace ? " · workspace" : ""}${p.runtimeHint ? " · $(warning) no source lines" : ""}`,
      detail: commandLineText(p),
      pid: p.pid,
      inWorkspace: p.inWorkspace,
      ...(p.runtimeHint ? { runtimeHint: p.runtimeHint } : {}),
      ...(p.restartCommand
        ? { restartCommand: p.restartCommand.map(quoteIfNeeded).join(" "), restartArgv: p.restartCommand }
        : {}),
      ...(p.restartCommand && p.cwd ? { cwd: p.cwd } : {}),
      ...(p.restartCommand && typeof p.startTime === "number" ? { exe: p.exe, startTime: p.startTime } : {}),
    }));
}

export function baseName(file: string): string {
  const parts = file.split("/");
  return parts[parts.length - 1] ?? file;
}

function commandLineText(p: ProcessInfo): string {
  const line = p.commandLine.length > 0 ? p.commandLine.map(quoteIfNeeded).join(" ") : p.exe;
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** A command line as a shell would take it back. */
export function shellQuoted(argv: string[]): string {
  return argv.map(quoteIfNeeded).join(" ");
}

function quoteIfNeeded(arg: string): string {
  return /[\s"'\\$]/.test(arg) ? JSON.stringify(arg) : arg;
}

/** Splits a command line typed by the user, shell-style (quotes and backslashes, no expansion). */
export function splitCommandLine(text: string): string[] {
  const args: string[] = [];
  let current = "";
  let inArg = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) {
        quote = null;
      } else if (ch === "\\" && quote === '"' && i + 1 < text.length && /["\\$`]/.test(text[i + 1])) {
        current += text[++i];
      } else {
        current += ch;
      }
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inArg = true;
    } else if (ch === "\\" && i + 1 < text.length) {
      current += text[++i];
      inArg = true;
    } else if (/\s/.test(ch)) {
      if (inArg) {
        args.push(current);
        current = "";
        inArg = false;
      }
    } else {
      current += ch;
      inArg = true;
    }
  }
  if (quote) {
    throw new Error(`unterminated ${quote} quote`);
  }
  if (inArg) {
    args.push(current);
  }
  return args;
}
