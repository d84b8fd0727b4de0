"""Two CPU profiles of one program compared line by line and function by function.

Each line and function gets its self and total cost in both captures, as samples, as CPU time
and as a share of its capture, and the change between them; the lines and functions that moved
most come first (by the absolute change of their self cost: where the time went, not the callers
it passed through, whose total follows their callees').

**What is compared (the normalisation).** A sample of the ``cpu-clock`` sampler stands for
``1 / rate_hz`` seconds of CPU, so samples / rate is the CPU time a line used, whatever rate
each capture sampled at. That is the default (``CPU_TIME``), and the right figure when both
captures ran the same work: a launched command run to completion on the same input, before and
after a change. A line whose code got cheaper then shows fewer CPU seconds, and the lines that did
not change show the same, whatever the change did to the total.

Captures of a running process (``--pid``) are windows of its life, and CPU time grows with the
window: ``PER_SECOND`` divides by each capture's length, giving CPU seconds per second of
capture (cores busy on that line). It compares rates of work, which is right only if the load
(requests per second, say) was the same in both windows.

Shares (percent of each capture's samples) are given beside both, but a share is not a cost: a
line that did not change takes a larger share when the others get cheaper.

**How sure a change is.** A line's sample count varies from run to run like a count of
independent events: its standard deviation is about its square root. ``sampling_error`` is that,
for the change of the self cost (both captures' errors combined), in the compared unit; a change
within twice it could be the sampler's luck. It does not cover what sampling does systematically:
skid, and the shadow of a slow instruction (work that executes while it waits retires after
it, and samples land on the slow one), which move samples between neighbouring lines when one
of them gets slower or faster; nor the run-to-run drift of the machine itself (a VM's shared
cores, another load), which moves every line, changed or not. Two builds of workloads/primes that
differ only in the hot line's division (tests/privileged/test_diff.py) put that line's change
within a few percent of the CPU time the program saved, measured with getrusage.

**Builds.** Lines are paired by source file and line number. When the binaries that a file's
code ran from have different build ids in the two captures, the same line ran different machine
code (rebuilt, other flags); that is what a before/after comparison is often about, and it is
marked (``BuildMatch.REBUILT``), not hidden. If a source file was also edited after one of the
builds (the profile's ``stale_sources``), a line number may name different code in the two
captures: such lines are marked ``source_moved``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from lineprobe.costs.model import CPU_SAMPLES, StackProfile


class DiffError(ValueError):
    """Two profiles that cannot be compared as asked (not CPU samples, no length to divide by)."""


class Normalisation(Enum):
    """What a line's samples are turned into before they are compared (see the module's text)."""

    CPU_TIME = "cpu-time"
    PER_SECOND = "per-second"

    @property
    def unit(self) -> str:
        """CPU seconds, or CPU seconds per second of capture."""
        return "s" if self is Normalisation.CPU_TIME else "s/s"

    def format_cost(self, value: float, signed: bool = False) -> str:
        """CPU seconds as ``1.23 s``, ``45.6 ms``; per second of capture as ``0.512 s/s``."""
        sign = "+" if signed and value > 0 else ""
        if self is Normalisation.PER_SECOND:
            return f"{sign}{value:.3f} s/s"
        magnitude = abs(value)
        if magnitude >= 1 or magnitude == 0:
            return f"{sign}{value:.2f} s"
        if magnitude >= 0.001:
            return f"{sign}{value * 1000:.1f} ms"
        return f"{sign}{value * 1e6:.0f} us"


class BuildMatch(Enum):
    """Whether a source file's code came from the same build in both captures."""

    SAME = "same"
    REBUILT = "rebuilt"
    UNKNOWN = "unknown"
    """A binary without a build id, or code seen in only one capture."""


@dataclass(frozen=True)
class CostSide:
    """A line's or a function's cost in one capture."""

    self_samples: int
    total_samples: int
    self_cost: float
    """Self samples, normalised (CPU seconds, or CPU seconds per second)."""
    total_cost: float
    self_share: float
    """Percent of the capture's samples."""
    total_share: float


