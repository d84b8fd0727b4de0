import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveServerLaunch, sameLaunch } from "../model/serverCommand";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { DEFAULTS, profileOptions, SERVER_SETTINGS, serverSettings, SHOWN_KINDS_SETTINGS, toggledKinds, type SettingReader } from "../model/settings";

function reader(values: Record<string, unknown>): SettingReader {
  return <T>(key: string, fallback: T): T => (key in values ? (values[key] as T) : fallback);
}

test("the server gets every setting of PROTOCOL.md, with its defaults", () => {
  assert.deepEqual(serverSettings(reader({}), "/w"), DEFAULTS);
  assert.deepEqual(Object.keys(serverSettings(reader({}), "/w")).sort(), [
    "actionLenses",
    "diagnosticThreshold",
    "durationMs",
    "frequency",
    "javaSourceRoots",
    "launcher",
    "leakBudgetPercent",
    "pathMappings",
    "prepareAgent",
    "showCodeLenses",
    "showDiagnostics",
    "showInlayHints",
    "slowIoThresholdMs",
  ]);
  const protocol = readFileSync(path.join(__dirname, "..", "..", "..", "PROTOCOL.md"), "utf8");
  for (const key of Object.keys(DEFAULTS)) {
    assert.match(protocol, new RegExp(`^\\| \`${key}\` \\|`, "m"), `${key} is not in PROTOCOL.md's Settings`);
  }
  const chosen = serverSettings(reader({ slowIoThresholdMs: 20, leakBudgetPercent: 2, prepareAgent: false }), "/w");
  assert.deepEqual([chosen.slowIoThresholdMs, chosen.leakBudgetPercent, chosen.prepareAgent], [20, 2, false]);
});

test("package.json declares every setting the server is sent, with the server's default", () => {
  const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const declared = manifest.contributes.configuration.properties as Record<string, { default: unknown }>;
  for (const key of SERVER_SETTINGS) {
    assert.ok(`lineprobe.${key}` in declared, `lineprobe.${key} is not declared`);
    assert.deepEqual(declared[`lineprobe.${key}`].default, DEFAULTS[key], key);
  }
});

test("path mappings expand ${workspaceFolder}; malformed ones reach the server, which reports them", () => {
  const settings = serverSettings(
    reader({ pathMappings: [{ from: "/build/src", to: "${workspaceFolder}/src" }, { from: 3 }], launcher: "  " }),
    "/home/me/proj",
  );
  assert.deepEqual(settings.pathMappings[0], { from: "/build/src", to: "/home/me/proj/src" });
  assert.deepEqual(settings.pathMappings[1], { from: 3 });
  assert.equal(settings.launcher, null, "an empty launcher means the server's default");
});

test("profile options: settings unless overridden", () => {
  const settings = { ...DEFAULTS, durationMs: 2000, frequency: 49 };
  assert.deepEqual(profileOptions(settings, undefined), { durationMs: 2000, frequency: 49 });
  assert.deepEqual(profileOptions(settings, { durationMs: 500 }), { durationMs: 500, frequency: 49 });
  assert.deepEqual(profileOptions(settings, { durationMs: -1, frequency: 199 }), { durationMs: 2000, frequency: 199 });
});

test("server command: setting, then interpreter, then the workspace venv, then PATH", () => {
  const none = { command: [], pythonPath: "", workspaceFolders: ["/a", "/b"], isExecutable: () => false };
  assert.deepEqual(resolveServerLaunch({ ...none, command: ["/opt/lp", "serve", "-v"] }), {
    command: "/opt/lp",
    args: ["serve", "-v"],
    origin: "setting lineprobe.server.command",
  });
  const python = resolveServerLaunch({ ...none, pythonPath: "/usr/bin/python3" });
  assert.deepEqual([python.command, ...python.args], ["/usr/bin/python3", "-P", "-m", "lineprobe.cli", "serve"]);
  const venv = resolveServerLaunch({ ...none, isExecutable: (f) => f === "/b/.venv/bin/lineprobe" });
  assert.deepEqual([venv.command, ...venv.args], ["/b/.venv/bin/lineprobe", "serve"]);
  // An untrusted workspace's own .venv is never run.
  const untrusted = resolveServerLaunch({ ...none, trusted: false, isExecutable: (f) => f === "/b/.venv/bin/lineprobe" });
  assert.deepEqual([untrusted.command, ...untrusted.args], ["lineprobe", "serve"]);
  const fallback = resolveServerLaunch(none);
  assert.deepEqual([fallback.command, ...fallback.args], ["lineprobe", "serve"]);
  assert.ok(sameLaunch(fallback, resolveServerLaunch(none)));
  assert.ok(!sameLaunch(fallback, venv));
});

test("no command of the extension has the name of a server command (the language client registers those itself)", () => {
  const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const ours = (manifest.contributes.commands as { command: string }[]).map((c) => c.command);
  const protocol = readFileSync(path.join(__dirname, "..", "..", "..", "PROTOCOL.md"), "utf8");
  const servers = new Set([...protocol.matchAll(/^\| `(lineprobe\.[A-Za-z]+)` \|/gm)].map((m) => m[1]));
  assert.ok(servers.has("lineprobe.profile") && servers.has("lineprobe.openCapture"), [...servers].join(", "));
  assert.deepEqual(ours.filter((command) => servers.has(command)), []);
});

test("the kinds of results shown reach the server, and a toggle hides them all or shows them all", () => {
  const chosen = serverSettings(reader({ showInlayHints: ["syscalls"], actionLenses: false }), undefined);
  assert.deepEqual(chosen.showInlayHints, ["syscalls"]);
  assert.deepEqual(chosen.showDiagnostics, ["profile", "syscalls", "leaks", "probes"]);
  assert.equal(chosen.actionLenses, false);
  assert.deepEqual(toggledKinds(["syscalls"]), []);
  assert.deepEqual(toggledKinds([]), ["profile", "syscalls", "leaks", "probes"]);
  const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const commands = (manifest.contributes.commands as { command: string }[]).map((c) => c.command);
  for (const key of SHOWN_KINDS_SETTINGS) {
    assert.ok(commands.includes(`lineprobe.toggle${key.slice("show".length)}`), key);
  }
});
