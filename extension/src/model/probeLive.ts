/**
 * A running USDT count or trace, as the extension shows it: the marks on probe sites' lines
 * (hits and their rate, in the gutter and after the line) and the lines of the output channel.
 * Pure: the decorations and the channel (src/probeRuns.ts) draw what these functions return.
 */
import type { JvmLiveParams, ProbeLiveParams, ProbeSite, TracepointLiveParams } from "./protocol";

export interface SiteMark {
  /** 0-based, as the editor counts lines. */
  line: number;
  text: string;
  hover: string;
}

const count = (n: number): string => Math.round(n).toLocaleString("en-US");

/** The marks of one file's sites (several sites on one line, such as a loop's unrolled copies,
 * are summed into one mark). */
export function siteMarks(probe: string, sites: ProbeSite[], running: boolean): Map<string, SiteMark[]> {
  const byLine = new Map<string, { uri: string; line: number; hits: number; perS: number; sites: number }>();
  for (const site of sites) {
    if (!site.uri || !site.line) {
      continue;
    }
    const key = `${site.uri}#${site.line}`;
    const entry = byLine.get(key) ?? { uri: site.uri, line: site.line, hits: 0, perS: 0, sites: 0 };
    entry.hits += site.hits;
    entry.perS += site.per_s;
    entry.sites += 1;
    byLine.set(key, entry);
  }
  const marks = new Map<string, SiteMark[]>();
  for (const entry of byLine.values()) {
    const state = running ? "so far" : "in the last run";
    const where = entry.sites > 1 ? ` at ${entry.sites} sites on this line` : "";
    const mark: SiteMark = {
      line: entry.line - 1,
      text: `${probe}: ${count(entry.perS)} hits/s`,
      hover: `USDT probe ${probe}: ${count(entry.hits)} hits ${state}${where} (${count(entry.perS)}/s)`,
    };
    marks.set(entry.uri, [...(marks.get(entry.uri) ?? []), mark]);
  }
  return marks;
}

/** The output channel's lines for one report: the hits themselves when tracing, the largest
 * groups when counting, and where the probe fired. */
export function liveLines(params: ProbeLiveParams, topGroups = 10): string[] {
  const lines = [
    `[${params.elapsedS.toFixed(1)} s] ${params.probe} in PID ${params.pid}: ${count(params.events)} hits (${count(params.perS)}/s)`,
  ];
  if (params.mode === "trace") {
    for (const hit of params.hits) {
      lines.push(`  ${hit.t.toFixed(6)}  tid ${hit.tid}  ${hit.values.map(String).join("  ")}`.trimEnd());
    }
    if (params.hitsNotShown > 0) {
      lines.push(`  … ${count(params.hitsNotShown)} more hits since the last report (not shown here)`);
    }
  } else {
    for (const group of params.groups.slice(0, topGroups)) {
      lines.push(`  ${count(group.count).padStart(12)}  ${count(group.perS).padStart(10)}/s  ${group.values.map(String).join("  ")}`);
    }
  }
  for (const site of params.sites) {
    const where = site.path && site.line ? `${site.path}:${site.line}` : `${site.binary} +0x${site.offset.toString(16)}`;
    lines.push(`  at ${where}: ${count(site.hits)} hits (${count(site.per_s)}/s)`);
  }
  return lines;
}

/** The gutter mark of a probe site: a pin, in a hue apart from the heat's. */
export function probeSiteSvg(): string {
  return (
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">' +
    '<circle cx="8" cy="6" r="4" fill="#2f9bd6"/><rect x="7" y="9" width="2" height="6" fill="#2f9bd6"/></svg>'
  );
}

/** The status bar's words for a watched JVM: its GC pauses so far, the last one's length, and
 * its classes loaded. */
export function jvmStatusText(params: JvmLiveParams, lastPauseMs: number | undefined): string {
  const last = lastPauseMs === undefined ? "" : `, last ${lastPauseMs.toFixed(1)} ms`;
  return `JVM ${params.pid}: ${count(params.gcCount)} GC${params.gcCount === 1 ? "" : "s"}${last} · ${count(params.classesLoaded)} classes loaded`;
}

/** The output channel's lines for one report of a watched JVM: the classes, then each pause. */
export function jvmLiveLines(params: JvmLiveParams, shownClasses = 10): string[] {
  const lines = [`[${params.elapsedS.toFixed(1)} s] JVM ${params.pid}: ${count(params.gcCount)} GC pauses, ${count(params.classesLoaded)} classes loaded`];
  for (const name of params.newClasses.slice(0, shownClasses)) {
    lines.push(`  loaded ${name}`);
  }
  if (params.newClasses.length > shownClasses) {
    lines.push(`  … and ${count(params.newClasses.length - shownClasses)} more classes`);
  }
  // The pauses last: the newest lines are the ones in view.
  for (const gc of params.newGcs) {
    lines.push(`  GC at ${gc.t.toFixed(3)} s: ${gc.durationMs.toFixed(2)} ms pause (${gc.full ? "full" : "young/mixed"})`);
  }
  return lines;
}

/** The output channel's lines for one report of a kernel tracepoint: each record as tracefs'
 * trace file words it, then how many were not shown. */
export function tracepointLiveLines(params: TracepointLiveParams): string[] {
  const lines = [`[${params.elapsedS.toFixed(1)} s] ${params.tracepoint} in PID ${params.pid}: ${count(params.events)} hits (${count(params.perS)}/s)`];
  for (const record of params.records) {
    lines.push(`  ${record.t.toFixed(6)}  tid ${record.tid}  cpu ${record.cpu}  ${record.text}`);
  }
  if (params.notShown > 0) {
    lines.push(`  … ${count(params.notShown)} more records since the last report (not shown here)`);
  }
  return lines;
}
