// A JIT workload: V8 compiles lineprobeHotSpin to machine code in an anonymous
// mapping; run with `node --perf-basic-prof` it names that code in /tmp/perf-PID.map, with
// `--perf-prof` it writes jit-PID.dump with the code's source lines.
// Ground truth: most CPU samples land in lineprobeHotSpin, on the line marked SPIN-LINE. Usage: node --perf-basic-prof hot.js SECONDS
function lineprobeHotSpin(n) {
  let s = 0;
  for (let i = 0; i < n; i++) {
    s = (s + i * 7) % 1000003; // SPIN-LINE
  }
  return s;
}

const seconds = Number(process.argv[2] || 10);
const end = Date.now() + seconds * 1000;
let total = 0;
while (Date.now() < end) {
  total += lineprobeHotSpin(100000);
}
console.log(total);
