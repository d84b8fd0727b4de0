/**
 * What the user sees when a profile cannot be made, and which button helps.
 *
 * The server's result carries `{code, message, hint}` (PROTOCOL.md); the hint
 * says what to do. Here each code is mapped to the actions that do it, so a
 * missing privilege offers the launcher setting and a vanished process offers
 * another pick, instead of a dead-end error.
 */
import type { ServerError } from "./protocol";

export type Action =
  | "openLauncherSetting"
  | "openPathMappingsSetting"
  | "showCapabilities"
  | "attachAnother"
  | "stopProfile"
  | "restartServer"
  | "setUpAgent"
  | "showLog"
  | "copyText";

export interface ActionButton {
  title: string;
  action: Action;
  /** For copyText: what goes to the clipboard. */
  text?: string;
}

export interface UserMessage {
  severity: "error" | "warning" | "info";
  text: string;
  buttons: ActionButton[];
}

const SHOW_LOG: ActionButton = { title: "Show Log", action: "showLog" };
const CAPABILITIES: ActionButton = { title: "Show Capabilities", action: "showCapabilities" };

export function failureMessage(error: ServerError): UserMessage {
  const text = `lineprobe: ${error.message}${error.hint ? `. ${error.hint}` : ""}`;
  const buttons: ActionButton[] = [];
  switch (error.code) {
    case "no-privileges":
      buttons.push(
        { title: "Set Up the Tracing Service…", action: "setUpAgent" },
        { title: "Set Launcher…", action: "openLauncherSetting" },
        CAPABILITIES,
      );
      break;
    case "permission-denied":
      buttons.push({ title: "Attach to Another Process…", action: "attachAnother" }, CAPABILITIES);
      break;
    case "bcc-unavailable":
      buttons.push({ title: "Copy Install Command", action: "copyText", text: "sudo apt-get install python3-bpfcc" }, CAPABILITIES);
      break;
    case "kernel-headers-missing":
      buttons.push({ title: "Copy Install Command", action: "copyText", text: "sudo apt-get install linux-headers-amd64" }, CAPABILITIES);
      break;
    case "no-such-process":
      buttons.push({ title: "Attach to Another Process…", action: "attachAnother" });
      break;
    case "busy":
      buttons.push({ title: "Stop Current Profile", action: "stopProfile" });
      break;
    case "compile-failed":
    case "attach-failed":
      buttons.push(CAPABILITIES, SHOW_LOG);
      break;
    case "server-unavailable":
      buttons.push({ title: "Restart Server", action: "restartServer" }, SHOW_LOG);
      break;
    default:
      buttons.push(SHOW_LOG);
  }
  return { severity: "error", text, buttons };
}

/**
 * Warnings of a successful profile (lost samples, missing debug info, stale
 * sources, unmapped paths). One message for all of them, with the button of
 * the first one that has a fix.
 */
export function warningMessage(warnings: string[]): UserMessage | undefined {
  if (warnings.length === 0) {
    return undefined;
  }
  const buttons: ActionButton[] = [];
  const all = warnings.join("; ");
  if (/debug info/i.test(all)) {
    buttons.push({ title: "Copy Build Flags", action: "copyText", text: "-g -fno-omit-frame-pointer" });
  }
  if (/(outside the workspace|not found|path mapping|no such file)/i.test(all)) {
    buttons.push({ title: "Edit Path Mappings…", action: "openPathMappingsSetting" });
  }
  buttons.push(SHOW_LOG);
  return { severity: "warning", text: `lineprobe: ${all}`, buttons };
}

/** A failure that never reached the server (not running, request rejected). */
export function clientError(message: string): ServerError {
  return {
    code: "server-unavailable",
    message: `the language server did not answer (${message})`,
    hint: "restart it with 'lineprobe: Restart Server'; its log is in the Output panel",
  };
}

/** A command's answer as the `{ok, ...}` result it should be; one of another shape (an old server,
 * a bug) is reported as an `internal` failure, not trusted. */
export function checkedResult<T extends { ok: boolean }>(value: unknown): T | { ok: false; error: ServerError } {
  if (value && typeof value === "object" && "ok" in value) {
    return value as T;
  }
  return {
    ok: false,
    error: { code: "internal", message: `unexpected answer from the server: ${JSON.stringify(value)}`, hint: null },
  };
}
