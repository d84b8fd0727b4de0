"""From captured stacks (addresses) to a resolved ``StackProfile``.

User stacks are unwound by CFI where an exemplar allows, every address is
resolved to source in one batch per binary, and the weighted stacks are
handed to the cost model's ``tally`` for per-line and per-function costs.
A profile that followed the target's children resolves each child's stacks in
that child's own address space, under an outermost frame naming the process.
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
from lineprobe.unwinding.interpreted import Interpreted, interpreted_frames
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


class ProcessSpaces:
    """The address space each stack's user addresses are resolved in: the target's (its header's
    map), or, for a child a profile followed, the child's own, built on first use."""

    def __init__(self, raw: RawProfile, cache: ImageCache) -> None:
        self.raw = raw
        self.cache = cache
        self.target = AddressSpace.of_capture(raw.header, cache)
        self.children: dict[int, AddressSpace] = {}

    def of(self, sampled: SampledStack) -> tuple[AddressSpace | None, list[SourceFrame]]:
        """The space to resolve ``sampled`` in (None: a child whose map was never read, whose user
        addresses are dropped), and the outermost frames to add: a child's process."""
        tgid = sampled.tgid
        if tgid is None or tgid == self.raw.header.pid:
            outer = _process_frame(sampled.process) if sampled.process is not None else []
            return self.target, outer
        child = self.raw.processes.get(tgid)
        if child is None:
            return None, _process_frame(self.raw.thread_names.get(tgid) or f"pid {tgid}")
        space = self.children.get(tgid)
        if space is None:
            # Children are resolved from their files as named: a child's PID may be another's by now.
            space = self.children[tgid] = AddressSpace.of_process(tgid, child.mappings, self.cache, True)
            space.kernel_vdso = self.target.kernel_vdso
        return space, _process_frame(child.comm or f"pid {tgid}")

    def all(self) -> list[AddressSpace]:
        return [self.target, *self.children.values()]


def resolve_profile(raw: RawProfile, cache: ImageCache, launched: bool = False) -> StackProfile:
    started = time.monotonic()
    spaces = ProcessSpaces(raw, cache)
    space = spaces.target
    stacks: list[WeightedStack] = []
    snapshots_of: dict[int, list[StackSnapshot]] = {}
    for snapshot in raw.snapshots:
        snapshots_of.setdefault(snapshot.stack_index, []).append(snapshot)
    stop_reasons: Counter[str] = Counter()
    # First every stack's user addresses (unwound where an exemplar allows), then all of them
    # resolved at once: each binary's DWARF searched in one batch.
    Unresolved = tuple[
        int, list[SourceFrame], Sequence[int], list[SourceFrame], SampledStack, AddressSpace, Interpreted
    ]
    unresolved: list[Unresolved] = []
    for index, sampled in enumerate(raw.stacks):
        kernel = _kernel_frames(sampled.kernel)
        own, outer = spaces.of(sampled)
        if own is None:  # a child gone before its map was read: its kernel frames and its name
            unresolved.append((sampled.count, kernel, [], outer, sampled, space, None))
            continue
        snapshots = snapshots_of.get(index)
        if not snapshots:
            unresolved.append(
                (sampled.count, kernel, _plausible_prefix(own, sampled.user), outer, sampled, own, None)
            )
            continue
        # The in-kernel count is exact; the exemplars say which full stacks it
        # was made of. Split the count over them, in whole samples.
        share, extra = divmod(sampled.count, len(snapshots))
        for position, snapshot in enumerate(snapshots):
            weight = share + (1 if position < extra else 0)
            if weight == 0:
                continue
            unwound = unwind(own, snapshot.registers, snapshot.stack)
            stop_reasons[unwound.stop_reason] += 1
            user = unwound.addresses
            interpreted: Interpreted = None
            if len(user) == 1 and len(sampled.user) > 1:
                user = list(sampled.user)  # CFI gave nothing: keep the frame-pointer walk
            else:
                interpreted = interpreted_frames(own, unwound, snapshot.registers, snapshot.stack)
            unresolved.append((weight, kernel, user, outer, sampled, own, interpreted))
    for each in spaces.all():
        each.prefetch(addresses for _, _, addresses, _, _, own, _ in unresolved if own is each)
    for weight, kernel, addresses, outer, sampled, own, interpreted in unresolved:
        frames = kernel + own.resolve_stack(addresses, interpreted) + outer
        stacks.append(WeightedStack((weight,), frames, sampled.thread, sampled.time_bucket))

    warnings = _warnings(raw, spaces, launched)
    stale: dict[str, str] = {}
    for each in spaces.all():
        stale.update(each.stale_sources())
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


def _warnings(raw: RawProfile, spaces: ProcessSpaces, launched: bool) -> list[str]:
    warnings: list[str] = []
    space = spaces.target
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
    if c.children_not_followed:
        warnings.append(
            f"{c.children_not_followed} processes started were not followed: the in-kernel map of "
            "followed processes was full"
        )
    if c.children_unmapped:
        warnings.append(
            f"{c.children_unmapped} processes exited before their memory map could be read: their "
            "samples show only kernel frames and the process's name"
        )
    for tgid, child_space in spaces.children.items():
        exe = raw.processes[tgid].exe
        if exe in child_space.binaries_without_debug_info and exe != raw.header.exe:
            warnings.append(f"{exe} (a child process) has no debug information: only function names")
    for each in spaces.all():
        warnings.extend(problem for problem in each.problems() if problem not in warnings)
    return warnings
