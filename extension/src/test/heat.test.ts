import assert from "node:assert/strict";
import { test } from "node:test";
import { backgroundAlpha, decorationKey, diffMarks, groupMarks, gutterSvg, heatMarks, LEVELS, levelOf, marksOf, paletteOf, rulerAlpha } from "../model/heat";

test("levels are proportional to the share and never zero for a sampled line", () => {
  assert.equal(levelOf(0), 0);
  assert.equal(levelOf(0.01), 1);
  assert.equal(levelOf(5), 1);
  assert.equal(levelOf(5.01), 2);
  assert.equal(levelOf(53.5), 11);
  assert.equal(levelOf(100), LEVELS);
  assert.equal(levelOf(250), LEVELS);
});

test("a line that ran is marked by its self share, a caller by its total share", () => {
  const marks = heatMarks([
    { line: 16, self_percent: 53.5, total_percent: 53.5 },
    { line: 24, self_percent: 0, total_percent: 90 },
    { line: 30, self_percent: 0.01, total_percent: 0.02 },
  ]);
  assert.deepEqual(marks, [
    { line: 16, kind: "self", level: 11, percent: 53.5 },
    { line: 24, kind: "total", level: 18, percent: 90 },
  ]);
});

test("marks are grouped per decoration type", () => {
  const groups = groupMarks(
    heatMarks([
      { line: 1, self_percent: 50, total_percent: 50 },
      { line: 2, self_percent: 49, total_percent: 60 },
      { line: 3, self_percent: 2, total_percent: 2 },
    ]),
  );
  assert.deepEqual([...groups.keys()].sort(), ["self-01", "self-10"]);
  assert.deepEqual(groups.get("self-10")?.map((m) => m.line), [1, 2]);
});

test("hotter levels are stronger, and self heat is stronger than total heat", () => {
  for (let level = 2; level <= LEVELS; level++) {
    assert.ok(backgroundAlpha("self", level) > backgroundAlpha("self", level - 1));
    assert.ok(rulerAlpha("self", level) > rulerAlpha("self", level - 1));
    assert.ok(backgroundAlpha("self", level) > backgroundAlpha("total", level));
  }
  // Text must stay readable on top of the hottest background.
  assert.ok(backgroundAlpha("self", LEVELS) <= 0.4);
});

test("gutter bars grow with the level", () => {
  const width = (svg: string): number => Number(/<rect[^>]* width="([\d.]+)"/.exec(svg)?.[1]);
  assert.ok(width(gutterSvg("self", 1)) < width(gutterSvg("self", 10)));
  assert.ok(width(gutterSvg("self", 10)) < width(gutterSvg("self", LEVELS)));
  assert.match(gutterSvg("total", 5), /fill="none"/);
});

test("waiting (off-CPU nanoseconds) is drawn in a palette of its own", () => {
  assert.equal(paletteOf("ns"), "wait");
  assert.equal(paletteOf("samples"), "cpu");
  assert.equal(paletteOf(undefined), "cpu");
  assert.equal(decorationKey("self", 3), "self-03");
  assert.equal(decorationKey("self", 3, "wait"), "wait-self-03");
  assert.notEqual(gutterSvg("self", 5, "wait"), gutterSvg("self", 5));
  assert.deepEqual([...groupMarks(heatMarks([{ line: 1, self_percent: 50, total_percent: 50 }]), "wait").keys()], ["wait-self-10"]);
});

test("a comparison marks the lines that moved beyond noise, hotter or colder, against the largest change", () => {
  const params = {
    mode: "diff",
    scale_percent: 10,
    lines: [
      { line: 16, self_percent: 55, total_percent: 55, change_percent: -10, within_noise: false },
      { line: 24, self_percent: 13, total_percent: 90, change_percent: 2.5, within_noise: false },
      { line: 30, self_percent: 7, total_percent: 7, change_percent: -1, within_noise: true },
      { line: 31, self_percent: 0, total_percent: 7, change_percent: 0, within_noise: false },
    ],
  };
  assert.equal(paletteOf("samples", "diff"), "diff");
  assert.deepEqual(marksOf(params), [
    { line: 16, kind: "colder", level: LEVELS, percent: -10 },
    { line: 24, kind: "hotter", level: 5, percent: 2.5 },
  ]);
  assert.deepEqual([...groupMarks(marksOf(params), "diff").keys()].sort(), ["diff-colder-20", "diff-hotter-05"]);
  assert.deepEqual(diffMarks(params.lines, 0), []); // nothing beyond noise: no heat at all
  // A profile's heat is unchanged by the comparison's fields being absent.
  assert.deepEqual(marksOf({ lines: [{ line: 1, self_percent: 50, total_percent: 50 }] }), heatMarks([{ line: 1, self_percent: 50, total_percent: 50 }]));
  assert.match(gutterSvg("colder", 3, "diff"), /fill="#3b6fe0"/);
  assert.throws(() => gutterSvg("hotter", 3, "cpu"), /no hotter lines/);
});
