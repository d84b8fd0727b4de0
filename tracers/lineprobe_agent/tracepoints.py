"""Tracepoints a compiled program attaches for one request and detaches after it.

A program is compiled once per agent and its functions loaded once (bcc keeps
them); what comes and goes with each request is only the attachment, a file
descriptor the kernel also drops if the agent dies. Names with a colon are
tracepoints (``block:block_rq_issue``, with arguments from tracefs), names
without one raw tracepoints (``sys_enter``, with the kernel's own arguments).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tracepoints:
    bpf: Any
    programs: Sequence[tuple[str, str]]
    """(tracepoint, function) pairs, attached in this order and detached in the reverse."""
    _attached: list[str] = field(default_factory=list)

    def attach(self) -> None:
        """Attach every pair not attached yet; after a failure the ones attached stay for ``detach``."""
        for tracepoint, function in self.programs:
            if tracepoint in self._attached:
                continue
            if ":" in tracepoint:
                self.bpf.attach_tracepoint(tp=tracepoint.encode(), fn_name=function.encode())
            else:
                self.bpf.attach_raw_tracepoint(tp=tracepoint.encode(), fn_name=function.encode())
            self._attached.append(tracepoint)

    def detach(self) -> None:
        """Detach whatever is attached (nothing: nothing to do). Every one is tried; the first
        failure is raised after the others are detached."""
        failure: Exception | None = None
        while self._attached:
            tracepoint = self._attached.pop()
            try:
                if ":" in tracepoint:
                    self.bpf.detach_tracepoint(tp=tracepoint.encode())
                else:
                    self.bpf.detach_raw_tracepoint(tp=tracepoint.encode())
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    @property
    def attached(self) -> bool:
        return bool(self._attached)
