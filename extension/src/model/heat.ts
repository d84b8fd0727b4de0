/**
 * From `lineprobe/heat` lines to decoration levels.
 *
 * VS Code decorations are styled per decoration *type*, so shares are
 * quantised into a fixed number of levels: each level has its own gutter bar
 * (length proportional to the share) and background strength. Lines that
 * only have *total* time (callers: their callees did the work) get a hollow
 * bar so that they are told apart from the lines that burn the CPU.
 */
import type { HeatLine } from "./protocol";

/** Number of levels; level n covers shares in ((n-1)*100/LEVELS, n*100/LEVELS]. */
export const LEVELS = 20;

/** Self and total: a profile's line that ran, and one that was on the stack. Hotter and colder:
 * a comparison's line whose self cost grew or shrank. */
export type HeatKind = "self" | "total" | "hotter" | "colder";

/** What the heat measures: CPU (samples, hits, bytes) in warm hues, waiting (off-CPU time, in
 * nanoseconds) in cool ones, so that a glance tells a busy line from a blocked one; a comparison
 * in red (hotter) and blue (colder), as differential flame graphs colour it. */
export type HeatPalette = "cpu" | "wait" | "diff";

/** The palette of a `lineprobe/heat` notification: a comparison's, else from its figures' unit. */
export function paletteOf(unit: string | undefined, mode?: string): HeatPalette {
  if (mode === "diff") {
    return "diff";
  }
  return unit === "ns" ? "wait" : "cpu";
}

export interface HeatColour {
  light: string;
  dark: string;
  icon: string;
}

/** Each palette's colours by kind, as "r, g, b" for light and dark themes. */
export const PALETTES: Record<HeatPalette, Partial<Record<HeatKind, HeatColour>>> = {
  cpu: {
    self: { light: "230, 74, 25", dark: "255, 112, 67", icon: "#f0562a" },
    total: { light: "214, 140, 30", dark: "240, 180, 80", icon: "#e8a33d" },
  },
  wait: {
    self: { light: "30, 100, 220", dark: "90, 150, 255", icon: "#3b7dea" },
    total: { light: "60, 150, 200", dark: "110, 190, 240", icon: "#5aa7d6" },
  },
  diff: {
    hotter: { light: "220, 40, 40", dark: "255, 90, 90", icon: "#e53935" },
    colder: { light: "30, 90, 220", dark: "100, 150, 255", icon: "#3b6fe0" },
  },
};

/** The kinds each palette draws (the gutter icons made at build time). */
export const PALETTE_KINDS: Record<HeatPalette, HeatKind[]> = {
  cpu: ["self", "total"],
  wait: ["self", "total"],
  diff: ["hotter", "colder"],
};

/** A kind's colour in a palette; a palette draws only its own kinds. */
export function colourOf(palette: HeatPalette, kind: HeatKind): HeatColour {
  const colour = PALETTES[palette][kind];
  if (!colour) {
    throw new Error(`the ${palette} heat has no ${kind} lines`);
  }
  return colour;
}

export interface HeatMark {
  line: number;
  kind: HeatKind;
  level: number;
  percent: number;
}

/** Level 1..LEVELS of a share in percent; 0 for no share. */
export function levelOf(percent: number): number {
  if (!(percent > 0)) {
    return 0;
  }
  return Math.min(LEVELS, Math.max(1, Math.ceil((percent * LEVELS) / 100)));
}

/**
 * One mark per sampled line: by self share when the line itself ran, else
 * by total share (it was on the stack). Lines below `minPercent` of both are
 * dropped so that the gutter stays readable for large profiles.
 */
export function heatMarks(lines: HeatLine[], minPercent = 0.05): HeatMark[] {
  const marks: HeatMark[] = [];
  for (const entry of lines) {
    if (entry.self_percent >= minPercent) {
      marks.push({ line: entry.line, kind: "self", level: levelOf(entry.self_percent), percent: entry.self_percent });
    } else if (entry.total_percent >= minPercent) {
      marks.push({ line: entry.line, kind: "total", level: levelOf(entry.total_percent), percent: entry.total_percent });
    }
  }
  return marks;
}

/**
 * One mark per line that changed beyond noise in a comparison: hotter or colder, its level the
 * change against the comparison's largest (`scale`, both in percent of the before capture), so
 * the line that moved most is at full strength in every file.
 */
export function diffMarks(lines: HeatLine[], scale: number): HeatMark[] {
  const marks: HeatMark[] = [];
  if (!(scale > 0)) {
    return marks;
  }
  for (const entry of lines) {
    const change = entry.change_percent ?? 0;
    if (entry.within_noise || change === 0) {
      continue;
    }
    const level = levelOf(Math.min(100, (100 * Math.abs(change)) / scale));
    marks.push({ line: entry.line, kind: change > 0 ? "hotter" : "colder", level, percent: change });
  }
  return marks;
}

/** The marks of a `lineprobe/heat` notification, a profile's or a comparison's. */
export function marksOf(params: { lines: HeatLine[]; mode?: string; scale_percent?: number }): HeatMark[] {
  return params.mode === "diff" ? diffMarks(params.lines, params.scale_percent ?? 0) : heatMarks(params.lines);
}

/** Groups marks by decoration type key, e.g. `self-11` (`wait-self-11` in the waiting palette). */
export function groupMarks(marks: HeatMark[], palette: HeatPalette = "cpu"): Map<string, HeatMark[]> {
  const groups = new Map<string, HeatMark[]>();
  for (const mark of marks) {
    const key = decorationKey(mark.kind, mark.level, palette);
    const group = groups.get(key);
    if (group) {
      group.push(mark);
    } else {
      groups.set(key, [mark]);
    }
  }
  return groups;
}

export function decorationKey(kind: HeatKind, level: number, palette: HeatPalette = "cpu"): string {
  const key = `${kind}-${String(level).padStart(2, "0")}`;
  return palette === "cpu" ? key : `${palette}-${key}`;
}

/** Background alpha for a level: faint for small shares, never hiding the text. */
export function backgroundAlpha(kind: HeatKind, level: number): number {
  const scale = level / LEVELS;
  return kind === "total" ? round(0.03 + 0.08 * scale) : round(0.05 + 0.35 * scale);
}

/** Overview ruler alpha: hot lines must stand out in a long file. */
export function rulerAlpha(kind: HeatKind, level: number): number {
  const scale = level / LEVELS;
  return kind === "total" ? round(0.15 + 0.25 * scale) : round(0.35 + 0.65 * scale);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * The gutter icon for a level: a horizontal bar whose length is the share.
 * Orange-red reads on light and dark themes alike; the hollow variant for
 * total time uses an outline instead of a fill.
 */
export function gutterSvg(kind: HeatKind, level: number, palette: HeatPalette = "cpu"): string {
  const width = 16;
  const height = 16;
  const length = Math.max(2, Math.round((width * level) / LEVELS));
  const colour = colourOf(palette, kind).icon;
  const bar =
    kind !== "total"
      ? `<rect x="0" y="3" width="${length}" height="10" rx="1" fill="${colour}"/>`
      : `<rect x="0.5" y="4.5" width="${Math.max(1, length - 1)}" height="7" rx="1" fill="none" stroke="${colour}" stroke-width="1"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${bar}</svg>`;
}
