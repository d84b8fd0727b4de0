"""A speedscope "sampled" profile per cost column (https://www.speedscope.app/file-format-schema.json).

Where the kernel kept time buckets, the samples are in time order (speedscope's "Time Order"
view then reads left to right as the profile ran), and each thread also gets a profile of its
own (speedscope lists them to switch between), as hotspot and speedscope itself show threads.
"""

from __future__ import annotations

import json
from typing import Any

from lineprobe.costs.model import CostColumn, StackProfile
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

    # Time order where time was kept (stacks without it last), then by thread.
    stacks = sorted(
        profile.stacks,
        key=lambda s: (s.time_bucket is None, s.time_bucket or 0, s.thread or 0),
    )
    samples = [[frame_id(f) for f in reversed(stack.frames)] for stack in stacks]
    h = profile.header
    rate = f" at {profile.rate_hz} Hz" if profile.rate_hz else ""
    # One speedscope profile per cost column, each in its own unit, over the same stacks.
    profiles = []
    for column_index, column in enumerate(profile.columns):
        weights = [stack.costs[column_index] for stack in stacks]
        title = f"{column.title}{rate if column_index == 0 else ''}"
        profiles.append(_sampled(title, column, samples, weights))
    threads = sorted({s.thread for s in stacks if s.thread is not None})
    for tid in threads if len(threads) > 1 else []:
        mine = [i for i, stack in enumerate(stacks) if stack.thread == tid]
        name = f"thread {profile.thread_names.get(tid, '?')} ({tid}): {profile.cost.title}"
        profiles.append(
            _sampled(name, profile.cost, [samples[i] for i in mine], [stacks[i].count for i in mine])
        )
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "exporter": "lineprobe",
        "name": f"{h.comm} (pid {h.pid})",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": profiles,
    }


def _sampled(name: str, column: CostColumn, samples: list[list[int]], weights: list[int]) -> dict[str, Any]:
    return {
        "type": "sampled",
        "name": name,
        "unit": column.unit.speedscope,
        "startValue": 0,
        "endValue": sum(weights),
        "samples": samples,
        "weights": weights,
    }


def write_speedscope(profile: StackProfile, path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(speedscope_document(profile), out)
