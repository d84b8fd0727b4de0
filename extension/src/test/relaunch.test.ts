import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { processItems } from "../model/processes";
import { endProcess, isAlive, relaunchConsent, relaunchOf } from "../model/relaunch";

const plainNode = {
  pid: 50,
  exe: "/usr/bin/node",
  commandLine: ["node", "svc.js", "8080"],
  inWorkspace: true,
  runtimeHint: "node has no --perf-prof",
  restartCommand: ["node", "--perf-prof", "--perf-basic-prof", "svc.js", "8080"],
  cwd: "/srv/app",
};

test("a node without the flags relaunches with them, where it ran, after it has ended", () => {
  const [item] = processItems([plainNode]);
  const relaunch = relaunchOf(item);
  assert.deepEqual(relaunch, { pid: 50, name: "node", argv: plainNode.restartCommand, cwd: "/srv/app" });
  const consent = relaunchConsent(relaunch, item.restartCommand ?? "");
  assert.match(consent, /^End node \(PID 50\) and run it again in a terminal, in \/srv\/app:/);
  assert.match(consent, /node --perf-prof --perf-basic-prof svc\.js 8080/);
  assert.match(consent, /this editor's environment, not the one it ran with/);
});

test("nothing to relaunch without the flags to add or the directory it ran in", () => {
  const [noCwd] = processItems([{ ...plainNode, cwd: null }]);
  assert.equal(relaunchOf(noCwd), undefined);
  const [flagged] = processItems([{ ...plainNode, runtimeHint: null, restartCommand: null }]);
  assert.equal(relaunchOf(flagged), undefined);
});

test("ending waits until the process is gone, and gives up after the wait", async () => {
  const sent: string[] = [];
  let polls = 0;
  const ended = await endProcess(7, (pid, signal) => sent.push(`${pid} ${signal}`), () => ++polls < 3, 1000, 1);
  assert.equal(ended, true);
  assert.deepEqual(sent, ["7 SIGTERM"]);
  assert.equal(await endProcess(7, () => undefined, () => true, 5, 1), false, "still there after the wait");
  const gone = Object.assign(new Error("kill ESRCH"), { code: "ESRCH" });
  assert.equal(await endProcess(7, () => { throw gone; }, () => true), true, "already gone counts as ended");
  const refused = Object.assign(new Error("kill EPERM"), { code: "EPERM" });
  await assert.rejects(endProcess(7, () => { throw refused; }, () => true), /EPERM/);
});

test("a real process ends on SIGTERM and is then no longer alive", async () => {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  assert.ok(child.pid !== undefined && isAlive(child.pid));
  const pid = child.pid;
  assert.equal(await endProcess(pid, (p, s) => process.kill(p, s), isAlive), true);
  assert.equal(isAlive(pid), false);
});
