"""Issue 3, item 6: damaged input gives a clear message, in bounded time, and keeps the intact parts.

The damaged files are built from real workload binaries by tests/fuzz/elf_mutations.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from lineprobe.symbolization.elf_image import ElfImage, debug_file_for
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile, resolve_in_image
from lineprobe.unwinding.call_frame_cache import load_call_frames, rule_at

from tests.fuzz import elf_mutations as m

BASE = 0x555555554000


@pytest.fixture(autouse=True)
def _both_decoders(dwarf_decoder: str) -> str:
    """Every damaged input goes through the C accelerator and through pyelftools alone."""
    return dwarf_decoder


@contextmanager
def under_a_second(what: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    assert time.monotonic() - started < 1.0, f"{what}: over a second"


def image_of(tmp_path: Path, name: str, data: bytes) -> ElfImage:
    path = tmp_path / name
    path.write_bytes(data)
    return ElfImage(str(path))


def symbol(image: ElfImage, name: str) -> int:
    return image.symbols.starts[image.symbols.names.index(name)]


def all_problems(image: ElfImage) -> str:
    return "\n".join(image.problems + image.dwarf_problems)


def test_truncated_debug_line_keeps_functions_and_says_lines_are_lost(
    workloads: Path, tmp_path: Path
) -> None:
    good = ElfImage(str(workloads / "hotloop"))
    main = symbol(good, "main")
    with under_a_second("truncated .debug_line"):
        image = image_of(tmp_path, "hotloop", m.truncated_debug_line((workloads / "hotloop").read_bytes()))
        frames = resolve_in_image(image, main + 8, "hotloop")
    assert "line table of the compilation unit at 0x0 is truncated" in all_problems(image)
    # The scopes of .debug_info are intact: the function and its declaration survive.
    assert frames[0].function == "main" and frames[0].function_line is not None
    good.close()
    image.close()


def test_line_header_claiming_endless_entries_costs_only_lines(workloads: Path, tmp_path: Path) -> None:
    binary = workloads / "inlined-clang"
    good = ElfImage(str(binary))
    main = symbol(good, "main")
    with under_a_second("a line table header claiming 2**56 directories of no width"):
        image = image_of(tmp_path, "endless", m.line_header_endless_directories(binary.read_bytes()))
        frames = resolve_in_image(image, main, "endless")
    problems = all_problems(image)
    assert "line table" in problems and "shown without lines" in problems, problems
    assert frames[-1].function == "main", "the functions survive"
    good.close()
    image.close()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        # The program headers are read without the section headers: the file stays usable.
        (m.section_headers_out_of_file, "DWARF unreadable"),
        (m.section_header_count_huge, "symbol table unreadable"),
        (m.section_names_index_bad, "DWARF unreadable"),
        (m.section_offsets_garbage, "symbol table unreadable"),
    ],
)
def test_corrupt_section_headers_keep_the_program_headers(
    workloads: Path, tmp_path: Path, damage: object, message: str
) -> None:
    with under_a_second(message):
        image = image_of(tmp_path, "hotloop", damage((workloads / "hotloop").read_bytes()))  # type: ignore[operator]
        cache = ImageCache()
        cache.images[(image.path, None)] = image
        space = AddressSpace([MappedFile(BASE, BASE + 0x5000, 0, image.path)], cache)
        frames = space.resolve_stack([BASE + 0x1139, BASE + 0x1200])
        rule_at(space, BASE + 0x1139)
    assert message in all_problems(image)
    assert image.segments, "the program headers are intact: addresses still map"
    assert frames and all(f.binary == image.path for f in frames)
    cache.close()


def test_program_header_size_unlike_the_elf_class_is_refused(workloads: Path, tmp_path: Path) -> None:
    # Found by the fuzzer: e_phentsize 4 let 16,384 program headers pass the 64 KiB bound (1.4 s).
    data = m.patch((workloads / "hotloop").read_bytes(), 0x36, "<H", 4)  # e_phentsize
    data = m.patch(data, 0x38, "<H", 16384)  # e_phnum
    with under_a_second("e_phentsize 4"):
        image = image_of(tmp_path, "phentsize", data)
    assert "program header size 4 is not the ELF class's" in all_problems(image)


def test_every_seed_of_the_fuzz_corpus_runs_clean_and_fast() -> None:
    # The corpus keeps each input that once found a bug (regression-*): replayed here, uninstrumented.
    corpus = Path(__file__).resolve().parents[1] / "fuzz" / "corpus"
    done = subprocess.run(
        [sys.executable, str(corpus.parent / "fuzz_elf.py"), "--replay", str(corpus)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "regression-build-id-4k: ok" in done.stdout


def test_section_size_of_terabytes_is_not_read(workloads: Path, tmp_path: Path) -> None:
    # Found by the fuzzer: read(sh_size) allocated sh_size bytes first (MemoryError).
    data = m.with_section_size((workloads / "hotloop").read_bytes(), ".strtab", 1 << 40)
    with under_a_second("huge .strtab"):
        image = image_of(tmp_path, "hotloop", data)
        dwarf = image.dwarf
    assert dwarf is not None, "DWARF does not depend on .strtab"
    image.close()


def test_die_reference_cycle_terminates(workloads: Path, tmp_path: Path) -> None:
    data, rewritten = m.die_reference_cycle((workloads / "inlined-O2").read_bytes())
    assert rewritten > 0
    with under_a_second("DIE reference cycle"):
        image = image_of(tmp_path, "inlined", data)
        starts = image.symbols.starts
        frames = [resolve_in_image(image, a + 4, "inlined") for a in starts]
        assert image.dwarf is not None
        image.dwarf.functions_by_file()
    assert all(frames)
    # The line table is intact: lines are still found.
    assert any(f.line for chain in frames for f in chain)
    image.close()


def test_compressed_section_claiming_gigabytes_is_refused(workloads: Path, tmp_path: Path) -> None:
    with under_a_second("compressed size bomb"):
        image = image_of(tmp_path, "bomb", m.compressed_size_bomb((workloads / "hotloop").read_bytes()))
        dwarf, cfi = image.dwarf, load_call_frames(image)
        frames = resolve_in_image(image, symbol(image, "main"), "bomb")
    assert dwarf is None and cfi is None
    assert "compressed section .debug_info claims 68719476736 bytes" in all_problems(image)
    assert frames[0].function == "main", "the symbol table is intact"
    image.close()


def test_legacy_zdebug_section_claiming_gigabytes_is_refused(workloads: Path, tmp_path: Path) -> None:
    data = m.legacy_zdebug_bomb((workloads / "hotloop").read_bytes())
    with under_a_second("legacy .zdebug_ size bomb"):
        image = image_of(tmp_path, "zbomb", data)
        dwarf = image.dwarf
        frames = resolve_in_image(image, symbol(image, "main"), "zbomb")
    assert dwarf is None
    assert "compressed section .zdebug_info claims 68719476736 bytes" in all_problems(image)
    assert frames[0].function == "main", "the symbol table is intact"
    image.close()


def test_corrupt_compressed_section_is_a_problem(workloads: Path, tmp_path: Path) -> None:
    # Found by the fuzzer: zlib.error escaped ElfImage.dwarf.
    data = m.compressed_size_bomb((workloads / "hotloop").read_bytes(), claimed=None, corrupt=True)
    with under_a_second("corrupt deflate stream"):
        image = image_of(tmp_path, "corrupt", data)
        assert image.dwarf is None
    assert "DWARF unreadable (error: Error -3" in all_problems(image)
    image.close()


def opens_within_a_second(path: str) -> ElfImage:
    result: list[ElfImage] = []
    thread = threading.Thread(target=lambda: result.append(ElfImage(path)), daemon=True)
    thread.start()
    thread.join(1.0)
    assert not thread.is_alive(), f"ElfImage({path}) blocked"
    return result[0]


def test_fifo_dev_zero_and_symlink_loop_are_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    cases = ((fifo, "not a regular file"), (zero, "not a regular file"), (loop, "Too many levels"))
    for path, message in cases:
        image = opens_within_a_second(str(path))
        assert not image.readable
        assert message in image.problems[0], image.problems


def test_hostile_separate_debug_files_are_skipped(tmp_path: Path) -> None:
    # lineprobe finds separate debug files by build-id only; .gnu_debuglink is
    # not followed yet, so a hostile debuglink name cannot reach a file. The
    # build-id path itself may be a FIFO, /dev/zero or a symlink loop.
    build_id = "ab" + "cd" * 19
    directory = tmp_path / ".build-id" / "ab"
    directory.mkdir(parents=True)
    target = directory / f"{build_id[2:]}.debug"
    for make in (
        lambda: os.mkfifo(target),
        lambda: target.symlink_to("/dev/zero"),
        lambda: target.symlink_to(target),
    ):
        make()
        with under_a_second("debug file lookup"):
            assert debug_file_for(build_id, roots=(tmp_path,)) is None
        target.unlink()


def test_stripped_binary_resolves_symbols_and_unwinds_with_eh_frame(workloads: Path) -> None:
    path = str(workloads / "primes-stripped")
    with open(path, "rb") as f:
        entry = ELFFile(io.BytesIO(f.read())).header["e_entry"]
    with under_a_second("stripped binary"):
        cache = ImageCache()
        image = cache.image(path, None)
        space = AddressSpace([MappedFile(BASE, BASE + 0x10000, 0, path)], cache)
        segment = next(s for s in image.segments if s.vaddr <= entry < s.vaddr + s.memsz)
        offset = segment.offset + entry - segment.vaddr
        frames = space.resolve(BASE + offset, is_return_address=False)
        rule = rule_at(space, BASE + offset)
    assert image.dwarf is None and frames
    assert space.binaries_without_debug_info == {path}, "the missing debug info is reported per binary"
    assert rule is not None, ".eh_frame survives stripping: the CFI is still used"
    cache.close()


def test_program_header_count_of_65534_is_refused_quickly(workloads: Path, tmp_path: Path) -> None:
    # Found by the fuzzer: pyelftools parsed 2 x 65534 program headers (4.6 s).
    data = m.patch((workloads / "hotloop").read_bytes(), 0x38, "<H", 0xFFFE)
    with under_a_second("e_phnum 65534"):
        image = image_of(tmp_path, "phnum", data)
    assert "program headers do not fit in the file" in all_problems(image)


def test_segmented_aranges_is_a_problem(workloads: Path, tmp_path: Path) -> None:
    # Found by the fuzzer: NotImplementedError ("Segmentation not implemented") escaped.
    data = (workloads / "hotloop").read_bytes()
    data = m.patch(data, m.sections(data)[".debug_aranges"].offset + 11, "<B", 4)
    with under_a_second("segmented .debug_aranges"):
        image = image_of(tmp_path, "aranges", data)
        assert image.dwarf is None
    assert "NotImplementedError" in all_problems(image)
    image.close()