@dataclass(frozen=True)
class CostChange:
    """A line's or a function's cost before and after."""

    before: CostSide
    after: CostSide
    sampling_error: float
    """One standard deviation of ``self_delta`` from sampling alone, in the compared unit."""
    build: BuildMatch
    source_moved: bool
    """Its source file changed after one of the builds: the line may name other code in the other."""

    @property
    def self_delta(self) -> float:
        return self.after.self_cost - self.before.self_cost

    @property
    def total_delta(self) -> float:
        return self.after.total_cost - self.before.total_cost

    @property
    def self_share_delta(self) -> float:
        return self.after.self_share - self.before.self_share

    @property
    def total_share_delta(self) -> float:
        return self.after.total_share - self.before.total_share

    @property
    def within_noise(self) -> bool:
        """A change of the self cost no larger than twice the sampling error."""
        return abs(self.self_delta) <= 2 * self.sampling_error


@dataclass(frozen=True)
class LineChange(CostChange):
    path: str
    line: int
    function: str | None
    inlined: bool


@dataclass(frozen=True)
class FunctionChange(CostChange):
    function: str
    path: str | None
    line: int | None
    binary: str
    """The binary it ran from (the after capture's where it ran in both)."""
    inlined: bool


@dataclass(frozen=True)
class CaptureSide:
    """What one capture was: its target, its samples and how long it ran."""

    exe: str
    comm: str
    pid: int
    samples: int
    rate_hz: int
    duration_s: float
    ran_to_exit: bool
    """The target exited during the capture (a launched command run to completion, typically)."""
    cost: float
    """All its samples, normalised."""
    lost: int
    build_ids: dict[str, str | None]
    """Binaries its code ran from (that have samples) -> build id."""

    @property
    def cpu_s(self) -> float:
        return self.samples / self.rate_hz


@dataclass(frozen=True)
class ProfileDiff:
    """Two captures compared; ``lines`` and ``functions`` biggest self change first."""

    normalisation: Normalisation
    before: CaptureSide
    after: CaptureSide
    lines: tuple[LineChange, ...]
    functions: tuple[FunctionChange, ...]
    rebuilt_sources: tuple[str, ...]
    """Source files whose code ran from different builds in the two captures."""
    moved_sources: tuple[str, ...]
    """Source files edited after one of the builds: their line numbers may not pair up."""
    warnings: tuple[str, ...]

    @property
    def total_delta(self) -> float:
        return self.after.cost - self.before.cost

    def hotter_lines(self) -> list[LineChange]:
        return [change for change in self.lines if change.self_delta > 0]

    def colder_lines(self) -> list[LineChange]:
        return [change for change in self.lines if change.self_delta < 0]

    def hotter_functions(self) -> list[FunctionChange]:
        return [change for change in self.functions if change.self_delta > 0]

    def colder_functions(self) -> list[FunctionChange]:
        return [change for change in self.functions if change.self_delta < 0]


DURATION_MISMATCH = 0.1
"""Attached captures whose lengths differ by more than this fraction compare windows, not work."""


