import assert from "node:assert/strict";
import { test } from "node:test";
import { RateSeries, rateUnit } from "../model/systemRates";

test("rates are the totals' differences per second, from zero at the window's start", () => {
  const series = new RateSeries();
  series.add({ elapsedS: 1, unit: "bytes", totals: [{ name: "mariadbd 7", value: 2048 }] });
  series.add({ elapsedS: 3, unit: "bytes", totals: [{ name: "mariadbd 7", value: 10240 }, { name: "dd 9", value: 1024 }] });
  assert.deepEqual(series.points, [
    { t: 1, rates: { "mariadbd 7": 2 } },
    { t: 3, rates: { "mariadbd 7": 4, "dd 9": 0.5 } },
  ]);
  assert.deepEqual(series.names(), ["mariadbd 7", "dd 9"]);
});

test("time in calls is charted in milliseconds per second", () => {
  const series = new RateSeries();
  series.add({ elapsedS: 0.5, unit: "ns", totals: [{ name: "f", value: 250_000_000 }] });
  assert.equal(series.points[0].rates.f, 500);
  assert.equal(rateUnit("ns").label, "ms per second");
  assert.equal(rateUnit("pages").label, "pages/s");
});

test("a report at the same time or earlier changes nothing; a total never goes below the last", () => {
  const series = new RateSeries();
  series.add({ elapsedS: 1, unit: "pages", totals: [{ name: "added", value: 10 }] });
  assert.equal(series.add({ elapsedS: 1, unit: "pages", totals: [{ name: "added", value: 99 }] }), undefined);
  // A series that dropped out of the largest few comes back with a smaller total: no negative rate.
  series.add({ elapsedS: 2, unit: "pages", totals: [{ name: "added", value: 5 }] });
  assert.deepEqual(series.points.map((p) => p.rates.added), [10, 0]);
});
