"""The system views in the editor (``lineprobe.systemActivity``): disk, files, page cache and
interrupts, each in one process or across the machine, the scope always named by the request.
While one runs, ``lineprobe/systemLive`` carries its running totals about once a second (the
panel's live chart); its result is the CLI's ``--json`` object, with what the view cannot
measure (``cannot_measure``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from lineprobe.capture import kinds
from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.kinds import CaptureKind
from lineprobe.capture.progress import LiveReport
from lineprobe.capture.wire import parameters
from lineprobe.reports.disk_report import disk_to_json
from lineprobe.reports.files_report import files_to_json
from lineprobe.reports.irqs_report import irqs_to_json
from lineprobe.reports.page_cache_report import page_cache_to_json
from lineprobe.system.live import SystemLiveReport

SYSTEM_ACTIVITY = "lineprobe.systemActivity"
SYSTEM_LIVE = "lineprobe/systemLive"


class SystemArguments(msgspec.Struct, forbid_unknown_fields=True):
    view: Literal["disk", "files", "pagecache", "irqs"]
    scope: Literal["system", "process"]
    """Explicit in every request: "system" (every task; root only) or "process" (``pid``)."""
    pid: int | None = None
    durationMs: int | None = None
    slowMs: float | None = None
    """files: calls at least this slow are listed one by one."""


@dataclass(frozen=True)
class SystemView:
    kind: CaptureKind[Any]
    title: str
    to_json: Callable[[Any], dict[str, Any]]
    summary: Callable[[dict[str, Any]], str]
    machine_only: bool = False


VIEWS: dict[str, SystemView] = {
    "disk": SystemView(
        kinds.DISK,
        "Block I/O",
        disk_to_json,
        lambda r: f"{r['completed']:,} block requests",
    ),
    "files": SystemView(
        kinds.FILES,
        "File I/O",
        files_to_json,
        lambda r: f"{r['calls']:,} file calls, {len(r['slow']):,} slow",
    ),
    "pagecache": SystemView(
        kinds.PAGE_CACHE,
        "Page cache",
        page_cache_to_json,
        lambda r: f"{r['totals']['added']:,} pages added",
    ),
    "irqs": SystemView(
        kinds.IRQS,
        "Interrupts",
        irqs_to_json,
        lambda r: f"{sum(e['count'] for e in r['hard']):,} hard IRQs",
        machine_only=True,
    ),
}


def system_arguments(arguments: tuple[Any, ...]) -> SystemArguments:
    """The request, checked: the scope and the PID agree, the view allows the scope."""
    needs = '{"view": "disk"|"files"|"pagecache"|"irqs", "scope": "system"|"process", "pid"?: N}'
    if len(arguments) != 1 or not isinstance(arguments[0], dict):
        raise AgentError("bad-request", f"{SYSTEM_ACTIVITY} takes one object: {needs}")
    try:
        args = msgspec.convert(arguments[0], SystemArguments)
    except msgspec.ValidationError as exc:
        raise AgentError("bad-request", f"{SYSTEM_ACTIVITY} needs {needs}: {exc}") from None
    if args.scope == "process" and (args.pid is None or args.pid < 1):
        raise AgentError("bad-request", f'{SYSTEM_ACTIVITY}: scope "process" needs a pid')
    if args.scope == "system" and args.pid is not None:
        raise AgentError("bad-request", f'{SYSTEM_ACTIVITY}: scope "system" takes no pid (every task)')
    if VIEWS[args.view].machine_only and args.scope != "system":
        raise AgentError(
            "bad-request", f"{SYSTEM_ACTIVITY}: {args.view} belong to no process: use scope system"
        )
    for name, value, parameter, scale in (
        ("durationMs", args.durationMs, parameters.DURATION_S, 1000.0),
        ("slowMs", args.slowMs, parameters.FILE_SLOW_MS, 1.0),
    ):
        problem = parameters.check(name, parameter, value, scale) if value is not None else None
        if problem is not None:
            raise AgentError("bad-request", f"{SYSTEM_ACTIVITY}: {problem}")
    return args


def capture_parameters(args: SystemArguments) -> dict[str, Any]:
    if args.view == "files":
        return {
            "slow_ms": args.slowMs if args.slowMs is not None else parameters.default(parameters.FILE_SLOW_MS)
        }
    return {}


def system_live(args: SystemArguments) -> Callable[[LiveReport], tuple[str, dict[str, Any]] | None]:
    """The notification of each live report: the view, its scope, the running totals."""

    def notification(live: LiveReport) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(live, SystemLiveReport):
            return None
        return SYSTEM_LIVE, {
            "view": args.view,
            "scope": args.scope,
            "pid": args.pid,
            "elapsedS": round(live.elapsed_s, 3),
            "unit": live.unit,
            "totals": [{"name": name, "value": value} for name, value in live.totals],
        }

    return notification
