"""What every tracer shares: a compiled program, an exemplar buffer, and a clean slate per trace.

A tracer lives as long as the agent and serves many traces; after each
collect its maps, its exemplars and its own bookkeeping start again from
nothing, and when the agent ends the program is freed whatever stopping did.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from lineprobe_agent import protocol
from lineprobe_agent.bpf_tables import close_program, empty


class Exemplars(Protocol):
    """What a tracer's exemplar buffer (``ExemplarBuffer``) offers between traces."""

    def reset(self) -> None: ...


class NoExemplars:
    """The exemplar buffer of a program that sends no stack copies: nothing to reset."""

    lost = 0

    def reset(self) -> None:
        """Nothing came through a ring."""


class BpfTracer:
    TABLES: ClassVar[tuple[str, ...]] = ()
    """The maps emptied after every collect."""

    _bpf: Any
    _exemplars: Exemplars

    def stop(self) -> None:
        raise NotImplementedError

    def live(self, mappings: list[protocol.Mapping]) -> protocol.LiveReport | None:
        """Most kinds show their result only."""
        return None

    def close(self) -> None:
        close_program(self.stop, self._bpf)

    def _reset(self) -> None:
        """After a collect: the next trace starts from nothing."""
        self._exemplars.reset()
        self._forget()
        empty(self._bpf, self.TABLES)

    def _forget(self) -> None:
        """The tracer's own bookkeeping between traces (none by default)."""
