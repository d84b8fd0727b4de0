"""A CPU profile's timeline as a Chrome trace (the Trace Event Format that Perfetto, chrome://tracing
and speedscope read): per thread, one slice per time bucket named by what ran most in it.

The kernel counts samples per (stack, thread, time bucket), not one event per sample, so the trace
is as fine as the buckets: each non-empty bucket of a thread is a complete event (``ph: X``) as
long as the bucket, named by the function with the most self samples in it, with the bucket's
samples and its three busiest functions as arguments; a counter track (``ph: C``) per thread
draws its samples over time. Thread names come from the kernel (``ph: M`` metadata).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from lineprobe.costs.model import StackProfile
from lineprobe.costs.slices import SliceError

TOP_FUNCTIONS = 3


def chrome_trace_document(profile: StackProfile) -> dict[str, Any]:
    if not profile.time_bucket_ns:
        raise SliceError("this profile keeps no time: a Chrome trace needs time buckets (CPU profiles)")
    pid = profile.header.pid
    width_us = profile.time_bucket_ns / 1000
    busiest: dict[tuple[int, int], Counter[str]] = {}
    for stack in profile.stacks:
        if stack.time_bucket is None or not stack.frames:
            continue
        key = (stack.thread if stack.thread is not None else pid, stack.time_bucket)
        busiest.setdefault(key, Counter())[stack.frames[0].name] += stack.count
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": pid, "tid": pid, "args": {"name": profile.header.comm}}
    ]
    for tid in sorted({tid for tid, _ in busiest}):
        name = profile.thread_names.get(tid, str(tid))
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})
    for (tid, bucket), functions in sorted(busiest.items()):
        samples = sum(functions.values())
        top = functions.most_common(TOP_FUNCTIONS)
        events.append(
            {
                "ph": "X",
                "name": top[0][0],
                "cat": profile.cost.event,
                "pid": pid,
                "tid": tid,
                "ts": bucket * width_us,
                "dur": width_us,
                "args": {profile.cost.unit.value: samples, "busiest": dict(top)},
            }
        )
        events.append(
            {
                "ph": "C",
                "name": f"{profile.cost.unit.value} of {profile.thread_names.get(tid, tid)} ({tid})",
                "pid": pid,
                "tid": tid,
                "ts": bucket * width_us,
                "args": {profile.cost.unit.value: samples},
            }
        )
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": {"exporter": "lineprobe"}}


def write_chrome_trace(profile: StackProfile, path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(chrome_trace_document(profile), out)
