/**
 * The language client's lifecycle: start `lineprobe serve`, forward settings,
 * route the server's custom notification, restart on request or when the
 * settings that start it change.
 *
 * A new `LanguageClient` is made for every start because its server command
 * is fixed at construction; the output channel outlives them so that the log
 * of a failed start stays readable after a restart.
 */
import * as fs from "node:fs";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  ShowMessageNotification,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import {
  HEAT_NOTIFICATION,
  JVM_LIVE_NOTIFICATION,
  PROBE_LIVE_NOTIFICATION,
  TRACEPOINT_LIVE_NOTIFICATION,
  SYSTEM_LIVE_NOTIFICATION,
  type HeatParams,
  type TracepointLiveParams,
  type SystemLiveParams,
  type JvmLiveParams,
  type ProbeLiveParams,
} from "./model/protocol";
import { resolveServerLaunch, sameLaunch, type ServerLaunch } from "./model/serverCommand";
import type { ServerMessage } from "./model/messages";
import { readServerSettings, readLaunchSettings } from "./settings";

/** Documents the server should see: compiled languages, whose binaries it profiles, Java, and
 * JavaScript and TypeScript, whose lines come from V8's jitdump. */
const DOCUMENT_SELECTOR: LanguageClientOptions["documentSelector"] = [
  { scheme: "file", language: "c" },
  { scheme: "file", language: "cpp" },
  { scheme: "file", language: "rust" },
  { scheme: "file", language: "go" },
  { scheme: "file", language: "objective-c" },
  { scheme: "file", language: "objective-cpp" },
  // Java: HotSpot's USDT method probes put call rates on its methods.
  { scheme: "file", language: "java" },
  // Node: JIT samples land on JavaScript lines (node --perf-prof, or launched by lineprobe).
  { scheme: "file", language: "javascript" },
  { scheme: "file", language: "typescript" },
  { scheme: "file", pattern: "**/*.{c,h,cc,cpp,cxx,hh,hpp,hxx,inl,rs,go,zig,d,f,f90,s,S,js,mjs,cjs}" },
];

export type ServerState = { kind: "starting" } | { kind: "running" } | { kind: "stopped"; reason: string };

export interface ClientHooks {
  /**
   * Called for every server command VS Code runs on the client's behalf
   * (code lenses, other extensions); returns the command's result.
   */
  interceptCommand: (command: string, args: unknown[], next: (command: string, args: unknown[]) => Promise<unknown>) => Promise<unknown>;
  /** The server's window/showMessage; return false to hold it back. */
  showMessage: (message: ServerMessage) => boolean;
}

