import assert from "node:assert/strict";
import { test } from "node:test";
import { comparisonSummary, formatCost } from "../model/comparison";

test("costs read as the CLI prints them", () => {
  assert.equal(formatCost(2.5612, "s"), "2.56 s");
  assert.equal(formatCost(-0.441, "s", true), "-441.0 ms");
  assert.equal(formatCost(0.0682, "s", true), "+68.2 ms");
  assert.equal(formatCost(0.00004, "s"), "40 us");
  assert.equal(formatCost(0.5123, "s/s"), "0.512 s/s");
});

test("the summary gives the CPU time's change and the lines that moved beyond noise, colder first", () => {
  const result = {
    ok: true as const,
    unit: "s",
    before: { cost: 4.2, target: { exe: "/w/primes-wide" } },
    after: { cost: 3.84, target: { exe: "/w/primes" } },
    lines: [
      { path: "/w/primes.c", line: 17, function: "is_divisible", delta: { self: -0.441 }, within_noise: false },
      { path: "/w/primes.c", line: 25, function: "is_prime", delta: { self: 0.068 }, within_noise: false },
      { path: "/w/primes.c", line: 16, function: "is_divisible", delta: { self: 0.002 }, within_noise: true },
    ],
    files: [],
    warnings: [],
  };
  assert.equal(comparisonSummary(result), "CPU 4.20 s → 3.84 s (-8.6%); colder: primes.c:17 -441.0 ms; hotter: primes.c:25 +68.0 ms");
  assert.equal(
    comparisonSummary({ ...result, lines: [result.lines[2]] }),
    "CPU 4.20 s → 3.84 s (-8.6%); no line moved beyond the sampler's luck",
  );
});
