/** The status bar item: server state, the attached process, the last profile's samples and loss. */
import * as vscode from "vscode";
import { statusView, type State } from "./model/status";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("lineprobe.status", vscode.StatusBarAlignment.Left, 10);
  private state: State = { kind: "starting" };

  constructor() {
    this.item.name = "lineprobe";
    this.render();
    this.item.show();
  }

  get current(): State {
    return this.state;
  }

  set(state: State): void {
    this.state = state;
    this.render();
  }

  dispose(): void {
    this.item.dispose();
  }

  private render(): void {
    const view = statusView(this.state);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.command = view.command;
    this.item.backgroundColor = view.background ? new vscode.ThemeColor(view.background) : undefined;
  }
}
