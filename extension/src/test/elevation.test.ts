import assert from "node:assert/strict";
import { test } from "node:test";
import { elevatedArgv, runElevated, SUDO_PROMPT, type ElevationPrompts } from "../model/elevation";

/** Behaves as `sudo -S -p PROMPT -- echo set up` does for a user whose password is "right": three
 * tries, "Sorry, try again." before each new prompt, the command's output once it is accepted. */
const FAKE_SUDO = `
for try in 1 2 3; do
  [ "$try" = 1 ] || printf 'Sorry, try again.\\n' >&2
  printf '%s' "$1" >&2
  IFS= read -r answer || exit 1
  if [ "$answer" = right ]; then echo "set up"; echo "as root" >&2; exit 0; fi
done
echo "sudo: 3 incorrect password attempts" >&2
exit 1`;

function fakeSudo(): string[] {
  return ["sh", "-c", FAKE_SUDO, "fake-sudo", SUDO_PROMPT];
}

function answering(answers: (string | undefined)[]): ElevationPrompts & { asked: boolean[]; lines: string[] } {
  const asked: boolean[] = [];
  const lines: string[] = [];
  return {
    asked,
    lines,
    password: async (retry) => {
      asked.push(retry);
      return answers.shift();
    },
    output: (line) => lines.push(line),
  };
}

test("sudo reads the password from stdin after lineprobe's prompt; pkexec takes the command as is", () => {
  assert.deepEqual(elevatedArgv("sudo", ["/opt/lp/bin/lineprobe", "setup-agent"]), [
    "sudo",
    "-S",
    "-p",
    SUDO_PROMPT,
    "--",
    "/opt/lp/bin/lineprobe",
    "setup-agent",
  ]);
  assert.deepEqual(elevatedArgv("pkexec", ["/opt/lp/bin/lineprobe", "setup-agent"]), ["pkexec", "/opt/lp/bin/lineprobe", "setup-agent"]);
});

test("a wrong password is asked again as a retry, the right one runs the command, its output kept", async () => {
  const prompts = answering(["wrong", "right"]);
  const outcome = await runElevated("sudo", fakeSudo(), prompts);
  assert.deepEqual(outcome, { outcome: "done" });
  assert.deepEqual(prompts.asked, [false, true]);
  // stdout and stderr are two pipes: which of the command's two lines is read first is the scheduler's.
  assert.equal(prompts.lines[0], "Sorry, try again.");
  assert.deepEqual(prompts.lines.slice(1).sort(), ["as root", "set up"]);
  assert.ok(!prompts.lines.some((line) => line.includes("right") || line.includes(SUDO_PROMPT)), "the password or prompt was shown");
});

test("cancelling the password box ends sudo: cancelled, not failed", async () => {
  const outcome = await runElevated("sudo", fakeSudo(), answering([undefined]));
  assert.deepEqual(outcome, { outcome: "cancelled" });
});

test("three wrong passwords fail with sudo's own words", async () => {
  const outcome = await runElevated("sudo", fakeSudo(), answering(["a", "b", "c"]));
  assert.equal(outcome.outcome, "failed");
  assert.match(outcome.outcome === "failed" ? outcome.message : "", /3 incorrect password attempts/);
});

test("pkexec's dismissed dialog is a cancel, its missing agent an unavailable elevator, a missing program too", async () => {
  const dismissed = await runElevated("pkexec", ["sh", "-c", "exit 126"], answering([]));
  assert.deepEqual(dismissed, { outcome: "cancelled" });
  const noAgent = await runElevated("pkexec", ["sh", "-c", "echo 'Error executing command as another user: No authentication agent found.' >&2; exit 127"], answering([]));
  assert.deepEqual(noAgent, { outcome: "unavailable", reason: "Error executing command as another user: No authentication agent found." });
  const missing = await runElevated("pkexec", ["/nonexistent/pkexec"], answering([]));
  assert.equal(missing.outcome, "unavailable");
});

test("the user's cancel of the whole step ends the running command", async () => {
  const abort = new AbortController();
  const prompts = { ...answering([]), signal: abort.signal };
  const running = runElevated("sudo", ["sh", "-c", "echo started; sleep 30"], prompts);
  setTimeout(() => abort.abort(), 200);
  assert.deepEqual(await running, { outcome: "cancelled" });
});
