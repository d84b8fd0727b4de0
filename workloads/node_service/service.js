// A Node HTTP service with a slow handler: every request hashes a password by hand, a
// loop TurboFan compiles (and inlines into the handler). Ground truth: under load, most
// CPU samples fall on the line marked HASH-LOOP, in digest inlined at the call marked CALLS-DIGEST.
// Usage: node --perf-prof --interpreted-frames-native-stack --log-code --log-source-code service.js [PORT]
// (PORT 0 or none: any free port). Prints "listening PORT" once it accepts requests.
"use strict";
const http = require("http");

function digest(password, salt, rounds) {
  const text = password + ":" + salt;
  let hash = 2166136261;
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < text.length; i++) {
      hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0; // HASH-LOOP
    }
  }
  return hash.toString(16);
}

const server = http.createServer((request, response) => {
  const url = new URL(request.url, "http://127.0.0.1");
  const password = url.searchParams.get("password") || "correct horse battery staple";
  response.end(digest(password, "lineprobe", 4000) + "\n"); // CALLS-DIGEST
});

server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
