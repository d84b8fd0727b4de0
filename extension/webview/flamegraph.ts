/**
 * The flame graph webview. d3-flame-graph draws and zooms the graph (and turns it upside down
 * as an icicle); this script only feeds it the server's tree, merged by function or by line as
 * the "Lines" box says, forwards clicks to the extension (which opens the frame's line and scopes
 * the editor's heat), and wires the search box (Ctrl+F or "/" to it, Escape clears it). Bundled
 * with its libraries into dist/webview: no CDN.
 */
import flamegraph, { colorMapper, type FlameGraph } from "d3-flame-graph";
import { select } from "d3-selection";
import {
  differentialLabel,
  differentialTitle,
  frameLabel,
  functionTotals,
  hottestFunction,
  hottestLine,
  scopePath,
  selfValue,
  type HierarchyNode,
} from "../src/model/flame";
import type { FlameDifferential, FlameNode } from "../src/model/protocol";

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): ViewState | undefined;
  setState(state: ViewState): void;
}

/** What the panel remembers across a window reload. */
interface ViewState {
  byLine: boolean;
  icicle: boolean;
}
declare function acquireVsCodeApi(): VsCodeApi;

type ToWebview =
  | { type: "profile"; samples: number; root: FlameNode; title: string; byFunction: boolean; differential?: FlameDifferential }
  | { type: "empty"; message: string }
  | { type: "scope"; names: string[] };

type Node = HierarchyNode & { highlight?: boolean };

const vscode = acquireVsCodeApi();
const container = document.getElementById("chart") as HTMLDivElement;
const details = document.getElementById("details") as HTMLDivElement;
/** The clicked function's figures over all its calls (the details line is the hovered frame's). */
const selection = document.getElementById("selection") as HTMLDivElement;
const summary = document.getElementById("summary") as HTMLDivElement;
const search = document.getElementById("search") as HTMLInputElement;
const reset = document.getElementById("reset") as HTMLButtonElement;
const byLine = document.getElementById("byLine") as HTMLInputElement;
const icicle = document.getElementById("icicle") as HTMLInputElement;
const state: ViewState = vscode.getState() ?? { byLine: false, icicle: false };
byLine.checked = state.byLine;
icicle.checked = state.icicle;
const hint = document.getElementById("hint") as HTMLDivElement;
const PROFILE_HINT = hint.textContent ?? "";
/** A comparison's heat is the change per line, which a frame does not scope. */
const DIFFERENTIAL_HINT = "Click a frame to open its line; hover it for its time before and after.";

let chart: FlameGraph<Node> | undefined;
let totalSamples = 0;
let shown: Extract<ToWebview, { type: "profile" }> | undefined;

/** Kernel frames in grey: they are not the user's code, and they have no source line. */
const KERNEL_COLOR = "#a9a9a9";
const HIGHLIGHT_COLOR = "#e600e6";

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  if (message.type === "profile") {
    shown = message;
    render(message.root, message.samples, message.title, message.byFunction, message.differential);
  } else if (message.type === "empty") {
    chart?.destroy();
    chart = undefined;
    container.textContent = "";
    summary.textContent = message.message;
  } else if (message.type === "scope") {
    details.textContent = message.names.length > 0 ? `editor heat: samples under ${message.names[message.names.length - 1]}` : "editor heat: all samples";
  }
});

