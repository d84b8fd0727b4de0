/**
 * The editor-independent check: Neovim's built-in LSP client (headless)
 * against the same server and workload. The Lua script does the LSP work
 * and reports what it saw; the checks live here, next to the editor's.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { run } from "./processes.ts";

export interface NeovimCheck {
  repo: string;
  source: string;
  hotLine: number;
  pid: number;
  check: (ok: boolean, what: string, detail?: string) => boolean;
}

interface Seen {
  failure?: string;
  profile_ok?: boolean;
  profile_error?: unknown;
  profile_s?: number;
  diagnostics?: { line: number; message: string; source: string; severity: number }[];
  hover?: string;
  heat: { uri: string; lines: { line: number; self_percent: number }[] }[];
  errors: string[];
}

export async function checkWithNeovim({ repo, source, hotLine, pid, check }: NeovimCheck): Promise<void> {
  const scratch = mkdtempSync(path.join(tmpdir(), "lineprobe-nvim-"));
  const resultPath = path.join(scratch, "result.json");
  try {
    await run("nvim", ["--headless", "-u", "NONE", "-i", "NONE", "--noplugin", "-c", `luafile ${path.join(import.meta.dirname, "neovim_check.lua")}`], {
      env: {
        ...process.env,
        LINEPROBE_RESULT: resultPath,
        LINEPROBE_SOURCE: source,
        LINEPROBE_HOT_LINE: String(hotLine),
        LINEPROBE_PID: String(pid),
        LINEPROBE_REPO: repo,
        LINEPROBE_SERVER_CMD: [path.join(repo, ".venv", "bin", "lineprobe"), "serve"].join("\t"),
        XDG_STATE_HOME: scratch,
        XDG_DATA_HOME: scratch,
      },
      cwd: repo,
      timeout: 120_000,
    });
    const seen = JSON.parse(readFileSync(resultPath, "utf8")) as Seen;
    if (!check(seen.failure === undefined, "neovim: LSP session ran to the end", seen.failure)) {
      return;
    }
    check(seen.profile_ok === true, `neovim: lineprobe.profile succeeded in ${seen.profile_s?.toFixed(2)} s`, JSON.stringify(seen.profile_error ?? seen.errors));
    const hot = (seen.diagnostics ?? []).filter((d) => d.line === hotLine - 1);
    check(
      hot.length === 1 && /\d+\.\d% of CPU samples \(self\) in is_divisible/.test(hot[0].message) && hot[0].source === "lineprobe",
      `neovim: diagnostic on the hot line ${hotLine}`,
      JSON.stringify(seen.diagnostics),
    );
    check(/self: \*\*\d+\.\d%\*\*/.test(seen.hover ?? ""), "neovim: hover on the hot line gives its self percentage", seen.hover);
    const uri = `file://${source}`;
    check(seen.heat.some((h) => h.uri === uri && h.lines.some((l) => l.line === hotLine - 1 && l.self_percent > 0)), "neovim: lineprobe/heat received for the hot line");
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
