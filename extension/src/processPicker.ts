/** Attach to Process: a quick pick over `lineprobe.listProcesses`, workspace processes first. */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { processItems, type ProcessItem } from "./model/processes";
import { ServerCommand, type ProcessInfo } from "./model/protocol";
import type { Target } from "./profiler";

/**
 * Shows the picker at once (busy) and fills it when the server answers,
 * since listing can take a moment on a machine with many processes.
 * Resolves to undefined when the user cancels. For a CPU profile (`forProfile`), a runtime
 * that would show no source lines is said so first, with its command line with the flags.
 */
export async function pickProcess(server: ServerClient, options: { forProfile?: boolean } = {}): Promise<Target | undefined> {
  const chosen = await choose(server, { ...options, title: "lineprobe: Attach to Process" });
  return chosen === "launch" ? undefined : chosen;
}

/** The process picker with "Launch a Command…" first: "launch" when that is picked. */
export function pickProcessOrLaunch(server: ServerClient, title: string): Promise<Target | "launch" | undefined> {
  return choose(server, { title, offerLaunch: true });
}

type Item = vscode.QuickPickItem & { process?: ProcessItem; exe?: string; launch?: true };

async function choose(
  server: ServerClient,
  options: { forProfile?: boolean; title: string; offerLaunch?: boolean },
): Promise<Target | "launch" | undefined> {
  const pick = vscode.window.createQuickPick<Item>();
  const pickedItems = new Map<number, ProcessItem>();
  const launch: Item[] = options.offerLaunch
    ? [{ label: "$(play) Launch a Command…", description: "run a command and trace it from its start", alwaysShow: true, launch: true }]
    : [];
  pick.title = options.title;
  pick.placeholder = "Loading processes…";
  pick.matchOnDescription = true;
  pick.matchOnDetail = true;
  pick.busy = true;
  pick.show();

  pick.items = launch;
  const chosen = new Promise<Target | "launch" | undefined>((resolve) => {
    pick.onDidAccept(() => {
      const item = pick.selectedItems[0];
      resolve(item?.launch ? "launch" : item?.process ? { pid: item.process.pid, exe: item.exe ?? item.process.label } : undefined);
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
      pickedItems.set(item.pid, item);
      items.push({ label: item.label, description: item.description, detail: item.detail, process: item, exe: exeByPid.get(item.pid) });
    }
    pick.items = [...launch, ...items];
    pick.placeholder = items.length > 0 ? "Type to filter by name, PID or command line" : "No processes you may profile were found";
  } catch (error) {
    pick.hide();
    void vscode.window.showErrorMessage(`lineprobe: cannot list processes: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    pick.busy = false;
  }
  const target = await chosen;
  pick.dispose();
  if (target === "launch") {
    return target;
  }
  const item = target ? pickedItems.get(target.pid) : undefined;
  if (target && options.forProfile && item?.runtimeHint) {
    return (await confirmRuntime(item)) ? target : undefined;
  }
  return target;
}

/** A runtime that would show no source lines (a node without --perf-prof): say so before
 * attaching, with its command line with the flags to copy. */
async function confirmRuntime(item: ProcessItem): Promise<boolean> {
  const copy = "Copy Restart Command";
  const answer = await vscode.window.showWarningMessage(
    `lineprobe: ${item.runtimeHint}`,
    ...(item.restartCommand ? ["Profile Anyway", copy] : ["Profile Anyway"]),
  );
  if (answer === copy && item.restartCommand) {
    await vscode.env.clipboard.writeText(item.restartCommand);
    void vscode.window.showInformationMessage(`lineprobe: copied '${item.restartCommand}'. Restart it so, then attach again (or launch it with lineprobe, which adds the flags).`);
    return false;
  }
  return answer === "Profile Anyway";
}
