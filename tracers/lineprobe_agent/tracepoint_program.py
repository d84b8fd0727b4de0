"""What the per-request programs on a fixed set of kernel tracepoints share (disk, files, page
cache, interrupts): compiled with their settings, attached in one process's tasks behind the
gate or in every task, and detached, the gate with them, when the window ends."""

from __future__ import annotations

from typing import ClassVar

from lineprobe_agent.bpf_source import BPF_DIR, program_text
from lineprobe_agent.bpf_tracer import BpfTracer, NoExemplars
from lineprobe_agent.target_gate import TargetGate


class TracepointProgram(BpfTracer):
    TRACEPOINTS: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(``category:name``, the program's function) pairs attached for a window."""

    def __init__(self, name: str, system_wide: bool, settings: dict[str, str]) -> None:
        """Compile ``bpf/<name>.bpf.c`` with ``settings`` as ``-D`` numbers (SYSTEM_WIDE added)."""
        from bcc import BPF

        cflags = [f"-I{BPF_DIR}", f"-DSYSTEM_WIDE={1 if system_wide else 0}"]
        cflags += [f"-D{setting}={value}" for setting, value in settings.items()]
        self._bpf = BPF(text=program_text(name, {}).encode(), cflags=cflags)
        self._exemplars = NoExemplars()
        self.gate = TargetGate(self._bpf)
        self.system_wide = system_wide
        self._attached: list[str] = []

    def tracepoints(self) -> tuple[tuple[str, str], ...]:
        return self.TRACEPOINTS

    def start(self, pid: int | None) -> None:
        """Open the gate on ``pid`` (None: every task), then attach every tracepoint."""
        if pid is None:
            self.gate.close()
        else:
            self.gate.attach()
            self.gate.open(pid)
        for tracepoint, function in self.tracepoints():
            self._bpf.attach_tracepoint(tp=tracepoint.encode(), fn_name=function.encode())
            self._attached.append(tracepoint)

    def poll(self, timeout_s: float) -> None:
        """Wait, delivering what the perf buffers hold: the gate's exec and reuse events, and the
        program's own records where it sends any (its counts stay in the kernel)."""
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def tick(self) -> None:
        """Nothing between polls, unless the program has names to learn."""

    def stop(self) -> None:
        attached, self._attached = self._attached, []
        for tracepoint in attached:
            self._bpf.detach_tracepoint(tp=tracepoint.encode())
        if not self.system_wide:
            self.gate.close()
            self.gate.detach()
