/**
 * Relaunching a runtime that attach cannot see lines in (a node without --perf-prof): the same
 * command line with the flags, in the directory it ran in, after the running one has ended.
 * Nothing here runs anything: the picker asks, ends the process and opens the terminal.
 */
import { readFileSync } from "node:fs";
import type { ProcessItem } from "./processes";

export interface Relaunch {
  /** The process to end first, and when it started: a PID reused since is another process. */
  pid: number;
  startTime: number;
  name: string;
  /** The command line with the flags; its program the process's own executable (the editor's
   * PATH may name another). */
  argv: string[];
  cwd: string;
}

/** What a relaunch of `item` would run (undefined: nothing to add, or where it ran, what it ran
 * or when it started is unknown). */
export function relaunchOf(item: ProcessItem): Relaunch | undefined {
  if (!item.restartArgv || item.restartArgv.length === 0 || !item.cwd || !item.exe || item.startTime === undefined) {
    return undefined;
  }
  return { pid: item.pid, startTime: item.startTime, name: item.label, argv: [item.exe, ...item.restartArgv.slice(1)], cwd: item.cwd };
}

/** /proc/PID/stat's starttime (undefined: no such process). The command name may hold spaces and
 * parentheses: the fields are counted after its last ")". */
export function startTimeOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const value = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The consent asked before the process is ended, naming exactly what runs instead. */
export function relaunchConsent(relaunch: Relaunch, commandText: string): string {
  return (
    `End ${relaunch.name} (PID ${relaunch.pid}) and run it again in a terminal, in ${relaunch.cwd}:\n\n${commandText}\n\n` +
    "It gets this editor's environment, not the one it ran with; lineprobe then profiles the new process."
  );
}

/**
 * Sends SIGTERM to `pid` and waits until it is gone, polling `alive` (true: it ended within
 * `waitMs`). `kill` throws as `process.kill` does (EPERM, ESRCH): a process already gone counts
 * as ended. The caller checks first that the PID is still the process it means (`startTimeOf`).
 */
export async function endProcess(
  pid: number,
  kill: (pid: number, signal: NodeJS.Signals) => void,
  alive: (pid: number) => boolean,
  waitMs = 5000,
  pollMs = 100,
): Promise<boolean> {
  try {
    kill(pid, "SIGTERM");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") {
      return true;
    }
    throw error;
  }
  for (let waited = 0; waited < waitMs; waited += pollMs) {
    if (!alive(pid)) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return !alive(pid);
}

/** Whether `pid` still runs (signal 0: nothing is sent). A zombie has ended: its parent has
 * not collected it yet, which may never happen for a parent that does not wait. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
