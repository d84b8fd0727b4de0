/**
 * Holding the server's own `window/showMessage` while a profile runs.
 *
 * On failure the server both sends a message and returns the error in the
 * command's result. The extension shows the result, with buttons that fix
 * the problem; showing the server's plain copy too would put the same text
 * on screen twice. So messages that arrive while a profile is in flight are
 * held, and when its result comes, those it covers are dropped and the rest
 * (e.g. a settings complaint that happened to arrive then) are shown.
 */
/** What a held message is checked against: a profile's or a trace's result (PROTOCOL.md). */
export type GatedResult = { ok: true; warnings?: string[] } | { ok: false; error: { message: string } };

export interface ServerMessage {
  /** LSP MessageType: 1 error, 2 warning, 3 info, 4 log. */
  type: number;
  message: string;
}

export class MessageGate {
  private inFlight = 0;
  private held: ServerMessage[] = [];

  begin(): void {
    this.inFlight++;
  }

  /** True when the message should be shown now; false when it is held. */
  offer(message: ServerMessage): boolean {
    if (this.inFlight === 0) {
      return true;
    }
    this.held.push(message);
    return false;
  }

  /** Ends one profile; returns the held messages to show now (none while another profile runs). */
  end(result: GatedResult | undefined): ServerMessage[] {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.held = this.held.filter((m) => !covers(result, m));
    if (this.inFlight > 0) {
      return [];
    }
    const release = this.held;
    this.held = [];
    return release;
  }
}

export function covers(result: GatedResult | undefined, message: ServerMessage): boolean {
  if (result === undefined) {
    return false;
  }
  if (!result.ok) {
    return message.message.includes(result.error.message);
  }
  return (result.warnings ?? []).some((w) => message.message.includes(w));
}