def diff_profiles(
    before: StackProfile, after: StackProfile, normalisation: Normalisation = Normalisation.CPU_TIME
) -> ProfileDiff:
    """``before`` and ``after`` compared per line and per function (see the module's text)."""
    sides = _Sides(
        before, after, _scale(before, normalisation, "before"), _scale(after, normalisation, "after")
    )
    source_ids = (_build_ids_by_source(before), _build_ids_by_source(after))
    builds = {
        path: _build_match(source_ids[0].get(path, frozenset()), source_ids[1].get(path, frozenset()))
        for path in source_ids[0].keys() | source_ids[1].keys()
    }
    moved = frozenset(before.stale_sources) | frozenset(after.stale_sources)
    old_lines, new_lines = _lines(before), _lines(after)
    lines = []
    for key in old_lines.keys() | new_lines.keys():
        old, new = old_lines.get(key, _NO_COST), new_lines.get(key, _NO_COST)
        known = new if key in new_lines else old
        lines.append(
            LineChange(
                *sides.compared(old, new),
                build=builds.get(key[0], BuildMatch.UNKNOWN),
                source_moved=key[0] in moved,
                path=key[0],
                line=key[1],
                function=new.function if new.function is not None else old.function,
                inlined=known.inlined,
            )
        )
    old_functions, new_functions = _functions(before), _functions(after)
    functions = []
    for name_and_source in old_functions.keys() | new_functions.keys():
        old = old_functions.get(name_and_source, _NO_COST)
        new = new_functions.get(name_and_source, _NO_COST)
        known = new if name_and_source in new_functions else old
        functions.append(
            FunctionChange(
                *sides.compared(old, new),
                build=_build_match(old.build_ids, new.build_ids),
                source_moved=known.path in moved,
                function=name_and_source[0],
                path=known.path,
                line=known.line,
                binary=known.binary,
                inlined=known.inlined,
            )
        )
    lines.sort(key=lambda c: (-abs(c.self_delta), -abs(c.total_delta), c.path, c.line))
    functions.sort(key=lambda c: (-abs(c.self_delta), -abs(c.total_delta), c.function))
    return ProfileDiff(
        normalisation,
        _capture_side(before, sides.scale_before),
        _capture_side(after, sides.scale_after),
        tuple(lines),
        tuple(functions),
        tuple(sorted(path for path, match in builds.items() if match is BuildMatch.REBUILT)),
        tuple(sorted(moved)),
        tuple(_warnings(before, after, normalisation, sorted(moved))),
    )


def _scale(profile: StackProfile, normalisation: Normalisation, which: str) -> float:
    """What one sample of ``profile`` is worth in the compared unit."""
    if profile.cost != CPU_SAMPLES or profile.rate_hz <= 0:
        raise DiffError(
            f"the {which} profile is not of CPU samples at a known rate ({profile.cost.title}): "
            "only CPU profiles are compared"
        )
    if normalisation is Normalisation.CPU_TIME:
        return 1.0 / profile.rate_hz
    if profile.header.duration_s <= 0:
        raise DiffError(f"the {which} capture has no length to divide by: compare CPU time instead")
    return 1.0 / (profile.rate_hz * profile.header.duration_s)


@dataclass(frozen=True)
class _Costs:
    """A line's or function's samples in one capture (several entries of it added up)."""

    self_samples: int = 0
    total_samples: int = 0
    function: str | None = None
    path: str | None = None
    line: int | None = None
    binary: str = ""
    inlined: bool = False
    build_ids: frozenset[str | None] = frozenset()
    """Of the binaries a function ran from (lines: their file's, ``_build_ids_by_source``)."""


_NO_COST = _Costs()


@dataclass(frozen=True)
class _Sides:
    """The two profiles and what one sample of each is worth in the compared unit."""

    before: StackProfile
    after: StackProfile
    scale_before: float
    scale_after: float

    def compared(self, old: _Costs, new: _Costs) -> tuple[CostSide, CostSide, float]:
        """Both sides of one line or function, and the sampling error of its self change: a
        count's standard deviation is about its square root (the module's text)."""
        error = math.hypot(
            math.sqrt(old.self_samples) * self.scale_before, math.sqrt(new.self_samples) * self.scale_after
        )
        return _side(old, self.before, self.scale_before), _side(new, self.after, self.scale_after), error


def _side(costs: _Costs, profile: StackProfile, scale: float) -> CostSide:
    return CostSide(
        costs.self_samples,
        costs.total_samples,
        costs.self_samples * scale,
        costs.total_samples * scale,
        profile.share(costs.self_samples),
        profile.share(costs.total_samples),
    )


