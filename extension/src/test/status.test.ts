import assert from "node:assert/strict";
import { test } from "node:test";
import { statusView } from "../model/status";

test("after a profile the status shows samples, loss and scope", () => {
  const clean = statusView({ kind: "done", pid: 7, exe: "/w/primes", samples: 396, lost: 0, warnings: 0, targetExited: false });
  assert.equal(clean.text, "$(flame) lineprobe: 396 samples");
  assert.equal(clean.background, undefined);
  assert.equal(clean.command, "lineprobe.showFlameGraph");

  const lossy = statusView({ kind: "done", pid: 7, exe: "/w/primes", samples: 396, lost: 12, warnings: 1, targetExited: true, scope: ["main", "is_prime"] });
  assert.equal(lossy.text, "$(warning) lineprobe: 396 samples, 12 lost, scoped to is_prime");
  assert.equal(lossy.background, "statusBarItem.warningBackground");
  assert.match(lossy.tooltip, /12 samples were lost/);
  assert.match(lossy.tooltip, /exited/);
});

test("while sampling, clicking the status stops; a stopped server offers a restart", () => {
  assert.equal(statusView({ kind: "profiling", what: "PID 7", durationMs: 2000 }).command, "lineprobe.stopProfile");
  const stopped = statusView({ kind: "serverStopped", reason: "ENOENT" });
  assert.equal(stopped.command, "lineprobe.restartServer");
  assert.equal(stopped.background, "statusBarItem.errorBackground");
});

test("idle with an attached process names it", () => {
  assert.equal(statusView({ kind: "idle", target: { pid: 9, exe: "/w/build/hotloop" } }).text, "$(flame) lineprobe: hotloop (9)");
  assert.equal(statusView({ kind: "idle" }).command, "lineprobe.attach");
});
