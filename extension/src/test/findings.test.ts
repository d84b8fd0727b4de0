import assert from "node:assert/strict";
import { test } from "node:test";
import { groupFindings, leakSummary, syscallSummary, type FindingEntry } from "../model/findings";

const entry = (over: Partial<FindingEntry>): FindingEntry => ({
  uri: "file:///w/server.c",
  file: "server.c",
  line: 0,
  severity: 1,
  code: "syscall-failure",
  message: "m",
  ...over,
});

test("findings are grouped by kind in the order of what needs action first, then by file and line", () => {
  const groups = groupFindings([
    entry({ code: "cpu-hot-line", uri: "file:///w/primes.c", file: "primes.c", line: 16, severity: 2 }),
    entry({ code: "leak-suspect", uri: "file:///w/b.cc", file: "b.cc", line: 9 }),
    entry({ code: "syscall-failure", line: 40 }),
    entry({ code: "syscall-failure", line: 12 }),
    entry({ code: "leak-suspect", uri: "file:///w/a.cc", file: "a.cc", line: 3 }),
    entry({ code: "something-new", line: 1 }),
  ]);
  assert.deepEqual(
    groups.map((g) => [g.label, g.count]),
    [
      ["Failing system calls", 2],
      ["Leak suspects", 2],
      ["CPU hot lines", 1],
      ["Other", 1],
    ],
  );
  assert.deepEqual(groups[0].files[0].entries.map((e) => e.line), [12, 40]);
  assert.deepEqual(groups[1].files.map((f) => f.file), ["a.cc", "b.cc"]);
});

test("no findings, no groups; a comparison's hotter and colder lines are one kind", () => {
  assert.deepEqual(groupFindings([]), []);
  const groups = groupFindings([entry({ code: "cpu-hotter" }), entry({ code: "cpu-colder", line: 3 })]);
  assert.deepEqual(groups.map((g) => [g.label, g.count]), [["Changes between captures", 2]]);
});

test("a system-call trace's summary says what failed most and how much I/O was slow", () => {
  const site = { path: "/w/server.c", line: 30, function: "load_config" };
  const text = syscallSummary(
    {
      ok: true,
      target: { pid: 7, exe: "/w/server" },
      duration_s: 5.02,
      target_exited: false,
      syscalls: [
        { name: "openat", count: 202054, errors: 202054 },
        { name: "write", count: 46, errors: 0 },
      ],
      failures: [{ syscall: "openat", path: "/etc/tracing-server-example.conf", errno: "ENOENT", count: 202054, site }],
      slow: [
        { syscall: "pwrite64", file: "/w/flush.data", count: 10, p99_us: 14000, site },
        { syscall: "write", file: "/w/log.data", count: 36, p99_us: 800, site },
      ],
      files: ["file:///w/server.c"],
    },
    1,
  );
  assert.equal(
    text,
    "202,100 calls in 5.0 s; 202,054 failed calls, most openat of /etc/tracing-server-example.conf with ENOENT; " +
      "1 slow I/O site (p99 at least 1 ms); shown on 1 file of the workspace",
  );
});

test("a leak trace's summary counts the suspects and what they hold, or says there were none", () => {
  const site = { path: "/w/wordcount.cc", line: 60, function: "main" };
  const base = { ok: true as const, target: { pid: 7, exe: "/w/wordcount" }, duration_s: 10, target_exited: false, files: [] };
  assert.equal(
    leakSummary({
      ...base,
      sites: [
        { site, outstanding_bytes: 300 * 1024, suspect: true },
        { site, outstanding_bytes: 114 * 1024, suspect: true },
        { site, outstanding_bytes: 64, suspect: false },
      ],
      files: ["file:///w/wordcount.cc", "file:///w/reader.h"],
    }),
    "2 leak suspects holding 414.0 KiB after 10.0 s; shown on 2 files of the workspace",
  );
  assert.equal(
    leakSummary({ ...base, sites: [{ site, outstanding_bytes: 64, suspect: false }] }),
    "no leak suspects (1 allocation site with memory outstanding) after 10.0 s; none on a file of the workspace",
  );
});
