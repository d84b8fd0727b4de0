/**
 * Setting up (or removing) the lineprobe service from the editor: one consent, then the set-up
 * as root with its password asked by polkit's dialog or in the editor (model/elevation), its
 * output in lineprobe's log. Nothing privileged runs before the user has said yes here.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { absoluteCommand, agentSetupCommand, SETUP_EXPLANATION, shellQuote } from "./model/agentSetup";
import { runAsRoot, type ElevationOutcome } from "./model/elevation";

const PKEXEC = "/usr/bin/pkexec";

/** Sets the service up (or removes it); true once it is done, so what failed for want of it can
 * run again. */
export async function setUpAgent(server: ServerClient, output: vscode.LogOutputChannel, uninstall: boolean): Promise<boolean> {
  const user = os.userInfo().username;
  const launch = server.currentLaunch();
  // The server starts in the first workspace folder (client.ts): a relative command is from there.
  const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? "/";
  const program = absoluteCommand(launch.command, process.env.PATH ?? "", isExecutable, cwd);
  const command = program ? agentSetupCommand({ ...launch, command: program }, user, uninstall) : undefined;
  const typed = `sudo "$(command -v lineprobe)" setup-agent ${uninstall ? "--uninstall" : `--user ${user}`}`;
  if (!program) {
    await offerToCopy(`lineprobe: '${launch.command}' (the server's command) is not on PATH, so the editor cannot tell which lineprobe to set up. Run it in a terminal: ${typed}`, typed);
    return false;
  }
  if (!command) {
    await offerToCopy(
      `lineprobe: the server runs from a custom command (lineprobe.server.command), so the editor cannot tell which lineprobe to set up. Run it in a terminal: ${typed}`,
      typed,
    );
    return false;
  }
  const proceed = uninstall ? "Remove" : "Set Up";
  const text = uninstall
    ? "lineprobe will stop its tracing service and remove it, its group and the installed agent. It asks for your password (sudo) or an administrator's (polkit)."
    : SETUP_EXPLANATION;
  const line = command.map(shellQuote).join(" ");
  const choice = await vscode.window.showWarningMessage(text, { modal: true, detail: `Runs as root: ${line}` }, proceed);
  if (choice !== proceed) {
    return false;
  }
  output.info(`set-up, as root: ${line}`);
  const outcome = await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: uninstall ? "lineprobe: removing the tracing service" : "lineprobe: setting up the tracing service",
      cancellable: true,
    },
    (progress, token): Promise<ElevationOutcome> => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      return runAsRoot(
        command,
        {
          password: (retry) =>
            Promise.resolve(
              vscode.window.showInputBox({
                title: "lineprobe: the set-up runs as root through sudo",
                prompt: `${retry ? "Sorry, try again. " : ""}The password of ${user}, for sudo`,
                password: true,
                ignoreFocusOut: true,
              }),
            ),
          output: (text) => {
            output.info(`set-up: ${text}`);
            progress.report({ message: text.slice(0, 120) });
          },
          signal: abort.signal,
        },
        fs.existsSync(PKEXEC),
      );
    },
  );
  output.info(`set-up: ${outcome.outcome}${"message" in outcome ? `: ${outcome.message}` : ""}`);
  switch (outcome.outcome) {
    case "done":
      void vscode.window.showInformationMessage(
        uninstall
          ? "lineprobe: the tracing service is removed."
          : "lineprobe: tracing is set up: you trace your own processes without a password from now on.",
      );
      return true;
    case "cancelled":
      vscode.window.setStatusBarMessage("lineprobe: set-up cancelled; nothing was changed", 5000);
      return false;
    case "unavailable":
    case "failed": {
      const why = outcome.outcome === "failed" ? outcome.message : outcome.reason;
      const inTerminal = "Run in a Terminal";
      const log = "Show Log";
      const picked = await vscode.window.showErrorMessage(`lineprobe: the set-up did not finish (${why}).`, inTerminal, log);
      if (picked === inTerminal) {
        // Where the editor cannot ask (sudo configured for a terminal only): the same command there.
        const terminal = vscode.window.createTerminal({ name: "lineprobe set-up" });
        terminal.show();
        terminal.sendText(`sudo ${line}`);
      } else if (picked === log) {
        output.show();
      }
      return false;
    }
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

async function offerToCopy(message: string, text: string): Promise<void> {
  const copy = "Copy Command";
  if ((await vscode.window.showErrorMessage(message, copy)) === copy) {
    await vscode.env.clipboard.writeText(text);
  }
}
