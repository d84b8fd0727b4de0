/** The commands that set up (or remove) the lineprobe service, in a terminal the user watches. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { agentSetupCommand, SETUP_EXPLANATION, shellQuote, type Elevator } from "./model/agentSetup";

const PKEXEC = "/usr/bin/pkexec";

export async function setUpAgent(server: ServerClient, uninstall: boolean): Promise<string[] | undefined> {
  const user = os.userInfo().username;
  const elevator: Elevator = fs.existsSync(PKEXEC) ? "pkexec" : "sudo";
  const command = agentSetupCommand(server.currentLaunch(), user, elevator, uninstall);
  if (!command) {
    const typed = `sudo lineprobe setup-agent ${uninstall ? "--uninstall" : `--user ${user}`}`;
    const copy = "Copy Command";
    const choice = await vscode.window.showErrorMessage(
      `lineprobe: the server runs from a custom command (lineprobe.server.command), so the editor cannot tell which lineprobe to set up. Run it in a terminal: ${typed}`,
      copy,
    );
    if (choice === copy) {
      await vscode.env.clipboard.writeText(typed);
    }
    return undefined;
  }
  const proceed = uninstall ? "Remove" : "Set Up";
  const text = uninstall
    ? "lineprobe will stop its tracing service and remove it, its group and the installed agent. It asks for an administrator's password."
    : SETUP_EXPLANATION;
  const line = command.map(shellQuote).join(" ");
  const choice = await vscode.window.showWarningMessage(text, { modal: true, detail: line }, proceed);
  if (choice !== proceed) {
    return undefined;
  }
  const terminal = vscode.window.createTerminal({ name: "lineprobe set-up" });
  terminal.show();
  terminal.sendText(line);
  if (!uninstall) {
    void vscode.window.showInformationMessage(
      "lineprobe: when the set-up in the terminal has finished, log out and in again (a new group takes effect at login); then tracing needs no password.",
    );
  }
  return command;
}
