#!/usr/bin/env bash
# Installs lineprobe's privileged agent where only root can change it, so that a
# launcher rule (sudoers) can name it without handing root to whoever can write
# the user's checkout or virtualenv:
#
#   /usr/local/lib/lineprobe-agent/venv        Debian's python3, msgspec, pyelftools, bcc (linked), the agent
#   /usr/local/libexec/lineprobe-agent         the entry a rule names: no arguments, an empty
#                                              environment, working directory /, python -I
#
# Run as root from the checkout (`sudo make install-agent`); again after updating lineprobe,
# since the server and the agent must speak the same protocol version.
set -euo pipefail

PREFIX=${LINEPROBE_AGENT_PREFIX:-/usr/local/lib/lineprobe-agent}
ENTRY=${LINEPROBE_AGENT_ENTRY:-/usr/local/libexec/lineprobe-agent}
PYTHON=/usr/bin/python3  # root-owned, and the Python that Debian's bcc bindings are built for
HERE=$(cd "$(dirname "$0")" && pwd)
# The agent's package: tracers/lineprobe_agent beside this script in a checkout; in an installed
# wheel this script is inside the package itself (lineprobe_agent/install-agent.sh).
if [[ -f $HERE/lineprobe_agent/__init__.py ]]; then
  AGENT_SOURCE=$HERE/lineprobe_agent
else
  AGENT_SOURCE=$HERE
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-agent: run as root (sudo make install-agent): it installs root-owned files" >&2
  exit 1
fi
if [[ ! -x $PYTHON ]]; then
  echo "install-agent: $PYTHON is missing (apt-get install python3 python3-venv)" >&2
  exit 1
fi
umask 022

VENV=$PREFIX/venv
if [[ ! -x $VENV/bin/python ]]; then
  install -d -o root -g root -m 755 "$PREFIX"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "msgspec>=0.19" "pyelftools>=0.32" \
  > "$PREFIX/pip.log" 2>&1 || { cat "$PREFIX/pip.log" >&2; exit 1; }
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [[ -d /usr/lib/python3/dist-packages/bcc ]]; then
  ln -sfn /usr/lib/python3/dist-packages/bcc "$SITE/bcc"
fi

# The agent's own package: a copy, never a link into a checkout that others may write.
staging=$(mktemp -d "$SITE/.lineprobe_agent.XXXXXX")
cp -r "$AGENT_SOURCE/." "$staging/"
rm -f "$staging/install-agent.sh"
find "$staging" -name __pycache__ -prune -exec rm -rf {} +
chown -R root:root "$staging"
chmod -R u=rwX,go=rX "$staging"
rm -rf "$SITE/lineprobe_agent"
mv "$staging" "$SITE/lineprobe_agent"
"$VENV/bin/python" -m compileall -q "$SITE/lineprobe_agent" > /dev/null

install -d -o root -g root -m 755 "$(dirname "$ENTRY")"
entry_tmp=$(mktemp "$(dirname "$ENTRY")/.lineprobe-agent.XXXXXX")
cat > "$entry_tmp" <<ENTRY_SCRIPT
#!/bin/sh
# lineprobe's privileged agent (installed by lineprobe's tracers/install-agent.sh).
# It takes no arguments and nothing from the caller's environment or directory:
# it speaks on its stdin, one end of a unix socket pair whose maker the kernel names.
[ "\$#" -eq 0 ] || { echo "lineprobe-agent takes no arguments" >&2; exit 2; }
cd / || exit 1
exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$VENV/bin/python" -I -m lineprobe_agent
ENTRY_SCRIPT
chown root:root "$entry_tmp"
chmod 755 "$entry_tmp"
mv -f "$entry_tmp" "$ENTRY"
version=$("$VENV/bin/python" -I -c 'from lineprobe_agent.protocol import PROTOCOL_VERSION as v; print(v)')
echo "lineprobe agent installed: $ENTRY (protocol v$version, code in $SITE/lineprobe_agent)"
