import assert from "node:assert/strict";
import { test } from "node:test";
import { bucketCount, parseSeconds, rangeFromPixels, sliceRequest } from "../model/timeline";

test("the chart is as wide as the longest thread's row", () => {
  assert.equal(bucketCount([{ tid: 1, name: "a", samples: 3, counts: [1, 2] }, { tid: 2, name: "b", samples: 1, counts: [0, 0, 1] }]), 3);
  assert.equal(bucketCount([]), 0);
});

test("a drag covers the whole buckets under it, in either direction", () => {
  // 60 buckets of 100 ms on 600 px: 10 px a bucket.
  assert.deepEqual(rangeFromPixels(100, 205, 600, 60, 100), { startS: 1, endS: 2.1 });
  assert.deepEqual(rangeFromPixels(205, 100, 600, 60, 100), { startS: 1, endS: 2.1 });
  assert.deepEqual(rangeFromPixels(-50, 9000, 600, 60, 100), { startS: 0, endS: 6 });
  // A click (no movement) is one bucket.
  assert.deepEqual(rangeFromPixels(15, 15, 600, 60, 100), { startS: 0.1, endS: 0.2 });
});

test("typed bounds are seconds or empty", () => {
  assert.deepEqual(parseSeconds(" 1.5 "), { ok: true, value: 1.5 });
  assert.deepEqual(parseSeconds(""), { ok: true, value: undefined });
  assert.equal(parseSeconds("soon").ok, false);
  assert.equal(parseSeconds("-1").ok, false);
});

test("the slice request names threads only when some are left out", () => {
  assert.deepEqual(sliceRequest([2, 1], [1, 2], 1, 2), { startS: 1, endS: 2 });
  assert.deepEqual(sliceRequest([2], [1, 2], undefined, 3), { threads: [2], endS: 3 });
  assert.deepEqual(sliceRequest([1, 2], [1, 2], undefined, undefined), {});
});
