// The editor's set-up step (extension/src/model/agentSetup.ts and elevation.ts, as compiled for
// the extension's unit tests), run as the extension runs it, with a stand-in for the password box
// that answers as a person might: a wrong password first, then the right one ($LP_PASSWORD).
// Usage: node elevation_driver.cjs MODEL_DIR LINEPROBE USER; prints what happened as JSON.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const [modelDir, lineprobe, user] = process.argv.slice(2);
const { agentSetupCommand } = require(path.join(modelDir, "agentSetup.js"));
const { runAsRoot } = require(path.join(modelDir, "elevation.js"));

const answers = ["not-the-password", process.env.LP_PASSWORD];
const asked = [];
const lines = [];
const command = agentSetupCommand({ command: lineprobe, args: ["serve"], origin: "workspace" }, user);
const prompts = {
  password: async (retry) => {
    asked.push(retry);
    return answers.shift();
  },
  output: (line) => lines.push(line),
};
runAsRoot(command, prompts, fs.existsSync("/usr/bin/pkexec")).then((outcome) => {
  process.stdout.write(JSON.stringify({ command, outcome, asked, lines }));
});
