# lineprobe: `make demo` shows it working, `make test` checks it. Both set up
# everything they need first (Debian packages, tracefs, kernel headers for
# bcc, the .venv with the `lineprobe` command, the workloads), and are quick
# when that is already done.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lineprobe-installed
DEMO_SECONDS ?= 3

.PHONY: setup accel host venv workloads headers install-agent demo test lint typecheck unit privileged bench-overhead bench-runtimes bench-syscalls bench-leaks bench-unwind clean

setup: host venv workloads accel

# The optional C accelerator for DWARF decoding (server/lineprobe/symbolization/dwarf_accel.py):
# without it lineprobe decodes with pyelftools alone, and gives the same answers, slower.
ACCEL := server/lineprobe/symbolization/liblineprobe_dwarf.so
ACCEL_CFLAGS ?= -O2 -g -Wall -Wextra -Werror -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2

accel: $(ACCEL)

$(ACCEL): server/lineprobe/symbolization/dwarf_accel.c
	$(CC) $(ACCEL_CFLAGS) -shared -o $@ $<

host:
	@bash tracers/setup-host.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lineprobe needs Python 3.11+; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "lineprobe setup: installing into $(VENV) (log: $(VENV)/pip.log)"
	@$(BIN)/python -m pip install -q --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -m pip install -q -e '.[dev]' >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -c 'import lineprobe, lineprobe_agent, pygls, elftools, pytest_lsp' 
	@# bcc comes from Debian (python3-bpfcc): link only that package into the venv.
	@if [ -d /usr/lib/python3/dist-packages/bcc ]; then \
	  ln -sfn /usr/lib/python3/dist-packages/bcc "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/bcc"; \
	fi
	@touch $@

workloads:
	@$(MAKE) -s -C workloads

# The privileged agent, installed root-owned for launchers (sudoers rules) to name:
# /usr/local/libexec/lineprobe-agent (tracers/install-agent.sh). Needs root.
install-agent: host
	@bash tracers/install-agent.sh

# Prepare bcc's kernel headers once (a symlink overlay of Debian's headers when
# none match the running kernel), so the first profile does not pay for it.
headers: venv
	@$(BIN)/python -c 'from lineprobe_agent.kernel_source import find_kernel_headers as f; h = f(); print("kernel headers:", h.path, "(" + h.how + ")")' \
	  || echo "kernel headers: none found (install linux-headers-amd64)"

demo: setup headers
	@echo "== starting workloads/build/primes (OpenMP, frame pointers) and profiling it for $(DEMO_SECONDS) s"
	@workloads/build/primes 200000 0 >/dev/null & pid=$$!; \
	  trap 'kill $$pid 2>/dev/null' EXIT; sleep 0.3; \
	  $(BIN)/lineprobe profile --pid $$pid --duration $(DEMO_SECONDS)

lint: venv
	$(BIN)/ruff check server tracers tests
	$(BIN)/ruff format --check server tracers tests
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -q tests/unit

privileged: setup headers extension-modules
	$(BIN)/python -m pytest -q -m privileged tests

test: setup headers install-agent extension-modules lint typecheck
	$(BIN)/python -m pytest -q -rs tests

# The recorded captures that tests/lsp/ replays without privileges (tests/recordings/record.py):
# short captures of the workloads by the real agent, kept only when their replay shows the
# workload's ground truth. Needs root; commit tests/recordings/ afterwards. RECORD_ARGS: names.
RECORD_ARGS ?=
.PHONY: record-fixtures
record-fixtures: setup headers
	$(BIN)/python tests/recordings/record.py $(RECORD_ARGS)

bench-overhead: setup headers
	$(BIN)/python tests/benchmarks/overhead.py

# Node's JavaScript lines side by side with perf inject --jit; the Node service's requests and
# slowy.App's rounds per CPU-second with and without lineprobe's collection
# (tests/benchmarks/runtime_lines.py).
bench-runtimes: setup headers
	$(BIN)/python tests/benchmarks/runtime_lines.py

# What counting a line's hits costs the counted program, per hit, beside perf probe + perf stat
# (tests/benchmarks/line_hits_cost.py).
.PHONY: bench-line-hits
bench-line-hits: setup headers
	$(BIN)/python tests/benchmarks/line_hits_cost.py

