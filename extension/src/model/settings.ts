/**
 * Which `lineprobe.*` settings the server receives, and in what shape.
 *
 * The server reads the names of PROTOCOL.md ("Settings"); the client owns a
 * few more (how to start the server, flame graph behaviour) that it keeps to
 * itself. Kept free of the `vscode` module so it is unit-tested in plain Node.
 */

export interface PathMapping {
  from: string;
  to: string;
}

/** What `initializationOptions` and `workspace/didChangeConfiguration` carry. */
export interface ServerSettings {
  durationMs: number;
  frequency: number;
  diagnosticThreshold: number;
  slowIoThresholdMs: number;
  leakBudgetPercent: number;
  prepareAgent: boolean;
  launcher: string | null;
  pathMappings: PathMapping[];
  /** Folders besides the workspace's where Java sources are found by package path. */
  javaSourceRoots: string[];
  /** The kinds of results shown as diagnostics, inlay hints and code lenses. */
  showDiagnostics: ResultKind[];
  showInlayHints: ResultKind[];
  showCodeLenses: ResultKind[];
  /** "Profile for 5 s", "Trace syscalls", "Find leaks" on the functions of running binaries. */
  actionLenses: boolean;
}

/** The kinds of results the editor shows, each the latest of its kind (PROTOCOL.md, Settings). */
export const RESULT_KINDS = ["profile", "syscalls", "leaks", "probes"] as const;
export type ResultKind = (typeof RESULT_KINDS)[number];

/** Reads one setting under `lineprobe.` (a `WorkspaceConfiguration.get` in the extension). */
export type SettingReader = <T>(key: string, fallback: T) => T;

export const DEFAULTS: ServerSettings = {
  durationMs: 5000,
  frequency: 99,
  diagnosticThreshold: 1.0,
  slowIoThresholdMs: 1.0,
  leakBudgetPercent: 5.0,
  prepareAgent: true,
  launcher: null,
  pathMappings: [],
  javaSourceRoots: [],
  showDiagnostics: [...RESULT_KINDS],
  showInlayHints: [...RESULT_KINDS],
  showCodeLenses: [...RESULT_KINDS],
  actionLenses: true,
};

/** The settings that list kinds of results shown, which "Toggle …" turns all off or all on. */
export const SHOWN_KINDS_SETTINGS = ["showDiagnostics", "showInlayHints", "showCodeLenses"] as const;

/** A toggle of a kinds setting: everything hidden when anything was shown, else everything shown. */
export function toggledKinds(current: readonly string[]): ResultKind[] {
  return current.length > 0 ? [] : [...RESULT_KINDS];
}

/** Settings that change how the server process is started: a change restarts it. */
export const LAUNCH_SETTINGS = ["server.command", "server.pythonPath"] as const;

/** Settings forwarded to the running server. */
export const SERVER_SETTINGS = [
  "durationMs",
  "frequency",
  "diagnosticThreshold",
  "slowIoThresholdMs",
  "leakBudgetPercent",
  "prepareAgent",
  "launcher",
  "pathMappings",
  "javaSourceRoots",
  "showDiagnostics",
  "showInlayHints",
  "showCodeLenses",
  "actionLenses",
] as const;

/**
 * Builds the server's settings object. `${workspaceFolder}` in path mappings
 * is expanded here because the server knows nothing of VS Code variables;
 * an empty launcher means "the server's default" (null), not "no launcher".
 */
export function serverSettings(read: SettingReader, workspaceFolder: string | undefined): ServerSettings {
  const launcher = read<string | null>("launcher", DEFAULTS.launcher);
  const mappings = read<unknown>("pathMappings", DEFAULTS.pathMappings);
  return {
    durationMs: read("durationMs", DEFAULTS.durationMs),
    frequency: read("frequency", DEFAULTS.frequency),
    diagnosticThreshold: read("diagnosticThreshold", DEFAULTS.diagnosticThreshold),
    slowIoThresholdMs: read("slowIoThresholdMs", DEFAULTS.slowIoThresholdMs),
    leakBudgetPercent: read("leakBudgetPercent", DEFAULTS.leakBudgetPercent),
    prepareAgent: read("prepareAgent", DEFAULTS.prepareAgent),
    launcher: typeof launcher === "string" && launcher.trim() !== "" ? launcher.trim() : null,
    pathMappings: normalizeMappings(mappings, workspaceFolder),
    javaSourceRoots: read("javaSourceRoots", DEFAULTS.javaSourceRoots),
    showDiagnostics: read("showDiagnostics", DEFAULTS.showDiagnostics),
    showInlayHints: read("showInlayHints", DEFAULTS.showInlayHints),
    showCodeLenses: read("showCodeLenses", DEFAULTS.showCodeLenses),
    actionLenses: read("actionLenses", DEFAULTS.actionLenses),
  };
}

function normalizeMappings(raw: unknown, workspaceFolder: string | undefined): PathMapping[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  const expand = (value: string): string =>
    workspaceFolder === undefined ? value : value.split("${workspaceFolder}").join(workspaceFolder);
  const result: PathMapping[] = [];
  for (const item of raw) {
    // Malformed entries are passed on as they are: the server reports each
    // one it ignores (window/showMessage), which tells the user more than a
    // silent drop here would.
    if (item && typeof item === "object" && typeof item.from === "string" && typeof item.to === "string") {
      result.push({ from: expand(item.from), to: expand(item.to) });
    } else {
      result.push(item as PathMapping);
    }
  }
  return result;
}

/** Profile arguments for one run: settings first, explicit overrides win. */
export function profileOptions(
  settings: ServerSettings,
  overrides: { durationMs?: number; frequency?: number } | undefined,
): { durationMs: number; frequency: number } {
  const pick = (value: unknown, fallback: number): number =>
    typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.round(value) : fallback;
  return {
    durationMs: pick(overrides?.durationMs, settings.durationMs),
    frequency: pick(overrides?.frequency, settings.frequency),
  };
}
