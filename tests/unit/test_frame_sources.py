"""Frame kinds, the frame source chosen per mapping, the user's code among kinds, and the unwinder's
own CFI cache."""

from __future__ import annotations

import os
from pathlib import Path

from elftools.elf.elffile import ELFFile
from lineprobe.symbolization.frame import FrameKind, SourceFrame
from lineprobe.symbolization.frame_sources import (
    ElfDwarfSource,
    ElfSymbolSource,
    PerfMapSource,
    UnnamedSource,
)
from lineprobe.symbolization.perf_map import load_perf_map
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile
from lineprobe.symbolization.user_code import user_site
from lineprobe.unwinding.call_frame_cache import DERIVED_KEY, call_frames_of, rule_at

from tests.unit.test_resolver_prefetch import runtime_address

BASE = 0x5555_5555_4000
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBC_BASE = 0x7F10_0000_0000
JIT_START = 0x7F00_0000_0000
VDSO = 0x7FFF_F000_0000


def frame(
    kind: FrameKind, function: str | None = "f", path: str | None = None, binary: str = "/srv/app/server"
) -> SourceFrame:
    return SourceFrame(function, path, 3 if path else None, None, kind, binary)


def test_labels_by_kind() -> None:
    assert frame(FrameKind.KERNEL, "do_syscall_64", binary="[kernel]").label == "do_syscall_64_[k]"
    assert frame(FrameKind.KERNEL, None, binary="[kernel]").label == "[unknown in [kernel]]_[k]"
    assert frame(FrameKind.INLINED, "add", "/srv/app/a.c").label == "add (inlined)"
    assert frame(FrameKind.NATIVE, "main", "/srv/app/a.c").label == "main"
    assert frame(FrameKind.JIT, "LazyCompile:*hot", binary="[jit]").label == "LazyCompile:*hot"
    assert frame(FrameKind.NATIVE, None, binary="/usr/lib/libc.so.6").label == "[unknown in libc.so.6]"
    assert frame(FrameKind.INLINED, "add", "/srv/app/a.c").inlined
    assert not frame(FrameKind.NATIVE, "main", "/srv/app/a.c").inlined


def test_the_site_is_user_code_of_any_kind_but_the_kernel() -> None:
    native = frame(FrameKind.NATIVE, "handle", "/srv/app/handle.c")
    libc = frame(FrameKind.NATIVE, "write", binary="/usr/lib/x86_64-linux-gnu/libc.so.6")
    header = frame(FrameKind.INLINED, "push_back", "/usr/include/c++/12/bits/stl_vector.h")
    kernel = frame(FrameKind.KERNEL, "ksys_write", "/srv/app/handle.c", binary="[kernel]")
    jit = frame(FrameKind.JIT, "LazyCompile:*save /srv/app.js:3", binary="[jit]")
    unnamed_jit = frame(FrameKind.JIT, None, binary="[jit]")
    jdk = frame(
        FrameKind.INTERPRETED, "java.io.FileOutputStream.write", "/usr/lib/jvm/src/FileOutputStream.java"
    )
    app = frame(FrameKind.INTERPRETED, "App.save", "/srv/app/App.java")

    assert user_site([kernel, libc, header, native]) is native
    assert user_site([kernel, libc, jit, native]) is jit, "a perf map's JIT frame is the user's code"
    assert user_site([kernel, unnamed_jit, native]) is native, "an unnamed JIT frame shows nothing"
    assert user_site([libc, jdk, app, native]) is app, "the JDK's own classes are the system's"
    # Java frames as the JVMTI agent names them: the source by package path, as a source root holds it.
    jdk_package = frame(
        FrameKind.INTERPRETED, "java.io.FileInputStream.open0", "java/io/FileInputStream.java"
    )
    app_package = frame(FrameKind.INTERPRETED, "jconfig.Config.load", "jconfig/Config.java")
    compiled = frame(FrameKind.JIT, "jconfig.Config.load", "jconfig/Config.java", binary="[jit]")
    assert user_site([kernel, libc, jdk_package, app_package]) is app_package
    assert user_site([libc, compiled, native]) is compiled
    internal = frame(FrameKind.JIT, "jdk.internal.misc.Unsafe.copy", "jdk/internal/misc/Unsafe.java")
    assert user_site([internal, native]) is native
    # The JVM's own code: stubs and adapters as the agent names them, the interpreter as perf maps do.
    adapter = frame(FrameKind.JIT, "Stub:I2C/C2I adapters", binary="[jit]")
    interpreter = frame(FrameKind.JIT, "Interpreter", binary="[jit]")
    assert user_site([adapter, interpreter, app_package]) is app_package
    assert user_site([kernel, libc]) is None, "the kernel never is the site, whatever its path"


