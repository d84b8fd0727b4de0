// d3-flame-graph 5 ships no type declarations; these cover the calls the
// webview makes (see the package's README, "API Reference").
declare module "d3-flame-graph" {
  export interface FlameGraph<Datum> {
    (selection: unknown): void;
    width(value: number): FlameGraph<Datum>;
    cellHeight(value: number): FlameGraph<Datum>;
    minFrameSize(value: number): FlameGraph<Datum>;
    transitionDuration(value: number): FlameGraph<Datum>;
    inverted(value: boolean): FlameGraph<Datum>;
    sort(value: boolean): FlameGraph<Datum>;
    label(handler: (node: Datum) => string): FlameGraph<Datum>;
    setColorMapper(mapper: (node: Datum, originalColor: string) => string): FlameGraph<Datum>;
    setDetailsElement(element: HTMLElement | null): FlameGraph<Datum>;
    setSearchMatch(match: (node: Datum, term: string, ignoreCase?: boolean) => boolean): FlameGraph<Datum>;
    onClick(handler: (node: Datum) => void): FlameGraph<Datum>;
    search(term: string): void;
    clear(): void;
    resetZoom(): void;
    update(data?: unknown): FlameGraph<Datum>;
    destroy(): void;
  }
  export default function flamegraph<Datum = unknown>(): FlameGraph<Datum>;
  /** The library's colour schemes; the differential one reads each node's `delta` (red: more). */
  export const colorMapper: {
    differentialColorMapper(node: unknown, originalColor: string): string;
  };
}
