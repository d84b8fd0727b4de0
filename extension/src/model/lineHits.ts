/**
 * Counting a source line's hits from the editor (`lineprobe.countLineHits`, PROTOCOL.md): which
 * lines the cursors name, and what to say of the count.
 */
import type { LineHits } from "./protocol";

/** `FILE:LINE` for each cursor's line (0-based as the editor numbers them), once each, in order. */
export function linesOfCursors(file: string, cursorLines: readonly number[]): string[] {
  return [...new Set(cursorLines)].sort((a, b) => a - b).map((line) => `${file}:${line + 1}`);
}

/** "linecount.c:19: 78,021 hits (13,003/s)" for each line, the file named by its last part. */
export function lineHitsSummary(counted: readonly LineHits[]): string {
  return counted
    .map((entry) => {
      const colon = entry.line.lastIndexOf(":");
      const file = entry.line.slice(0, colon).split("/").pop() ?? entry.line;
      const rate = Math.round(entry.per_second).toLocaleString("en-US");
      return `${file}${entry.line.slice(colon)}: ${entry.hits.toLocaleString("en-US")} hits (${rate}/s)`;
    })
    .join("; ");
}
