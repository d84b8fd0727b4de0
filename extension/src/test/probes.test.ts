import assert from "node:assert/strict";
import { test } from "node:test";
import { probeTree, type ListedProbe } from "../model/probes";

const listing: ListedProbe[] = [
  { binary: "/w/build/app", provider: "app", name: "request", arguments: [{ type: "uint64", meaning: null }, { type: "int32", meaning: null }], groupings: [], sites: [{ path: "/w/app.c", line: 39 }] },
  { binary: "/usr/lib/jvm/libjvm.so", provider: "hotspot", name: "method__entry", arguments: [{ type: "int64", meaning: "Java thread id" }], groupings: ["method", "class"] },
  { binary: "/w/build/app", provider: "app", name: "cancel", arguments: [], groupings: [] },
  { binary: "/usr/lib/jvm/libjvm.so", provider: "hs_private", name: "safepoint__begin", arguments: [], groupings: [] },
];

test("files in listing order, then providers and probes sorted", () => {
  const tree = probeTree(listing);
  assert.deepEqual(tree.map((n) => n.label), ["app", "libjvm.so"]);
  const jvm = tree[1];
  assert.ok(jvm.kind === "file");
  assert.deepEqual(jvm.children.map((n) => n.label), ["hotspot", "hs_private"]);
  const app = tree[0];
  assert.ok(app.kind === "file" && app.children[0].kind === "provider");
  assert.deepEqual(app.children[0].children.map((n) => n.label), ["cancel", "request"]);
});

test("a probe says its arguments and where it fires", () => {
  const tree = probeTree(listing);
  const app = tree[0];
  assert.ok(app.kind === "file" && app.children[0].kind === "provider");
  const request = app.children[0].children[1];
  assert.ok(request.kind === "probe");
  assert.equal(request.probe, "app:request");
  assert.equal(request.description, "2 arguments · app.c:39");
  assert.match(request.tooltip, /arg2: int32/);
  const jvm = tree[1];
  assert.ok(jvm.kind === "file" && jvm.children[0].kind === "provider");
  const entry = jvm.children[0].children[0];
  assert.ok(entry.kind === "probe");
  assert.deepEqual(entry.groupings, ["method", "class"]);
  assert.match(entry.tooltip, /arg1: Java thread id/);
});
