/**
 * The server's LSP extensions as TypeScript types (PROTOCOL.md, section 2).
 *
 * This file is the client's one copy of that contract: every other module
 * speaks these types, so a change in PROTOCOL.md has one place to land.
 */

/** `workspace/executeCommand` commands the server implements. */
export const ServerCommand = {
  listProcesses: "lineprobe.listProcesses",
  profile: "lineprobe.profile",
  stop: "lineprobe.stop",
  capabilities: "lineprobe.capabilities",
  flameGraph: "lineprobe.flameGraph",
  clearResults: "lineprobe.clearResults",
  openCapture: "lineprobe.openCapture",
  compareCaptures: "lineprobe.compareCaptures",
  scopeHeat: "lineprobe.scopeHeat",
  timeline: "lineprobe.timeline",
  sliceProfile: "lineprobe.sliceProfile",
  usdtList: "lineprobe.usdtList",
  usdtCount: "lineprobe.usdtCount",
  usdtTrace: "lineprobe.usdtTrace",
  jvmEvents: "lineprobe.jvmEvents",
  offCpu: "lineprobe.offCpu",
  tracepointList: "lineprobe.tracepointList",
  tracepointTrace: "lineprobe.tracepointTrace",
  systemActivity: "lineprobe.systemActivity",
  traceSyscalls: "lineprobe.traceSyscalls",
  findLeaks: "lineprobe.findLeaks",
  countLineHits: "lineprobe.countLineHits",
} as const;

/** `lineprobe.systemActivity`'s request (PROTOCOL.md): the scope is always named. */
export interface SystemActivityArguments {
  view: "disk" | "files" | "pagecache" | "irqs";
  scope: "system" | "process";
  pid?: number;
  durationMs?: number;
  slowMs?: number;
}

/** `lineprobe.systemActivity`'s result: the CLI's `--json` object of the view (its tables vary
 * by view and are drawn as they come), with what the view cannot measure. */
export type SystemActivityResult =
  | ({ ok: true; view: string; scope: string; cannot_measure: string[]; warnings: string[]; duration_s: number } & Record<string, unknown>)
  | Failure;

/** `lineprobe/systemLive` (PROTOCOL.md): a system view's running totals, about once a second. */
export interface SystemLiveParams {
  view: string;
  scope: string;
  pid: number | null;
  elapsedS: number;
  unit: string;
  totals: { name: string; value: number }[];
}

export const SYSTEM_LIVE_NOTIFICATION = "lineprobe/systemLive";

/** `lineprobe.usdtList` (PROTOCOL.md). */
export type ProbeListing =
  | {
      ok: true;
      binaries: string[];
      probes: {
        binary: string;
        provider: string;
        name: string;
        arguments: { type: string; meaning: string | null }[];
        groupings: string[];
        sites: { line: number | null; path: string | null }[];
      }[];
      problems: string[];
    }
  | Failure;

/** `lineprobe.usdtCount` (PROTOCOL.md): by arguments (`groups`), or by stack (a profile's summary). */
export type ProbeCountResult =
  | {
      ok: true;
      events: number;
      groups?: { count: number; per_s: number; values: (number | string)[] }[];
      site_hits?: ProbeSite[];
      files?: string[];
    }
  | Failure;

/** `lineprobe.usdtTrace` (PROTOCOL.md): the hits kept (`lines`) and every count. */
export type ProbeTraceResult =
  | {
      ok: true;
      probe: string;
      events: number;
      recorded: number;
      rate_limited: number;
      ring_full: number;
      dropped: number;
      site_hits: ProbeSite[];
      lines: { t: number; tid: number; values: (number | string)[] }[];
      warnings: string[];
    }
  | Failure;

/** A site's hits, as `lineprobe/probeLive` and the results of usdtCount/usdtTrace send them. */
export interface ProbeSite {
  binary: string;
  offset: number;
  path: string | null;
  line: number | null;
  function: string | null;
  uri: string | null;
  hits: number;
  per_s: number;
}

/** `lineprobe/probeLive` (PROTOCOL.md): what a running count or trace has seen so far. */
export interface ProbeLiveParams {
  probe: string;
  pid: number;
  mode: "count" | "trace";
  elapsedS: number;
  events: number;
  perS: number;
  sites: ProbeSite[];
  groups: { count: number; perS: number; values: (number | string)[] }[];
  hits: { t: number; tid: number; values: (number | string)[] }[];
  hitsNotShown: number;
}

