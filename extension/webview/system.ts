/**
 * The system panel's webview: a live chart of the running totals' rates while a system view
 * traces, then the view's tables, its latency histogram and what it cannot measure. The numbers
 * come from src/model (rates, tables); Chart.js draws. Bundled into dist/webview: no CDN.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import { RateSeries, rateUnit, type SystemLiveReport } from "../src/model/systemRates";
import { systemHistogram, systemTables, type Table } from "../src/model/systemTables";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, BarController, BarElement, Legend, Tooltip);

interface VsCodeApi {
  postMessage(message: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type ToWebview =
  | { type: "start"; view: string; title: string; durationS: number }
  | { type: "live"; report: SystemLiveReport }
  | { type: "result"; view: string; result: Record<string, unknown> & { cannot_measure?: string[]; warnings?: string[]; duration_s?: number } }
  | { type: "error"; message: string };

const vscode = acquireVsCodeApi();
const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const summary = element<HTMLDivElement>("summary");
const status = element<HTMLDivElement>("status");
const warnings = element<HTMLDivElement>("warnings");
const tables = element<HTMLElement>("tables");
const limits = element<HTMLUListElement>("limits");
const stop = element<HTMLButtonElement>("stop");
const again = element<HTMLButtonElement>("again");
const histogramSection = element<HTMLElement>("histogram-section");
const style = getComputedStyle(document.body);
const foreground = style.getPropertyValue("--vscode-foreground").trim() || "#888";
const COLOURS = ["#e8743b", "#2f9bd6", "#19a979", "#ed4a7b", "#945ecf", "#13a4b4", "#bf399e", "#6c8893"];

let series = new RateSeries();
let live: Chart<"line"> | undefined;
let histogram: Chart<"bar"> | undefined;
let title = "";

Chart.defaults.color = foreground;
Chart.defaults.animation = false;

stop.addEventListener("click", () => vscode.postMessage({ type: "stop" }));
again.addEventListener("click", () => vscode.postMessage({ type: "again" }));

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  if (message.type === "start") {
    start(message.title, message.durationS);
  } else if (message.type === "live") {
    addLive(message.report);
  } else if (message.type === "result") {
    showResult(message.view, message.result);
  } else if (message.type === "error") {
    finish();
    status.textContent = `Failed: ${message.message}`;
    status.className = "error";
  }
});

function start(what: string, durationS: number): void {
  title = what;
  series = new RateSeries();
  live?.destroy();
  histogram?.destroy();
  live = undefined;
  histogram = undefined;
  summary.textContent = `${what}: tracing for up to ${durationS} s…`;
  status.textContent = "Compiling and attaching the BPF program…";
  status.className = "";
  warnings.replaceChildren();
  tables.replaceChildren();
  limits.replaceChildren();
  histogramSection.hidden = true;
  stop.disabled = false;
  again.disabled = true;
}

function addLive(report: SystemLiveReport): void {
  if (!series.add(report)) {
    return;
  }
  status.textContent = `Tracing: ${report.elapsedS.toFixed(1)} s`;
  const names = series.names();
  const datasets = names.map((name, index) => ({
    label: name,
    data: series.points.map((p) => ({ x: p.t, y: p.rates[name] ?? 0 })),
    borderColor: COLOURS[index % COLOURS.length],
    backgroundColor: COLOURS[index % COLOURS.length],
    pointRadius: 2,
  }));
  if (!live) {
    live = new Chart(element<HTMLCanvasElement>("live"), {
      type: "line",
      data: { datasets },
      options: {
        maintainAspectRatio: false,
        parsing: false,
        scales: {
          x: { type: "linear", title: { display: true, text: "seconds" }, min: 0 },
          y: { beginAtZero: true, title: { display: true, text: rateUnit(report.unit).label } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  } else {
    live.data.datasets = datasets;
    live.update();
  }
  element("live-title").textContent = `Live: ${rateUnit(report.unit).label}`;
}

function showResult(view: string, result: Record<string, unknown> & { cannot_measure?: string[]; warnings?: string[]; duration_s?: number }): void {
  finish();
  summary.textContent = `${title}: ${Number(result.duration_s ?? 0).toFixed(1)} s traced`;
  status.textContent = "Done.";
  warnings.replaceChildren(...(result.warnings ?? []).map((w) => paragraph(`Warning: ${w}`, "warning")));
  tables.replaceChildren(...systemTables(view, result).map(drawTable));
  limits.replaceChildren(
    ...(result.cannot_measure ?? []).map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
  const chosen = systemHistogram(view, result);
  histogramSection.hidden = !chosen;
  if (chosen) {
    element("histogram-title").textContent = chosen.title;
    histogram = new Chart(element<HTMLCanvasElement>("histogram"), {
      type: "bar",
      data: { labels: chosen.labels, datasets: [{ label: "calls", data: chosen.counts, backgroundColor: COLOURS[1] }] },
      options: { maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
    });
  }
}

function finish(): void {
  stop.disabled = true;
  again.disabled = false;
}

function paragraph(text: string, className: string): HTMLParagraphElement {
  const p = document.createElement("p");
  p.textContent = text;
  p.className = className;
  return p;
}

function drawTable(table: Table): HTMLElement {
  const section = document.createElement("div");
  const heading = document.createElement("h3");
  heading.textContent = table.title;
  const element = document.createElement("table");
  const head = element.createTHead().insertRow();
  table.columns.forEach((name, index) => {
    const cell = document.createElement("th");
    cell.textContent = name;
    cell.className = table.numeric[index] ? "number" : "";
    head.appendChild(cell);
  });
  const body = element.createTBody();
  if (table.rows.length === 0) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = table.columns.length;
    cell.textContent = "nothing in the window";
  }
  for (const row of table.rows) {
    const tr = body.insertRow();
    row.forEach((value, index) => {
      const cell = tr.insertCell();
      cell.textContent = value;
      cell.className = table.numeric[index] ? "number" : "";
    });
  }
  section.append(heading, element);
  return section;
}
