/**
 * The system panel's tables and histogram, from `lineprobe.systemActivity`'s result (the CLI's
 * `--json` object of the view). Pure: the webview draws what this returns.
 */

type Row = Record<string, unknown>;

export interface Table {
  title: string;
  columns: string[];
  /** Right-aligned columns (numbers). */
  numeric: boolean[];
  rows: string[][];
}

export interface Histogram {
  title: string;
  labels: string[];
  counts: number[];
}

const ROWS_SHOWN = 25;

const count = (value: unknown): string => Number(value ?? 0).toLocaleString("en-US");
const kib = (value: unknown): string => (Number(value ?? 0) / 1024).toLocaleString("en-US", { maximumFractionDigits: 0 });
const ms = (us: unknown): string => (Number(us ?? 0) / 1000).toLocaleString("en-US", { maximumFractionDigits: 2 });
const text = (value: unknown): string => String(value ?? "");

interface Column {
  name: string;
  numeric: boolean;
  cell: (row: Row) => string;
}

const col = (name: string, cell: (row: Row) => string, numeric = true): Column => ({ name, numeric, cell });

function table(title: string, rows: unknown, columns: Column[]): Table {
  const list = Array.isArray(rows) ? (rows as Row[]) : [];
  return {
    title: list.length > ROWS_SHOWN ? `${title} (first ${ROWS_SHOWN} of ${list.length})` : title,
    columns: columns.map((c) => c.name),
    numeric: columns.map((c) => c.numeric),
    rows: list.slice(0, ROWS_SHOWN).map((row) => columns.map((c) => c.cell(row))),
  };
}

export function systemTables(view: string, result: Row): Table[] {
  switch (view) {
    case "disk":
      return [
        table("Block I/O by process (biotop)", result.processes, [
          col("PID", (r) => text(r.pid)),
          col("process", (r) => text(r.comm), false),
          col("disk", (r) => text(r.device), false),
          col("op", (r) => text(r.op), false),
          col("I/O", (r) => count(r.ios)),
          col("KiB", (r) => kib(r.bytes)),
          col("avg ms", (r) => Number(r.average_ms ?? 0).toFixed(2)),
        ]),
        table("Slowest requests, one by one (biosnoop)", slowestFirst(result.requests), [
          col("time s", (r) => Number(r.offset_s ?? 0).toFixed(6)),
          col("process", (r) => text(r.comm), false),
          col("PID", (r) => text(r.pid)),
          col("disk", (r) => text(r.device), false),
          col("op", (r) => text(r.op), false),
          col("sector", (r) => text(r.sector)),
          col("bytes", (r) => text(r.bytes)),
          col("ms", (r) => Number(r.latency_ms ?? 0).toFixed(3)),
        ]),
      ];
    case "files":
      return [
        table("File I/O by file (filetop), most time first", result.files, [
          col("PID", (r) => text(r.pid)),
          col("process", (r) => text(r.process), false),
          col("file", (r) => text(r.file), false),
          col("reads", (r) => count(r.reads)),
          col("read KiB", (r) => kib(r.read_bytes)),
          col("writes", (r) => count(r.writes)),
          col("write KiB", (r) => kib(r.write_bytes)),
          col("syncs", (r) => count(r.syncs)),
          col("ms", (r) => ms(r.time_us)),
          col("max ms", (r) => ms(r.max_us)),
        ]),
        table(`Calls slower than ${text(result.slow_ms)} ms (fileslower)`, result.slow, [
          col("time s", (r) => Number(r.offset_s ?? 0).toFixed(3)),
          col("process", (r) => text(r.comm), false),
          col("TID", (r) => text(r.tid)),
          col("call", (r) => text(r.call), false),
          col("bytes", (r) => text(r.result)),
          col("ms", (r) => Number(r.latency_ms ?? 0).toFixed(2)),
          col("file", (r) => text(r.file), false),
        ]),
      ];
    case "pagecache":
      return [
        table("Page cache by process and file (pages; dirtied: folios)", result.files, [
          col("PID", (r) => text(r.pid)),
          col("process", (r) => text(r.comm), false),
          col("file", (r) => text(r.file), false),
          col("added", (r) => count(r.added)),
          col("removed", (r) => count(r.removed)),
          col("dirtied", (r) => count(r.dirtied)),
          col("written", (r) => count(r.written)),
        ]),
      ];
    case "irqs": {
      const columns = [
        col("name", (r: Row) => text(r.name), false),
        col("count", (r: Row) => count(r.count)),
        col("total ms", (r: Row) => ms(r.time_us)),
      ];
      return [table("Hard IRQs (hardirqs)", result.hard, columns), table("Softirqs (softirqs)", result.soft, columns)];
    }
    default:
      return [];
  }
}

function slowestFirst(rows: unknown): Row[] {
  const list = Array.isArray(rows) ? [...(rows as Row[])] : [];
  return list.sort((a, b) => Number(b.latency_ms ?? 0) - Number(a.latency_ms ?? 0));
}

function buckets(title: string, rows: unknown): Histogram | undefined {
  const list = Array.isArray(rows) ? (rows as Row[]) : [];
  if (list.length === 0) {
    return undefined;
  }
  return {
    title,
    labels: list.map((r) => `${count(r.low)}–${count(r.high)}`),
    counts: list.map((r) => Number(r.count ?? 0)),
  };
}

/** The latency histogram worth a chart: the busiest disk's, or the busiest file's slowest call's
 * (its sync, where it has one: the wait a database pays at every commit). */
export function systemHistogram(view: string, result: Row): Histogram | undefined {
  if (view === "disk") {
    const device = (Array.isArray(result.devices) ? (result.devices as Row[]) : [])[0];
    return device ? buckets(`${text(device.device)}: block request latency (µs)`, device.latency_us) : undefined;
  }
  if (view === "files") {
    const busiest = (Array.isArray(result.files) ? (result.files as Row[]) : [])[0];
    const latency = Array.isArray(result.latency) ? (result.latency as Row[]) : [];
    const mine = latency.filter((h) => busiest && h.file === busiest.file && h.pid === busiest.pid);
    const chosen = mine.find((h) => h.call === "fdatasync" || h.call === "fsync") ?? mine[0];
    return chosen ? buckets(`${text(chosen.file)}: ${text(chosen.call)} latency (µs)`, chosen.latency_us) : undefined;
  }
  return undefined;
}
