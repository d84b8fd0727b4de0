/**
 * The system panel's live chart: rates between the running totals that `lineprobe/systemLive`
 * carries about once a second (bytes, time in calls, pages since the window opened), per
 * series, in a unit a person reads (KiB/s, ms of calls per second, pages/s).
 *
 * Pure: the webview plots what this computes, and the tests check it without a browser.
 */

export type SystemViewName = "disk" | "files" | "pagecache" | "irqs";

export interface SystemTotal {
  name: string;
  value: number;
}

export interface SystemLiveReport {
  elapsedS: number;
  unit: string;
  totals: SystemTotal[];
}

export interface RatePoint {
  /** Seconds since the window opened, at the end of the interval. */
  t: number;
  rates: Record<string, number>;
}

/** The chart's axis label and the factor from the totals' unit per second to it. */
export function rateUnit(unit: string): { label: string; scale: number } {
  switch (unit) {
    case "bytes":
      return { label: "KiB/s", scale: 1 / 1024 };
    case "ns":
      return { label: "ms per second", scale: 1e-6 };
    default:
      return { label: `${unit}/s`, scale: 1 };
  }
}

export class RateSeries {
  private lastT = 0;
  private last = new Map<string, number>();
  readonly points: RatePoint[] = [];
  unit = "";

  /** Adds one report: each series' rate over the interval since the last one (totals start at 0
   * when the window opens). A report out of order, or at the same time, is ignored. */
  add(report: SystemLiveReport): RatePoint | undefined {
    const dt = report.elapsedS - this.lastT;
    if (dt <= 0) {
      return undefined;
    }
    this.unit = report.unit;
    const { scale } = rateUnit(report.unit);
    const rates: Record<string, number> = {};
    const now = new Map<string, number>();
    for (const { name, value } of report.totals) {
      now.set(name, value);
      rates[name] = (Math.max(0, value - (this.last.get(name) ?? 0)) / dt) * scale;
    }
    const point = { t: report.elapsedS, rates };
    this.points.push(point);
    this.lastT = report.elapsedS;
    this.last = now;
    return point;
  }

  /** Every series seen, in the order they first came (the chart's lines keep their colours). */
  names(): string[] {
    const seen: string[] = [];
    for (const point of this.points) {
      for (const name of Object.keys(point.rates)) {
        if (!seen.includes(name)) {
          seen.push(name);
        }
      }
    }
    return seen;
  }
}
