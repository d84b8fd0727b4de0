"""Stacks merged into a call tree, root first: the data of a flame graph.

Node names are the collapsed-stack labels (``function:line``), so a flame
graph, the folded output and ``scope`` below agree on what a frame is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lineprobe.costs.model import StackProfile
from lineprobe.reports.folded import frame_label
from lineprobe.symbolization.frame import SourceFrame


@dataclass
class FlameNode:
    name: str
    frame: SourceFrame | None
    value: int = 0
    children: dict[str, FlameNode] = field(default_factory=dict)
    before: int = 0
    """In a compared tree (``compared_flame_tree``): the before profile's samples on this path."""


def flame_tree(profile: StackProfile) -> FlameNode:
    root = FlameNode("all", None)
    _add(root, profile, before=False)
    return root


def compared_flame_tree(before: StackProfile, after: StackProfile) -> FlameNode:
    """``after``'s tree with each path's samples in ``before`` beside its own (``before``); a path
    only ``before`` took is there with no samples of ``after``: a differential flame graph's data."""
    root = FlameNode("all", None)
    _add(root, after, before=False)
    _add(root, before, before=True)
    return root


def _add(root: FlameNode, profile: StackProfile, before: bool) -> None:
    for stack in profile.stacks:
        node = root
        _count(node, stack.count, before)
        for frame in reversed(stack.frames):
            label = frame_label(frame)
            child = node.children.get(label)
            if child is None:
                child = node.children[label] = FlameNode(label, frame)
            _count(child, stack.count, before)
            node = child


def _count(node: FlameNode, count: int, before: bool) -> None:
    if before:
        node.before += count
    else:
        node.value += count


@dataclass
class ScopedLine:
    self_cost: int = 0
    total_cost: int = 0


def line_stats_under(
    profile: StackProfile, prefix: list[str]
) -> tuple[int, dict[tuple[str, int], ScopedLine]]:
    """Per-line counts from the samples under one call path (root-first labels).

    Only frames at or below the selected node count: the lines that the
    selected call path spent its time in. Returns (samples in scope, lines).
    """
    in_scope = 0
    lines: dict[tuple[str, int], ScopedLine] = {}
    depth = max(len(prefix) - 1, 0)
    for stack in profile.stacks:
        root_first = list(reversed(stack.frames))
        if [frame_label(f) for f in root_first[: len(prefix)]] != prefix:
            continue
        in_scope += stack.count
        seen: set[tuple[str, int]] = set()
        for index, frame in enumerate(root_first):
            if index < depth or frame.path is None or not frame.line:
                continue
            key = (frame.path, frame.line)
            stat = lines.setdefault(key, ScopedLine())
            if index == len(root_first) - 1:
                stat.self_cost += stack.count
            if key not in seen:
                seen.add(key)
                stat.total_cost += stack.count
    return in_scope, lines
