"""Self/total accounting and the report formats, on a synthetic capture of a real binary."""

from __future__ import annotations

from pathlib import Path

from lineprobe.lsp.presentation import diagnostics, heat, hover, inlay_hints
from lineprobe.lsp.profile_view import ProfileView
from lineprobe.lsp.settings import Settings
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.profiling.aggregate import resolve_profile
from lineprobe.profiling.model import LossCounters, RawProfile, SampledStack
from lineprobe.reports.folded import folded_lines
from lineprobe.reports.json_report import profile_to_json
from lineprobe.reports.speedscope import speedscope_document
from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.symbolization.resolver import ImageCache, MappedFile
from lsprotocol import types

from tests.conftest import WORKLOADS, marked_line

BASE = 0x5555_5555_0000


def synthetic_profile(workloads: Path, stacks: list[SampledStack]) -> RawProfile:
    binary = workloads / "hotloop"
    header = CaptureHeader(
        pid=1,
        exe=str(binary),
        comm="hotloop",
        requested_s=1.0,
        duration_s=1.0,
        started_at=0.0,
        stopped_early=False,
        target_exited=True,
        exited_after_s=0.5,
        mappings=(MappedFile(BASE, BASE + 0x100000, 0, str(binary)),),
        timings=Timings(),
    )
    return RawProfile(
        header=header,
        frequency=99,
        counters=LossCounters(sum(s.count for s in stacks), 2, 0, 0, 0),
        stacks=tuple(stacks),
    )


def addresses_of_line(binary: Path, line: int) -> int:
    """An ELF virtual address whose line-table row is ``line`` (found through our own index)."""
    image = ElfImage(str(binary))
    assert image.dwarf is not None
    for start, end in zip(image.symbols.starts, image.symbols.ends, strict=True):
        for vaddr in range(start, end):
            frames = image.dwarf.frames(vaddr, "")
            if frames and frames[0].line == line:
                return vaddr
    raise AssertionError(f"no address for line {line}")


def test_self_total_and_reports(workloads: Path) -> None:
    source = WORKLOADS / "hotloop" / "hotloop.c"
    hot = marked_line(source, "HOT-LINE")
    binary = workloads / "hotloop"
    hot_addr = BASE + addresses_of_line(binary, hot)
    call_line = marked_line(source, "seed = checksum(seed);")
    call_addr = BASE + addresses_of_line(binary, call_line) + 1  # a return address points past the call
    stacks = [
        SampledStack(30, (hot_addr, call_addr), ()),
        SampledStack(10, (call_addr,), ("do_syscall_64", "entry_SYSCALL_64")),
        # Recursion: the same line twice in one stack still counts once in total.
        SampledStack(5, (hot_addr, call_addr, call_addr), ()),
    ]
    raw = synthetic_profile(workloads, stacks)
    profile = resolve_profile(raw, ImageCache())
    assert profile.total == 45
    by_line = {(s.path, s.line): s for s in profile.lines}
    hot_stat = by_line[(str(source), hot)]
    assert (hot_stat.self_cost, hot_stat.total_cost) == (35, 35)
    assert hot_stat.function == "checksum"
    call_stat = by_line[(str(source), call_line)]
    assert (call_stat.self_cost, call_stat.total_cost) == (0, 45)
    assert profile.lines[0] is hot_stat
    kernel = next(f for f in profile.functions if f.function == "do_syscall_64")
    assert kernel.self_cost == 10
    assert any("exited" in w for w in profile.warnings)
    assert any("2 samples lost" in w for w in profile.warnings)

    report = profile_to_json(profile)
    assert report["samples"] == 45 and report["lost"] == 2
    assert report["lines"][0]["self_percent"] == round(100 * 35 / 45, 2)
    assert sum(int(line.rsplit(" ", 1)[1]) for line in folded_lines(profile)) == 45
    assert any(line.startswith("hotloop;main:") and "checksum:" in line for line in folded_lines(profile))
    doc = speedscope_document(profile)
    assert sum(doc["profiles"][0]["weights"]) == 45

    view = ProfileView.build(profile, Settings(), [str(WORKLOADS)])
    doc_view = view.by_path[str(source)]
    lines = source.read_text().splitlines()
    diags = diagnostics(view, doc_view, 1.0, lines)
    assert [d.range.start.line for d in diags] == [hot - 1]
    assert diags[0].message.startswith(f"{100 * 35 / 45:.1f}% of CPU samples (self) in checksum")
    hints = inlay_hints(view, doc_view, lines, types.Range(types.Position(0, 0), types.Position(999, 0)))
    assert {h.position.line for h in hints} == {hot - 1, call_line - 1}
    assert "Callers:" in hover(view, hot_stat).contents.value  # type: ignore[union-attr]
    # The kernel below a user line (a system call, an interrupt's way back) is not one of its callees.
    assert all(function != "entry_SYSCALL_64" for function, _, _ in call_stat.callees)
    assert call_stat.kernel_callees == {"entry_SYSCALL_64": 10}
    call_hover = hover(view, call_stat).contents.value  # type: ignore[union-attr]
    callees_part, kernel_part = call_hover.split("In the kernel")
    assert "entry_SYSCALL_64" not in callees_part and "entry_SYSCALL_64" in kernel_part
    assert heat(view, doc_view)["lines"][0]["line"] in {hot - 1, call_line - 1}


def test_outside_the_workspace_is_not_shown(workloads: Path, tmp_path: Path) -> None:
    raw = synthetic_profile(workloads, [SampledStack(3, (BASE + 0x1000,), ())])
    view = ProfileView.build(resolve_profile(raw, ImageCache()), Settings(), [str(tmp_path)])
    assert view.documents == {}