/** `lineprobe/jvmLive` (PROTOCOL.md): a JVM's GC pauses and class loads as they come. */
export interface JvmLiveParams {
  pid: number;
  elapsedS: number;
  gcCount: number;
  classesLoaded: number;
  newGcs: { t: number; durationMs: number; full: boolean }[];
  newClasses: string[];
}

/** `lineprobe.jvmEvents` (PROTOCOL.md): what `lineprobe usdt jvm --json` prints. */
export type JvmEventsResult =
  | {
      ok: true;
      duration_s: number;
      gc_count: number;
      classes_loaded: number;
      pauses: { total_ms: number; p50_ms: number; p99_ms: number; max_ms: number };
      warnings: string[];
    }
  | Failure;

export const JVM_LIVE_NOTIFICATION = "lineprobe/jvmLive";

/** A finding's calling line, as the CLI's `--json` gives it. */
export interface Site {
  path: string | null;
  line: number | null;
  function: string | null;
}

/** `lineprobe.traceSyscalls`' result (PROTOCOL.md): the fields the editor reads. */
export type SyscallsResult =
  | {
      ok: true;
      target: { pid: number; exe: string };
      duration_s: number;
      target_exited: boolean;
      syscalls: { name: string; count: number; errors: number }[];
      failures: { syscall: string; path: string | null; errno: string; count: number; site: Site | null }[];
      slow: { syscall: string; file: string | null; count: number; p99_us: number; site: Site | null }[];
      files: string[];
      warnings?: string[];
    }
  | Failure;

/** `lineprobe.findLeaks`' result (PROTOCOL.md): the fields the editor reads. */
export type LeaksResult =
  | {
      ok: true;
      target: { pid: number; exe: string };
      duration_s: number;
      target_exited: boolean;
      sites: { site: Site | null; outstanding_bytes: number; suspect: boolean }[];
      files: string[];
      warnings?: string[];
    }
  | Failure;

/** One counted line of `lineprobe.countLineHits` (PROTOCOL.md). */
export interface LineHits {
  line: string;
  hits: number;
  per_second: number;
  sites: number | null;
  sources: string[];
  uris: string[];
  /** Each site that fired: where it is (its functions, innermost first) and its hits. */
  by_site: { where: string; hits: number }[];
}

/** `lineprobe.countLineHits` (PROTOCOL.md): stack counts' summary plus each line's hits. */
export type LineHitsResult =
  | { ok: true; event: string; samples: number; files: string[]; warnings: string[]; line_hits: LineHits[] }
  | Failure;

/** `lineprobe.offCpu` (PROTOCOL.md): a profile's summary, its figures in nanoseconds. */
export type OffCpuResult = { ok: true; event: string; samples: number; files: string[] } | Failure;

/** `lineprobe.tracepointList` (PROTOCOL.md): the kernel's tracepoints with their fields. */
export type TracepointListing =
  | { ok: true; tracepoints: { name: string; id: number; fields: { name: string; declaration: string }[] }[] }
  | Failure;

/** `lineprobe/tracepointLive` (PROTOCOL.md): a kernel tracepoint's newest records. */
export interface TracepointLiveParams {
  tracepoint: string;
  pid: number;
  elapsedS: number;
  events: number;
  perS: number;
  records: { t: number; tid: number; cpu: number; text: string }[];
  notShown: number;
}

export const TRACEPOINT_LIVE_NOTIFICATION = "lineprobe/tracepointLive";

/** `lineprobe.tracepointTrace` (PROTOCOL.md): `lineprobe tracepoints trace --json`'s summary and lines. */
export type TracepointTraceResult =
  | { ok: true; tracepoint: string; hits: number; recorded: number; rate_limited: number; dropped: number; warnings: string[] }
  | Failure;

/** The custom notification of a running USDT count or trace. */
export const PROBE_LIVE_NOTIFICATION = "lineprobe/probeLive";

/** The custom notification behind the gutter heat. */
export const HEAT_NOTIFICATION = "lineprobe/heat";

export interface ProcessInfo {
  pid: number;
  exe: string;
  commandLine: string[];
  inWorkspace: boolean;
  /** What a profile of it would miss (a node without --perf-prof) and what would help. */
  runtimeHint?: string | null;
  /** Its command line with the flags that give its JIT code lines. */
  restartCommand?: string[] | null;
  /** Where it runs (given with `restartCommand`): a relaunch runs there. */
  cwd?: string | null;
  /** When it started (/proc/PID/stat's starttime, with `restartCommand`): a relaunch checks that
   * the PID is still this process before it ends it. */
  startTime?: number | null;
}

