"""Turning a ProfileView into LSP values: diagnostics, inlay hints, lenses, hovers, heat.

Pure functions of the view (and of the document text where positions need
it), so they are unit-tested without a client. Positions are 0-based in LSP
and 1-based in DWARF: the conversion happens here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from lineprobe.costs.model import CostUnit, LineStat
from lineprobe.lsp.profile_view import DocumentProfile, ProfileView
from lineprobe.reports.flame_tree import FlameNode, flame_tree, line_stats_under, node_label
from lineprobe.symbolization.frame import FrameKind

SOURCE = "lineprobe"
MAX_NEIGHBOURS = 5


def _line_range(line: int, length: int = 0) -> types.Range:
    return types.Range(types.Position(line - 1, 0), types.Position(line - 1, max(length, 0)))


def _where(function: str | None, path: str | None, line: int | None) -> str:
    name = function or "??"
    if path and line:
        return f"{name} ({path.rsplit('/', 1)[-1]}:{line})"
    return name


def diagnostics(
    view: ProfileView, doc: DocumentProfile, threshold: float, lines: list[str]
) -> list[types.Diagnostic]:
    result: list[types.Diagnostic] = []
    cost = view.profile.cost
    stale_note = " (source changed since the binary was built: lines may have moved)" if doc.stale else ""
    for number, stat in sorted(doc.lines.items()):
        share = view.percent(stat.self_cost)
        if share < threshold or stat.self_cost == 0:
            continue
        length = len(lines[number - 1]) if 0 < number <= len(lines) else 0
        related = [
            types.DiagnosticRelatedInformation(
                location=types.Location(
                    uri=_uri(view.local_path(caller_path) or caller_path),
                    range=_line_range(caller_line),
                ),
                message=f"called from {caller_fn or '??'}: {view.percent(count):.1f}% of {cost.unit.noun}",
            )
            for (caller_fn, caller_path, caller_line), count in _top(stat.callers)
            if caller_path and caller_line
        ]
        where = f" in {stat.function}" + (" (inlined)" if stat.inlined else "") if stat.function else ""
        result.append(
            types.Diagnostic(
                range=_line_range(number, length),
                message=f"{share:.1f}% of {cost.title} (self){where}{stale_note}",
                severity=types.DiagnosticSeverity.Information,
                source=SOURCE,
                code=cost.code,
                related_information=related or None,
                data={
                    "self_percent": round(share, 2),
                    "total_percent": round(view.percent(stat.total_cost), 2),
                },
            )
        )
    return result


def _uri(path: str) -> str:
    return from_fs_path(path) or f"file://{path}"


def _top(counts: dict[Any, int]) -> list[tuple[Any, int]]:
    return sorted(counts.items(), key=lambda item: -item[1])[:MAX_NEIGHBOURS]


def inlay_hints(
    view: ProfileView, doc: DocumentProfile, lines: list[str], visible: types.Range
) -> list[types.InlayHint]:
    hints: list[types.InlayHint] = []
    cost = view.profile.cost
    for number, stat in sorted(doc.lines.items()):
        if not visible.start.line <= number - 1 <= visible.end.line:
            continue
        self_share = view.percent(stat.self_cost)
        total_share = view.percent(stat.total_cost)
        if cost.unit is CostUnit.HITS:  # every hit counted, none sampled: the count says more
            label = cost.format(stat.self_cost) if stat.self_cost else f"{cost.format(stat.total_cost)} total"
            if stat.self_cost and stat.total_cost > stat.self_cost:
                label += f", {cost.format(stat.total_cost)} total"
        else:
            label = f"{self_share:.1f}% self" if stat.self_cost else f"{total_share:.1f}% total"
            if stat.self_cost and total_share - self_share >= 0.05:
                label += f", {total_share:.1f}% total"
        length = len(lines[number - 1]) if 0 < number <= len(lines) else 0
        hints.append(
            types.InlayHint(
                position=types.Position(number - 1, length),
                label=label,
                padding_left=True,
                tooltip=f"{cost.format(stat.self_cost)} of {cost.format(view.profile.total)} ({cost.title}) "
                f"on this line itself; {cost.format(stat.total_cost)} with it on the stack",
            )
        )
    return hints


def function_lenses(view: ProfileView, doc: DocumentProfile) -> list[types.CodeLens]:
    lenses = []
    cost = view.profile.cost
    for fstat in doc.functions:
        if not fstat.line:
            continue
        total = view.percent(fstat.total_cost)
        title = f"{cost.event} {total:.1f}% total, {view.percent(fstat.self_cost):.1f}% self"
        if fstat.inlined:
            title += " (inlined)"
        lenses.append(
            types.CodeLens(
                range=_line_range(fstat.line),
                command=types.Command(title=title, command=""),
            )
        )
    return lenses


def hover(view: ProfileView, stat: LineStat) -> types.Hover:
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hover_markdown(view, stat))
    )


def hover_markdown(view: ProfileView, stat: LineStat) -> str:
    p = view.profile
    cost = p.cost
    rate = f" at {p.rate_hz} Hz" if p.rate_hz else ""
    parts = [
        f"**lineprobe: {cost.event}** ({cost.format(p.total)} of pid {p.header.pid} `{p.header.comm}` "
        f"over {p.header.duration_s:.1f} s{rate})",
        "",
        f"- self: **{view.percent(stat.self_cost):.1f}%** ({cost.format(stat.self_cost)})",
        f"- total: **{view.percent(stat.total_cost):.1f}%** ({cost.format(stat.total_cost)})",
    ]
    # The other columns, as values: their shares would be of a different whole.
    for column, self_value, total_value in zip(
        p.columns[1:], stat.self_costs[1:], stat.total_costs[1:], strict=True
    ):
        parts.append(
            f"- {column.title}: {column.format(self_value)} self, {column.format(total_value)} total"
        )
    parts += [
        f"- function: `{stat.function or '??'}`" + (" (inlined)" if stat.inlined else ""),
    ]
    if stat.callers:
        parts += ["", "Callers:"]
        parts += [f"- {_where(*key)}: {view.percent(n):.1f}%" for key, n in _top(stat.callers)]
    if stat.callees:
        parts += ["", "Callees:"]
        parts += [f"- {_where(*key)}: {view.percent(n):.1f}%" for key, n in _top(stat.callees)]
    if stat.kernel_callees:
        parts += ["", "In the kernel (system calls, interrupts):"]
        top = sorted(stat.kernel_callees.items(), key=lambda item: -item[1])[:5]
        parts += [f"- `{name}`: {view.percent(n):.1f}%" for name, n in top]
    if p.lost:
        parts += ["", f"{cost.format(p.lost)} were lost."]
    return "\n".join(parts)


def flame_graph(view: ProfileView, by_function: bool = False) -> dict[str, Any]:
    """The ``lineprobe.flameGraph`` tree (PROTOCOL.md): d3-flame-graph's shape plus source locations,
    its nodes frames by line, or ``by_function``."""

    def node(n: FlameNode) -> dict[str, Any]:
        return {
            **flame_frame(view, n),
            "children": [node(c) for c in sorted(n.children.values(), key=lambda c: -c.value)],
        }

    return node(flame_tree(view.profile, node_label(by_function)))


def flame_frame(view: ProfileView, n: FlameNode) -> dict[str, Any]:
    """A flame graph node's own fields (PROTOCOL.md, ``lineprobe.flameGraph``): its name, value and
    where its frame's source is, in the workspace when it is there."""
    frame = n.frame
    path = view.local_path(frame.path) if frame is not None else None
    return {
        "name": n.name,
        "function": frame.function if frame is not None else None,
        "value": n.value,
        "path": frame.path if frame is not None else None,
        "line": frame.line if frame is not None else None,
        "uri": from_fs_path(path) if path else None,
        "inlined": frame is not None and frame.kind is FrameKind.INLINED,
        "kernel": frame is not None and frame.kind is FrameKind.KERNEL,
    }


