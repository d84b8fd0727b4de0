"""What the rest of lineprobe needs of an agent, whatever stands in for it.

``SpawnedAgent`` (``spawned``) starts the privileged agent and talks to it
over a socket pair; ``RecordedAgent`` (``recorded``) replays what an agent once
answered, so that everything above the agent can be tested, and shown, without
privileges. A service over a socket would be a third implementation.
"""

from __future__ import annotations

from typing import Any, Protocol

from lineprobe.capture.progress import CapabilityReport, ProgressCallback
from lineprobe.tracepoints.records import TracepointLayout


class AgentClient(Protocol):
    agent_pid: int
    started_in_s: float
    """From spawning the agent to its hello (charged to the first capture it serves)."""

    @property
    def alive(self) -> bool: ...

    def capabilities(self) -> CapabilityReport: ...

    def tracepoints(self, pattern: str) -> tuple[TracepointLayout, ...]:
        """The kernel's tracepoints matching a ``category:name`` glob, with their formats."""
        ...

    def prepare(self, programs: list[str]) -> float:
        """Compile programs before the first capture asks for them; returns seconds spent."""
        ...

    def trace(
        self,
        kind: str,
        pid: int,
        duration_s: float,
        parameters: dict[str, Any],
        progress: ProgressCallback | None = None,
        start_at_exec: int = 0,
    ) -> Any:
        """Run one capture of ``kind`` (``lineprobe.capture.kinds``) on a process; its raw capture."""
        ...

    def stop_all(self) -> None:
        """Ask every running capture to end early; each still answers with its data."""
        ...

    def close(self) -> None: ...
