/**
 * A stranger's first run, in VS Code. A desktop user (sudo with their own password, no rule for
 * lineprobe, no service set up) installs lineprobe as the README says (the wheel, in a venv that
 * sees the system's bcc, on PATH in ~/.local/bin as pipx puts it) and the .vsix, opens their program's folder, and profiles it. The first
 * trace fails for want of privileges and offers the set-up; after one confirmation and their
 * password, typed into the editor's password box (a wrong one first, asked again), the profile
 * runs again by itself and the hot line has its heat. The test types the password as the user
 * would: the stand-in for the person at the keyboard. Afterwards the service is removed, the
 * user deleted, and the installed agent left as `make install-agent` made it.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";
import { startCodeServer } from "./codeServer.ts";
import { run, startGroup, stopGroup, type Started } from "./processes.ts";
import { hotLineHeat, openFile, QUICK_INPUT, QUICK_INPUT_BOX, quickPickRow, runCommand, waitForLine } from "./vscode.ts";

export interface FirstRunDeps {
  repo: string;
  codeServer: string;
  nodeBin: string;
  vsix: string;
  chromiumPath: string;
  artifacts: string;
  check: (ok: boolean, what: string, detail?: string) => boolean;
}

const SERVICE_SOCKET = "/run/lineprobe/agent.sock";
const SAFE_PATH = "/usr/local/bin:/usr/bin:/bin";
const HOT_TEXT = "return n % d == 0;";

export async function firstRunChecks(deps: FirstRunDeps): Promise<void> {
  const { repo, check, artifacts } = deps;
  if (existsSync(SERVICE_SOCKET) || groupExists("lineprobe")) {
    check(false, "first run: no lineprobe service is set up beforehand", `${SERVICE_SOCKET} or group lineprobe exists; remove it (lineprobe setup-agent --uninstall)`);
    return;
  }
  const user = `lp-desk-${randomBytes(3).toString("hex")}`;
  const password = randomBytes(12).toString("base64url");
  execFileSync("useradd", ["--create-home", "--shell", "/bin/bash", user]);
  execFileSync("chpasswd", { input: `${user}:${password}\n` });
  const home = execFileSync("getent", ["passwd", user], { encoding: "utf8" }).split(":")[5];
  const rule = `/etc/sudoers.d/${user}`;
  writeFileSync(rule, `${user} ALL=(ALL:ALL) ALL\n`, { mode: 0o440 });
  const as = (argv: string[]): string[] => ["-u", user, "--", "env", "-i", `HOME=${home}`, `PATH=${SAFE_PATH}`, ...argv];
  const shared = mkdtempSync("/tmp/lp-first-run-");
  chmodSync(shared, 0o755);
  let workload: Started | undefined;
  let server: Started | undefined;
  let browser: Browser | undefined;
  try {
    // The user install (README, "Install"): the wheel, in a venv that sees Debian's bcc.
    const clock = Date.now();
    await run(path.join(repo, ".venv", "bin", "python"), ["-m", "pip", "wheel", "--no-deps", "-q", "-w", shared, repo], { timeout: 900_000 });
    const wheel = path.join(shared, readdirSync(shared).find((f) => f.endsWith(".whl")) ?? "no-wheel");
    chmodSync(wheel, 0o644);
    const venv = path.join(home, ".local", "share", "lineprobe", "venv");
    await run("runuser", as(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv]));
    await run("runuser", as([path.join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check", wheel]), { timeout: 900_000 });
    // On PATH as pipx puts it: ~/.local/bin, which Debian's ~/.profile adds to a login's PATH.
    const command = path.join(home, ".local", "bin", "lineprobe");
    await run("runuser", as(["mkdir", "-p", path.dirname(command)]));
    await run("runuser", as(["ln", "-s", path.join(venv, "bin", "lineprobe"), command]));
    console.log(`first run: ${user} installed lineprobe from ${path.basename(wheel)} in ${((Date.now() - clock) / 1000).toFixed(0)} s`);

    // Their program, built in their own folder.
    const project = path.join(home, "primes");
    await run("runuser", as(["mkdir", "-p", project]));
    const source = path.join(project, "primes.c");
    writeFileSync(path.join(shared, "primes.c"), readFileSync(path.join(repo, "workloads", "primes", "primes.c")));
    chmodSync(path.join(shared, "primes.c"), 0o644);
    await run("runuser", as(["cp", path.join(shared, "primes.c"), source]));
    await run("runuser", as(["cc", "-g", "-O0", "-fno-omit-frame-pointer", "-fopenmp", "-o", path.join(project, "primes"), source]));
    const hotLine = readFileSync(path.join(repo, "workloads", "primes", "primes.c"), "utf8").split("\n").findIndex((l) => l.trim() === HOT_TEXT) + 1;
    workload = startGroup("desk-primes", "runuser", as([path.join(project, "primes"), "200000", "0"]));
    const pid = await pidOf(user, "primes");

    const vsix = path.join(shared, "lineprobe.vsix");
    copyFileSync(deps.vsix, vsix);
    chmodSync(vsix, 0o644);
    const scratch = path.join(home, ".e2e");
    await run("runuser", as(["mkdir", "-p", scratch]));
    const started = await startCodeServer({
      codeServer: deps.codeServer,
      nodeBin: deps.nodeBin,
      vsix,
      scratch,
      logFile: path.join(artifacts, "code-server-first-run.log"),
      settings: { "lineprobe.durationMs": 2000 },
      runAs: { user, home, pathPrefix: path.dirname(command) },
    });
    server = started.server;
    browser = await chromium.launch({ executablePath: deps.chromiumPath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(`http://127.0.0.1:${started.port}/?folder=${encodeURIComponent(project)}`);
    await page.locator(".monaco-workbench").waitFor();
    try {
      await openFile(page, "primes.c");
      await waitForLine(page, HOT_TEXT);
      await runCommand(page, "lineprobe: Attach to Process…");
      const row = quickPickRow(page, new RegExp(`PID ${pid}\\b`));
      await row.waitFor({ timeout: 30_000 });
      await row.click();
      await runCommand(page, "lineprobe: Profile CPU");

      const refused = page.locator(".notification-toast", { hasText: "tracing needs privileges" }).first();
      await refused.waitFor({ timeout: 60_000 });
      const buttons = await refused.locator(".monaco-button").allInnerTexts();
      check(buttons.includes("Set Up the Tracing Service…"), "first run: the first trace, refused for want of privileges, offers 'Set Up the Tracing Service…'", JSON.stringify(buttons));
      await page.screenshot({ path: path.join(artifacts, "30-first-trace-refused.png") });
      await refused.locator(".monaco-button", { hasText: "Set Up the Tracing Service…" }).click();

      const consent = page.locator(".monaco-dialog-box", { hasText: "install its tracing agent" });
      await consent.waitFor({ timeout: 30_000 });
      const consentText = (await consent.innerText()).replace(/\s+/g, " ");
      check(consentText.includes(`setup-agent --user ${user}`) && consentText.includes(command), "first run: the consent says what runs as root, with the user's own lineprobe", consentText.slice(0, 400));
      await page.screenshot({ path: path.join(artifacts, "31-set-up-consent.png") });
      await consent.locator(".monaco-button", { hasText: /^Set Up$/ }).click();

      const asked = page.locator(QUICK_INPUT, { hasText: "for sudo" });
      await asked.waitFor({ timeout: 60_000 });
      check((await page.locator(QUICK_INPUT_BOX).getAttribute("type")) === "password", "first run: sudo's password is asked in a password box of the editor");
      await page.screenshot({ path: path.join(artifacts, "32-password.png") });
      await page.locator(QUICK_INPUT_BOX).fill("not-the-password");
      await page.keyboard.press("Enter");
      await page.locator(QUICK_INPUT, { hasText: "Sorry, try again" }).waitFor({ timeout: 60_000 });
      check(true, "first run: a wrong password is asked again ('Sorry, try again')");
      await page.locator(QUICK_INPUT_BOX).fill(password);
      await page.keyboard.press("Enter");

      await page.locator(".notification-toast", { hasText: "tracing is set up" }).first().waitFor({ timeout: 300_000 });
      check(true, "first run: the set-up finishes: 'tracing is set up'");
      await page.waitForFunction(hotLineHeat, hotLine, { polling: 100, timeout: 120_000 });
      check(true, `first run: the refused profile runs again by itself, and primes.c:${hotLine} has its heat`);
      const status = page.locator(".statusbar-item", { hasText: /lineprobe: \d+ samples/ }).first();
      await status.waitFor({ timeout: 30_000 });
      check(true, `first run: status bar after the set-up: '${(await status.innerText()).trim()}'`);
      await page.screenshot({ path: path.join(artifacts, "33-first-trace-heat.png") });
    } catch (error) {
      await page.screenshot({ path: path.join(artifacts, "first-run-failure.png") }).catch(() => undefined);
      throw error;
    }
  } catch (error) {
    check(false, "first run", error instanceof Error ? error.message : String(error));
  } finally {
    await browser?.close();
    if (server) {
      await stopGroup(server);
    }
    if (workload) {
      await stopGroup(workload);
    }
    // The service removed again; the agent the other tests use, as `make install-agent` left it.
    await run(path.join(repo, ".venv", "bin", "python"), ["-m", "lineprobe.cli", "setup-agent", "--uninstall", "--keep-agent"]).catch((error) => console.log(`first run: uninstall: ${error}`));
    await run("bash", [path.join(repo, "tracers", "install-agent.sh")]);
    endProcessesOf(user);
    rmSync(rule, { force: true });
    await run("userdel", ["--remove", user]).catch(() => undefined);
    rmSync(shared, { recursive: true, force: true });
  }
}

/** The PID of `user`'s process named `name`, once it runs. */
async function pidOf(user: string, name: string): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const found = execFileSync("pgrep", ["-u", user, "-x", name], { encoding: "utf8" }).trim().split("\n")[0];
      if (found) {
        return Number(found);
      }
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} did not start as ${user}`);
}

/** Every process of the throwaway user (all started by this test), by PID. */
function endProcessesOf(user: string): void {
  let listed: string[] = [];
  try {
    listed = execFileSync("pgrep", ["-u", user], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  } catch {
    return; // none left
  }
  for (const pid of listed) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function groupExists(name: string): boolean {
  try {
    execFileSync("getent", ["group", name]);
    return true;
  } catch {
    return false;
  }
}
