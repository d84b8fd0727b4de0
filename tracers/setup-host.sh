#!/usr/bin/env bash
# Host set-up for lineprobe's agent: Debian packages, tracefs, kernel headers.
# Idempotent and quick when everything is in place. Needs root only when
# something is missing; otherwise it just checks.
set -euo pipefail

PACKAGES=(
  python3-bpfcc        # bcc's Python bindings (never the unrelated PyPI "bcc")
  bpfcc-tools          # reference tools (profile, memleak, syscount...) for comparisons
  libbpf-tools         # CO-RE reference tools that run without kprobes
  bpftool              # leftover checks: no programs or links after the agent exits
  linux-headers-amd64  # headers for bcc when none match the running kernel
  gcc make binutils    # the workloads
  llvm                 # llvm-symbolizer, the reference for address resolution
  linux-perf           # perf record --call-graph dwarf, the reference for unwinding; perf probe, for line hits
  gdb                  # `info line`: the reference for where a source line's code begins
  util-linux           # setpriv, for the no-privileges tests; unshare, for a caller's chroot
  systemd              # systemd-socket-activate and systemd-analyze: the service's socket activation and units
  python3 python3-venv # the interpreter of the installed, root-owned agent (install-agent.sh)
  sudo                 # the default launcher, and the tests of callers who are not root
  clang                # DWARF 5 line tables with MD5 checksums (gcc writes none), for staleness tests
  systemtap-sdt-dev    # sys/sdt.h: the USDT probes of workloads/probes
  openjdk-17-jdk-headless  # libjvm.so's USDT probes (tplist parity), and the Java workloads
  mariadb-server mariadb-client  # the database lab (workloads/mariadb), started by its own script
  node-typescript      # tsc: workloads/jit_ts, TypeScript run as JavaScript with a source map
  golang-go            # go tool pprof: the reference reader of lineprobe's pprof export (tests/unit/test_pprof_go.py)
)
# Node.js runs the JIT workload (names from its perf map); a node already on PATH serves.
command -v node >/dev/null || PACKAGES+=(nodejs)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "lineprobe setup: missing Debian packages: ${missing[*]}" >&2
    echo "  run 'sudo make setup' once (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "lineprobe setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q "${missing[@]}" >/tmp/lineprobe-apt.log 2>&1; then
    apt-get update -q >>/tmp/lineprobe-apt.log 2>&1
    apt-get install -y -q "${missing[@]}" >>/tmp/lineprobe-apt.log 2>&1 || {
      echo "lineprobe setup: apt-get install failed; see /tmp/lineprobe-apt.log" >&2
      tail -n 20 /tmp/lineprobe-apt.log >&2
      exit 1
    }
  fi
fi

# Tracepoints, uprobes and USDT need tracefs; some machines boot without it.
if [[ ! -d /sys/kernel/tracing/events && ! -d /sys/kernel/debug/tracing/events ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    mount -t tracefs nodev /sys/kernel/tracing
  else
    echo "lineprobe setup: tracefs is not mounted; as root: mount -t tracefs nodev /sys/kernel/tracing" >&2
  fi
fi
