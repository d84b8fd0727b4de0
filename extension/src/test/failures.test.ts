import assert from "node:assert/strict";
import { test } from "node:test";
import { checkedResult, clientError, failureMessage, warningMessage } from "../model/failures";
import { MessageGate } from "../model/messages";
import type { ProfileResult } from "../model/protocol";

test("missing privileges: the message says why and what to do, with the service's set-up and the launcher setting one click away", () => {
  const message = failureMessage({
    code: "no-privileges",
    message: "tracing needs root or CAP_BPF+CAP_PERFMON, and the launcher sudo is not installed",
    hint: "set lineprobe.launcher to a command that gains privileges without prompting",
  });
  assert.equal(message.severity, "error");
  assert.match(message.text, /CAP_BPF.*\. set lineprobe\.launcher/);
  assert.deepEqual(message.buttons.map((b) => b.action), ["setUpAgent", "openLauncherSetting", "showCapabilities"]);
});

test("every error code has at least one button", () => {
  for (const code of ["no-such-process", "permission-denied", "bcc-unavailable", "kernel-headers-missing", "busy", "compile-failed", "internal", "server-unavailable", "something-new"]) {
    assert.ok(failureMessage({ code, message: "m", hint: null }).buttons.length > 0, code);
  }
  assert.equal(failureMessage(clientError("EPIPE")).buttons[0].action, "restartServer");
});

test("warnings of a profile: no debug info offers build flags", () => {
  assert.equal(warningMessage([]), undefined);
  const message = warningMessage(["/w/build/primes-stripped has no debug information: lines cannot be shown"]);
  assert.ok(message);
  assert.equal(message.severity, "warning");
  assert.equal(message.buttons[0].action, "copyText");
  assert.match(message.buttons[0].text ?? "", /-g/);
});

test("server messages covered by a profile's result are not shown twice", () => {
  const gate = new MessageGate();
  assert.equal(gate.offer({ type: 3, message: "hello" }), true, "nothing in flight: shown at once");
  gate.begin();
  const failure: ProfileResult = { ok: false, error: { code: "no-such-process", message: "no process 42", hint: "pick another" } };
  assert.equal(gate.offer({ type: 1, message: "lineprobe: no process 42. pick another" }), false);
  assert.equal(gate.offer({ type: 2, message: "lineprobe: setting frequency must be a number" }), false);
  assert.deepEqual(gate.end(failure), [{ type: 2, message: "lineprobe: setting frequency must be a number" }]);
});

test("warnings held during a successful profile are dropped when the result carries them", () => {
  const gate = new MessageGate();
  gate.begin();
  gate.offer({ type: 2, message: "lineprobe: 3 samples lost" });
  const success: ProfileResult = {
    ok: true,
    target: { pid: 1, exe: "/x" },
    samples: 10,
    lost: 3,
    duration_s: 1,
    target_exited: false,
    warnings: ["3 samples lost"],
    files: [],
    top_lines: [],
    timings: {},
  };
  assert.deepEqual(gate.end(success), []);
});

test("an answer of another shape than a command's result is an internal failure, not trusted", () => {
  assert.deepEqual(checkedResult<{ ok: true; n: number }>({ ok: true, n: 3 }), { ok: true, n: 3 });
  const odd = checkedResult<{ ok: true }>([1, 2]);
  assert.equal(odd.ok, false);
  assert.ok(!odd.ok && odd.error.code === "internal" && odd.error.message.includes("[1,2]"));
  assert.equal(checkedResult<{ ok: true }>(null).ok, false);
});
