/**
 * Running one command as root after the user has consented, without a terminal: `pkexec`, whose
 * polkit agent asks for the password in the desktop's own dialog, or `sudo -S`, whose password
 * prompt the editor answers with what the user typed into a password box. sudo prints its prompt
 * (a marker of lineprobe's, `-p`) on stderr and reads the answer from stdin; nothing else ever
 * sees the password and it is written nowhere. This is what an askpass helper does, without a
 * helper program: sudo's `-A` would need one on disk that calls back into the editor.
 *
 * No `vscode` import: the privileged tests run this module under node as an unprivileged user,
 * with a stand-in that answers the password box.
 */
import { spawn } from "node:child_process";

export type Elevator = "pkexec" | "sudo";

/** What sudo prints when it wants the password; never part of a command's own output. */
export const SUDO_PROMPT = "[lineprobe: sudo password]";

export interface ElevationPrompts {
  /** The password for sudo, or undefined when the user cancels; `retry`: the last one was wrong. */
  password(retry: boolean): Promise<string | undefined>;
  /** Each line the command and its elevator print, as it comes. */
  output(line: string): void;
  /** Aborting it ends the command (the user cancelled the whole step). */
  signal?: AbortSignal;
}

export type ElevationOutcome =
  | { outcome: "done" }
  | { outcome: "cancelled" }
  /** The elevator could not ask anyone (pkexec with no polkit agent, or not installed). */
  | { outcome: "unavailable"; reason: string }
  | { outcome: "failed"; message: string };

/** The command line that runs `command` as root through `elevator`. */
export function elevatedArgv(elevator: Elevator, command: string[]): string[] {
  // pkexec runs a program by its absolute path only, with a clean environment; sudo reads the
  // password from stdin (-S) after printing lineprobe's marker (-p) instead of its own prompt.
  return elevator === "pkexec" ? ["pkexec", ...command] : ["sudo", "-S", "-p", SUDO_PROMPT, "--", ...command];
}

/** pkexec's own exit codes: 126, the user dismissed the dialog; 127, no authorization could be
 * had (no polkit agent to ask, or not allowed). Any other code is the command's. */
const PKEXEC_DISMISSED = 126;
const PKEXEC_UNAUTHORIZED = 127;
/** How long output may trail the command's exit (held pipes are then closed). */
const OUTPUT_GRACE_MS = 1000;

/**
 * Runs `argv` (from `elevatedArgv`) and answers sudo's password prompts through `prompts`.
 * Settles when the command has ended.
 */
export function runElevated(elevator: Elevator, argv: string[], prompts: ElevationPrompts): Promise<ElevationOutcome> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const recent: string[] = [];
    let cancelled = false;
    let asked = 0;
    const say = (line: string): void => {
      if (line.trim()) {
        recent.push(line);
        recent.splice(0, Math.max(0, recent.length - 6));
        prompts.output(line);
      }
    };
    const cancel = (): void => {
      cancelled = true;
      child.kill("SIGTERM");
    };
    prompts.signal?.addEventListener("abort", cancel, { once: true });
    if (prompts.signal?.aborted) {
      cancel();
    }
    child.stdin.on("error", () => undefined); // the command may end before it reads its stdin

    lines(child.stdout, say);
    let pending = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      pending += chunk;
      for (;;) {
        const prompt = elevator === "sudo" ? pending.indexOf(SUDO_PROMPT) : -1;
        const newline = pending.indexOf("\n");
        if (prompt >= 0 && (newline < 0 || prompt < newline)) {
          say(pending.slice(0, prompt)); // "Sorry, try again." comes on the prompt's line
          pending = pending.slice(prompt + SUDO_PROMPT.length);
          asked++;
          void prompts.password(asked > 1).then((password) => {
            if (password === undefined) {
              cancel();
            } else {
              child.stdin.write(`${password}\n`);
            }
          });
        } else if (newline >= 0) {
          say(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
        } else {
          break;
        }
      }
    });

    child.on("error", (error: NodeJS.ErrnoException) => {
      resolve(
        error.code === "ENOENT"
          ? { outcome: "unavailable", reason: `${argv[0]} is not installed` }
          : { outcome: "failed", message: `${argv[0]}: ${error.message}` },
      );
    });
    // Settled when its output has ended, or shortly after it exited if something it started
    // (a daemon) still holds the pipes.
    let settled = false;
    const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) {
        return;
      }
      settled = true;
      say(pending);
      prompts.signal?.removeEventListener("abort", cancel);
      if (cancelled) {
        resolve({ outcome: "cancelled" });
      } else if (code === 0) {
        resolve({ outcome: "done" });
      } else if (elevator === "pkexec" && code === PKEXEC_DISMISSED) {
        resolve({ outcome: "cancelled" });
      } else if (elevator === "pkexec" && code === PKEXEC_UNAUTHORIZED) {
        resolve({ outcome: "unavailable", reason: recent.join(" ") || "pkexec could not get an authorization" });
      } else {
        const how = signal ? `was ended by ${signal}` : `failed (exit ${code})`;
        resolve({ outcome: "failed", message: `${argv[0]} ${how}${recent.length ? `: ${recent.join(" ")}` : ""}` });
      }
    };
    child.on("close", settle);
    child.on("exit", (code, signal) => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        settle(code, signal);
      }, OUTPUT_GRACE_MS).unref();
    });
  });
}

/**
 * `command` as root: through pkexec when `pkexecInstalled` and polkit can ask someone, else
 * through sudo (a desktop without a polkit agent, a remote session).
 */
export async function runAsRoot(command: string[], prompts: ElevationPrompts, pkexecInstalled: boolean): Promise<ElevationOutcome> {
  if (pkexecInstalled) {
    const polkit = await runElevated("pkexec", elevatedArgv("pkexec", command), prompts);
    if (polkit.outcome !== "unavailable") {
      return polkit;
    }
    prompts.output(`pkexec could not ask for a password (${polkit.reason}); asking through sudo`);
  }
  return runElevated("sudo", elevatedArgv("sudo", command), prompts);
}

function lines(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      each(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  });
  stream.on("end", () => each(pending));
}
