"""From captured stacks (addresses) to a resolved ``StackProfile``.

User stacks are unwound by CFI where an exemplar allows, every address is
resolved to source in one batch per binary, and the weighted stacks are
handed to the cost model's ``tally`` for per-line and per-function costs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from lineprobe.costs.aggregate import stack_profile
from lineprobe.costs.model import StackProfile, WeightedStack
from lineprobe.profiling.model import RawProfile, SampledStack, StackSnapshot
from lineprobe.symbolization.frame import FrameKind, SourceFrame
from lineprobe.symbolization.resolver import AddressSpace, ImageCache
from lineprobe.unwinding.stack_unwinder import unwind


def _kernel_frames(names: tuple[str, ...]) -> list[SourceFrame]:
    return [SourceFrame(name, None, None, None, FrameKind.KERNEL, "[kernel]") for name in names]


def _process_frame(process: str) -> list[SourceFrame]:
    """The outermost frame of a stack counted system-wide: its process, as perf shows its comm."""
    return [SourceFrame(process, None, None, None, FrameKind.NATIVE, "[process]")]


def _plausible_prefix(space: AddressSpace, user: tuple[int, ...]) -> list[int]:
    """A frame-pointer stack up to its first return address outside every mapped file.

    In code without frame pointers the kernel's walk follows whatever rbp
    holds; the first address that is not code marks where it went astray.
    The sampled address itself is always kept.
    """
    kept = list(user[:1])
    for address in user[1:]:
        if space.mapping_for(address) is None:
            break
        kept.append(address)
    return kept


def resolve_profile(raw: RawProfile, cache: ImageCache, launched: bool = False) -> StackProfile:
    started = time.monotonic()
    h = raw.header
    space = AddressSpace.of_capture(h, cache)
    stacks: list[WeightedStack] = []
    snapshots_of: dict[int, list[StackSnapshot]] = {}
    for snapshot in raw.snapshots:
        snapshots_of.setdefault(snapshot.stack_index, []).append(snapshot)
    stop_reasons: Counter[str] = Counter()
    # First every stack's user addresses (unwound where an exemplar allows), then all of them
    # resolved at once: each binary's DWARF searched in one batch.
    unresolved: list[tuple[int, list[SourceFrame], Sequence[int], list[SourceFrame], SampledStack]] = []
    for index, sampled in enumerate(raw.stacks):
        kernel = _kernel_frames(sampled.kernel)
        snapshots = snapshots_of.get(index)
        if not snapshots:
            outer = _process_frame(sampled.process) if sampled.process is not None else []
            unresolved.append((sampled.count, kernel, _plausible_prefix(space, sampled.user), outer, sampled))
            continue
        # The in-kernel count is exact; the exemplars say which full stacks it
        # was made of. Split the count over them, in whole samples.
        share, extra = divmod(sampled.count, len(snapshots))
        for position, snapshot in enumerate(snapshots):
            weight = share + (1 if position < extra else 0)
            if weight == 0:
                continue
            unwound = unwind(space, snapshot.registers, snapshot.stack)
            stop_reasons[unwound.stop_reason] += 1
            user = unwound.addresses
            if len(user) == 1 and len(sampled.user) > 1:
                user = list(sampled.user)  # CFI gave nothing: keep the frame-pointer walk
            unresolved.append((weight, kernel, user, [], sampled))
    space.prefetch(addresses for _, _, addresses, _, _ in unresolved)
    for weight, kernel, addresses, outer, sampled in unresolved:
        frames = kernel + space.resolve_stack(addresses) + outer
        stacks.append(WeightedStack((weight,), frames, sampled.thread, sampled.time_bucket))

    warnings = _warnings(raw, space, launched)
    stale = space.stale_sources()
    timings = raw.header.timings.resolved_since(started)
    c = raw.counters
    return stack_profile(
        raw.header,
        (raw.cost,),
        stacks,
        warnings + list(stale.values()),
        timings,
        lost=c.lost,
        rate_hz=raw.frequency,
        counters=asdict(c),
        exemplars=len(raw.snapshots),
        unwinding=dict(stop_reasons),
        stale_sources=stale,
        thread_names=dict(raw.thread_names),
        time_bucket_ns=raw.time_bucket_ms * 1_000_000,
    )


def _warnings(raw: RawProfile, space: AddressSpace, launched: bool) -> list[str]:
    warnings: list[str] = []
    c = raw.counters
    if c.lost:
        warnings.append(f"{c.lost} samples lost: the in-kernel aggregation map was full")
    if c.user_stack_missing:
        warnings.append(f"{c.user_stack_missing} samples without a user stack (their sampled line is kept)")
    if c.kernel_stack_missing:
        warnings.append(f"{c.kernel_stack_missing} kernel-mode samples without a kernel stack")
    if c.exemplars_lost:
        warnings.append(f"{c.exemplars_lost} stack copies lost: those samples use frame-pointer stacks")
    if c.stack_collisions:
        warnings.append(f"{c.stack_collisions} stacks dropped by hash collisions in the stack map")
    if c.untimed:
        warnings.append(
            f"{c.untimed} samples kept without their time (the in-kernel map had no room for more time "
            "buckets): they count in every total, but in no time range"
        )
    warnings.extend(raw.header.warnings("profile", launched))
    if raw.header.exe in space.binaries_without_debug_info:
        warnings.append(
            f"{raw.header.exe} has no debug information: only function names from its symbol table; "
            "rebuild with -g (or install its -dbg package) for source lines"
        )
    warnings.extend(space.problems())
    return warnings