export class ServerClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private launch: ServerLaunch | undefined;
  private starting: Promise<void> | undefined;
  private readonly heatEmitter = new vscode.EventEmitter<HeatParams>();
  private readonly probeLiveEmitter = new vscode.EventEmitter<ProbeLiveParams>();
  private readonly jvmLiveEmitter = new vscode.EventEmitter<JvmLiveParams>();
  private readonly tracepointLiveEmitter = new vscode.EventEmitter<TracepointLiveParams>();
  private readonly systemLiveEmitter = new vscode.EventEmitter<SystemLiveParams>();
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  private current: ServerState = { kind: "stopped", reason: "not started" };

  /** Fires for every `lineprobe/heat` notification. */
  readonly onHeat = this.heatEmitter.event;
  /** `lineprobe/probeLive`: a running USDT count or trace, about once a second. */
  readonly onProbeLive = this.probeLiveEmitter.event;
  /** `lineprobe/jvmLive`: a JVM's GC pauses and class loads, about once a second. */
  readonly onJvmLive = this.jvmLiveEmitter.event;
  /** `lineprobe/tracepointLive`: a kernel tracepoint's newest records, about once a second. */
  readonly onTracepointLive = this.tracepointLiveEmitter.event;
  /** `lineprobe/systemLive`: a system view's running totals, about once a second. */
  readonly onSystemLive = this.systemLiveEmitter.event;
  readonly onState = this.stateEmitter.event;

  constructor(
    readonly output: vscode.LogOutputChannel,
    private readonly hooks: ClientHooks,
  ) {}

  get state(): ServerState {
    return this.current;
  }

  /** PID of the server process, so the process picker can rank it last. */
  get serverPid(): number | undefined {
    return this.client?.serverProcess?.pid;
  }

  start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.launch = undefined;
    if (client) {
      try {
        await client.dispose(5000);
      } catch (error) {
        this.output.warn(`stopping the server: ${String(error)}`);
      }
    }
    this.setState({ kind: "stopped", reason: "stopped" });
  }

  /** Restarts only when the server would be started differently now. */
  async restartIfLaunchChanged(): Promise<void> {
    const next = this.resolveLaunch();
    if (!this.launch || !sameLaunch(this.launch, next)) {
      this.output.info(`server command changed to ${next.command} ${next.args.join(" ")}: restarting`);
      await this.restart();
    }
  }

  /** Forwards the `lineprobe.*` settings (PROTOCOL.md, Settings) to the running server. */
  async sendSettings(): Promise<void> {
    if (this.client?.state === State.Running) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { lineprobe: readServerSettings() },
      });
    }
  }

  /** Runs a server command; rejects when the server is not running. */
  async execute<T>(command: string, ...args: unknown[]): Promise<T> {
    if (this.starting) {
      await this.starting;
    }
    const client = this.client;
    if (!client || client.state !== State.Running) {
      throw new Error(this.current.kind === "stopped" ? this.current.reason : "the server is not running");
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
  }

  dispose(): void {
    void this.stop();
    this.heatEmitter.dispose();
    this.probeLiveEmitter.dispose();
    this.jvmLiveEmitter.dispose();
    this.tracepointLiveEmitter.dispose();
    this.systemLiveEmitter.dispose();
    this.stateEmitter.dispose();
  }

  /** The command the server runs (or would run) from: the set-up runs the same lineprobe. */
  currentLaunch(): ServerLaunch {
    return this.launch ?? this.resolveLaunch();
  }

  private resolveLaunch(): ServerLaunch {
    const launch = readLaunchSettings();
    return resolveServerLaunch({
      command: launch.command,
      pythonPath: launch.pythonPath,
      workspaceFolders: (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
      trusted: vscode.workspace.isTrusted,
      isExecutable: (file) => {
        try {
          fs.accessSync(file, fs.constants.X_OK);
          return true;
        } catch {
          return false;
        }
      },
    });
  }

  private async doStart(): Promise<void> {
    const launch = this.resolveLaunch();
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      transport: TransportKind.stdio,
      options: { cwd },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: this.output,
      // Read at every (re)start, so a restart picks up changed settings.
      initializationOptions: () => readServerSettings(),
      middleware: {
        executeCommand: (command, args, next) =>
          this.hooks.interceptCommand(command, args, (c, a) => Promise.resolve(next(c, a))),
      },
      markdown: { isTrusted: false, supportHtml: false },
    };
    const client = new LanguageClient("lineprobe", "lineprobe", serverOptions, clientOptions);
    client.onNotification(HEAT_NOTIFICATION, (params: HeatParams) => this.heatEmitter.fire(params));
    client.onNotification(PROBE_LIVE_NOTIFICATION, (params: ProbeLiveParams) => this.probeLiveEmitter.fire(params));
    client.onNotification(JVM_LIVE_NOTIFICATION, (params: JvmLiveParams) => this.jvmLiveEmitter.fire(params));
    client.onNotification(TRACEPOINT_LIVE_NOTIFICATION, (params: TracepointLiveParams) => this.tracepointLiveEmitter.fire(params));
    client.onNotification(SYSTEM_LIVE_NOTIFICATION, (params: SystemLiveParams) => this.systemLiveEmitter.fire(params));
    // Replaces the client's default handler (which shows every message) so
    // that messages covered by a profile's result are not shown twice.
    client.onNotification(ShowMessageNotification.type, (params) => {
      if (this.hooks.showMessage({ type: params.type, message: params.message })) {
        showServerMessage(params.type, params.message);
      }
    });
    client.onDidChangeState((event) => {
      if (client !== this.client) {
        return;
      }
      if (event.newState === State.Running) {
        this.setState({ kind: "running" });
      } else if (event.newState === State.Starting) {
        this.setState({ kind: "starting" });
      } else if (event.newState === State.Stopped) {
        this.setState({ kind: "stopped", reason: "the server exited; see the lineprobe output" });
      }
    });
    this.client = client;
    this.launch = launch;
    this.setState({ kind: "starting" });
    this.output.info(`starting ${launch.command} ${launch.args.join(" ")} (from ${launch.origin})`);
    try {
      await client.start();
    } catch (error) {
      const reason = `could not start ${launch.command} (from ${launch.origin}): ${errorText(error)}`;
      this.output.error(reason);
      this.setState({ kind: "stopped", reason });
      void vscode.window
        .showErrorMessage(
          `lineprobe: ${reason}. Run \`make setup\` in the lineprobe checkout, or set lineprobe.server.command.`,
          "Open Settings",
          "Show Log",
        )
        .then((choice) => {
          if (choice === "Open Settings") {
            void vscode.commands.executeCommand("workbench.action.openSettings", "lineprobe.server");
          } else if (choice === "Show Log") {
            this.output.show();
          }
        });
    }
  }

  private setState(state: ServerState): void {
    this.current = state;
    this.stateEmitter.fire(state);
  }
}

function showServerMessage(type: number, message: string): void {
  if (type === 1) {
    void vscode.window.showErrorMessage(message);
  } else if (type === 2) {
    void vscode.window.showWarningMessage(message);
  } else {
    void vscode.window.showInformationMessage(message);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
