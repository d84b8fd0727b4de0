/**
 * The page every lineprobe webview loads: its own styles and one bundled script from
 * dist/webview, under a Content-Security-Policy that allows nothing else (no network, no inline
 * script; the script runs by a nonce made for this page).
 */
import * as crypto from "node:crypto";
import * as vscode from "vscode";

export interface WebviewPage {
  title: string;
  styles: string[];
  script: string;
  /** The body's markup, without the script tag. */
  body: string;
}

export function webviewHtml(webview: vscode.Webview, root: vscode.Uri, page: WebviewPage): string {
  const nonce = crypto.randomBytes(16).toString("base64");
  const asset = (name: string): string => webview.asWebviewUri(vscode.Uri.joinPath(root, name)).toString();
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `img-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join("; ");
  const styles = page.styles.map((name) => `  <link rel="stylesheet" href="${asset(name)}">`).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
${styles}
  <title>${page.title}</title>
</head>
<body>
${page.body}
  <script nonce="${nonce}" src="${asset(page.script)}"></script>
</body>
</html>`;
}

export interface BesidePanel<M> {
  viewType: string;
  title: string;
  /** The page, given the webview and the root of its assets (dist/webview). */
  html: (webview: vscode.Webview, root: vscode.Uri) => string;
  onMessage: (message: M) => void;
  onDispose: () => void;
}

/** A webview panel beside the editor, focus kept where it was, its state kept while hidden. */
export function openBesideEditor<M>(extensionUri: vscode.Uri, spec: BesidePanel<M>): vscode.WebviewPanel {
  const root = vscode.Uri.joinPath(extensionUri, "dist", "webview");
  const panel = vscode.window.createWebviewPanel(
    spec.viewType,
    spec.title,
    { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
    { enableScripts: true, localResourceRoots: [root], retainContextWhenHidden: true },
  );
  return adoptPanel(extensionUri, panel, spec);
}

/** A panel VS Code brought back after a window reload (a `WebviewPanelSerializer`'s), given its
 * page and handlers again: its script asks for data when it loads, as a new panel's does. */
export function adoptPanel<M>(extensionUri: vscode.Uri, panel: vscode.WebviewPanel, spec: BesidePanel<M>): vscode.WebviewPanel {
  const root = vscode.Uri.joinPath(extensionUri, "dist", "webview");
  panel.webview.options = { enableScripts: true, localResourceRoots: [root] };
  panel.webview.html = spec.html(panel.webview, root);
  panel.webview.onDidReceiveMessage((message: M) => spec.onMessage(message));
  panel.onDidDispose(spec.onDispose);
  return panel;
}

/**
 * The one panel of its kind beside the editor: opened, revealed when open already, or restored
 * after a window reload (a `WebviewPanelSerializer`'s panel); forgotten when the user closes it.
 */
export class PanelSlot<M> {
  panel: vscode.WebviewPanel | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly page: Omit<BesidePanel<M>, "onDispose">,
  ) {}

  /** Opens the panel; false when it was open already (it is then revealed). */
  open(): boolean {
    if (this.panel) {
      this.panel.reveal(undefined, true);
      return false;
    }
    this.panel = openBesideEditor<M>(this.extensionUri, this.spec());
    return true;
  }

  /** Takes over a panel VS Code kept across a reload; a second one of the kind is closed. */
  restore(panel: vscode.WebviewPanel): void {
    if (this.panel) {
      panel.dispose();
      return;
    }
    this.panel = adoptPanel<M>(this.extensionUri, panel, this.spec());
  }

  dispose(): void {
    this.panel?.dispose();
  }

  private spec(): BesidePanel<M> {
    return {
      ...this.page,
      onDispose: () => {
        this.panel = undefined;
      },
    };
  }
}
