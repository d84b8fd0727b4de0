"""What every capture shares, whatever its kind: the target, the window, the map, the phases.

The agent sends it as one ``TraceHeader`` at the head of every result; the
capture layer turns that into a ``CaptureHeader`` here, once, for every kind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from lineprobe.model.mapping import MappedFile


@dataclass(frozen=True)
class Timings:
    agent_start_s: float = 0.0
    compile_s: float = 0.0
    attach_s: float = 0.0
    sampling_s: float = 0.0
    collect_s: float = 0.0
    resolution_s: float = 0.0

    def resolved_since(self, started: float) -> Timings:
        """These timings, with resolution from ``started`` (``time.monotonic()``) until now."""
        return replace(self, resolution_s=time.monotonic() - started)


@dataclass(frozen=True)
class CaptureHeader:
    pid: int
    exe: str
    comm: str
    requested_s: float
    duration_s: float
    started_at: float
    """Unix time when tracing started."""
    stopped_early: bool
    target_exited: bool
    exited_after_s: float | None
    mappings: tuple[MappedFile, ...]
    timings: Timings
    access_lost: str | None = None
    """Why tracing stopped early: the caller may no longer debug the target (see the agent's gate)."""
    held_events: int = 0
    """Events of the target not recorded while its access was being checked again, or after it was lost."""
    replayed: bool = False
    """Read back from a recording: the process is not there to look at (its files are the archive's)."""

    @property
    def process_gone(self) -> bool:
        """Whether /proc/PID is not the traced process any more (exited, or a recording)."""
        return self.target_exited or self.replayed

    def warnings(self, partial: str, launched: bool = False) -> list[str]:
        """What the user must know about the window itself: the target's exit (``partial`` names
        what is partial: "profile", "trace"), and events the agent's gate held back."""
        warnings: list[str] = []
        if self.target_exited and launched:
            warnings.append(f"the command exited after {self.exited_after_s or 0:.2f} s")
        elif self.target_exited:
            warnings.append(
                f"target exited after {self.exited_after_s or 0:.2f} s of {self.requested_s:.2f} s: "
                f"partial {partial}"
            )
        if self.access_lost is not None:
            warnings.append(
                f"tracing stopped after {self.duration_s:.2f} s: {self.access_lost}; "
                "nothing after that was recorded"
            )
        elif self.held_events:
            warnings.append(
                f"{self.held_events} events of the target not recorded: held while its right to be "
                "traced was checked again after it exec'd a new program"
            )
        return warnings
