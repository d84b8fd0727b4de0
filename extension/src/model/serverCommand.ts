/**
 * How to start `lineprobe serve`: from the settings, else the workspace's
 * virtual environment (only in a trusted workspace: an untrusted repository's
 * `.venv` is code nobody vetted), else `PATH`. An interpreter runs with `-P`,
 * so that the workspace folder, where the server starts, is not on its
 * `sys.path`: a `lineprobe/` folder planted in a repository is never imported.
 *
 * vscode-languageclient appends `--stdio` to the arguments for the stdio
 * transport; `lineprobe serve` accepts it.
 */
import * as path from "node:path";

export interface ServerLaunch {
  command: string;
  args: string[];
  /** Where the command came from, shown when it cannot be started. */
  origin: string;
}

export interface LaunchInputs {
  /** `lineprobe.server.command`: the full command line. */
  command: string[];
  /** `lineprobe.server.pythonPath`: an interpreter with lineprobe installed. */
  pythonPath: string;
  workspaceFolders: string[];
  isExecutable: (file: string) => boolean;
  /** Whether the user trusts the workspace (VS Code's workspace trust); absent: trusted. */
  trusted?: boolean;
}

export function resolveServerLaunch(inputs: LaunchInputs): ServerLaunch {
  const command = inputs.command.filter((part) => part.trim() !== "");
  if (command.length > 0) {
    return { command: command[0], args: command.slice(1), origin: "setting lineprobe.server.command" };
  }
  if (inputs.pythonPath.trim() !== "") {
    return {
      command: inputs.pythonPath.trim(),
      args: ["-P", "-m", "lineprobe.cli", "serve"],
      origin: "setting lineprobe.server.pythonPath",
    };
  }
  for (const folder of inputs.trusted === false ? [] : inputs.workspaceFolders) {
    const candidate = path.join(folder, ".venv", "bin", "lineprobe");
    if (inputs.isExecutable(candidate)) {
      return { command: candidate, args: ["serve"], origin: `the workspace's ${candidate}` };
    }
  }
  return { command: "lineprobe", args: ["serve"], origin: "lineprobe on PATH" };
}

/** Two launches start the same server (no restart needed when settings change elsewhere). */
export function sameLaunch(a: ServerLaunch, b: ServerLaunch): boolean {
  return a.command === b.command && a.args.length === b.args.length && a.args.every((arg, i) => arg === b.args[i]);
}
