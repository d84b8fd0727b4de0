/**
 * Setting up the lineprobe service from the editor: `lineprobe setup-agent`, the
 * same command a user types, run with the same lineprobe the editor starts its
 * server from, as root after one consent (model/elevation: pkexec's dialog or
 * sudo's password asked in the editor), its output in lineprobe's log: the
 * set-up says what it grants before it grants it.
 */
import * as path from "node:path";
import type { ServerLaunch } from "./serverCommand";

/** What the confirmation says before anything runs as root. */
export const SETUP_EXPLANATION =
  "lineprobe will install its tracing agent as root-owned files and start a service that lets the members of " +
  "the group 'lineprobe' (you, from now on) trace their own processes without a password: only processes " +
  "they could debug, only lineprobe's own programs. It asks for your password (sudo) or an administrator's " +
  "(polkit) once. " +
  "'lineprobe setup-agent --uninstall' removes everything.";

/**
 * The command line, to run as root, that sets the service up for `user` with the
 * lineprobe of `launch` (the server's own command, its `serve` swapped for
 * `setup-agent`); undefined when the server's command does not end in `serve` (a
 * custom command: there is no telling what runs lineprobe).
 */
export function agentSetupCommand(launch: ServerLaunch, user: string, uninstall = false): string[] | undefined {
  const args = launch.args.filter((arg) => arg !== "--stdio");
  if (args[args.length - 1] !== "serve" || !/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) {
    return undefined;
  }
  const setup = ["setup-agent", ...(uninstall ? ["--uninstall"] : ["--user", user])];
  return [launch.command, ...args.slice(0, -1), ...setup];
}

/**
 * `command` as an absolute path: resolved against the server's working directory when it names
 * a path, else the first executable of that name on `searchPath`. sudo and pkexec look a bare
 * name up on root's own PATH, where a user's install (~/.local/bin, a venv) is not.
 */
export function absoluteCommand(command: string, searchPath: string, isExecutable: (file: string) => boolean, cwd = "/"): string | undefined {
  if (command.includes("/")) {
    return path.resolve(cwd, command);
  }
  for (const folder of searchPath.split(":")) {
    if (folder && path.isAbsolute(folder) && isExecutable(path.join(folder, command))) {
      return path.join(folder, command);
    }
  }
  return undefined;
}

/** One argument as the shell reads it back unchanged. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
