/**
 * The timeline panel's arithmetic, kept apart from the DOM so that it is tested: which seconds a
 * drag across the chart covers, what a typed range means, and the request that slices the profile.
 */
import type { SliceArguments, TimelineThread } from "./protocol";

/** How many buckets the longest thread's row has: the chart's width in buckets. */
export function bucketCount(threads: TimelineThread[]): number {
  return threads.reduce((most, thread) => Math.max(most, thread.counts.length), 0);
}

/** The range of whole buckets between two x positions (any order) on a chart `width` pixels
 * wide showing `buckets` buckets of `bucketMs`, in seconds from the start of the profile. */
export function rangeFromPixels(
  fromX: number,
  toX: number,
  width: number,
  buckets: number,
  bucketMs: number,
): { startS: number; endS: number } {
  const clamp = (x: number): number => Math.min(Math.max(x, 0), width);
  const left = Math.min(clamp(fromX), clamp(toX));
  const right = Math.max(clamp(fromX), clamp(toX));
  const first = Math.floor((left / width) * buckets);
  const last = Math.max(first + 1, Math.ceil((right / width) * buckets));
  return { startS: round((first * bucketMs) / 1000), endS: round((Math.min(last, buckets) * bucketMs) / 1000) };
}

/** A typed bound: seconds, or empty for an open end; anything else is refused with a reason. */
export function parseSeconds(text: string): { ok: true; value: number | undefined } | { ok: false; reason: string } {
  const trimmed = text.trim();
  if (trimmed === "") {
    return { ok: true, value: undefined };
  }
  const value = Number(trimmed);
  if (!Number.isFinite(value) || value < 0) {
    return { ok: false, reason: `"${trimmed}" is not a number of seconds` };
  }
  return { ok: true, value };
}

/** The `lineprobe.sliceProfile` request for the threads ticked (all ticked: no thread filter)
 * and a range (open ends left out). */
export function sliceRequest(
  ticked: number[],
  allThreads: number[],
  startS: number | undefined,
  endS: number | undefined,
): SliceArguments {
  const request: SliceArguments = {};
  if (ticked.length < allThreads.length) {
    request.threads = [...ticked].sort((a, b) => a - b);
  }
  if (startS !== undefined) {
    request.startS = startS;
  }
  if (endS !== undefined) {
    request.endS = endS;
  }
  return request;
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
