/**
 * The "Findings" view in lineprobe's activity bar: every diagnostic lineprobe published (failing
 * system calls, slow I/O, leak suspects, hot lines, changes between captures), grouped by kind,
 * then file; a finding opens its line. It follows VS Code's diagnostics, so it always shows what
 * the Problems panel shows of lineprobe's, and empties when the results are cleared.
 */
import * as path from "node:path";
import * as vscode from "vscode";
import { groupFindings, type FindingEntry, type FindingFile, type FindingGroup } from "./model/findings";

/** The `source` of lineprobe's diagnostics (PROTOCOL.md). */
const SOURCE = "lineprobe";

type Node = { kind: "group"; group: FindingGroup } | { kind: "file"; file: FindingFile } | { kind: "entry"; entry: FindingEntry };

export class FindingsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private groups: FindingGroup[] = [];
  private readonly view: vscode.TreeView<Node>;
  private readonly watch: vscode.Disposable;

  constructor() {
    this.view = vscode.window.createTreeView("lineprobe.findings", { treeDataProvider: this, showCollapseAll: true });
    this.watch = vscode.languages.onDidChangeDiagnostics(() => this.refresh());
    this.refresh();
  }

  private refresh(): void {
    const entries: FindingEntry[] = [];
    for (const [uri, diagnostics] of vscode.languages.getDiagnostics()) {
      for (const diagnostic of diagnostics) {
        if (diagnostic.source !== SOURCE) {
          continue;
        }
        const code = typeof diagnostic.code === "object" ? String(diagnostic.code.value) : String(diagnostic.code ?? "");
        entries.push({
          uri: uri.toString(),
          file: vscode.workspace.asRelativePath(uri, false),
          line: diagnostic.range.start.line,
          severity: diagnostic.severity,
          code,
          message: diagnostic.message,
        });
      }
    }
    this.groups = groupFindings(entries);
    const total = entries.length;
    this.view.badge = total > 0 ? { value: total, tooltip: `${total} lineprobe findings` } : undefined;
    this.changed.fire(undefined);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === "group") {
      const item = new vscode.TreeItem(node.group.label, vscode.TreeItemCollapsibleState.Expanded);
      item.description = String(node.group.count);
      item.iconPath = new vscode.ThemeIcon(node.group.icon);
      item.contextValue = "findingKind";
      return item;
    }
    if (node.kind === "file") {
      const uri = vscode.Uri.parse(node.file.uri);
      const item = new vscode.TreeItem(path.basename(uri.fsPath), vscode.TreeItemCollapsibleState.Expanded);
      item.resourceUri = uri;
      item.description = path.dirname(node.file.file) === "." ? undefined : path.dirname(node.file.file);
      item.iconPath = vscode.ThemeIcon.File;
      return item;
    }
    const entry = node.entry;
    const item = new vscode.TreeItem(`${entry.line + 1}: ${entry.message}`, vscode.TreeItemCollapsibleState.None);
    item.tooltip = `${entry.file}:${entry.line + 1}\n${entry.message}`;
    item.iconPath = new vscode.ThemeIcon(
      entry.severity === vscode.DiagnosticSeverity.Error ? "error" : entry.severity === vscode.DiagnosticSeverity.Warning ? "warning" : "info",
    );
    const position = new vscode.Position(entry.line, 0);
    item.command = {
      title: "Go to the line",
      command: "vscode.open",
      arguments: [vscode.Uri.parse(entry.uri), { selection: new vscode.Range(position, position) }],
    };
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      return this.groups.map((group) => ({ kind: "group", group }));
    }
    if (node.kind === "group") {
      return node.group.files.map((file) => ({ kind: "file", file }));
    }
    return node.kind === "file" ? node.file.entries.map((entry) => ({ kind: "entry", entry })) : [];
  }

  dispose(): void {
    this.watch.dispose();
    this.view.dispose();
    this.changed.dispose();
  }
}
