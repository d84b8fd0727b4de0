"""The one error type of the capture layer: what the agent could not do, in the user's words."""

from __future__ import annotations


class AgentError(Exception):
    """A request the agent could not carry out, with a message for the user.

    ``code`` is the agent's error code (``no-such-process``, ``permission-denied``,
    ``bad-request``, ``no-privileges``...), for front ends that act on it.
    """

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}" + (f" ({self.hint})" if self.hint else "")


class IncompatibleAgent(AgentError):
    """The agent speaks a protocol version range that does not include this server's."""
