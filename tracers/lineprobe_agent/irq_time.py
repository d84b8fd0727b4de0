"""Hard and soft interrupt time by IRQ and by softirq vector (``bpf/irq_time.bpf.c``): what
libbpf-tools' hardirqs and softirqs report, from the irq tracepoints, counted in the kernel.
Machine-wide, so root callers only."""

from __future__ import annotations

from lineprobe_agent.bpf_tables import c_text
from lineprobe_agent.protocol import IrqTime, LiveReport, Mapping
from lineprobe_agent.system_live import LiveTotals
from lineprobe_agent.tracepoint_program import TracepointProgram

IRQ_TRACEPOINTS = (
    ("irq:irq_handler_entry", "on_hard_entry"),
    ("irq:irq_handler_exit", "on_hard_exit"),
    ("irq:softirq_entry", "on_soft_entry"),
    ("irq:softirq_exit", "on_soft_exit"),
)
SOFTIRQ_NAMES = ("hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched", "hrtimer", "rcu")
"""The kernel's softirq vectors, in their order (include/linux/interrupt.h)."""


class IrqTracer(TracepointProgram):
    """One window of interrupt time: compiled for it, attached, collected, closed. Machine-wide:
    the gate is never opened (interrupts belong to no process)."""

    TABLES = ("hard", "hard_names", "soft")
    TRACEPOINTS = IRQ_TRACEPOINTS

    def __init__(self) -> None:
        super().__init__("irq_time", True, {})
        self._live = LiveTotals("ns")

    def events_so_far(self) -> int:
        return sum(int(v.count) for v in self._bpf["hard"].values())

    def live(self, mappings: list[Mapping]) -> LiveReport | None:
        """Time so far by hard IRQ and softirq vector."""
        if not self._live.due():
            return None
        hard, soft = self._times()
        return self._live.report(
            [(f"irq {e.number} {e.name}", e.time_ns) for e in hard]
            + [(f"softirq {e.name}", e.time_ns) for e in soft]
        )

    def _forget(self) -> None:
        self._live.reset()

    def collect(self) -> tuple[list[IrqTime], list[IrqTime]]:
        hard, soft = self._times()
        self._reset()
        return hard, soft

    def _times(self) -> tuple[list[IrqTime], list[IrqTime]]:
        """Each IRQ's and softirq vector's count and time so far, most time first."""
        names = {int(irq.value): c_text(entry.name) for irq, entry in self._bpf["hard_names"].items()}
        hard = [
            IrqTime(
                names.get(int(irq.value), f"irq {int(irq.value)}"),
                int(irq.value),
                int(v.count),
                int(v.time_ns),
            )
            for irq, v in self._bpf["hard"].items()
        ]
        soft = [
            IrqTime(
                SOFTIRQ_NAMES[int(vec.value)]
                if int(vec.value) < len(SOFTIRQ_NAMES)
                else f"vec {int(vec.value)}",
                int(vec.value),
                int(v.count),
                int(v.time_ns),
            )
            for vec, v in self._bpf["soft"].items()
        ]
        hard.sort(key=lambda i: -i.time_ns)
        soft.sort(key=lambda i: -i.time_ns)
        return hard, soft
