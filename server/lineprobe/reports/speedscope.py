"""A speedscope "sampled" profile per cost column (https://www.speedscope.app/file-format-schema.json)."""

from __future__ import annotations

import json
from typing import Any

from lineprobe.costs.model import StackProfile
from lineprobe.symbolization.frame import SourceFrame


def speedscope_document(profile: StackProfile) -> dict[str, Any]:
    frames: list[dict[str, Any]] = []
    index: dict[tuple[str, str | None, int | None], int] = {}

    def frame_id(frame: SourceFrame) -> int:
        key = (frame.label, frame.path, frame.line)
        if key not in index:
            entry: dict[str, Any] = {"name": frame.label}
            if frame.path:
                entry["file"] = frame.path
            if frame.line:
                entry["line"] = frame.line
            if frame.column:
                entry["col"] = frame.column
            index[key] = len(frames)
            frames.append(entry)
        return index[key]

    samples = [[frame_id(f) for f in reversed(stack.frames)] for stack in profile.stacks]
    h = profile.header
    rate = f" at {profile.rate_hz} Hz" if profile.rate_hz else ""
    # One speedscope profile per cost column, each in its own unit, over the same stacks.
    profiles = []
    for column_index, column in enumerate(profile.columns):
        weights = [stack.costs[column_index] for stack in profile.stacks]
        profiles.append(
            {
                "type": "sampled",
                "name": f"{column.title}{rate if column_index == 0 else ''}",
                "unit": column.unit.speedscope,
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
        )
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "exporter": "lineprobe",
        "name": f"{h.comm} (pid {h.pid})",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": profiles,
    }


def write_speedscope(profile: StackProfile, path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(speedscope_document(profile), out)
