/** Reading `lineprobe.*` from VS Code's configuration (the shapes live in model/settings). */
import * as vscode from "vscode";
import { serverSettings, type ServerSettings } from "./model/settings";

export function readServerSettings(): ServerSettings {
  const config = vscode.workspace.getConfiguration("lineprobe");
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return serverSettings((key, fallback) => config.get(key, fallback), folder);
}

export function readLaunchSettings(): { command: string[]; pythonPath: string } {
  const config = vscode.workspace.getConfiguration("lineprobe");
  const command = config.get<unknown>("server.command", []);
  return {
    command: Array.isArray(command) ? command.filter((part): part is string => typeof part === "string") : [],
    pythonPath: config.get<string>("server.pythonPath", ""),
  };
}

export function scopeToSelectedFrame(): boolean {
  return vscode.workspace.getConfiguration("lineprobe").get<boolean>("heat.scopeToSelectedFrame", true);
}

/** What a configuration change means for the server. */
export function configurationImpact(event: vscode.ConfigurationChangeEvent): "restart" | "forward" | "none" {
  if (event.affectsConfiguration("lineprobe.server")) {
    return "restart";
  }
  return event.affectsConfiguration("lineprobe") ? "forward" : "none";
}
