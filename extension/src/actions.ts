/** Messages with buttons that fix the problem they report (see model/failures). */
import * as vscode from "vscode";
import type { Action, ActionButton, UserMessage } from "./model/failures";
import type { ServerMessage } from "./model/messages";

export class ActionRunner {
  constructor(private readonly output: vscode.LogOutputChannel) {}

  /** Shows the message; runs the button's action when one is clicked. Does not wait for the user.
   * `retry` runs again what failed once the action has fixed it (the tracing service set up). */
  show(message: UserMessage, retry?: () => void): void {
    const titles = message.buttons.map((b) => b.title);
    const shown =
      message.severity === "error"
        ? vscode.window.showErrorMessage(message.text, ...titles)
        : message.severity === "warning"
          ? vscode.window.showWarningMessage(message.text, ...titles)
          : vscode.window.showInformationMessage(message.text, ...titles);
    void shown.then((choice) => {
      const button = message.buttons.find((b) => b.title === choice);
      if (button) {
        void this.run(button, retry);
      }
    });
  }

  /** Server messages held while a profile or trace ran that its result does not explain, shown
   * as the server meant them (model/messages). */
  showHeld(messages: ServerMessage[]): void {
    for (const message of messages) {
      const severity = message.type === 1 ? "error" : message.type === 2 ? "warning" : "info";
      this.show({ severity, text: message.message, buttons: [] });
    }
  }

  async run(button: ActionButton, retry?: () => void): Promise<void> {
    const commands: Record<Exclude<Action, "showLog" | "copyText">, [string, ...unknown[]]> = {
      openLauncherSetting: ["workbench.action.openSettings", "lineprobe.launcher"],
      openPathMappingsSetting: ["workbench.action.openSettings", "lineprobe.pathMappings"],
      showCapabilities: ["lineprobe.showCapabilities"],
      attachAnother: ["lineprobe.attach"],
      stopProfile: ["lineprobe.stopProfile"],
      restartServer: ["lineprobe.restartServer"],
      setUpAgent: ["lineprobe.setUpAgent"],
    };
    if (button.action === "showLog") {
      this.output.show();
    } else if (button.action === "copyText") {
      await vscode.env.clipboard.writeText(button.text ?? "");
      void vscode.window.showInformationMessage(`Copied: ${button.text}`);
    } else {
      const [command, ...args] = commands[button.action];
      const fixed = await vscode.commands.executeCommand(command, ...args);
      if (button.action === "setUpAgent" && fixed === true) {
        retry?.();
      }
    }
  }
}