export type ProfileArguments =
  | { pid: number; durationMs: number; frequency?: number; followChildren?: boolean }
  | { command: string[]; cwd?: string; durationMs: number; frequency?: number; followChildren?: boolean };

export interface ServerError {
  code: string;
  message: string;
  hint: string | null;
}

export interface ProfileSuccess {
  ok: true;
  target: { pid: number; exe: string };
  samples: number;
  lost: number;
  duration_s: number;
  target_exited: boolean;
  warnings: string[];
  files: string[];
  top_lines: { path: string; line: number; function: string | null; self_percent: number }[];
  timings: Record<string, number>;
}

export interface Failure {
  ok: false;
  error: ServerError;
}

export type ProfileResult = ProfileSuccess | Failure;

export interface HeatLine {
  /** 0-based, like every LSP position. */
  line: number;
  self_percent: number;
  total_percent: number;
  /** A comparison's (`mode: "diff"`): the line's change of self cost, as a percentage of the
   * before capture's CPU time (negative: colder). */
  change_percent?: number;
  /** A comparison's: the change is within twice its sampling error. */
  within_noise?: boolean;
}

export interface HeatParams {
  uri: string;
  samples: number;
  /** What the figures count ("cpu-clock", "off-CPU time") and in what ("samples", "ns"). */
  event?: string;
  unit?: string;
  lines: HeatLine[];
  /** Frame names of the flame graph node the heat is limited to, when scoped. */
  scope?: string[];
  /** `"diff"`: a comparison of two captures (`lineprobe.compareCaptures`), drawn hotter/colder. */
  mode?: "diff";
  /** A comparison's largest change beyond noise, in `change_percent`'s terms: full strength. */
  scale_percent?: number;
}

export interface FlameNode {
  name: string;
  value: number;
  function?: string | null;
  path?: string | null;
  /** 1-based, as in DWARF. */
  line?: number | null;
  uri?: string | null;
  inlined?: boolean;
  kernel?: boolean;
  children: FlameNode[];
  /** A comparison's: samples after less before on this path (d3-flame-graph's differential colours). */
  delta?: number;
  /** A comparison's: this path's cost in each capture, in `FlameDifferential.unit`. */
  before?: number;
  after?: number;
}

/** What a differential flame graph compares (`lineprobe.flameGraph` during a comparison). */
export interface FlameDifferential {
  before: string;
  after: string;
  /** "s" (CPU seconds) or "s/s" (per second of capture). */
  unit: string;
  beforeCost: number;
  afterCost: number;
}

/** `samples` and every `value` count the primary cost: `event` in `unit` (PROTOCOL.md). */
export type FlameGraphResult =
  | { ok: true; samples: number; event?: string; unit?: string; root: FlameNode; differential?: FlameDifferential }
  | Failure;

/** `lineprobe.compareCaptures`' result: `lineprobe diff --json`'s object (PROTOCOL.md), of which
 * the extension reads the captures' costs and the biggest movers. */
export type CompareResult =
  | {
      ok: true;
      unit: string;
      before: { cost: number; target: { exe: string } };
      after: { cost: number; target: { exe: string } };
      lines: { path: string; line: number; function: string | null; delta: { self: number }; within_noise: boolean }[];
      files: string[];
      warnings: string[];
    }
  | Failure;

export type ScopeHeatResult = { ok: true; samples_in_scope: number } | Failure;

/** One thread of `lineprobe.timeline`: its samples in all, and per time bucket from the start. */
export interface TimelineThread {
  tid: number;
  name: string;
  samples: number;
  counts: number[];
}

/** `lineprobe.timeline`: the latest profile's threads over time (of the whole profile, whatever
 * slice is shown); `bucketMs` 0: no time was kept. `selection` names the slice shown ("": all). */
export type TimelineResult =
  | { ok: true; samples: number; unit: string; bucketMs: number; threads: TimelineThread[]; selection: string }
  | Failure;

/** `lineprobe.sliceProfile`'s request: each field optional; none: the whole profile again. */
export interface SliceArguments {
  threads?: number[];
  startS?: number;
  endS?: number;
}

export type SliceResult = { ok: true; samples: number; selection: string } | Failure;

export interface Capability {
  name: string;
  available: boolean;
  detail: string;
}

export type CapabilitiesResult =
  | { ok: true; kernel_release: string; capabilities: Capability[]; works: string[]; missing: string[] }
  | Failure;

/** Server messages (window/showMessage) carry this prefix. */
export const MESSAGE_PREFIX = "lineprobe: ";
