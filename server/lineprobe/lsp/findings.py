"""One thing to show at one line of a document: the shape every tracer's view produces.

A CPU profile has its own, richer per-line model (``profile_view``); system
calls and leaks both become lists of findings, shown the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types


@dataclass
class Finding:
    line: int
    """1-based, as DWARF numbers lines."""
    code: str
    severity: types.DiagnosticSeverity | None
    """None: no diagnostic (shown as an inlay hint and hover only)."""
    message: str
    hint: str
    hover: str
    related: list[tuple[str, int, str]] = field(default_factory=list)
    """(path, line, message) for each caller frame of the exemplar stack."""
    create_file: str | None = None
    open_file: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
