"""Server settings, from ``initializationOptions`` and ``workspace/didChangeConfiguration``.

Unknown keys are ignored and malformed values keep the previous value, with
a message: a client that sends garbage must not take the server down.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from lineprobe.capture.wire import parameters
from lineprobe.capture.wire.parameters import Parameter

RESULT_KINDS = ("profile", "syscalls", "leaks", "probes")
"""The kinds of results the editor shows, each the latest of its kind (a CPU profile or a
comparison, a system-call trace, a leak trace, a USDT count)."""

DIAGNOSTIC_THRESHOLD = Parameter(0.0, 100.0, 1.0, unit="%")
"""Minimum self share (percent) of a line for an Information diagnostic: an editor setting only."""


@dataclass(frozen=True)
class PathMapping:
    """Rewrite DWARF paths that start with ``source`` to start with ``target``."""

    source: str
    target: str


@dataclass(frozen=True)
class Settings:
    diagnostic_threshold: float = parameters.default(DIAGNOSTIC_THRESHOLD)
    """Minimum self share (percent) of a line for an Information diagnostic."""
    frequency: int = int(parameters.default(parameters.FREQUENCY))
    duration_ms: int = int(1000 * parameters.default(parameters.DURATION_S))
    launcher: str | None = None
    slow_io_threshold_ms: float = parameters.default(parameters.SLOW_MS)
    prepare_agent: bool = True
    """Start the agent and compile the CPU sampler when the editor connects."""
    leak_budget_percent: float = parameters.default(parameters.BUDGET_PERCENT)
    """CPU share the allocation probes may cost a target (the leak tracer's sampling governor)."""
    """File I/O call sites with a p99 at least this slow get a Warning diagnostic."""
    path_mappings: tuple[PathMapping, ...] = field(default_factory=tuple)
    java_source_roots: tuple[str, ...] = ()
    """Folders besides the workspace's where Java sources are found by package path."""
    show_diagnostics: frozenset[str] = frozenset(RESULT_KINDS)
    """The kinds of results published as diagnostics (the others: heat, hints, hovers only)."""
    show_inlay_hints: frozenset[str] = frozenset(RESULT_KINDS)
    show_code_lenses: frozenset[str] = frozenset(RESULT_KINDS)
    action_lenses: bool = True
    """"Profile for 5 s", "Trace syscalls", "Find leaks" on the functions of running binaries."""

    def map_path(self, path: str) -> str:
        for mapping in self.path_mappings:
            if path == mapping.source or path.startswith(mapping.source.rstrip("/") + "/"):
                return mapping.target.rstrip("/") + path[len(mapping.source.rstrip("/")) :]
        return path

    def debug_info_path(self, local: str) -> str:
        """The path the debug information names a local file by: ``map_path`` backwards (the
        first mapping whose target holds it), else the file's own."""
        for mapping in self.path_mappings:
            target = mapping.target.rstrip("/")
            if local == target or local.startswith(target + "/"):
                return mapping.source.rstrip("/") + local[len(target) :]
        return local


def update_settings(current: Settings, raw: Any) -> tuple[Settings, list[str]]:
    """Apply a client's settings object; returns the new settings and complaints."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return current, [] if raw is None else [f"settings must be an object, not {type(raw).__name__}"]
    if isinstance(raw.get("lineprobe"), dict):
        raw = raw["lineprobe"]
    updated = current

    def number(key: str, parameter: Parameter, scale: float = 1.0) -> float | None:
        value = raw.get(key)
        if value is None:
            return None
        problem = parameters.check(key, parameter, value, scale)
        if problem is not None:
            problems.append(f"setting {problem}")
            return None
        return float(value)

    threshold = number("diagnosticThreshold", DIAGNOSTIC_THRESHOLD)
    if threshold is not None:
        updated = replace(updated, diagnostic_threshold=threshold)
    frequency = number("frequency", parameters.FREQUENCY)
    if frequency is not None:
        updated = replace(updated, frequency=int(frequency))
    leak_budget = number("leakBudgetPercent", parameters.BUDGET_PERCENT)
    if leak_budget is not None:
        updated = replace(updated, leak_budget_percent=leak_budget)
    slow = number("slowIoThresholdMs", parameters.SLOW_MS)
    if slow is not None:
        updated = replace(updated, slow_io_threshold_ms=slow)
    duration = number("durationMs", parameters.DURATION_S, 1000.0)
    if duration is not None:
        updated = replace(updated, duration_ms=int(duration))
    if "prepareAgent" in raw:
        if isinstance(raw["prepareAgent"], bool):
            updated = replace(updated, prepare_agent=raw["prepareAgent"])
        else:
            problems.append("setting prepareAgent must be true or false")

    def kinds(key: str) -> frozenset[str] | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, list) and all(kind in RESULT_KINDS for kind in value):
            return frozenset(value)
        problems.append(f"setting {key} must be a list of {', '.join(RESULT_KINDS)}, not {value!r}")
        return None

    diagnostics, hints, lenses = kinds("showDiagnostics"), kinds("showInlayHints"), kinds("showCodeLenses")
    if diagnostics is not None:
        updated = replace(updated, show_diagnostics=diagnostics)
    if hints is not None:
        updated = replace(updated, show_inlay_hints=hints)
    if lenses is not None:
        updated = replace(updated, show_code_lenses=lenses)
    if "actionLenses" in raw:
        if isinstance(raw["actionLenses"], bool):
            updated = replace(updated, action_lenses=raw["actionLenses"])
        else:
            problems.append("setting actionLenses must be true or false")
    if "launcher" in raw:
        launcher = raw["launcher"]
        if launcher is None or isinstance(launcher, str):
            updated = replace(updated, launcher=launcher or None)
        else:
            problems.append("setting launcher must be a string")
    if "javaSourceRoots" in raw:
        roots = raw["javaSourceRoots"]
        if isinstance(roots, list) and all(isinstance(root, str) and root.startswith("/") for root in roots):
            updated = replace(updated, java_source_roots=tuple(roots))
        else:
            problems.append("setting javaSourceRoots must be a list of absolute folder paths")
    if "pathMappings" in raw:
        mappings = raw["pathMappings"]
        parsed: list[PathMapping] = []
        if isinstance(mappings, list):
            for item in mappings:
                if (
                    isinstance(item, dict)
                    and isinstance(item.get("from"), str)
                    and isinstance(item.get("to"), str)
                ):
                    parsed.append(PathMapping(item["from"], item["to"]))
                else:
                    problems.append(f"ignored path mapping {item!r}: needs string 'from' and 'to'")
            updated = replace(updated, path_mappings=tuple(parsed))
        else:
            problems.append("setting pathMappings must be a list of {from, to}")
    return updated, problems
