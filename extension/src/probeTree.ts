/**
 * The "USDT Probes" view in lineprobe's activity bar: a process's probes (file → provider →
 * probe), listed by the server from the files it maps; a probe's inline action counts it.
 */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { ServerCommand, type ProbeListing } from "./model/protocol";
import { probeTree, type ProbeNode } from "./model/probes";
import { pickProcess } from "./processPicker";

export class ProbeTreeView implements vscode.TreeDataProvider<ProbeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ProbeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private nodes: ProbeNode[] = [];
  pid: number | undefined;
  private readonly view: vscode.TreeView<ProbeNode>;

  constructor(private readonly server: ServerClient) {
    this.view = vscode.window.createTreeView("lineprobe.probes", { treeDataProvider: this, showCollapseAll: true });
  }

  /** Asks for a process, then lists its probes. */
  async pick(): Promise<void> {
    const target = await pickProcess(this.server);
    if (target) {
      await this.show(target.pid);
    }
  }

  async show(pid: number): Promise<void> {
    this.pid = pid;
    this.view.message = `Listing the probes of PID ${pid}…`;
    const listing = await this.server.execute<ProbeListing>(ServerCommand.usdtList, { pid });
    if (!listing.ok) {
      this.nodes = [];
      this.view.message = listing.error.message;
    } else {
      this.nodes = probeTree(listing.probes);
      this.view.message = listing.probes.length ? `PID ${pid}: ${listing.probes.length} probes` : `PID ${pid} maps no file with USDT probes`;
    }
    this.changed.fire(undefined);
  }

  getTreeItem(node: ProbeNode): vscode.TreeItem {
    if (node.kind !== "probe") {
      const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.Collapsed);
      item.tooltip = node.kind === "file" ? node.path : undefined;
      // HotSpot's provider offers "Watch GC and Class Loading" (its standard probes).
      item.contextValue = node.kind === "provider" && node.label === "hotspot" ? "provider-hotspot" : node.kind;
      return item;
    }
    const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = "probe";
    return item;
  }

  getChildren(node?: ProbeNode): ProbeNode[] {
    if (!node) {
      return this.nodes;
    }
    return node.kind === "probe" ? [] : node.children;
  }

  dispose(): void {
    this.view.dispose();
    this.changed.dispose();
  }
}
