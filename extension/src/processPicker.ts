/** Attach to Process: a quick pick over `lineprobe.listProcesses`, workspace processes first. */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { processItems, shellQuoted, type ProcessItem } from "./model/processes";
import { endProcess, isAlive, relaunchConsent, relaunchOf, startTimeOf, type Relaunch } from "./model/relaunch";
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
    return confirmRuntime(item, target);
  }
  return target;
}

/** A runtime that would show no source lines (a node without --perf-prof): say so before
 * attaching, and offer to relaunch it with the flags (the new process is then the target), or
 * its command line with the flags to copy. */
async function confirmRuntime(item: ProcessItem, target: Target): Promise<Target | undefined> {
  const copy = "Copy Restart Command";
  const relaunchIt = "Relaunch with Flags…";
  const relaunch = relaunchOf(item);
  const answer = await vscode.window.showWarningMessage(
    `lineprobe: ${item.runtimeHint}`,
    ...(relaunch ? [relaunchIt] : []),
    "Profile Anyway",
    ...(item.restartCommand ? [copy] : []),
  );
  if (answer === relaunchIt && relaunch) {
    return relaunched(relaunch, shellQuoted(relaunch.argv), target.exe);
  }
  if (answer === copy && item.restartCommand) {
    await vscode.env.clipboard.writeText(item.restartCommand);
    void vscode.window.showInformationMessage(`lineprobe: copied '${item.restartCommand}'. Restart it so, then attach again (or launch it with lineprobe, which adds the flags).`);
    return undefined;
  }
  return answer === "Profile Anyway" ? target : undefined;
}

/** Ends the process (once the user agrees), runs its command line with the flags in a terminal
 * of its own, and gives the new process as the target (undefined: not agreed, or it failed). */
async function relaunched(relaunch: Relaunch, commandText: string, exe: string): Promise<Target | undefined> {
  const agree = "End It and Relaunch";
  const answer = await vscode.window.showWarningMessage(relaunchConsent(relaunch, commandText), { modal: true }, agree);
  if (answer !== agree) {
    return undefined;
  }
  const now = startTimeOf(relaunch.pid);
  if (now !== relaunch.startTime) {
    void vscode.window.showErrorMessage(
      now === undefined
        ? `lineprobe: ${relaunch.name} (PID ${relaunch.pid}) has ended meanwhile: run '${commandText}' to start it with the flags`
        : `lineprobe: PID ${relaunch.pid} is another process now (${relaunch.name} ended meanwhile): nothing was ended`,
    );
    return undefined;
  }
  try {
    if (!(await endProcess(relaunch.pid, (pid, signal) => process.kill(pid, signal), isAlive))) {
      void vscode.window.showErrorMessage(`lineprobe: ${relaunch.name} (PID ${relaunch.pid}) did not end within 5 s of SIGTERM: not relaunched`);
      return undefined;
    }
  } catch (error) {
    void vscode.window.showErrorMessage(`lineprobe: cannot end PID ${relaunch.pid}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  // The program is the terminal's own process, so its PID is the terminal's.
  const [program, ...args] = relaunch.argv;
  const terminal = vscode.window.createTerminal({ name: `lineprobe: ${relaunch.name}`, shellPath: program, shellArgs: args, cwd: relaunch.cwd });
  terminal.show(true);
  const pid = await terminal.processId;
  if (pid === undefined) {
    void vscode.window.showErrorMessage(`lineprobe: ${commandText} did not start in the terminal`);
    return undefined;
  }
  return { pid, exe };
}
