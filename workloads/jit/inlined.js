// TurboFan inlining: lineprobeInner is small and called in lineprobeOuter's hot loop, so the
// optimized code of lineprobeOuter holds lineprobeInner's instructions. Run with
// `node --perf-prof --log-code --log-source-code`, V8's log says which function each range of
// that code is of and the call it was inlined through.
// Ground truth: in lineprobeOuter's optimized code, the inlined instructions are lineprobeInner's
// line marked INNER-LINE, inlined through the call marked CALLS-INNER. The top level's loop is
// compiled on-stack with lineprobeOuter inlined into it at the call marked CALLS-OUTER: there,
// samples fall on lineprobeOuter's loop line, marked OUTER-LOOP.
// Usage: node [flags] inlined.js SECONDS
"use strict";
function lineprobeInner(hash, i) {
  return Math.imul(hash ^ i, 16777619) >>> 0; // INNER-LINE
}

function lineprobeOuter(n) {
  let hash = 2166136261;
  for (let i = 0; i < n; i++) { // OUTER-LOOP
    hash = lineprobeInner(hash, i); // CALLS-INNER
  }
  return hash;
}

const seconds = Number(process.argv[2] || 10);
const end = Date.now() + seconds * 1000;
let total = 0;
while (Date.now() < end) {
  total ^= lineprobeOuter(100000); // CALLS-OUTER
}
console.log(total);
