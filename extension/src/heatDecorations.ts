/**
 * Gutter and overview-ruler heat from `lineprobe/heat`.
 *
 * LSP has no notion of line heat, so the server sends it as a custom
 * notification and the extension draws it: a bar in the gutter whose length
 * is the line's share of all samples, a background of matching strength, and
 * a mark in the overview ruler so that hot lines are found in long files.
 * The notification for a file replaces that file's heat (an empty list clears
 * it), and a scoped notification (flame graph selection) replaces it too. A comparison's heat
 * (`"mode": "diff"`) marks the lines that got hotter in red and colder in blue instead.
 */
import * as vscode from "vscode";
import {
  backgroundAlpha,
  colourOf,
  decorationKey,
  groupMarks,
  marksOf,
  paletteOf,
  rulerAlpha,
  type HeatKind,
  type HeatPalette,
} from "./model/heat";
import type { HeatParams } from "./model/protocol";


export class HeatDecorations implements vscode.Disposable {
  private readonly heat = new Map<string, HeatParams>();
  private readonly types = new Map<string, vscode.TextEditorDecorationType>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {
    this.subscriptions.push(
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => this.apply(e))),
    );
  }

  update(params: HeatParams): void {
    const key = normalizeUri(params.uri);
    if (params.lines.length === 0) {
      this.heat.delete(key);
    } else {
      this.heat.set(key, params);
    }
    for (const editor of vscode.window.visibleTextEditors) {
      if (normalizeUri(editor.document.uri.toString()) === key) {
        this.apply(editor);
      }
    }
  }

  /** Draws again (the `lineprobe.showHeat` setting changed). */
  refresh(): void {
    vscode.window.visibleTextEditors.forEach((e) => this.apply(e));
  }

  /** Drops all heat (the server was restarted: its profile is gone). */
  clear(): void {
    this.heat.clear();
    vscode.window.visibleTextEditors.forEach((e) => this.apply(e));
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    this.types.forEach((t) => t.dispose());
    this.types.clear();
  }

  private apply(editor: vscode.TextEditor): void {
    // Kept while hidden: turning the setting back on shows the latest heat again.
    const shown = vscode.workspace.getConfiguration("lineprobe").get<boolean>("showHeat", true);
    const params = shown ? this.heat.get(normalizeUri(editor.document.uri.toString())) : undefined;
    const palette = paletteOf(params?.unit, params?.mode);
    const groups = groupMarks(params ? marksOf(params) : [], palette);
    // Types not used by this document still need clearing in this editor.
    for (const [key, type] of this.types) {
      if (!groups.has(key)) {
        editor.setDecorations(type, []);
      }
    }
    const lastLine = editor.document.lineCount - 1;
    for (const [key, marks] of groups) {
      const ranges = marks
        .filter((m) => m.line >= 0 && m.line <= lastLine)
        .map((m) => editor.document.lineAt(m.line).range);
      editor.setDecorations(this.typeFor(key, marks[0].kind, marks[0].level, palette), ranges);
    }
  }

  private typeFor(key: string, kind: HeatKind, level: number, palette: HeatPalette): vscode.TextEditorDecorationType {
    let type = this.types.get(key);
    if (!type) {
      const rgb = colourOf(palette, kind);
      const background = backgroundAlpha(kind, level);
      type = vscode.window.createTextEditorDecorationType({
        isWholeLine: true,
        // Icons are generated at build time (build.mjs), one per level.
        gutterIconPath: vscode.Uri.joinPath(this.extensionUri, "dist", "heat", `${decorationKey(kind, level, palette)}.svg`),
        gutterIconSize: "contain",
        overviewRulerLane: vscode.OverviewRulerLane.Right,
        overviewRulerColor: `rgba(${rgb.dark}, ${rulerAlpha(kind, level)})`,
        light: { backgroundColor: `rgba(${rgb.light}, ${background})` },
        dark: { backgroundColor: `rgba(${rgb.dark}, ${background})` },
        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
      });
      this.types.set(key, type);
    }
    return type;
  }
}

/** URIs from the server and from VS Code may differ in percent-encoding. */
function normalizeUri(uri: string): string {
  return vscode.Uri.parse(uri).toString();
}