def scoped_heat(
    view: ProfileView, prefix: list[str], by_function: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """``lineprobe/heat`` params for every profiled document, from samples under ``prefix`` (names
    of frames by line, or ``by_function``)."""
    if not prefix:
        return view.profile.total, [heat(view, doc) for doc in view.documents.values()]
    in_scope, stats = line_stats_under(view.profile, prefix, node_label(by_function))
    per_doc: dict[str, list[dict[str, Any]]] = {uri: [] for uri in view.documents}
    for (dwarf_path, line), stat in sorted(stats.items()):
        path = view.local_path(dwarf_path)
        doc = view.by_path.get(path) if path else None
        if doc is None:
            continue
        per_doc[doc.uri].append(
            {
                "line": line - 1,
                "self_percent": round(view.percent(stat.self_cost), 2),
                "total_percent": round(view.percent(stat.total_cost), 2),
            }
        )
    return in_scope, [
        {"uri": uri, "samples": view.profile.total, "scope": prefix, "lines": lines}
        for uri, lines in per_doc.items()
    ]


def heat(view: ProfileView, doc: DocumentProfile) -> dict[str, Any]:
    """The ``lineprobe/heat`` notification's params (see PROTOCOL.md)."""
    cost = view.profile.cost
    return {
        "uri": doc.uri,
        "samples": view.profile.total,
        "event": cost.event,
        "unit": cost.unit.value,
        "lines": [
            {
                "line": number - 1,
                "self_percent": round(view.percent(stat.self_cost), 2),
                "total_percent": round(view.percent(stat.total_cost), 2),
            }
            for number, stat in sorted(doc.lines.items())
        ],
    }