bench-syscalls: setup headers
	$(BIN)/python tests/benchmarks/syscall_overhead.py

# Address -> source line: lineprobe symbolize vs llvm-symbolizer vs addr2line on
# the -O2 workloads, libpython and libjvm (tests/benchmarks/symbolize_bench.py).
# Installs OpenJDK 17 and its matching debug file (openjdk-17-dbg) when the debug
# file for libjvm.so's build-id is missing. Arguments: SYMBOLIZE_BENCH_ARGS="--addresses 2000".
SYMBOLIZE_BENCH_ARGS ?=
.PHONY: bench-symbolize
bench-symbolize: setup
	@jvm=/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so; \
	  id=$$(readelf -n $$jvm 2>/dev/null | sed -n 's/.*Build ID: *//p'); \
	  if [ -z "$$id" ] || [ ! -e "/usr/lib/debug/.build-id/$$(echo $$id | cut -c1-2)/$$(echo $$id | cut -c3-).debug" ]; then \
	    echo "bench-symbolize: installing openjdk-17-jre-headless and the matching openjdk-17-dbg"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q openjdk-17-jre-headless openjdk-17-dbg >/tmp/lineprobe-apt.log 2>&1 \
	      || { apt-get update -q >>/tmp/lineprobe-apt.log 2>&1 \
	           && apt-get install -y -q openjdk-17-jre-headless openjdk-17-dbg >>/tmp/lineprobe-apt.log 2>&1; } \
	      || echo "bench-symbolize: apt-get failed (/tmp/lineprobe-apt.log); libjvm will be skipped" >&2; \
	  fi
	@# Byte-compiled as an installed package is (the environment may forbid writing .pyc at import).
	@$(BIN)/python -m compileall -q server tracers > /dev/null
	$(BIN)/python tests/benchmarks/symbolize_bench.py $(SYMBOLIZE_BENCH_ARGS)

bench-leaks: setup headers
	$(BIN)/python tests/benchmarks/leak_overhead.py

# How much of mariadbd's profile stays unnamed, lineprobe against perf in the same run
# (tests/benchmarks/mariadb_names.py); installs Debian's mariadb-server when missing.
# SIGKILL of the service and its clients mid-trace, cycle after cycle: what is left behind
# (tests/benchmarks/kill_cycles.py).
KILL_CYCLES ?= 1000
.PHONY: bench-kill-cycles
bench-kill-cycles: setup headers install-agent
	$(BIN)/python tests/benchmarks/kill_cycles.py --cycles $(KILL_CYCLES)

# Several USDT traces on one process at once, ended by SIGKILL or by the target's exit.
.PHONY: bench-concurrent-uprobes
bench-concurrent-uprobes: setup headers
	$(BIN)/python tests/benchmarks/concurrent_uprobes.py --rounds 60 --traces 3

# 1,000 PID reuses by another user's process of a process traced through the service.
REUSES ?= 1000
.PHONY: bench-pid-reuse
bench-pid-reuse: setup headers install-agent
	$(BIN)/python tests/benchmarks/pid_reuse.py --reuses $(REUSES)

.PHONY: bench-mariadb
bench-mariadb: setup headers
	@command -v mariadbd >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends mariadb-server mariadb-client >/tmp/lineprobe-apt.log 2>&1 \
	  || { apt-get update -q >>/tmp/lineprobe-apt.log 2>&1 && \
	       apt-get install -y -q --no-install-recommends mariadb-server mariadb-client >>/tmp/lineprobe-apt.log 2>&1; }; }
	$(BIN)/python tests/benchmarks/mariadb_names.py

# CFI unwinding against perf record --call-graph dwarf (Debian's linux-perf) on the -O2 workloads.
bench-unwind: setup headers
	$(BIN)/python tests/benchmarks/unwind_vs_perf.py

clean:
	$(MAKE) -s -C workloads clean

# The VS Code extension (extension/): type check, unit tests, and the .vsix
# in extension/dist/lineprobe.vsix. Needs node and npm (the system's).
.PHONY: extension extension-modules e2e-editor
extension: extension-modules
	@cd extension && npx --no-install tsc -p . --noEmit && npm test --silent && npm run --silent package

