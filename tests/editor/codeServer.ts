/**
 * A fresh code-server with the lineprobe .vsix installed: its own user data, extensions and
 * settings under `scratch`, listening on a free loopback port, no authentication. By default it
 * runs as this process's user (root in CI); with `runAs`, as that user, whose home holds
 * `scratch`, with `pathPrefix` first on its PATH (where the extension looks for `lineprobe`).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { run, startGroup, type Started } from "./processes.ts";

export interface CodeServerOptions {
  codeServer: string;
  nodeBin: string;
  vsix: string;
  scratch: string;
  logFile: string;
  /** lineprobe's settings (and any other) on top of the quiet defaults. */
  settings: Record<string, unknown>;
  runAs?: { user: string; home: string; pathPrefix: string };
}

const QUIET_SETTINGS = {
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "workbench.tips.enabled": false,
  "chat.disableAIFeatures": true,
  "extensions.autoUpdate": false,
  "extensions.autoCheckUpdates": false,
  "telemetry.telemetryLevel": "off",
  "git.enabled": false,
  "editor.hover.delay": 200,
  "workbench.colorTheme": "Default Dark Modern",
};

const SAFE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

export async function startCodeServer(options: CodeServerOptions): Promise<{ port: number; server: Started }> {
  const { scratch, runAs } = options;
  const userData = path.join(scratch, "user-data");
  const extensions = path.join(scratch, "extensions");
  mkdirSync(path.join(userData, "User"), { recursive: true });
  writeFileSync(path.join(userData, "User", "settings.json"), JSON.stringify({ ...QUIET_SETTINGS, ...options.settings }, null, 2));
  if (runAs) {
    execFileSync("chown", ["-R", `${runAs.user}:`, scratch]); // theirs, as if they had made it
  }
  const env: Record<string, string> = {
    PATH: runAs ? `${runAs.pathPrefix}:${options.nodeBin}:${SAFE_PATH}` : `${options.nodeBin}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(scratch, "config"),
    XDG_DATA_HOME: path.join(scratch, "data"),
    // No extension gallery: nothing to look up on the network.
    EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: "http://127.0.0.1:9/gallery", itemUrl: "http://127.0.0.1:9/item" }),
  };
  // As another user: that user's login environment alone (HOME, USER), nothing of ours.
  const [command, prefix, environment] = runAs
    ? ["runuser", ["-u", runAs.user, "--", "env", "-i", `HOME=${runAs.home}`, `USER=${runAs.user}`, `LOGNAME=${runAs.user}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), options.codeServer], process.env]
    : [options.codeServer, [], { ...process.env, ...env }];
  const common = ["--user-data-dir", userData, "--extensions-dir", extensions];
  await run(command, [...prefix, ...common, "--install-extension", options.vsix], { env: environment });
  const port = await freePort();
  const server = startGroup(
    "code-server",
    command,
    [
      ...prefix,
      ...common,
      "--bind-addr", `127.0.0.1:${port}`,
      "--auth", "none",
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--reconnection-grace-time", "5",
    ],
    { env: environment, logFile: options.logFile },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) {
        return { port, server };
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || server.child.exitCode !== null) {
      throw new Error(`code-server did not come up; see ${options.logFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (address && typeof address === "object" ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
