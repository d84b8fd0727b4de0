// The load generator for service.js: CONCURRENCY requests in flight at all times, over
// keep-alive connections, for SECONDS (0: until killed). Prints "requests N" at the end
// (SIGTERM or SIGINT end it too).
// Usage: node load.js PORT [SECONDS] [CONCURRENCY]
"use strict";
const http = require("http");

const port = Number(process.argv[2]);
const seconds = Number(process.argv[3] || 0);
const concurrency = Number(process.argv[4] || 4);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
let requests = 0;
let running = true;

function finish() {
  if (!running) return;
  running = false;
  console.log(`requests ${requests}`);
  agent.destroy();
  process.exit(0);
}

function one(n) {
  if (!running) return;
  const request = http.get({ host: "127.0.0.1", port, path: `/login?password=user${n % 1000}`, agent }, (response) => {
    response.resume();
    response.on("end", () => {
      requests++;
      one(n + concurrency);
    });
  });
  request.on("error", (error) => {
    console.error(`load: ${error.message}`);
    finish();
  });
}

for (let i = 0; i < concurrency; i++) one(i);
if (seconds > 0) setTimeout(finish, seconds * 1000);
process.on("SIGTERM", finish);
process.on("SIGINT", finish);
