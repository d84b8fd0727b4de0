import assert from "node:assert/strict";
import { test } from "node:test";
import { systemHistogram, systemTables } from "../model/systemTables";

const files = {
  files: [
    { pid: 7, process: "mariadbd", file: "/d/ib_logfile0", reads: 0, read_bytes: 0, writes: 3, write_bytes: 12288, syncs: 3, time_us: 1500, max_us: 900 },
  ],
  latency: [
    { pid: 7, file: "/d/ib_logfile0", call: "pwrite64", latency_us: [{ low: 16, high: 31, count: 3 }] },
    { pid: 7, file: "/d/ib_logfile0", call: "fdatasync", latency_us: [{ low: 32, high: 63, count: 2 }, { low: 64, high: 127, count: 1 }] },
  ],
  slow: [{ offset_s: 0.5, comm: "mariadbd", tid: 8, call: "fdatasync", result: 0, latency_ms: 12.5, file: "/d/ib_logfile0" }],
  slow_ms: 10,
};

test("the files view's tables: by file and the slow calls, numbers formatted", () => {
  const [byFile, slow] = systemTables("files", files);
  assert.equal(byFile.rows[0][2], "/d/ib_logfile0");
  assert.deepEqual(byFile.rows[0].slice(5), ["3", "12", "3", "1.5", "0.9"]);
  assert.equal(slow.title, "Calls slower than 10 ms (fileslower)");
  assert.deepEqual(slow.rows[0], ["0.500", "mariadbd", "8", "fdatasync", "0", "12.50", "/d/ib_logfile0"]);
});

test("the histogram is the busiest file's sync latency", () => {
  const histogram = systemHistogram("files", files);
  assert.deepEqual(histogram, { title: "/d/ib_logfile0: fdatasync latency (µs)", labels: ["32–63", "64–127"], counts: [2, 1] });
  assert.equal(systemHistogram("pagecache", { files: [] }), undefined);
});

test("an unknown view or a missing table draws nothing rather than failing", () => {
  assert.deepEqual(systemTables("cpu", {}), []);
  assert.deepEqual(systemTables("disk", {})[0].rows, []);
});

test("the disk view lists the slowest requests first, as biosnoop's lines", () => {
  const requests = [
    { offset_s: 0.1, comm: "dd", pid: 5, device: "vda", op: "W", sector: 8, bytes: 4096, latency_ms: 0.02 },
    { offset_s: 0.2, comm: "kworker/0:1H", pid: 44, device: "vda", op: "F", sector: 0, bytes: 0, latency_ms: 1.5 },
  ];
  const [, slowest] = systemTables("disk", { processes: [], requests });
  assert.deepEqual(slowest.rows.map((r) => r[1]), ["kworker/0:1H", "dd"]);
  assert.equal(slowest.rows[0][7], "1.500");
});
