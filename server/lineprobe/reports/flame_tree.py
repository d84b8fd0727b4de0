"""Stacks merged into a call tree, root first: the data of a flame graph.

Node names are the collapsed-stack labels (``function:line``), so a flame
graph, the folded output and ``scope`` below agree on what a frame is; or,
merged by function (``function_label``), the function's name alone, one box
for all of a function's lines on a call path, as perf's and hotspot's flame
graphs draw it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lineprobe.costs.model import StackProfile
from lineprobe.reports.folded import frame_label, function_label
from lineprobe.symbolization.frame import SourceFrame

FrameLabel = Callable[[SourceFrame], str]
"""What makes two frames one node: ``frame_label`` (function and line) or ``function_label``."""


def node_label(by_function: bool) -> FrameLabel:
    return function_label if by_function else frame_label


@dataclass
class FlameNode:
    name: str
    frame: SourceFrame | None
    value: int = 0
    children: dict[str, FlameNode] = field(default_factory=dict)
    before: int = 0
    """In a compared tree (``compared_flame_tree``): the before profile's samples on this path."""
    frame_counts: dict[SourceFrame, int] = field(default_factory=dict)
    """Samples through this node by frame: its ``frame`` is the one with the most (merged by
    function, the line a click opens is where the most samples passed)."""


def flame_tree(profile: StackProfile, label: FrameLabel = frame_label) -> FlameNode:
    root = FlameNode("all", None)
    _add(root, profile, before=False, label=label)
    return root


def compared_flame_tree(
    before: StackProfile, after: StackProfile, label: FrameLabel = frame_label
) -> FlameNode:
    """``after``'s tree with each path's samples in ``before`` beside its own (``before``); a path
    only ``before`` took is there with no samples of ``after``: a differential flame graph's data."""
    root = FlameNode("all", None)
    _add(root, after, before=False, label=label)
    _add(root, before, before=True, label=label)
    return root


def _add(root: FlameNode, profile: StackProfile, before: bool, label: FrameLabel) -> None:
    for stack in profile.stacks:
        node = root
        _count(node, stack.count, before)
        for frame in reversed(stack.frames):
            name = label(frame)
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = FlameNode(name, frame)
            if not before:
                counted = child.frame_counts[frame] = child.frame_counts.get(frame, 0) + stack.count
                if child.frame is None or counted > child.frame_counts.get(child.frame, 0):
                    child.frame = frame
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
    profile: StackProfile, prefix: list[str], label: FrameLabel = frame_label
) -> tuple[int, dict[tuple[str, int], ScopedLine]]:
    """Per-line counts from the samples under one call path (root-first names, as ``label`` gives
    them).

    Only frames at or below the selected node count: the lines that the
    selected call path spent its time in. Returns (samples in scope, lines).
    """
    in_scope = 0
    lines: dict[tuple[str, int], ScopedLine] = {}
    depth = max(len(prefix) - 1, 0)
    for stack in profile.stacks:
        root_first = list(reversed(stack.frames))
        if [label(f) for f in root_first[: len(prefix)]] != prefix:
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
