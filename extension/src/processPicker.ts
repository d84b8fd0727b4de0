/** Attach to Process: a quick pick over `lineprobe.listProcesses`, workspace processes first. */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { processItems, type ProcessItem } from "./model/processes";
import { ServerCommand, type ProcessInfo } from "./model/protocol";
import type { Target } from "./profiler";

type Item = vscode.QuickPickItem & { process?: ProcessItem; exe?: string };

/**
 * Shows the picker at once (busy) and fills it when the server answers,
 * since listing can take a moment on a machine with many processes.
 * Resolves to undefined when the user cancels.
 */
export async function pickProcess(server: ServerClient): Promise<Target | undefined> {
  const pick = vscode.window.createQuickPick<Item>();
  pick.title = "lineprobe: Attach to Process";
  pick.placeholder = "Loading processes…";
  pick.matchOnDescription = true;
  pick.matchOnDetail = true;
  pick.busy = true;
  pick.show();

  const chosen = new Promise<Target | undefined>((resolve) => {
    pick.onDidAccept(() => {
      const item = pick.selectedItems[0];
      resolve(item?.process ? { pid: item.process.pid, exe: item.exe ?? item.process.label } : undefined);
      pick.hide();
    });
    pick.onDidHide(() => resolve(undefined));
  });

  try {
    const processes = await server.execute<ProcessInfo[]>(ServerCommand.listProcesses);
    const own = new Set<number>([process.pid]);
    if (server.serverPid !== undefined) {
      own.add(server.serverPid);
    }
    const exeByPid = new Map(processes.map((p) => [p.pid, p.exe]));
    const items: Item[] = [];
    let section: boolean | undefined;
    for (const item of processItems(processes, own)) {
      if (item.inWorkspace !== section) {
        section = item.inWorkspace;
        items.push({
          label: item.inWorkspace ? "Running code from this workspace" : "Other processes",
          kind: vscode.QuickPickItemKind.Separator,
        });
      }
      items.push({ label: item.label, description: item.description, detail: item.detail, process: item, exe: exeByPid.get(item.pid) });
    }
    pick.items = items;
    pick.placeholder = items.length > 0 ? "Type to filter by name, PID or command line" : "No processes you may profile were found";
  } catch (error) {
    pick.hide();
    void vscode.window.showErrorMessage(`lineprobe: cannot list processes: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    pick.busy = false;
  }
  const target = await chosen;
  pick.dispose();
  return target;
}
