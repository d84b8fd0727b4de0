"""From captured stacks to per-line and per-function self and total counts.

*Self* counts a sample once for the innermost frame (the line or function
that was executing). *Total* counts it once for every line or function
anywhere in its stack, however often recursion repeats it, so a total share
never exceeds 100%.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from lineprobe.model.capture import Timings
from lineprobe.profiling.model import (
    CpuProfile,
    FunctionStat,
    LineKey,
    LineStat,
    RawProfile,
    ResolvedStack,
    StackSnapshot,
)
from lineprobe.symbolization.frame import FrameKind, SourceFrame
from lineprobe.symbolization.resolver import AddressSpace, ImageCache
from lineprobe.unwinding.stack_unwinder import unwind


def _kernel_frames(names: tuple[str, ...]) -> list[SourceFrame]:
    return [SourceFrame(name, None, None, None, FrameKind.KERNEL, "[kernel]") for name in names]


def _process_frame(process: str) -> list[SourceFrame]:
    """The outermost frame of a stack counted system-wide: its process, as perf shows its comm."""
    return [SourceFrame(process, None, None, None, FrameKind.NATIVE, "[process]")]


def _neighbour_key(frame: SourceFrame) -> tuple[str | None, str | None, int | None]:
    return frame.function, frame.path, frame.line


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


def resolve_profile(raw: RawProfile, cache: ImageCache, launched: bool = False) -> CpuProfile:
    started = time.monotonic()
    h = raw.header
    space = AddressSpace.of_process(h.pid, h.mappings, cache, h.process_gone)
    stacks: list[ResolvedStack] = []
    snapshots_of: dict[int, list[StackSnapshot]] = {}
    for snapshot in raw.snapshots:
        snapshots_of.setdefault(snapshot.stack_index, []).append(snapshot)
    stop_reasons: Counter[str] = Counter()
    # First every stack's user addresses (unwound where an exemplar allows), then all of them
    # resolved at once: each binary's DWARF searched in one batch.
    unresolved: list[tuple[int, list[SourceFrame], Sequence[int], list[SourceFrame]]] = []
    for index, sampled in enumerate(raw.stacks):
        kernel = _kernel_frames(sampled.kernel)
        snapshots = snapshots_of.get(index)
        if not snapshots:
            outer = _process_frame(sampled.process) if sampled.process is not None else []
            unresolved.append((sampled.count, kernel, _plausible_prefix(space, sampled.user), outer))
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
            unresolved.append((weight, kernel, user, []))
    space.prefetch(addresses for _, _, addresses, _ in unresolved)
    for weight, kernel, addresses, outer in unresolved:
        stacks.append(ResolvedStack(weight, kernel + space.resolve_stack(addresses) + outer))

    lines: dict[LineKey, LineStat] = {}
    functions: dict[tuple[str, str], FunctionStat] = {}
    total_samples = 0
    for stack in stacks:
        total_samples += stack.count
        seen_lines: set[LineKey] = set()
        seen_functions: set[tuple[str, str]] = set()
        for depth, frame in enumerate(stack.frames):
            is_leaf = depth == 0
            # Lines are kept only where the path is absolute: a relative DWARF path
            # (a distribution's libc built elsewhere) names no file a user can open.
            if frame.path is not None and frame.line and frame.path.startswith("/"):
                key = LineKey(frame.path, frame.line)
                stat = lines.get(key)
                if stat is None:
                    stat = lines[key] = LineStat(
                        frame.path, frame.line, frame.function, inlined=frame.kind is FrameKind.INLINED
                    )
                if is_leaf:
                    stat.self_samples += stack.count
                if key not in seen_lines:
                    seen_lines.add(key)
                    stat.total_samples += stack.count
                    if depth + 1 < len(stack.frames):
                        caller = _neighbour_key(stack.frames[depth + 1])
                        stat.callers[caller] = stat.callers.get(caller, 0) + stack.count
                    below = stack.frames[depth - 1] if depth > 0 else None
                    if below is not None and below.kind is FrameKind.KERNEL:
                        name = below.function or "[kernel]"
                        stat.kernel_callees[name] = stat.kernel_callees.get(name, 0) + stack.count
                    elif below is not None:
                        callee = _neighbour_key(below)
                        stat.callees[callee] = stat.callees.get(callee, 0) + stack.count
            name = frame.function or f"[unknown in {frame.binary.rsplit('/', 1)[-1]}]"
            fkey = (name, frame.binary)
            fstat = functions.get(fkey)
            if fstat is None:
                fstat = functions[fkey] = FunctionStat(
                    name,
                    frame.function_path or frame.path,
                    frame.function_line or frame.line,
                    frame.binary,
                    inlined=frame.kind is FrameKind.INLINED,
                )
            if is_leaf:
                fstat.self_samples += stack.count
            if fkey not in seen_functions:
                seen_functions.add(fkey)
                fstat.total_samples += stack.count

    warnings = _warnings(raw, space, launched)
    stale = space.stale_sources()
    resolution_s = time.monotonic() - started
    t = raw.header.timings
    timings = Timings(t.agent_start_s, t.compile_s, t.attach_s, t.sampling_s, t.collect_s, resolution_s)
    return CpuProfile(
        unwinding=dict(stop_reasons),
        raw=raw,
        samples=total_samples,
        stacks=stacks,
        lines=sorted(lines.values(), key=lambda s: (-s.self_samples, -s.total_samples, s.path, s.line)),
        functions=sorted(functions.values(), key=lambda f: (-f.self_samples, -f.total_samples, f.function)),
        warnings=warnings + list(stale.values()),
        timings=timings,
        stale_sources=stale,
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
    warnings.extend(raw.header.warnings("profile", launched))
    if raw.header.exe in space.binaries_without_debug_info:
        warnings.append(
            f"{raw.header.exe} has no debug information: only function names from its symbol table; "
            "rebuild with -g (or install its -dbg package) for source lines"
        )
    warnings.extend(space.problems())
    return warnings
