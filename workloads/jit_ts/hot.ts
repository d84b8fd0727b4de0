// The JIT workload in TypeScript: tsc (--sourceMap) compiles it to build/jit_ts/hot.js and
// hot.js.map; node runs the JavaScript and lineprobe puts its samples back on this file's lines
// through the map. The interface and the type alias below are erased, so the JavaScript's lines
// are not this file's.
// Ground truth: most CPU samples land in lineprobeTypedSpin, on the line marked SPIN-LINE.
// Usage: node build/jit_ts/hot.js SECONDS

declare const process: { argv: string[] }; // Node's, without @types/node

interface Round {
  count: number;
  total: number;
}

type Modulus = number;

const MODULUS: Modulus = 1000003;

function lineprobeTypedSpin(n: number): number {
  let s: number = 0;
  for (let i: number = 0; i < n; i++) {
    s = (s + i * 7) % MODULUS; // SPIN-LINE
  }
  return s;
}

const seconds: number = Number(process.argv[2] || 10);
const end: number = Date.now() + seconds * 1000;
const round: Round = { count: 0, total: 0 };
while (Date.now() < end) {
  round.total += lineprobeTypedSpin(100000);
  round.count++;
}
console.log(round.total, round.count);
