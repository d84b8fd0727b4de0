/**
 * Setting up the lineprobe service from the editor: `lineprobe setup-agent`,
 * run as root through `pkexec` (polkit asks for an administrator's password,
 * in the terminal where no graphical agent runs), or `sudo` where polkit is not
 * installed. It is the same command a user types, run with the same lineprobe
 * the editor starts its server from, in a terminal the user can read: the set-up
 * says what it grants before it grants it.
 */
import type { ServerLaunch } from "./serverCommand";

export type Elevator = "pkexec" | "sudo";

/** What the confirmation says before anything runs as root. */
export const SETUP_EXPLANATION =
  "lineprobe will install its tracing agent as root-owned files and start a service that lets the members of " +
  "the group 'lineprobe' (you, once added) trace their own processes without a password: only processes " +
  "they could debug, only lineprobe's own programs. It asks for an administrator's password once. " +
  "'lineprobe setup-agent --uninstall' removes everything.";

/**
 * The command line that sets the service up for `user` with the lineprobe of
 * `launch` (the server's own command, its `serve` swapped for `setup-agent`);
 * undefined when the server's command does not end in `serve` (a custom
 * command: there is no telling what runs lineprobe).
 */
export function agentSetupCommand(launch: ServerLaunch, user: string, elevator: Elevator, uninstall = false): string[] | undefined {
  const args = launch.args.filter((arg) => arg !== "--stdio");
  if (args[args.length - 1] !== "serve" || !/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) {
    return undefined;
  }
  const setup = ["setup-agent", ...(uninstall ? ["--uninstall"] : ["--user", user])];
  // pkexec runs a program by its absolute path only, with a clean environment.
  return [elevator, launch.command, ...args.slice(0, -1), ...setup];
}

/** One argument as the shell reads it back unchanged. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
