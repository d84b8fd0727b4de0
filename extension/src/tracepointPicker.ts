/**
 * "lineprobe: Trace a Kernel Tracepoint…": the kernel's tracepoints, listed by the server's
 * agent (tracefs is root's alone) with their fields, in a quick pick filtered as one types
 * ("sched:sched_switch").
 */
import * as vscode from "vscode";
import type { ServerClient } from "./client";
import { ServerCommand, type TracepointListing } from "./model/protocol";

export async function pickTracepoint(server: ServerClient): Promise<string | undefined> {
  const listing = await server.execute<TracepointListing>(ServerCommand.tracepointList, { pattern: "*:*" });
  if (!listing.ok) {
    void vscode.window.showErrorMessage(`lineprobe: ${listing.error.message}`);
    return undefined;
  }
  const items = listing.tracepoints.map((tracepoint) => ({
    label: tracepoint.name,
    detail: tracepoint.fields.map((field) => field.name).join(", ") || "no fields",
  }));
  const chosen = await vscode.window.showQuickPick(items, {
    title: "lineprobe: kernel tracepoints",
    placeHolder: "Tracepoint to trace (type to filter: sched:sched_switch)",
    matchOnDetail: false,
  });
  return chosen?.label;
}