function render(root: FlameNode, samples: number, title: string, byFunction: boolean, differential?: FlameDifferential): void {
  totalSamples = samples;
  // The hottest line's (or function's) self share over all its call paths: the editor's figure
  // for that line (in Problems), or function (its code lens).
  const hottest = byFunction ? hottestFunction(root) : hottestLine(root);
  const share = hottest && samples > 0 ? (100 * hottest.self) / samples : 0;
  summary.textContent = differential
    ? differentialTitle(differential)
    : hottest
      ? `${title} · hottest: ${hottest.name} (${share.toFixed(1)}% self)`
      : title;
  hint.textContent = differential ? DIFFERENTIAL_HINT : PROFILE_HINT;
  details.textContent = "";
  selection.textContent = "";
  // A comparison is coloured by each frame's change (red: it took more time after, blue: less).
  const colour = (node: Node, original: string): string =>
    node.highlight
      ? HIGHLIGHT_COLOR
      : differential
        ? colorMapper.differentialColorMapper(node, original)
        : node.data.kernel
          ? KERNEL_COLOR
          : original;
  chart?.destroy();
  container.textContent = "";
  chart = flamegraph<Node>()
    .width(Math.max(container.clientWidth, 200))
    .cellHeight(18)
    .minFrameSize(1)
    .inverted(icicle.checked)
    .transitionDuration(150)
    // Children come sorted by value from the server: the hottest path is leftmost.
    .sort(false)
    .label((node) => (differential ? differentialLabel(node.data, differential) : frameLabel(node.data, totalSamples)))
    .setColorMapper(colour)
    .setDetailsElement(details)
    // Plain substring search: the library's default treats the term as a regular expression.
    .setSearchMatch((node, term) => term !== "" && node.data.name.toLowerCase().includes(term.toLowerCase()))
    .onClick((node) => {
      annotate();
      selection.textContent = byFunction && !differential && node.parent ? functionFigures(root, node.data) : "";
      vscode.postMessage({
        type: "select",
        name: node.data.name,
        stack: scopePath(node),
        uri: node.data.uri ?? null,
        line: node.data.line ?? null,
      });
    });
  select(container).datum(root).call(chart);
  annotate();
}

/**
 * Adds each frame's self samples and source location to its element, for
 * the tooltip-less keyboard/automation path (the e2e test finds the hottest
 * frame by `data-self`). The library re-renders on zoom, so this runs again
 * after every click.
 */
function annotate(): void {
  select(container)
    .selectAll<SVGGElement, Node>("g.frame")
    .attr("data-self", (node) => String(selfValue(node.data)))
    .attr("data-line", (node) => (node.data.line ? String(node.data.line) : ""))
    .attr("data-uri", (node) => node.data.uri ?? "")
    .attr("data-delta", (node) => (node.data.delta === undefined ? "" : String(node.data.delta)));
}

/** A clicked function's figures over every call path, as its code lens states them, beside this
 * frame's. */
function functionFigures(root: FlameNode, frame: FlameNode): string {
  const fn = frame.function ?? frame.name;
  const { self, total } = functionTotals(root, fn);
  const percent = (value: number): string => `${totalSamples > 0 ? ((100 * value) / totalSamples).toFixed(1) : "0.0"}%`;
  return `${fn}: ${percent(total)} total, ${percent(self)} self in all its calls · this frame ${percent(frame.value)}`;
}

byLine.addEventListener("change", () => {
  state.byLine = byLine.checked;
  vscode.setState(state);
  vscode.postMessage({ type: "mode", byFunction: !byLine.checked });
});

icicle.addEventListener("change", () => {
  state.icicle = icicle.checked;
  vscode.setState(state);
  if (shown) {
    render(shown.root, shown.samples, shown.title, shown.byFunction, shown.differential);
  }
});

// Ctrl+F (or "/") to the search box, as in an editor; Escape clears the search.
document.addEventListener("keydown", (event) => {
  if ((event.key === "f" && (event.ctrlKey || event.metaKey)) || (event.key === "/" && document.activeElement !== search)) {
    event.preventDefault();
    search.focus();
    search.select();
  } else if (event.key === "Escape" && document.activeElement === search) {
    search.value = "";
    chart?.clear();
  }
});

search.addEventListener("input", () => {
  if (!chart) {
    return;
  }
  if (search.value.trim() === "") {
    chart.clear();
  } else {
    chart.search(search.value.trim());
  }
});

// Resetting the zoom clicks the root, whose empty path resets the editor's heat too.
reset.addEventListener("click", () => chart?.resetZoom());

new ResizeObserver(() => {
  if (chart && container.clientWidth > 0) {
    chart.width(container.clientWidth).update();
    annotate();
  }
}).observe(container);

vscode.postMessage({ type: "ready", byFunction: !byLine.checked });