def test_each_mapping_gets_its_source_and_jit_frames_their_kind(workloads: Path, tmp_path: Path) -> None:
    binary = workloads / "hotloop"
    perf_map_file = tmp_path / "perf-1.map"
    perf_map_file.write_text(f"{JIT_START:x} 40 LazyCompile:*hot /srv/app.js:3\n")
    perf_map = load_perf_map(str(perf_map_file), os.getuid())
    mappings = [
        MappedFile(BASE, BASE + binary.stat().st_size, 0, str(binary)),
        MappedFile(LIBC_BASE, LIBC_BASE + os.path.getsize(LIBC), 0, LIBC),
        MappedFile(JIT_START, JIT_START + 0x10000, 0, ""),
        MappedFile(VDSO, VDSO + 0x2000, 0, "[vdso]"),
        MappedFile(VDSO + 0x10000, VDSO + 0x11000, 0, str(tmp_path / "gone.so")),
    ]
    cache = ImageCache(index_cache=None)
    space = AddressSpace(mappings, cache, perf_map=perf_map)
    chosen = {m.path: type(space.source_for(i)) for i, m in enumerate(space.mappings)}
    assert [chosen[m.path] for m in mappings] == [
        ElfDwarfSource,
        ElfSymbolSource,
        PerfMapSource,
        UnnamedSource,
        UnnamedSource,
    ]
    assert type(space.source_for(-1)) is PerfMapSource, "code mapped after the last look at the maps"
    assert space.source_for(0) is space.source_for(0), "chosen once per mapping"

    [jit] = space.resolve(JIT_START + 0x10, False)
    assert (jit.function, jit.kind, jit.binary) == ("LazyCompile:*hot /srv/app.js:3", FrameKind.JIT, "[jit]")
    [outside] = space.resolve(JIT_START + 0x100, False)
    assert (outside.function, outside.kind, outside.binary) == (None, FrameKind.NATIVE, "[anonymous]")
    [vdso] = space.resolve(VDSO + 0x10, False)
    assert (vdso.kind, vdso.binary) == (FrameKind.NATIVE, "[vdso]")
    assert space.resolve(0x1000, False)[0].binary == "[unmapped]"
    without_map = AddressSpace(mappings[2:3], cache)
    assert type(without_map.source_for(0)) is UnnamedSource
    assert without_map.resolve(JIT_START + 0x10, False)[0].function is None
    cache.close()


def test_prefetch_hands_each_source_one_batch(workloads: Path) -> None:
    binary = workloads / "wordcount-O2"
    cache = ImageCache(index_cache=None)
    space = AddressSpace([MappedFile(BASE, BASE + binary.stat().st_size, 0, str(binary))], cache)
    image = cache.image(str(binary), None)
    addresses = [a for start in image.symbols.starts if (a := runtime_address(image, start + 1)) is not None]
    source = space.source_for(0)
    batches: list[int] = []
    frames_of = source.frames

    def counted(batch: list[int]) -> list[list[SourceFrame]]:
        batches.append(len(batch))
        return frames_of(batch)

    source.frames = counted  # type: ignore[method-assign]
    stacks = [addresses[i : i + 3] for i in range(len(addresses))]  # addresses repeat across stacks
    space.prefetch([*stacks, [0x10]])
    distinct = {(a, depth > 0) for stack in stacks for depth, a in enumerate(stack)}
    assert batches == [len(distinct)], "one batch, each (address, return address) once"
    assert all(
        f.kind in (FrameKind.NATIVE, FrameKind.INLINED) for s in stacks for f in space.resolve_stack(s)
    )
    cache.close()


def test_the_unwinder_keeps_cfi_per_image_while_the_image_lives(workloads: Path) -> None:
    path = str(workloads / "primes-stripped")
    cache = ImageCache(index_cache=None)
    space = AddressSpace([MappedFile(BASE, BASE + os.path.getsize(path), 0, path)], cache)
    image = cache.image(path, None)
    with open(path, "rb") as f:
        entry = runtime_address(image, ELFFile(f).header["e_entry"])
    table = call_frames_of(image)
    assert table is not None and call_frames_of(image) is table, "loaded once"
    assert image.derived[DERIVED_KEY] is table, "kept with the image: it goes when the image goes"
    assert entry is not None and rule_at(space, entry) is not None
    assert rule_at(space, 0x1000) is None, "outside every mapping"
    cache.close()
