import assert from "node:assert/strict";
import { test } from "node:test";
import { lineHitsSummary, linesOfCursors } from "../model/lineHits";
import type { LineHits } from "../model/protocol";

test("each cursor names its line once, 1-based, in order", () => {
  assert.deepEqual(linesOfCursors("/w/a b.c", [18, 3, 18]), ["/w/a b.c:4", "/w/a b.c:19"]);
  assert.deepEqual(linesOfCursors("/w/a.c", []), []);
});

test("a count is said by the file's name, its line, its hits and its rate", () => {
  const entry = (line: string, hits: number, perSecond: number): LineHits => ({
    line,
    hits,
    per_second: perSecond,
    sites: 1,
    sources: [],
    uris: [],
    by_site: [],
  });
  assert.equal(
    lineHitsSummary([entry("/w/src/linecount.c:19", 78021, 13003.4), entry("primes.c:41", 0, 0)]),
    "linecount.c:19: 78,021 hits (13,003/s); primes.c:41: 0 hits (0/s)",
  );
});
