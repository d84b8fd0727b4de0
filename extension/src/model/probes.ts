/**
 * A process's USDT probes as a tree: file → provider → probe, each probe with its arguments
 * explained. Kept free of the `vscode` module so it is unit-tested in plain Node.
 */

export interface ListedProbe {
  binary: string;
  provider: string;
  name: string;
  arguments: { type: string; meaning: string | null }[];
  groupings: string[];
  sites?: { line: number | null; path: string | null }[];
}

export type ProbeNode =
  | { kind: "file"; label: string; path: string; children: ProbeNode[] }
  | { kind: "provider"; label: string; children: ProbeNode[] }
  | {
      kind: "probe";
      label: string;
      probe: string;
      description: string;
      tooltip: string;
      groupings: string[];
      argumentCount: number;
    };

function baseName(path: string): string {
  return path.split("/").pop() ?? path;
}

/** Files in listing order (the executable first, then its libraries), providers and probes sorted. */
export function probeTree(probes: ListedProbe[]): ProbeNode[] {
  const files = new Map<string, Map<string, ListedProbe[]>>();
  for (const probe of probes) {
    const providers = files.get(probe.binary) ?? new Map<string, ListedProbe[]>();
    files.set(probe.binary, providers);
    providers.set(probe.provider, [...(providers.get(probe.provider) ?? []), probe]);
  }
  return [...files].map(([path, providers]) => ({
    kind: "file" as const,
    label: baseName(path),
    path,
    children: [...providers.keys()].sort().map((provider) => ({
      kind: "provider" as const,
      label: provider,
      children: (providers.get(provider) ?? [])
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((probe) => probeNode(probe)),
    })),
  }));
}

function probeNode(probe: ListedProbe): ProbeNode {
  const count = probe.arguments.length;
  const site = probe.sites?.find((s) => s.path && s.line);
  const where = site?.path ? ` · ${baseName(site.path)}:${site.line}` : "";
  const args = probe.arguments.map((a, i) => `arg${i + 1}: ${a.meaning ?? a.type}`);
  return {
    kind: "probe",
    label: probe.name,
    probe: `${probe.provider}:${probe.name}`,
    description: `${count} argument${count === 1 ? "" : "s"}${where}`,
    tooltip: [`${probe.provider}:${probe.name} in ${probe.binary}`, ...args].join("\n"),
    groupings: probe.groupings,
    argumentCount: count,
  };
}
