"""What the programs compiled for one request on a process's USDT probes share (``probe_args``,
``jvm_events``): bcc's USDT context tied to the program's life, the target gate, the window's
start, perf-ring polling, and live reports at most once a second.
"""

from __future__ import annotations

import time
from typing import Any

from lineprobe_agent.bpf_source import BPF_DIR
from lineprobe_agent.bpf_tracer import BpfTracer
from lineprobe_agent.stack_counter import UnknownTracepoint
from lineprobe_agent.target_gate import TargetGate

LIVE_INTERVAL_S = 1.0
"""How often a running program reports what it has seen."""


def usdt_context(pid: int, path: str | None, probes: list[tuple[str, str]]) -> Any:
    """bcc's USDT context for process ``pid`` (its files, or only ``path``), with each
    ``(PROVIDER:NAME, function)`` enabled; refuses, in words, a probe it cannot enable."""
    from bcc.usdt import USDT, USDTException

    context = USDT(pid=pid, path=path) if path else USDT(pid=pid)
    for probe, function in probes:
        try:
            context.enable_probe(probe=probe, fn_name=function)
        except USDTException as exc:
            raise UnknownTracepoint(f"cannot enable {probe} in process {pid}: {exc}") from None
    return context


class UsdtProgram(BpfTracer):
    """One target, one window: compiled for it (``text`` with ``settings`` as -D macros, the
    context's argument readers written in by bcc), attached, collected, closed."""

    def __init__(self, text: str, settings: dict[str, str], context: Any) -> None:
        from bcc import BPF

        cflags = [f"-I{BPF_DIR}", *(f"-D{name}={value}" for name, value in settings.items())]
        self._bpf: Any = BPF(text=text.encode(), cflags=cflags, usdt_contexts=[context])
        # bcc's USDT context must outlive the program (destroyed earlier, it closes descriptors
        # the program still uses), and go right after it (destroyed later, it closes numbers that
        # new descriptors may have taken by then): see close().
        self._usdt: Any = context
        self.gate = TargetGate(self._bpf)
        self.started_ns = 0
        self._live_at = 0.0

    def start(self, pid: int) -> None:
        """The uprobes were attached at compile time (bcc does so for a USDT context); the gate
        decides from here on whether a hit is the target's."""
        self.started_ns = time.monotonic_ns()
        self.gate.attach()
        self.gate.open(pid)

    def poll(self, timeout_s: float) -> None:
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def tick(self) -> None:
        """Nothing between polls: the kernel counts, the ring delivers."""

    def events_so_far(self) -> int:
        raise NotImplementedError

    def live_due(self) -> bool:
        """Whether a live report is due (at most one every ``LIVE_INTERVAL_S``)."""
        now = time.monotonic()
        if now - self._live_at < LIVE_INTERVAL_S:
            return False
        self._live_at = now
        return True

    def stop(self) -> None:
        self.gate.close()
        self.gate.detach()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._usdt = None
