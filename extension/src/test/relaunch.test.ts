import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { processItems, shellQuoted } from "../model/processes";
import { endProcess, isAlive, relaunchConsent, relaunchOf, startTimeOf } from "../model/relaunch";

const plainNode = {
  pid: 50,
  exe: "/usr/bin/node",
  commandLine: ["node", "svc.js", "8080"],
  inWorkspace: true,
  runtimeHint: "node has no --perf-prof",
  restartCommand: ["node", "--perf-prof", "--perf-basic-prof", "svc.js", "8080"],
  cwd: "/srv/app",
  startTime: 123456,
};

test("a node without the flags relaunches with them, where it ran, after it has ended", () => {
  const [item] = processItems([plainNode]);
  const relaunch = relaunchOf(item);
  const argv = ["/usr/bin/node", "--perf-prof", "--perf-basic-prof", "svc.js", "8080"];
  assert.deepEqual(relaunch, { pid: 50, startTime: 123456, name: "node", argv, cwd: "/srv/app" }, "its own executable, not PATH's node");
  assert.ok(relaunch);
  const consent = relaunchConsent(relaunch, shellQuoted(relaunch.argv));
  assert.match(consent, /^End node \(PID 50\) and run it again in a terminal, in \/srv\/app:/);
  assert.match(consent, /\/usr\/bin\/node --perf-prof --perf-basic-prof svc\.js 8080/);
  assert.match(consent, /this editor's environment, not the one it ran with/);
});

test("nothing to relaunch without the flags to add, the directory it ran in, or when it started", () => {
  const [noCwd] = processItems([{ ...plainNode, cwd: null }]);
  assert.equal(relaunchOf(noCwd), undefined);
  const [noStart] = processItems([{ ...plainNode, startTime: null }]);
  assert.equal(relaunchOf(noStart), undefined);
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

test("a process's start time tells it from a later process under its PID", async () => {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  assert.ok(child.pid !== undefined);
  const started = startTimeOf(child.pid);
  assert.ok(started !== undefined && started > 0 && started >= (startTimeOf(process.pid) ?? Infinity), `${started}`);
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
  assert.equal(startTimeOf(child.pid), undefined, "gone: no start time");
});
