import assert from "node:assert/strict";
import { test } from "node:test";
import { captureSummary, remember } from "../model/recentCaptures";

test("the latest capture comes first, once, and the list is bounded", () => {
  assert.deepEqual(remember(["/a", "/b"], "/b"), ["/b", "/a"]);
  assert.deepEqual(remember([], "/a"), ["/a"]);
  assert.deepEqual(remember(["/1", "/2", "/3"], "/4", 3), ["/4", "/1", "/2"]);
});

test("a capture's summary names its target, samples, hottest lines and warnings", () => {
  const lines = captureSummary({
    ok: true,
    target: { pid: 42, exe: "/w/primes" },
    samples: 396,
    unit: "samples",
    top_lines: [{ path: "/w/primes.c", line: 17, function: "is_divisible", self_percent: 53.51 }],
    warnings: ["the command exited after 0.75 s"],
  });
  assert.deepEqual(lines, [
    "/w/primes (pid 42)",
    "396 samples",
    "53.5% is_divisible at /w/primes.c:17",
    "warning: the command exited after 0.75 s",
  ]);
  assert.deepEqual(captureSummary({ ok: true }), []);
});
