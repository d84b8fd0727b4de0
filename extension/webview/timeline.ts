/**
 * The timeline webview: each thread's samples over time as a row of bars. Dragging across a row
 * (or typing seconds and pressing Apply) picks a time range, the checkboxes pick threads, and the
 * extension then shows that slice of the profile in the editor (`lineprobe.sliceProfile`): heat,
 * diagnostics and the flame graph follow. Plain SVG: nothing to bundle, nothing from the network.
 */
import { bucketCount, parseSeconds, rangeFromPixels, sliceRequest } from "../src/model/timeline";
import type { SliceArguments, TimelineThread } from "../src/model/protocol";

interface VsCodeApi {
  postMessage(message: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type ToWebview =
  | { type: "timeline"; title: string; bucketMs: number; threads: TimelineThread[]; selection: string }
  | { type: "empty"; message: string }
  | { type: "sliced"; selection: string; samples: number }
  | { type: "problem"; message: string };

const SVG = "http://www.w3.org/2000/svg";
const vscode = acquireVsCodeApi();
const summary = document.getElementById("summary") as HTMLDivElement;
const rows = document.getElementById("rows") as HTMLDivElement;
const fromInput = document.getElementById("from") as HTMLInputElement;
const toInput = document.getElementById("to") as HTMLInputElement;
const apply = document.getElementById("apply") as HTMLButtonElement;
const whole = document.getElementById("whole") as HTMLButtonElement;
const problem = document.getElementById("problem") as HTMLDivElement;

let threads: TimelineThread[] = [];
let bucketMs = 0;
let ticked = new Set<number>();
let title = "";

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  problem.textContent = "";
  if (message.type === "timeline") {
    threads = message.threads;
    bucketMs = message.bucketMs;
    title = message.title;
    ticked = new Set(threads.map((t) => t.tid));
    render();
    describe(message.selection);
  } else if (message.type === "empty") {
    threads = [];
    rows.textContent = "";
    summary.textContent = message.message;
  } else if (message.type === "sliced") {
    describe(message.selection, message.samples);
  } else if (message.type === "problem") {
    problem.textContent = message.message;
  }
});

function describe(selection: string, samples?: number): void {
  const shown = selection ? `showing ${selection}` : "showing the whole profile";
  summary.textContent = `${title} · ${shown}${samples !== undefined ? ` (${samples} samples)` : ""}`;
}

function render(): void {
  rows.textContent = "";
  const buckets = bucketCount(threads);
  if (bucketMs === 0 || buckets === 0) {
    summary.textContent = `${title} · this profile kept no time: pick threads only`;
  }
  for (const thread of threads) {
    const label = document.createElement("label");
    label.className = "thread";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = true;
    box.setAttribute("aria-label", `thread ${thread.tid} ${thread.name}`);
    box.addEventListener("change", () => {
      if (box.checked) {
        ticked.add(thread.tid);
      } else {
        ticked.delete(thread.tid);
      }
      send();
    });
    label.append(box, ` ${thread.name} ${thread.tid} (${thread.samples})`);
    rows.append(label, row(thread, buckets));
  }
  if (buckets > 0 && bucketMs > 0) {
    const axis = document.createElement("div");
    axis.className = "axis";
    const end = (buckets * bucketMs) / 1000;
    axis.append(span("0 s"), span(`${(end / 2).toFixed(1)} s`), span(`${end.toFixed(1)} s`));
    rows.append(axis);
  }
}

function span(text: string): HTMLSpanElement {
  const element = document.createElement("span");
  element.textContent = text;
  return element;
}

function row(thread: TimelineThread, buckets: number): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.classList.add("row");
  svg.setAttribute("viewBox", `0 0 ${Math.max(buckets, 1)} 1`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("data-tid", String(thread.tid));
  const peak = Math.max(1, ...thread.counts);
  thread.counts.forEach((count, bucket) => {
    if (count === 0) {
      return;
    }
    const bar = document.createElementNS(SVG, "rect");
    bar.classList.add("bar");
    const height = count / peak;
    bar.setAttribute("x", String(bucket));
    bar.setAttribute("y", String(1 - height));
    bar.setAttribute("width", "0.9");
    bar.setAttribute("height", String(height));
    const tip = document.createElementNS(SVG, "title");
    tip.textContent = `${((bucket * bucketMs) / 1000).toFixed(1)} s: ${count} samples`;
    bar.append(tip);
    svg.append(bar);
  });
  let dragFrom: number | undefined;
  const x = (event: PointerEvent): number => event.clientX - svg.getBoundingClientRect().left;
  svg.addEventListener("pointerdown", (event) => {
    dragFrom = x(event);
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointerup", (event) => {
    if (dragFrom === undefined || bucketMs === 0) {
      return;
    }
    const range = rangeFromPixels(dragFrom, x(event), svg.getBoundingClientRect().width, buckets, bucketMs);
    dragFrom = undefined;
    fromInput.value = String(range.startS);
    toInput.value = String(range.endS);
    send();
  });
  return svg;
}

function markSelection(startS: number | undefined, endS: number | undefined): void {
  const buckets = bucketCount(threads);
  for (const svg of Array.from(rows.querySelectorAll("svg.row"))) {
    svg.querySelector("rect.selected")?.remove();
    if (startS === undefined && endS === undefined) {
      continue;
    }
    const first = ((startS ?? 0) * 1000) / bucketMs;
    const last = endS === undefined ? buckets : (endS * 1000) / bucketMs;
    const shade = document.createElementNS(SVG, "rect");
    shade.classList.add("selected");
    shade.setAttribute("x", String(first));
    shade.setAttribute("y", "0");
    shade.setAttribute("width", String(Math.max(0, last - first)));
    shade.setAttribute("height", "1");
    svg.prepend(shade);
  }
}

function send(): void {
  const start = parseSeconds(fromInput.value);
  const end = parseSeconds(toInput.value);
  if (!start.ok || !end.ok) {
    problem.textContent = !start.ok ? start.reason : !end.ok ? end.reason : "";
    return;
  }
  const request: SliceArguments = sliceRequest(
    Array.from(ticked),
    threads.map((t) => t.tid),
    start.value,
    end.value,
  );
  markSelection(start.value, end.value);
  vscode.postMessage({ type: "slice", request });
}

apply.addEventListener("click", send);
for (const input of [fromInput, toInput]) {
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      send();
    }
  });
}
whole.addEventListener("click", () => {
  fromInput.value = "";
  toInput.value = "";
  ticked = new Set(threads.map((t) => t.tid));
  for (const box of Array.from(rows.querySelectorAll<HTMLInputElement>("input[type=checkbox]"))) {
    box.checked = true;
  }
  markSelection(undefined, undefined);
  vscode.postMessage({ type: "slice", request: {} });
});

vscode.postMessage({ type: "ready" });