def _lines(profile: StackProfile) -> dict[tuple[str, int], _Costs]:
    return {
        (stat.path, stat.line): _Costs(stat.self_cost, stat.total_cost, stat.function, inlined=stat.inlined)
        for stat in profile.lines
    }


def _functions(profile: StackProfile) -> dict[tuple[str, str], _Costs]:
    """Functions by name and source file (by binary name where there is no source), so that the
    same function of two builds pairs up. A function found twice under one key (a header's
    static function in two binaries) is added up: its total may then count a stack twice."""
    build_id = _build_ids(profile)
    found: dict[tuple[str, str], _Costs] = {}
    for stat in profile.functions:
        key = (stat.function, stat.path or os.path.basename(stat.binary))
        known = found.get(key, _NO_COST)
        found[key] = _Costs(
            known.self_samples + stat.self_cost,
            known.total_samples + stat.total_cost,
            stat.function,
            known.path or stat.path,
            known.line or stat.line,
            known.binary or stat.binary,
            known.inlined or stat.inlined,
            known.build_ids | {build_id.get(stat.binary)},
        )
    return found


def _build_ids(profile: StackProfile) -> dict[str, str | None]:
    """Mapped file -> its build id (None: it has none, or it was not read)."""
    return {mapping.path: mapping.build_id or None for mapping in profile.header.mappings}


def _build_ids_by_source(profile: StackProfile) -> dict[str, frozenset[str | None]]:
    """Source file -> the build ids of the binaries its sampled code ran from: a line names its
    function, and a function the binary it ran from."""
    build_id = _build_ids(profile)
    binaries_of: dict[str, set[str]] = {}
    for function in profile.functions:
        binaries_of.setdefault(function.function, set()).add(function.binary)
    ids: dict[str, set[str | None]] = {}
    for stat in profile.lines:
        for binary in binaries_of.get(stat.function or "", ()):
            ids.setdefault(stat.path, set()).add(build_id.get(binary))
    for function in profile.functions:
        if function.path is not None:
            ids.setdefault(function.path, set()).add(build_id.get(function.binary))
    return {path: frozenset(found) for path, found in ids.items()}


def _build_match(before: frozenset[str | None], after: frozenset[str | None]) -> BuildMatch:
    if not before or not after or None in before or None in after:
        return BuildMatch.UNKNOWN
    return BuildMatch.SAME if before == after else BuildMatch.REBUILT


def _capture_side(profile: StackProfile, scale: float) -> CaptureSide:
    h = profile.header
    build_id = _build_ids(profile)
    sampled = {function.binary for function in profile.functions if function.total_cost > 0}
    return CaptureSide(
        exe=h.exe,
        comm=h.comm,
        pid=h.pid,
        samples=profile.total,
        rate_hz=profile.rate_hz,
        duration_s=h.duration_s,
        ran_to_exit=h.target_exited,
        cost=profile.total * scale,
        lost=profile.lost,
        build_ids={binary: build_id.get(binary) for binary in sorted(sampled) if binary in build_id},
    )


def _warnings(
    before: StackProfile, after: StackProfile, normalisation: Normalisation, moved: Iterable[str]
) -> list[str]:
    warnings: list[str] = []
    b, a = before.header, after.header
    windows = not (b.target_exited and a.target_exited)
    longer, shorter = max(b.duration_s, a.duration_s), min(b.duration_s, a.duration_s)
    if normalisation is Normalisation.CPU_TIME and windows and longer > shorter * (1 + DURATION_MISMATCH):
        warnings.append(
            f"the captures are windows of {b.duration_s:.2f} s and {a.duration_s:.2f} s of running "
            "processes: their CPU time differs with the windows' lengths too (--per-second compares "
            "CPU time per second of capture)"
        )
    for which, profile in (("before", before), ("after", after)):
        if profile.lost:
            warnings.append(f"{profile.lost} samples of the {which} capture were lost: its costs are low")
    for path in moved:
        warnings.append(
            f"{path} changed after one of the builds: its line numbers may name different code in "
            "the two captures"
        )
    return warnings
