/**
 * The findings lineprobe published as diagnostics, grouped for the Findings view (kind → file →
 * line), and the one-line summaries of a system-call or leak trace. Kept free of the `vscode`
 * module so it is unit-tested in plain Node.
 */
import type { LeaksResult, SyscallsResult } from "./protocol";

/** A diagnostic of lineprobe's, as the view needs it (0-based line, as VS Code counts). */
export interface FindingEntry {
  uri: string;
  /** The file's name relative to the workspace, for labels. */
  file: string;
  line: number;
  /** VS Code's DiagnosticSeverity: 0 error, 1 warning, 2 information, 3 hint. */
  severity: number;
  code: string;
  message: string;
}

/** The kinds of findings, in the order the view lists them: what needs action first. Codes are
 * PROTOCOL.md's ("Diagnostics"). */
export const FINDING_KINDS: readonly { codes: readonly string[]; label: string; icon: string }[] = [
  { codes: ["syscall-failure"], label: "Failing system calls", icon: "error" },
  { codes: ["slow-io"], label: "Slow file I/O", icon: "watch" },
  { codes: ["leak-suspect"], label: "Leak suspects", icon: "flame" },
  { codes: ["cpu-hot-line"], label: "CPU hot lines", icon: "pulse" },
  { codes: ["cpu-hotter", "cpu-colder"], label: "Changes between captures", icon: "diff" },
  { codes: ["offcpu-line", "wallclock-line"], label: "Waiting", icon: "clock" },
  { codes: ["stack-count-line"], label: "Tracepoint and probe hits", icon: "debug-breakpoint-log" },
  { codes: ["line-hits-line"], label: "Line hits", icon: "debug-breakpoint" },
];

export interface FindingFile {
  uri: string;
  file: string;
  entries: FindingEntry[];
}

export interface FindingGroup {
  label: string;
  icon: string;
  count: number;
  files: FindingFile[];
}

/** Groups entries by kind (in FINDING_KINDS' order; other codes last, under "Other"), then by
 * file (by name), each file's entries by line. Empty kinds are left out. */
export function groupFindings(entries: readonly FindingEntry[]): FindingGroup[] {
  const groups: FindingGroup[] = [];
  const known = new Set(FINDING_KINDS.flatMap((kind) => kind.codes));
  const kinds = [...FINDING_KINDS, { codes: [] as string[], label: "Other", icon: "info" }];
  for (const kind of kinds) {
    const mine = entries.filter((e) => (kind.codes.length > 0 ? kind.codes.includes(e.code) : !known.has(e.code)));
    if (mine.length === 0) {
      continue;
    }
    const byUri = new Map<string, FindingFile>();
    for (const entry of mine) {
      const file = byUri.get(entry.uri) ?? { uri: entry.uri, file: entry.file, entries: [] };
      file.entries.push(entry);
      byUri.set(entry.uri, file);
    }
    const files = [...byUri.values()].sort((a, b) => a.file.localeCompare(b.file));
    for (const file of files) {
      file.entries.sort((a, b) => a.line - b.line || a.severity - b.severity);
    }
    groups.push({ label: kind.label, icon: kind.icon, count: mine.length, files });
  }
  return groups;
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString("en-US")} ${count === 1 ? one : many}`;
}

export function bytes(value: number): string {
  if (value >= 1 << 20) {
    return `${(value / (1 << 20)).toFixed(1)} MiB`;
  }
  return value >= 1024 ? `${(value / 1024).toFixed(1)} KiB` : `${Math.round(value)} B`;
}

/** What a system-call trace found, in one line: failing calls and slow I/O first. */
export function syscallSummary(result: Extract<SyscallsResult, { ok: true }>, slowMs: number): string {
  const calls = result.syscalls.reduce((sum, s) => sum + s.count, 0);
  const failed = result.failures.reduce((sum, f) => sum + f.count, 0);
  const slow = result.slow.filter((s) => s.p99_us >= slowMs * 1000);
  const parts = [`${plural(calls, "call")} in ${result.duration_s.toFixed(1)} s`];
  if (result.failures.length > 0) {
    const worst = result.failures[0];
    parts.push(`${plural(failed, "failed call")}, most ${worst.syscall}${worst.path ? ` of ${worst.path}` : ""} with ${worst.errno}`);
  } else {
    parts.push("none failed");
  }
  parts.push(slow.length > 0 ? `${plural(slow.length, "slow I/O site")} (p99 at least ${slowMs} ms)` : "no slow I/O");
  return `${parts.join("; ")}; ${onFiles(result.files.length)}`;
}

/** What a leak trace found, in one line: the suspects and what they hold. */
export function leakSummary(result: Extract<LeaksResult, { ok: true }>): string {
  const suspects = result.sites.filter((s) => s.suspect);
  const held = suspects.reduce((sum, s) => sum + s.outstanding_bytes, 0);
  const found =
    suspects.length > 0
      ? `${plural(suspects.length, "leak suspect")} holding ${bytes(held)}`
      : `no leak suspects (${plural(result.sites.length, "allocation site")} with memory outstanding)`;
  return `${found} after ${result.duration_s.toFixed(1)} s; ${onFiles(result.files.length)}`;
}

function onFiles(count: number): string {
  return count > 0 ? `shown on ${plural(count, "file")} of the workspace` : "none on a file of the workspace";
}
