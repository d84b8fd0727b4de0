// Bundles the extension (Node, CommonJS, `vscode` external) and the webviews
// (browser: the flame graph with d3-flame-graph and its CSS copied next to it,
// the system panel with Chart.js, so no webview loads anything from the network), and writes the gutter heat
// icons. `--production` minifies and drops source maps (for the .vsix).
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const production = process.argv.includes("--production");
const dist = join(here, "dist");

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "webview"), { recursive: true });
mkdirSync(join(dist, "heat"), { recursive: true });

const common = { bundle: true, minify: production, sourcemap: !production, logLevel: "warning" };

await esbuild.build({
  ...common,
  entryPoints: [join(here, "src", "extension.ts")],
  outfile: join(dist, "extension.js"),
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["vscode"],
});

await esbuild.build({
  ...common,
  entryPoints: [join(here, "webview", "flamegraph.ts")],
  outfile: join(dist, "webview", "flamegraph.js"),
  platform: "browser",
  format: "iife",
  target: "es2022",
});
copyFileSync(join(here, "node_modules", "d3-flame-graph", "dist", "d3-flamegraph.css"), join(dist, "webview", "d3-flamegraph.css"));
copyFileSync(join(here, "webview", "panel.css"), join(dist, "webview", "panel.css"));
copyFileSync(join(here, "webview", "flamegraph.css"), join(dist, "webview", "flamegraph.css"));

// The timeline (src/timelinePanel.ts): plain SVG, nothing bundled beside its own code.
await esbuild.build({
  ...common,
  entryPoints: [join(here, "webview", "timeline.ts")],
  outfile: join(dist, "webview", "timeline.js"),
  platform: "browser",
  format: "iife",
  target: "es2022",
});
copyFileSync(join(here, "webview", "timeline.css"), join(dist, "webview", "timeline.css"));

// The system panel (src/systemPanel.ts), with Chart.js bundled in.
await esbuild.build({
  ...common,
  entryPoints: [join(here, "webview", "system.ts")],
  outfile: join(dist, "webview", "system.js"),
  platform: "browser",
  format: "iife",
  target: "es2022",
});
copyFileSync(join(here, "webview", "system.css"), join(dist, "webview", "system.css"));

// The icons come from the same code that picks the levels (src/model/heat.ts).
const heatModule = await esbuild.build({
  entryPoints: [join(here, "src", "model", "heat.ts")],
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
});
const heat = await import(`data:text/javascript;base64,${Buffer.from(heatModule.outputFiles[0].text).toString("base64")}`);
for (const [palette, kinds] of Object.entries(heat.PALETTE_KINDS)) {
  for (const kind of kinds) {
    for (let level = 1; level <= heat.LEVELS; level++) {
      writeFileSync(join(dist, "heat", `${heat.decorationKey(kind, level, palette)}.svg`), heat.gutterSvg(kind, level, palette));
    }
  }
}
const probeModule = await esbuild.build({
  entryPoints: [join(here, "src", "model", "probeLive.ts")],
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
});
const probeLive = await import(`data:text/javascript;base64,${Buffer.from(probeModule.outputFiles[0].text).toString("base64")}`);
writeFileSync(join(dist, "probe-site.svg"), probeLive.probeSiteSvg());
console.log(`lineprobe extension: built dist/ (${production ? "production" : "development"})`);
