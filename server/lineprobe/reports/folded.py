"""Collapsed stacks, the input format of flamegraph.pl and speedscope.

One line per distinct stack: frames root first, separated by ``;``, then a
space and its weight in the primary cost column (samples, hits, bytes).
Kernel frames carry perf's ``_[k]`` suffix, inlined frames ``(inlined)``, and
a frame with a source line ends in ``:LINE`` so that flame graphs separate
the hot lines of one function.
"""

from __future__ import annotations

from collections import Counter

from lineprobe.costs.model import StackProfile
from lineprobe.symbolization.frame import FrameKind, SourceFrame


def function_label(frame: SourceFrame) -> str:
    """A frame's function as a folded stack names it, whichever of its lines (no ``;``, spaces or
    newlines): the node of a flame graph merged by function."""
    return frame.label.replace(";", ":").replace(" ", "_").replace("\n", "")


def frame_label(frame: SourceFrame) -> str:
    label = function_label(frame)
    if frame.line and frame.kind is not FrameKind.KERNEL:
        label += f":{frame.line}"
    return label


def folded_lines(profile: StackProfile) -> list[str]:
    counts: Counter[str] = Counter()
    for stack in profile.stacks:
        root_first = [frame_label(f) for f in reversed(stack.frames)] or ["[no stack]"]
        counts[";".join([profile.header.comm or "target", *root_first])] += stack.count
    # A stack that weighs nothing (a leak path whose blocks were all freed) is not drawn.
    return [f"{stack} {count}" for stack, count in sorted(counts.items()) if count]


def write_folded(profile: StackProfile, path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for line in folded_lines(profile):
            out.write(line + "\n")
