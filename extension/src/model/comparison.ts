/**
 * What the extension says of a comparison of two captures (`lineprobe.compareCaptures`): the
 * change of CPU time and the lines that moved most, beyond the sampler's luck.
 */
import type { CompareResult } from "./protocol";

type Compared = Extract<CompareResult, { ok: true }>;

/** CPU seconds as `1.23 s`, `45.6 ms` (per second of capture: `0.512 s/s`), as the CLI prints them. */
export function formatCost(value: number, unit: string, signed = false): string {
  const sign = signed && value > 0 ? "+" : "";
  if (unit === "s/s") {
    return `${sign}${value.toFixed(3)} s/s`;
  }
  const magnitude = Math.abs(value);
  if (magnitude >= 1 || magnitude === 0) {
    return `${sign}${value.toFixed(2)} s`;
  }
  if (magnitude >= 0.001) {
    return `${sign}${(value * 1000).toFixed(1)} ms`;
  }
  return `${sign}${(value * 1e6).toFixed(0)} us`;
}

/** One line: `CPU 4.20 s → 3.84 s (-8.4%); colder: primes.c:17 -441.0 ms; hotter: …`. */
export function comparisonSummary(result: Compared, movers = 2): string {
  const { before, after, unit } = result;
  const relative = before.cost > 0 ? ` (${(((after.cost - before.cost) * 100) / before.cost).toFixed(1)}%)` : "";
  const parts = [`CPU ${formatCost(before.cost, unit)} → ${formatCost(after.cost, unit)}${relative}`];
  const moved = result.lines.filter((line) => !line.within_noise && line.delta.self !== 0);
  for (const direction of ["colder", "hotter"] as const) {
    const lines = moved.filter((line) => (direction === "colder" ? line.delta.self < 0 : line.delta.self > 0)).slice(0, movers);
    if (lines.length > 0) {
      const named = lines.map((line) => `${line.path.split("/").pop()}:${line.line} ${formatCost(line.delta.self, unit, true)}`);
      parts.push(`${direction}: ${named.join(", ")}`);
    }
  }
  if (moved.length === 0) {
    parts.push("no line moved beyond the sampler's luck");
  }
  return parts.join("; ");
}
