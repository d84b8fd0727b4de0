import assert from "node:assert/strict";
import { test } from "node:test";
import { processItems, splitCommandLine } from "../model/processes";

const processes = [
  { pid: 30, exe: "/usr/bin/zsh", commandLine: ["zsh"], inWorkspace: false },
  { pid: 20, exe: "/w/build/primes", commandLine: ["./build/primes", "200000", "0"], inWorkspace: true },
  { pid: 10, exe: "/usr/bin/bash", commandLine: ["bash", "-c", "echo hi there"], inWorkspace: false },
  { pid: 40, exe: "/w/.venv/bin/python3", commandLine: ["python3", "-m", "lineprobe.cli", "serve"], inWorkspace: true },
];

test("workspace processes come first, our own server last", () => {
  const items = processItems(processes, new Set([40]));
  assert.deepEqual(items.map((i) => i.pid), [20, 10, 30, 40]);
});

test("items show the executable, the PID and the command line", () => {
  const [primes, bash] = processItems(processes, new Set([40]));
  assert.equal(primes.label, "primes");
  assert.equal(primes.description, "PID 20 · workspace");
  assert.equal(primes.detail, "./build/primes 200000 0");
  assert.equal(bash.detail, 'bash -c "echo hi there"');
});

test("a node that would show no source lines says so, with its command line with the flags", () => {
  const node = {
    pid: 50,
    exe: "/usr/bin/node",
    commandLine: ["node", "svc.js"],
    inWorkspace: true,
    runtimeHint: "node has no --perf-prof: its JavaScript would be [unknown]; restart it with flags for lines",
    restartCommand: ["node", "--perf-prof", "--interpreted-frames-native-stack", "svc.js"],
  };
  const [item] = processItems([node]);
  assert.equal(item.description, "PID 50 · workspace · $(warning) no source lines");
  assert.equal(item.runtimeHint, node.runtimeHint);
  assert.equal(item.restartCommand, "node --perf-prof --interpreted-frames-native-stack svc.js");
  const [primes] = processItems(processes.slice(1, 2));
  assert.equal(primes.runtimeHint, undefined);
});

test("command lines split like a shell, without expansion", () => {
  assert.deepEqual(splitCommandLine("./build/server --port 8080"), ["./build/server", "--port", "8080"]);
  assert.deepEqual(splitCommandLine(`run "a b" 'c d' e\\ f ""`), ["run", "a b", "c d", "e f", ""]);
  assert.deepEqual(splitCommandLine(`echo "say \\"hi\\" $HOME"`), ["echo", 'say "hi" $HOME']);
  assert.deepEqual(splitCommandLine("   "), []);
  assert.throws(() => splitCommandLine(`echo "open`), /unterminated/);
});
