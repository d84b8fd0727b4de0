import assert from "node:assert/strict";
import { test } from "node:test";
import { differentialLabel, differentialTitle, flameTitle, frameLabel, functionTotals, hottestFunction, hottestLine, scopePath, selfValue, type HierarchyNode } from "../model/flame";
import type { FlameNode } from "../model/protocol";

const leaf: FlameNode = { name: "is_divisible:17", function: "is_divisible", value: 80, path: "/w/primes.c", line: 17, uri: "file:///w/primes.c", children: [] };
const middle: FlameNode = { name: "is_prime:25", function: "is_prime", value: 95, path: "/w/primes.c", line: 25, children: [leaf] };
const kernel: FlameNode = { name: "asm_sysvec_apic_timer_interrupt_[k]", value: 5, kernel: true, children: [] };
const root: FlameNode = { name: "all", value: 100, children: [middle, kernel] };

test("self value is the node's value minus its children's", () => {
  assert.equal(selfValue(root), 0);
  assert.equal(selfValue(middle), 15);
  assert.equal(selfValue(leaf), 80);
});

test("the hottest line of a tree with one path is its hottest leaf", () => {
  assert.deepEqual(hottestLine(root), { name: "is_divisible:17", self: 80 });
});

test("scope path runs from the root's child to the clicked node; the root resets", () => {
  const rootNode: HierarchyNode = { data: root, parent: null };
  const middleNode: HierarchyNode = { data: middle, parent: rootNode };
  const leafNode: HierarchyNode = { data: leaf, parent: middleNode };
  assert.deepEqual(scopePath(leafNode), ["is_prime:25", "is_divisible:17"]);
  assert.deepEqual(scopePath(rootNode), []);
});

test("frame labels carry shares and the source location", () => {
  assert.equal(frameLabel(leaf, 100), "is_divisible:17 at /w/primes.c:17: 80.0% total, 80.0% self (80 samples)");
  assert.match(frameLabel(kernel, 100), /\(kernel\)/);
});

test("the flame graph's heading words time as time and names the process of a CPU profile", () => {
  assert.equal(flameTitle(2_133_496_000, "off-CPU time", "ns", { exe: "/w/primes", pid: 7 }), "2,133.5 ms of off-CPU time");
  assert.equal(flameTitle(412, "cpu-clock", "samples", { exe: "/w/primes", pid: 7 }), "412 cpu-clock samples of primes (PID 7)");
  assert.equal(flameTitle(30, "block:block_rq_issue", "hits"), "30 block:block_rq_issue hits");
});

test("a comparison's frame reads its cost before and after, and the change", () => {
  const differential = { before: "wide.lpcap", after: "narrow.lpcap", unit: "s", beforeCost: 4.2, afterCost: 3.84 };
  const node = { name: "is_divisible:17", value: 1058, delta: -220, before: 2.561, after: 2.12, path: "/w/primes.c", line: 17, children: [] };
  assert.equal(differentialLabel(node, differential), "is_divisible:17 at /w/primes.c:17: 2.56 s → 2.12 s, -441.0 ms (-17.2%)");
  assert.match(differentialTitle(differential), /^wide\.lpcap → narrow\.lpcap: CPU 4\.20 s → 3\.84 s/);
});

test("the hottest line adds up its nodes over every call path, as the editor does", () => {
  // is_divisible:17 under two threads' paths, 30 + 25 self; 5 more taken in the kernel under one.
  const interrupt: FlameNode = { name: "asm_sysvec_apic_timer_interrupt_[k]", value: 5, kernel: true, children: [] };
  const first: FlameNode = { name: "is_divisible:17", value: 35, path: "/w/primes.c", line: 17, children: [interrupt] };
  const second: FlameNode = { name: "is_divisible:17", value: 25, path: "/w/primes.c", line: 17, children: [] };
  const caller: FlameNode = { name: "is_prime:25", value: 40, path: "/w/primes.c", line: 25, children: [first] };
  const other: FlameNode = { name: "is_prime:25", value: 40, path: "/w/primes.c", line: 25, children: [second] };
  const tree: FlameNode = { name: "all", value: 80, children: [caller, other] };
  // A sample taken in the kernel is the kernel frame's own, as the editor counts a line's self.
  assert.deepEqual(hottestLine(tree), { name: "is_divisible:17", self: 55 });
  // Node by node, the largest is only one of its paths: not the editor's figure.
  assert.equal(Math.max(selfValue(first), selfValue(second)), 30);
});

test("a function's figures over the tree are its code lens's: self summed, total counted once per stack", () => {
  const node = (name: string, fn: string, value: number, children: FlameNode[] = []): FlameNode => ({ name, function: fn, value, children });
  // main → is_prime → is_divisible, twice is_divisible from two lines; a recursive walk(walk()).
  const root = node("all", "", 100, [
    node("main", "main", 60, [node("is_prime", "is_prime", 60, [node("is_divisible", "is_divisible", 50), node("is_divisible", "is_divisible", 5)])]),
    node("walk", "walk", 40, [node("walk", "walk", 30)]),
  ]);
  assert.deepEqual(functionTotals(root, "is_divisible"), { self: 55, total: 55 });
  assert.deepEqual(functionTotals(root, "is_prime"), { self: 5, total: 60 });
  assert.deepEqual(functionTotals(root, "walk"), { self: 40, total: 40 });
  assert.deepEqual(functionTotals(root, "nowhere"), { self: 0, total: 0 });
  assert.deepEqual(hottestFunction(root), { name: "is_divisible", self: 55 });
});
