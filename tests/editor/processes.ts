/**
 * Processes the test starts, each in its own process group, and ends by
 * that group only: never by name, never anything it did not start.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";

export interface Started {
  name: string;
  child: ChildProcess;
  pid: number;
}

const started: Started[] = [];

/** Starts `command` as the leader of a new process group (setsid-like), logging to `logFile`. */
export function startGroup(name: string, command: string, args: string[], options: SpawnOptions & { logFile?: string } = {}): Started {
  const { logFile, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid === undefined) {
    throw new Error(`could not start ${name}: ${command}`);
  }
  if (logFile) {
    const log = createWriteStream(logFile);
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  const entry = { name, child, pid: child.pid };
  started.push(entry);
  return entry;
}

/** Ends one started group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopGroup(entry: Started, graceMs = 3000): Promise<void> {
  const index = started.indexOf(entry);
  if (index >= 0) {
    started.splice(index, 1);
  }
  if (entry.child.exitCode !== null || entry.child.signalCode !== null) {
    signalGroup(entry.pid, "SIGKILL"); // the leader is gone; children may remain
    return;
  }
  const exited = once(entry.child, "exit");
  signalGroup(entry.pid, "SIGTERM");
  const timer = new Promise((resolve) => setTimeout(resolve, graceMs, "timeout"));
  if ((await Promise.race([exited, timer])) === "timeout") {
    signalGroup(entry.pid, "SIGKILL");
    await exited;
  }
  // Helpers of the group (code-server's extension host, file watcher) may outlive the leader.
  signalGroup(entry.pid, "SIGKILL");
}

/** Ends every group still running, newest first. */
export async function stopAll(): Promise<void> {
  for (const entry of [...started].reverse()) {
    await stopGroup(entry);
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group has already ended.
  }
}

/** Runs a command to completion (killed after `timeout` ms, if given); rejects with its output when it fails. */
export async function run(command: string, args: string[], options: SpawnOptions & { timeout?: number } = {}): Promise<string> {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output}`);
  }
  return output;
}
