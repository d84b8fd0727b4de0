/**
 * Flame graph data helpers shared by the webview and the extension.
 *
 * d3-flame-graph draws the tree; these functions only derive what the
 * extension needs from a clicked node: the call path that
 * `lineprobe.scopeHeat` expects, and self values for finding the hottest
 * frame.
 */
import { formatCost } from "./comparison";
import type { FlameDifferential, FlameNode } from "./protocol";

/** A node as d3-hierarchy hands it to click handlers: data plus parent links. */
export interface HierarchyNode {
  data: FlameNode;
  parent: HierarchyNode | null;
}

/**
 * Names from the root's child down to `node` (the root "all" excluded), as
 * `lineprobe.scopeHeat` takes them. The root itself gives an empty path,
 * which resets the scope.
 */
export function scopePath(node: HierarchyNode): string[] {
  const names: string[] = [];
  for (let current: HierarchyNode | null = node; current && current.parent; current = current.parent) {
    names.push(current.data.name);
  }
  return names.reverse();
}

/** Samples whose innermost frame is this node (its value minus its children's). */
export function selfValue(node: FlameNode): number {
  const children = node.children ?? [];
  return Math.max(0, node.value - children.reduce((sum, child) => sum + child.value, 0));
}

/**
 * The hottest source line of the tree, with its self samples added up over every node that stands
 * for it (one per call path and thread): the figure the editor shows for that line (samples taken
 * on it; one taken in the kernel on its behalf is the kernel frame's). Frames without a line are
 * taken by name.
 */
export function hottestLine(root: FlameNode): { name: string; self: number } | undefined {
  const totals = new Map<string, { name: string; self: number }>();
  const visit = (node: FlameNode, isRoot: boolean): void => {
    if (!isRoot) {
      const key = node.path && node.line ? `${node.path}:${node.line}` : node.name;
      const entry = totals.get(key) ?? { name: node.name, self: 0 };
      entry.self += selfValue(node);
      totals.set(key, entry);
    }
    for (const child of node.children ?? []) {
      visit(child, false);
    }
  };
  visit(root, true);
  let best: { name: string; self: number } | undefined;
  for (const entry of totals.values()) {
    if (best === undefined || entry.self > best.self) {
      best = entry;
    }
  }
  return best;
}

/**
 * A function's figures over the whole tree, as the editor's code lens on its declaration gives
 * them: self, the samples taken in it; total, the samples with it anywhere on the stack, each
 * counted once (a recursive call's frames inside its own are not counted again).
 */
export function functionTotals(root: FlameNode, fn: string): { self: number; total: number } {
  let self = 0;
  let total = 0;
  const visit = (node: FlameNode, inside: boolean): void => {
    const mine = node !== root && (node.function ?? node.name) === fn;
    if (mine) {
      self += selfValue(node);
      if (!inside) {
        total += node.value;
      }
    }
    for (const child of node.children ?? []) {
      visit(child, inside || mine);
    }
  };
  visit(root, false);
  return { self, total };
}

/** The function with the most self samples over the tree, with them: a graph merged by function
 * states it in its header, as the code lens on its declaration does. */
export function hottestFunction(root: FlameNode): { name: string; self: number } | undefined {
  const totals = new Map<string, number>();
  const visit = (node: FlameNode): void => {
    if (node !== root) {
      const name = node.function ?? node.name;
      totals.set(name, (totals.get(name) ?? 0) + selfValue(node));
    }
    for (const child of node.children ?? []) {
      visit(child);
    }
  };
  visit(root);
  let best: { name: string; self: number } | undefined;
  for (const [name, self] of totals) {
    if (best === undefined || self > best.self) {
      best = { name, self };
    }
  }
  return best;
}

/** Tooltip text of a frame: name, share and source location. */
export function frameLabel(node: FlameNode, totalSamples: number): string {
  const share = totalSamples > 0 ? (100 * node.value) / totalSamples : 0;
  const self = selfValue(node);
  const selfShare = totalSamples > 0 ? (100 * self) / totalSamples : 0;
  const where = node.path && node.line ? ` at ${node.path}:${node.line}` : node.kernel ? " (kernel)" : "";
  const inlined = node.inlined ? " (inlined)" : "";
  return `${node.name}${inlined}${where}: ${share.toFixed(1)}% total, ${selfShare.toFixed(1)}% self (${node.value} samples)`;
}

/** The flame graph's heading: how much of what it shows ("412 cpu-clock samples", "2,133.5 ms of
 * off-CPU time"), and of which process when the figures are a CPU profile of it. */
export function flameTitle(total: number, event: string | undefined, unit: string | undefined, target?: { exe: string; pid: number }): string {
  const counted =
    unit === "ns"
      ? `${(total / 1e6).toLocaleString("en-US", { maximumFractionDigits: 1 })} ms of ${event ?? "time"}`
      : `${total.toLocaleString("en-US")} ${event ?? "CPU"} ${unit ?? "samples"}`;
  const of = target && (unit === undefined || unit === "samples") ? ` of ${target.exe.split("/").pop()} (PID ${target.pid})` : "";
  return `${counted}${of}`;
}

/** A comparison's heading: which captures, and the CPU time of each. */
export function differentialTitle(differential: FlameDifferential): string {
  const { before, after, unit, beforeCost, afterCost } = differential;
  return (
    `${before} → ${after}: CPU ${formatCost(beforeCost, unit)} → ${formatCost(afterCost, unit)} ` +
    "· frames in red took more time after, in blue less; widths are the after capture's"
  );
}

/** A comparison's tooltip of a frame: its cost before and after, and the change. */
export function differentialLabel(node: FlameNode, differential: FlameDifferential): string {
  const unit = differential.unit;
  const before = node.before ?? 0;
  const after = node.after ?? 0;
  const relative = before > 0 ? ` (${(((after - before) * 100) / before).toFixed(1)}%)` : "";
  const where = node.path && node.line ? ` at ${node.path}:${node.line}` : node.kernel ? " (kernel)" : "";
  return `${node.name}${where}: ${formatCost(before, unit)} → ${formatCost(after, unit)}, ${formatCost(after - before, unit, true)}${relative}`;
}
