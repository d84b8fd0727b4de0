"""A speedscope "sampled" profile (https://www.speedscope.app/file-format-schema.json)."""

from __future__ import annotations

import json
from typing import Any

from lineprobe.profiling.model import CpuProfile
from lineprobe.symbolization.frame import SourceFrame


def speedscope_document(profile: CpuProfile) -> dict[str, Any]:
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

    samples: list[list[int]] = []
    weights: list[int] = []
    for stack in profile.stacks:
        samples.append([frame_id(f) for f in reversed(stack.frames)])
        weights.append(stack.count)
    raw = profile.raw
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "exporter": "lineprobe",
        "name": f"{raw.header.comm} (pid {raw.header.pid})",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": f"CPU samples at {raw.frequency} Hz",
                "unit": "none",
                "startValue": 0,
                "endValue": sum(weights),
                "samples": samples,
                "weights": weights,
            }
        ],
    }


def write_speedscope(profile: CpuProfile, path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(speedscope_document(profile), out)