# The extension's node modules: the privileged tests run its set-up step's code (tests/privileged/test_first_trace.py).
extension-modules:
	@cd extension && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --silent --no-audit --no-fund; }

# The extension in a real VS Code (code-server in headless Chromium) and the
# server in Neovim, against a running workload. The first run installs
# code-server, Node 24, Chromium and Neovim (under /opt/lineprobe-e2e, a few minutes).
e2e-editor: setup headers extension
	@bash tests/editor/run.sh

# Fuzz the DWARF accelerator in C with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer (tests/fuzz/fuzz_dwarf_accel.c); installs clang-14
# and its runtime from Debian when missing. Findings land in /tmp/lineprobe-fuzz-accel/.
FUZZ_ACCEL_RUNS ?= 1000000
FUZZ_ACCEL_BIN := /tmp/lineprobe-fuzz-accel/fuzz_dwarf_accel

.PHONY: fuzz-accel
fuzz-accel:
	@command -v clang-14 >/dev/null && test -n "$$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" \
	  || apt-get install -y -q clang-14 libclang-rt-14-dev > /tmp/lineprobe-apt.log 2>&1 \
	  || { apt-get update -q > /dev/null && apt-get install -y -q clang-14 libclang-rt-14-dev > /tmp/lineprobe-apt.log 2>&1; }
	@mkdir -p /tmp/lineprobe-fuzz-accel/work
	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -o $(FUZZ_ACCEL_BIN) tests/fuzz/fuzz_dwarf_accel.c
	$(FUZZ_ACCEL_BIN) -runs=$(FUZZ_ACCEL_RUNS) -timeout=5 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
	  -artifact_prefix=/tmp/lineprobe-fuzz-accel/ /tmp/lineprobe-fuzz-accel/work tests/fuzz/corpus-dwarf

# Fuzz the ELF/DWARF/CFI entry points (tests/fuzz/fuzz_elf.py, atheris) from the
# committed seed corpus; new inputs go to a scratch corpus, findings to /tmp.
FUZZ_RUNS ?= 100000
.PHONY: fuzz
fuzz: venv
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[fuzz]'
	@mkdir -p /tmp/lineprobe-fuzz/work
	$(BIN)/python tests/fuzz/fuzz_elf.py -runs=$(FUZZ_RUNS) -timeout=10 -rss_limit_mb=2048 \
	  -artifact_prefix=/tmp/lineprobe-fuzz/ /tmp/lineprobe-fuzz/work tests/fuzz/corpus

# Fuzz what lineprobe reads over its wires (tests/fuzz/fuzz_wire.py), one harness per wire
# (WIRE=request: the agent's request decoder; agent: the server's decoder of the agent's lines;
# lsp: the language server's LSP framing and message structuring; lsp-dispatch: the same, then
# each message handled by the server).
WIRE ?= request
.PHONY: fuzz-wire
fuzz-wire: setup
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[fuzz]'
	@mkdir -p /tmp/lineprobe-fuzz-wire-$(WIRE)
	$(BIN)/python tests/fuzz/fuzz_wire.py --wire=$(WIRE) -runs=$(FUZZ_RUNS) -timeout=10 -rss_limit_mb=2048 \
	  -artifact_prefix=/tmp/lineprobe-fuzz-wire-$(WIRE)- /tmp/lineprobe-fuzz-wire-$(WIRE) tests/fuzz/corpus-wire

# Fuzz the parsers of perf maps, .gnu_debuglink and index-cache files (tests/fuzz/fuzz_formats.py).
.PHONY: fuzz-formats
fuzz-formats: setup
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[fuzz]'
	@mkdir -p /tmp/lineprobe-fuzz-formats
	$(BIN)/python tests/fuzz/fuzz_formats.py -runs=$(FUZZ_RUNS) -timeout=10 -rss_limit_mb=2048 \
	  -artifact_prefix=/tmp/lineprobe-fuzz-formats-art- /tmp/lineprobe-fuzz-formats tests/fuzz/corpus-formats
