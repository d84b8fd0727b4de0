import assert from "node:assert/strict";
import { test } from "node:test";
import { jvmLiveLines, jvmStatusText, liveLines, siteMarks, tracepointLiveLines } from "../model/probeLive";
import type { JvmLiveParams, ProbeLiveParams, ProbeSite } from "../model/protocol";

const site = (line: number | null, hits: number, perS: number, uri: string | null = "file:///w/probes.c"): ProbeSite => ({
  binary: "/w/build/probes",
  offset: 0x1280 + (line ?? 0),
  path: uri ? "/w/probes.c" : null,
  line,
  function: "main",
  uri,
  hits,
  per_s: perS,
});

test("a site's mark is on its line (0-based) with its rate", () => {
  const marks = siteMarks("lineprobe_demo:request", [site(39, 2_000_000, 1_000_000)], true);
  assert.deepEqual(marks.get("file:///w/probes.c"), [
    {
      line: 38,
      text: "lineprobe_demo:request: 1,000,000 hits/s",
      hover: "USDT probe lineprobe_demo:request: 2,000,000 hits so far (1,000,000/s)",
    },
  ]);
});

test("sites on one line are summed; sites without a file on disk get no mark", () => {
  const marks = siteMarks("p:q", [site(10, 5, 2.5), site(10, 7, 3.5), site(null, 9, 1), site(12, 1, 1, null)], false);
  assert.equal(marks.size, 1);
  const [mark] = marks.get("file:///w/probes.c") ?? [];
  assert.equal(mark.line, 9);
  assert.equal(mark.text, "p:q: 6 hits/s");
  assert.match(mark.hover, /12 hits in the last run at 2 sites on this line/);
});

test("a trace's report lists its hits, what was not shown, and where the probe fired", () => {
  const params: ProbeLiveParams = {
    probe: "lineprobe_demo:slow",
    pid: 42,
    mode: "trace",
    elapsedS: 1.5,
    events: 3000,
    perS: 2400,
    sites: [site(43, 3000, 2400), site(null, 1, 1, null)],
    groups: [],
    hits: [{ t: 0.5, tid: 42, values: [10] }],
    hitsNotShown: 1234,
  };
  assert.deepEqual(liveLines(params), [
    "[1.5 s] lineprobe_demo:slow in PID 42: 3,000 hits (2,400/s)",
    "  0.500000  tid 42  10",
    "  … 1,234 more hits since the last report (not shown here)",
    "  at /w/probes.c:43: 3,000 hits (2,400/s)",
    "  at /w/build/probes +0x1280: 1 hits (1/s)",
  ]);
});

test("a count's report lists its largest groups", () => {
  const params: ProbeLiveParams = {
    probe: "hotspot:method__entry",
    pid: 7,
    mode: "count",
    elapsedS: 2,
    events: 10,
    perS: 5,
    sites: [],
    groups: [
      { count: 8, perS: 4, values: ["App", "isDivisible"] },
      { count: 2, perS: 1, values: ["App", "main"] },
    ],
    hits: [],
    hitsNotShown: 0,
  };
  const lines = liveLines(params, 1);
  assert.equal(lines.length, 2);
  assert.match(lines[1], /^ +8 +4\/s  App  isDivisible$/);
});

test("a watched JVM's status names its GCs, the last pause and its classes", () => {
  const params: JvmLiveParams = {
    pid: 9,
    elapsedS: 2,
    gcCount: 12,
    classesLoaded: 1204,
    newGcs: [
      { t: 1.5, durationMs: 3.14159, full: false },
      { t: 1.75, durationMs: 12.5, full: true },
    ],
    newClasses: ["a.B", "c.D", "e.F"],
  };
  assert.equal(jvmStatusText(params, 12.5), "JVM 9: 12 GCs, last 12.5 ms · 1,204 classes loaded");
  assert.equal(jvmStatusText({ ...params, gcCount: 1 }, undefined), "JVM 9: 1 GC · 1,204 classes loaded");
  assert.deepEqual(jvmLiveLines(params, 2), [
    "[2.0 s] JVM 9: 12 GC pauses, 1,204 classes loaded",
    "  loaded a.B",
    "  loaded c.D",
    "  … and 1 more classes",
    "  GC at 1.500 s: 3.14 ms pause (young/mixed)",
    "  GC at 1.750 s: 12.50 ms pause (full)",
  ]);
});

test("a tracepoint's report lists its records as tracefs words them", () => {
  const lines = tracepointLiveLines({
    tracepoint: "sched:sched_switch",
    pid: 5,
    elapsedS: 1,
    events: 1200,
    perS: 1200,
    records: [{ t: 0.25, tid: 5, cpu: 1, text: "prev_comm=naps prev_pid=5 prev_state=1" }],
    notShown: 1199,
  });
  assert.deepEqual(lines, [
    "[1.0 s] sched:sched_switch in PID 5: 1,200 hits (1,200/s)",
    "  0.250000  tid 5  cpu 1  prev_comm=naps prev_pid=5 prev_state=1",
    "  … 1,199 more records since the last report (not shown here)",
  ]);
});
