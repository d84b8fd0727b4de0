import assert from "node:assert/strict";
import { test } from "node:test";
import { absoluteCommand, agentSetupCommand, shellQuote } from "../model/agentSetup";

const venv = { command: "/home/ann/proj/.venv/bin/python", args: ["-P", "-m", "lineprobe.cli", "serve"], origin: "setting" };

test("the set-up runs the server's own lineprobe, its serve swapped for setup-agent, as root", () => {
  assert.deepEqual(agentSetupCommand(venv, "ann"), [
    "/home/ann/proj/.venv/bin/python",
    "-P",
    "-m",
    "lineprobe.cli",
    "setup-agent",
    "--user",
    "ann",
  ]);
  const script = { command: "/w/.venv/bin/lineprobe", args: ["serve", "--stdio"], origin: "workspace" };
  assert.deepEqual(agentSetupCommand(script, "ann", true), ["/w/.venv/bin/lineprobe", "setup-agent", "--uninstall"]);
});

test("a custom server command, or a user name the shell would read otherwise, gets no command", () => {
  assert.equal(agentSetupCommand({ command: "ssh", args: ["box", "lineprobe-serve"], origin: "setting" }, "ann"), undefined);
  assert.equal(agentSetupCommand(venv, "ann; rm -rf ~"), undefined);
});

test("arguments are quoted for the terminal", () => {
  assert.equal(shellQuote("/home/ann/my proj/python"), "'/home/ann/my proj/python'");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote("lineprobe.cli"), "lineprobe.cli");
});

test("a server found on PATH is set up by its absolute path, as root's PATH would not find it", () => {
  const executables = new Set(["/home/ann/.local/bin/lineprobe", "/usr/bin/lineprobe"]);
  const isExecutable = (file: string): boolean => executables.has(file);
  assert.equal(absoluteCommand("lineprobe", "relative/bin:/home/ann/.local/bin:/usr/bin", isExecutable), "/home/ann/.local/bin/lineprobe");
  assert.equal(absoluteCommand("lineprobe", "/bin", isExecutable), undefined);
  assert.equal(absoluteCommand("/opt/lp/bin/lineprobe", "", isExecutable), "/opt/lp/bin/lineprobe");
  assert.equal(absoluteCommand("venv/bin/lineprobe", "", isExecutable, "/home/ann/w"), "/home/ann/w/venv/bin/lineprobe");
});
