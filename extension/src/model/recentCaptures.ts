/**
 * The captures a workspace opened lately, most recent first: what "Open Recent Capture…" offers.
 * Kept in the workspace's state (a list of absolute paths), so each project has its own.
 */
export const RECENT_CAPTURES_KEY = "lineprobe.recentCaptures";
export const MAX_RECENT_CAPTURES = 10;

/** `recent` with `path` first, no duplicates, at most `max` entries. */
export function remember(recent: readonly string[], path: string, max = MAX_RECENT_CAPTURES): string[] {
  return [path, ...recent.filter((entry) => entry !== path)].slice(0, max);
}

/** What the custom editor says of an opened capture's result, line by line. */
export function captureSummary(result: Record<string, unknown>): string[] {
  const lines: string[] = [];
  const target = result.target as { pid?: number; exe?: string } | undefined;
  if (target?.exe) {
    lines.push(`${target.exe} (pid ${target.pid ?? "?"})`);
  }
  if (typeof result.samples === "number") {
    lines.push(`${result.samples} ${typeof result.unit === "string" ? result.unit : "samples"}`);
  }
  const top = result.top_lines as { path: string; line: number; function?: string; self_percent: number }[] | undefined;
  for (const entry of (top ?? []).slice(0, 5)) {
    lines.push(`${entry.self_percent.toFixed(1)}% ${entry.function ?? "?"} at ${entry.path}:${entry.line}`);
  }
  const warnings = result.warnings as string[] | undefined;
  for (const warning of warnings ?? []) {
    lines.push(`warning: ${warning}`);
  }
  return lines;
}
