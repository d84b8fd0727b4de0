"""A comparison of two CPU captures as LSP values: delta heat, diagnostics, inlay hints, lenses,
hovers and a differential flame graph.

Pure functions of the ``Comparison`` (and of the document text where positions need it), as
``presentation`` is of a profile. Costs are in the comparison's unit (CPU seconds, or CPU
seconds per second of capture); a change within twice its sampling error is never coloured or
reported as a finding, only shown in the hover (``costs.diff``).
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from lineprobe.costs.diff import CostChange, LineChange
from lineprobe.lsp.comparison_view import ComparedDocument, Comparison
from lineprobe.lsp.presentation import flame_frame
from lineprobe.lsp.profile_view import ProfileView
from lineprobe.reports.flame_tree import FlameNode, compared_flame_tree, node_label

SOURCE = "lineprobe"
HOTTER_CODE = "cpu-hotter"
COLDER_CODE = "cpu-colder"


def _direction(change: CostChange) -> str:
    return "hotter" if change.self_delta > 0 else "colder"


def _relative(before: float, after: float) -> str:
    return f", {100 * (after - before) / before:+.0f}%" if before else ", new"


def _change_text(comparison: Comparison, change: CostChange) -> str:
    """``-441.0 ms of self CPU (2.56 s → 2.12 s, -17%)``."""
    unit = comparison.diff.normalisation
    before, after = change.before.self_cost, change.after.self_cost
    return (
        f"{unit.format_cost(change.self_delta, signed=True)} of self CPU "
        f"({unit.format_cost(before)} → {unit.format_cost(after)}{_relative(before, after)})"
    )


def heat(comparison: Comparison, doc: ComparedDocument) -> dict[str, Any]:
    """The ``lineprobe/heat`` params of a compared document (``"mode": "diff"``, PROTOCOL.md):
    each line's change of self cost as a percentage of the before capture's cost, signed."""
    diff = comparison.diff
    return {
        "uri": doc.uri,
        "samples": diff.after.samples,
        "event": "cpu-clock",
        "unit": "samples",
        "mode": "diff",
        "scale_percent": round(comparison.change_percent(comparison.largest_change), 3),
        "lines": [
            {
                "line": number - 1,
                "self_percent": round(change.after.self_share, 2),
                "total_percent": round(change.after.total_share, 2),
                "change_percent": round(comparison.change_percent(change.self_delta), 3),
                "within_noise": change.within_noise,
            }
            for number, change in sorted(doc.lines.items())
        ],
    }


def diagnostics(
    comparison: Comparison, doc: ComparedDocument, threshold: float, lines: list[str]
) -> list[types.Diagnostic]:
    """A finding per line that moved beyond the sampler's luck by at least ``threshold`` percent
    of the before capture's cost: a Warning where it got hotter (a regression), Information where
    colder."""
    result = []
    for number, change in sorted(doc.lines.items()):
        moved = comparison.change_percent(change.self_delta)
        if change.within_noise or abs(moved) < threshold:
            continue
        length = len(lines[number - 1]) if 0 < number <= len(lines) else 0
        hotter = change.self_delta > 0
        where = f" in {change.function}" if change.function else ""
        rebuilt = "; its code was rebuilt in between" if change.build.value == "rebuilt" else ""
        moved_source = (
            "; the file was edited after a build: the line may name other code" if change.source_moved else ""
        )
        result.append(
            types.Diagnostic(
                range=types.Range(types.Position(number - 1, 0), types.Position(number - 1, length)),
                message=(
                    f"{_direction(change)}: {_change_text(comparison, change)}{where}, "
                    f"{comparison.before_name} → {comparison.after_name}{rebuilt}{moved_source}"
                ),
                severity=types.DiagnosticSeverity.Warning if hotter else types.DiagnosticSeverity.Information,
                source=SOURCE,
                code=HOTTER_CODE if hotter else COLDER_CODE,
                data={
                    "change_percent": round(moved, 3),
                    "before": change.before.self_cost,
                    "after": change.after.self_cost,
                },
            )
        )
    return result


def inlay_hints(
    comparison: Comparison, doc: ComparedDocument, lines: list[str], visible: types.Range
) -> list[types.InlayHint]:
    unit = comparison.diff.normalisation
    hints = []
    for number, change in sorted(doc.lines.items()):
        if change.within_noise or not visible.start.line <= number - 1 <= visible.end.line:
            continue
        before, after = change.before.self_cost, change.after.self_cost
        length = len(lines[number - 1]) if 0 < number <= len(lines) else 0
        hints.append(
            types.InlayHint(
                position=types.Position(number - 1, length),
                label=f"{unit.format_cost(change.self_delta, signed=True)}{_relative(before, after)}",
                padding_left=True,
                tooltip=f"{_direction(change)}: {_change_text(comparison, change)}",
            )
        )
    return hints


def function_lenses(comparison: Comparison, doc: ComparedDocument) -> list[types.CodeLens]:
    unit = comparison.diff.normalisation
    lenses = []
    for function in doc.functions:
        if function.line is None:
            continue
        before, after = function.before.total_cost, function.after.total_cost
        title = (
            f"CPU {unit.format_cost(before)} → {unit.format_cost(after)} total{_relative(before, after)}, "
            f"self {unit.format_cost(function.self_delta, signed=True)}"
        )
        lenses.append(
            types.CodeLens(
                range=types.Range(types.Position(function.line - 1, 0), types.Position(function.line - 1, 0)),
                command=types.Command(title=title, command=""),
            )
        )
    return lenses


def hover_markdown(comparison: Comparison, change: LineChange) -> str:
    diff = comparison.diff
    cost = diff.normalisation.format_cost
    b, a = change.before, change.after
    noise = (
        "within twice the sampling error: the sampler's luck could have made it"
        if change.within_noise
        else "beyond twice the sampling error"
    )
    parts = [
        f"**lineprobe: compared** `{comparison.before_name}` → `{comparison.after_name}` "
        f"(CPU {cost(diff.before.cost)} → {cost(diff.after.cost)})",
        "",
        "| | before | after | change |",
        "|---|---:|---:|---:|",
        f"| self | {cost(b.self_cost)} ({b.self_share:.1f}%) | {cost(a.self_cost)} "
        f"({a.self_share:.1f}%) | **{cost(change.self_delta, signed=True)}** |",
        f"| total | {cost(b.total_cost)} ({b.total_share:.1f}%) | {cost(a.total_cost)} "
        f"({a.total_share:.1f}%) | {cost(change.total_delta, signed=True)} |",
        f"| samples (self) | {b.self_samples:,} | {a.self_samples:,} | |",
        "",
        f"Sampling error of the self change: ±{cost(change.sampling_error)}, so the change is {noise}.",
        f"- function: `{change.function or '??'}`" + (" (inlined)" if change.inlined else ""),
    ]
    if change.build.value == "rebuilt":
        parts.append("- the two captures ran different builds of this file's code")
    if change.source_moved:
        parts.append(
            "- the file was edited after one of the builds: this line may name other code in the other"
        )
    return "\n".join(parts)


def flame_graph(comparison: Comparison, view: ProfileView, by_function: bool = False) -> dict[str, Any]:
    """The ``lineprobe.flameGraph`` tree of a comparison: the after capture's, each node with
    ``delta`` (its samples after less before, the before ones scaled to the after capture's
    rate and normalisation) for d3-flame-graph's differential colours, and both costs. Nodes are
    frames by line, or ``by_function``."""
    diff = comparison.diff
    after_scale = diff.after.cost / diff.after.samples if diff.after.samples else 0.0
    before_scale = diff.before.cost / diff.before.samples if diff.before.samples else 0.0
    # One before sample in after samples: what the same cost would have been sampled as.
    ratio = before_scale / after_scale if after_scale else 0.0

    def node(n: FlameNode) -> dict[str, Any]:
        return {
            **flame_frame(view, n),
            "delta": round(n.value - n.before * ratio, 2),
            "before": n.before * before_scale,
            "after": n.value * after_scale,
            "children": [
                node(c) for c in sorted(n.children.values(), key=lambda c: (-c.value, -c.before)) if c.value
            ],
        }

    return node(compared_flame_tree(comparison.before, view.profile, node_label(by_function)))
